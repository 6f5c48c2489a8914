"""A registry for a seeded scenario: the shipped Ironic registry, with the scenario's CIs
registered as the third-party CIs of their drivers (so the judge can rate them)."""

from __future__ import annotations

from driverci.emulator.seed.scenario import Scenario
from driverci.registry.schema import CISystem, Contact, Registry


def scenario_registry(scenario: Scenario, base: Registry) -> Registry:
    """``base`` plus one CI system per scenario CI (replacing any with the same account)."""
    known_drivers = {driver.name for driver in base.drivers}
    accounts = {ci.account for ci in scenario.cis}
    # The scenario's world is fictional: keep upstream CIs, replace the real third-party ones.
    systems = [ci for ci in base.ci_systems if ci.kind == "upstream" and ci.account not in accounts]
    for spec in scenario.cis:
        systems.append(
            CISystem(
                account=spec.account,
                kind="third-party",
                name=spec.name if spec.name.endswith(" CI") else f"{spec.name} CI",
                wiki=spec.wiki
                or "https://wiki.openstack.org/wiki/ThirdPartySystems/"
                + spec.name.replace(" ", "_"),
                contacts=[
                    Contact(
                        name=f"{spec.name} team", email=spec.email or f"{spec.account}@example.org"
                    )
                ],
                drivers=[spec.driver] if spec.driver in known_drivers else [],
                started=spec.started.date(),
                stopped=None,
            )
        )
    return base.model_copy(
        update={
            "project": scenario.project,
            "sandbox_project": scenario.sandbox_project,
            "branch_created": {name: when.date() for name, when in scenario.branch_created.items()},
            "ci_systems": systems,
        }
    )

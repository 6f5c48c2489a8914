"""The documents the Ironic team needs to deprecate, remove or reinstate a driver.

Ironic's practice (third-party-ci-rules.md section 3): contact the vendor, mark the driver
unsupported with a ``deprecations:`` release note ("should testing be reestablished, this
deprecation shall be rescinded"), remove it about one cycle later with an ``upgrade:`` note
that tells deployers where the driver went, and rescind the deprecation when the CI comes
back (xclarity 2018, ibmc and irmc 2020). Notes are reno YAML files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

import yaml

from driverci.policy.schema import Policy
from driverci.registry.schema import Driver


@dataclass(frozen=True)
class Document:
    kind: str  # deprecation_note, removal_note, reinstatement_note, notice
    driver: str
    path: str  # where it belongs (relative to the Ironic tree, or notices/)
    text: str


def _note_path(prefix: str, driver: str, today: date) -> str:
    digest = hashlib.sha1(f"{prefix}:{driver}:{today.isoformat()}".encode()).hexdigest()[:16]
    return f"releasenotes/notes/{prefix}-{driver}-{digest}.yaml"


def _reno(section: str, text: str) -> str:
    return "---\n" + yaml.safe_dump(
        {section: [text]}, default_style=None, width=78, allow_unicode=True, sort_keys=False
    )


def last_event(driver: Driver, kind: str) -> date | None:
    days = [item.date for item in driver.history if item.event == kind]
    return max(days) if days else None


def propose_for_driver(
    driver: Driver,
    verdict: str,
    ci_names: list[str],
    reasons: list[str],
    policy: Policy,
    today: date,
) -> list[Document]:
    """The documents due for ``driver`` given its CI verdict (empty when nothing is due)."""
    dep = policy.deprecation
    label = f"``{driver.name}`` {'hardware type' if driver.kind == 'hardware-type' else 'driver'}"
    why = "; ".join(reasons) or "no reliable third-party CI reports on its behalf"
    cis = ", ".join(ci_names) or "no registered CI"
    docs: list[Document] = []
    if driver.status == "supported" and verdict == "unsupported":
        removal = today + timedelta(days=dep.cycle_days * dep.removal_after_cycles)
        text = (
            f"The {label} is deprecated and may be removed in a future release (not "
            f"before {removal:%B %Y}). It is not tested by a reliable third-party CI "
            f"({cis}: {why}). Should testing be reestablished, this deprecation shall be "
            "rescinded. Deployers using it should plan to move their nodes to another "
            "hardware type, such as ``redfish`` or ``ipmi``."
        )
        docs.append(
            Document(
                "deprecation_note",
                driver.name,
                _note_path("deprecate", driver.name, today),
                _reno(dep.deprecation_note_section, text),
            )
        )
        docs.append(notice(driver, cis, why, policy, today))
    elif driver.status == "deprecated" and verdict == "supported" and dep.reinstate_when_reliable:
        text = (
            f"The deprecation of the {label} is rescinded: its third-party CI ({cis}) "
            "reports reliably again, so it remains supported."
        )
        docs.append(
            Document(
                "reinstatement_note",
                driver.name,
                _note_path("undeprecate", driver.name, today),
                _reno("other", text),
            )
        )
    elif driver.status == "deprecated" and verdict != "supported":
        since = last_event(driver, "deprecated")
        due = since + timedelta(days=dep.cycle_days * dep.removal_after_cycles) if since else None
        if due is None or today >= due:
            where = (
                f" It may be installed from {driver.new_location}."
                if driver.new_location
                else " No new location for it is known."
            )
            text = (
                f"The {label}, deprecated in {driver.deprecated_in or 'an earlier release'}"
                f" for lack of a reliable third-party CI, has been removed.{where} "
                f"Before upgrading, move every node using ``{driver.name}`` to another "
                "hardware type and remove it from ``enabled_hardware_types``; the "
                "conductor will not start while it is enabled."
            )
            docs.append(
                Document(
                    "removal_note",
                    driver.name,
                    _note_path("remove", driver.name, today),
                    _reno(dep.removal_note_section, text),
                )
            )
    return docs


def notice(driver: Driver, cis: str, why: str, policy: Policy, today: date) -> Document:
    """The e-mail to the driver's contacts before its deprecation lands."""
    deadline = today + timedelta(days=policy.deprecation.notice_period_days)
    recipients = ", ".join(f"{c.name} <{c.email}>" for c in driver.contacts if c.email)
    text = "\n".join(
        [
            f"To: {recipients or '(no contact in the registry)'}",
            f"Subject: [ironic] Third-party CI for the {driver.name} driver: deprecation notice",
            "",
            f"Hello {driver.maintainer} team,",
            "",
            f"The Ironic team requires every in-tree driver to be tested by a reliable CI "
            f"({policy.name}). The CI for {driver.name} ({cis}) does not meet it:",
            "",
            f"  {why}",
            "",
            f"Unless the CI reports reliably again by {deadline:%Y-%m-%d}, the {driver.name} "
            "driver will be marked deprecated in the next release and removed one cycle later.",
            "Please reply to this message or reach us in #openstack-ironic.",
            "",
            "-- the Ironic team (sent with driverci)",
        ]
    )
    return Document(
        "notice", driver.name, f"notices/{driver.name}-{today.isoformat()}.txt", text + "\n"
    )

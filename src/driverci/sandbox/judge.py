"""The judge's report on the rehearsal's CI, reached the way it reaches review.opendev.org:
collect over REST, probe the result links, evaluate the window the rehearsal covers.

The rehearsal policy is the shipped Ironic policy with one change, written next to the report
(``policy-rehearsal.yaml``): ``thresholds.min_sample`` is lowered to the number of patch
sets the rehearsal makes the CI test, since the shipped 20 would cap any CI judged on a
rehearsal's handful at ``at_risk`` whatever it did. Every other limit is Ironic's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

from driverci.audit.engine import Judge
from driverci.audit.evaluate.facts import Window
from driverci.audit.govern.report import (
    AuditReport,
    SystemReport,
    render_html,
    render_json,
    render_markdown,
)
from driverci.audit.intake.collect import RestCollector
from driverci.audit.intake.ingest import Ingestor
from driverci.audit.probe.artifacts import ArtifactSurvey
from driverci.audit.probe.fetch import ProbeLimits
from driverci.gerrit.rest import GerritRestClient
from driverci.policy.loader import load_policy
from driverci.policy.schema import Policy
from driverci.registry.loader import load_registry, save_registry
from driverci.registry.schema import CISystem, Contact, Registry
from driverci.store.db import open_store

CI_WIKI = "https://wiki.example.org/ThirdPartySystems/Sandbox_Redfish_CI"


@dataclass
class RehearsalJudgement:
    report: AuditReport
    collected: list[str]  # one summary line per project
    probes: dict[str, int]

    def system(self, account: str) -> SystemReport | None:
        return next((s for s in self.report.systems if s.evaluation.account == account), None)


def rehearsal_registry(account: str, name: str, started: date) -> Registry:
    """The shipped registry's redfish driver, with the rehearsal's CI as its only CI (the real
    CIs and other drivers never show up on this emulator: they would only add empty rows)."""
    base = load_registry()
    ci = CISystem(
        account=account,
        name=name,
        kind="third-party",
        wiki=CI_WIKI,
        contacts=[Contact(name="Sandbox Redfish CI operators", email="ci@example.org")],
        drivers=["redfish"],
        started=started,
    )
    drivers = [driver for driver in base.drivers if driver.name == "redfish"]
    return base.model_copy(update={"ci_systems": [ci], "drivers": drivers})


def rehearsal_policy(min_sample: int) -> Policy:
    """Ironic's policy with ``thresholds.min_sample`` fitted to the rehearsal (see above)."""
    policy = load_policy()
    thresholds = policy.thresholds.model_copy(update={"min_sample": min_sample})
    return policy.model_copy(update={"name": f"{policy.name}-rehearsal", "thresholds": thresholds})


async def judge_rehearsal(
    gerrit_url: str,
    out_dir: Path,
    registry: Registry,
    policy: Policy,
    since: datetime,
) -> RehearsalJudgement:
    """Collect both projects, probe the links, and report on ``[since, now]``."""
    store = open_store(f"sqlite:///{(out_dir / 'judge.sqlite').resolve()}")
    try:
        save_registry(registry, out_dir / "registry.yaml")
        (out_dir / "policy-rehearsal.yaml").write_text(
            yaml.safe_dump(policy.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
        )
        collected = []
        async with GerritRestClient(gerrit_url) as client:
            for project in (registry.project, registry.sandbox_project):
                ingestor = Ingestor(store, registry, policy.recheck.patterns)
                summary = await RestCollector(ingestor, client, project).run()
                collected.append(f"{project}: {summary}")
        now = datetime.now(UTC)
        survey = ArtifactSurvey(store, ProbeLimits(allow_private=True), now=now)
        links = survey.links_to_probe(registry.project, since, now)
        probes = await survey.run(links)
        # The window ends a moment after now so that the last comment is inside it.
        end = datetime.now(UTC)
        window = Window(since, end + timedelta(minutes=1))
        report = Judge(store, registry, policy, now=end).report(window)
    finally:
        store.close()
    (out_dir / "report.json").write_text(render_json(report), encoding="utf-8")
    (out_dir / "report.md").write_text(render_markdown(report), encoding="utf-8")
    (out_dir / "report.html").write_text(render_html(report), encoding="utf-8")
    return RehearsalJudgement(report, collected, probes)

"""No CI is called reliable without evidence. A seeded Ironic is collected; before the judge
probes any result link, the report shows artifacts "not assessed, run driverci audit probe" and
rates no third-party CI reliable, yet deprecates nothing and tells nobody "unreliable" for
that alone; after the probe every criterion is met or not met. A CI posting bare "Build
succeeded." comments, with no link at all, fails artifacts before and after the probe.

The iDRAC driver has two CIs: Acme (perfect) and Bolt (too slow). The Kilo driver has only
Kilo Bare CI, the one posting no links."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from driverci.audit.engine import Judge
from driverci.audit.evaluate.facts import Window
from driverci.audit.govern.report import AuditReport, SystemReport
from driverci.audit.intake.collect import RestCollector
from driverci.audit.intake.ingest import Ingestor
from driverci.audit.notify.notifier import Notifier
from driverci.audit.probe.artifacts import ArtifactSurvey
from driverci.audit.probe.fetch import ProbeLimits
from driverci.cli import _register_subcommands, app
from driverci.emulator.seed.scenario import bundled_scenario_path, load_scenario
from driverci.emulator.seed.scenario_registry import scenario_registry
from driverci.emulator.seed.seeder import seed_scenario
from driverci.emulator.server import EmulatorServer
from driverci.emulator.state.journal import EmulatorState
from driverci.gerrit.rest import GerritRestClient
from driverci.policy.loader import load_policy
from driverci.registry.loader import load_registry, save_registry
from driverci.registry.schema import CISystem, Contact, Driver, Registry
from driverci.store.db import open_store

BARE = "kilo-bare-ci"  # posts "Build succeeded." and nothing else: no job, no link
ACME = "acme-idrac-ci"  # perfect
CIS = (ACME, "bolt-idrac-ci", "delta-irmc-ci")  # perfect, slow, links that die after a week


@dataclass
class World:
    registry: Registry
    registry_path: Path
    unprobed_db: str  # the store as collected, before `audit probe`
    window: Window
    before: AuditReport
    after: AuditReport


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _post_bare_results(state: EmulatorState, project: str) -> None:
    """Kilo Bare CI answers every patch set an hour after upload, with no job and no link."""
    bare = state.add_account(BARE, "Kilo Bare CI", email=f"{BARE}@example.org")
    for change in list(state.changes.values()):
        if change.project != project:
            continue
        for patch_set in change.patch_sets:
            message = f"Patch Set {patch_set.number}:\n\nBuild succeeded."
            at = patch_set.created + timedelta(hours=1)
            state.post_review(change, patch_set, bare, message, at=at)


async def _build(tmp: Path) -> World:
    scenario = load_scenario(bundled_scenario_path("judge-8cis"))
    # Acme tests iDRAC here, so that the driver's best CI is one whose logs need a probe.
    acme = {"account": ACME, "name": "Acme iDRAC CI", "driver": "idrac"}
    cis = [
        ci.model_copy(update=acme) if ci.account == "acme-redfish-ci" else ci
        for ci in scenario.cis
        if ci.account in (*CIS, "acme-redfish-ci")
    ]
    scenario = scenario.model_copy(update={"changes_per_day": 6.0, "days": 24, "cis": cis})
    port = _free_port()
    state = EmulatorState(tmp / "gerrit", web_url=f"http://127.0.0.1:{port}")
    seed_scenario(state, tmp / "gerrit" / "git", scenario)
    _post_bare_results(state, scenario.project)
    base = scenario_registry(scenario, load_registry())
    kilo_team = [Contact(name="Kilo team", email=f"{BARE}@example.org")]
    bare = CISystem(
        account=BARE,
        name="Kilo Bare CI",
        contacts=kilo_team,
        drivers=["kilo"],
        started=scenario.start.date() - timedelta(days=90),
    )
    kilo = Driver(
        name="kilo", kind="hardware-type", maintainer="Kilo", status="supported", contacts=kilo_team
    )
    registry = base.model_copy(
        update={"ci_systems": [*base.ci_systems, bare], "drivers": [*base.drivers, kilo]}
    )
    registry_path = tmp / "registry.yaml"
    save_registry(registry, registry_path)
    policy = load_policy()
    store = open_store(f"sqlite:///{tmp / 'judge.sqlite'}")
    end = scenario.start + timedelta(days=scenario.days)
    window = Window(end - timedelta(days=14), end)
    async with EmulatorServer(state, http_port=port) as server:
        async with GerritRestClient(server.http_url) as client:
            for project in (registry.project, registry.sandbox_project):
                await RestCollector(Ingestor(store, registry), client, project).run()
        before = Judge(store, registry, policy, now=end).report(window)
        with store.transaction() as session:
            source = session.connection().connection.driver_connection
            assert isinstance(source, sqlite3.Connection)
            with sqlite3.connect(tmp / "unprobed.sqlite") as copy:
                source.backup(copy)
        survey = ArtifactSurvey(store, ProbeLimits(allow_private=True), now=end)
        await survey.run(survey.links_to_probe(registry.project, window.start, end, ["zuul"]))
    state.close()
    after = Judge(store, registry, policy, now=end).report(window)
    store.close()
    unprobed = f"sqlite:///{tmp / 'unprobed.sqlite'}"
    return World(registry, registry_path, unprobed, window, before, after)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return asyncio.run(_build(tmp_path_factory.mktemp("evidence")))


def system(report: AuditReport, account: str) -> SystemReport:
    return next(s for s in report.systems if s.evaluation.account == account)


def states(report: AuditReport, account: str) -> dict[str, str]:
    return {name: c.state for name, c in system(report, account).verdict.criteria.items()}


def test_before_the_probe_no_third_party_ci_is_reliable(world: World) -> None:
    verdicts = {s.evaluation.account: s.verdict.verdict for s in world.before.systems}
    assert verdicts == {
        "zuul": "reliable",  # the reference: its links are never probed by design
        ACME: "unproven",  # perfect, but nobody looked at its logs yet
        "delta-irmc-ci": "unproven",  # its links die after a week: not seen yet
        "bolt-idrac-ci": "unreliable",  # too slow: that needs no probe to see
        BARE: "unreliable",  # posts no link at all: no probe will ever find one
    }
    acme = system(world.before, ACME).verdict
    artifacts = acme.criteria["artifacts"]
    assert (artifacts.state, artifacts.reason, artifacts.assess_with) == (
        "not_assessed",
        "no result link probed yet",
        "driverci audit probe",
    )
    assert states(world.before, ACME) == {
        "coverage": "met",
        "timeliness": "met",
        "artifacts": "not_assessed",
        "accuracy": "met",  # against upstream Zuul on patch sets that merged unchanged
    }
    assert acme.reasons == [
        "artifacts not assessed: no result link probed yet; run `driverci audit probe`"
    ]
    assert states(world.before, "bolt-idrac-ci")["timeliness"] == "not_met"
    assert states(world.before, "bolt-idrac-ci")["artifacts"] == "not_assessed"
    assert system(world.before, ACME).voting["reason"] == (
        "a vote needs evidence: not every criterion is assessed yet"
    )


def test_a_ci_posting_no_links_fails_artifacts_probe_or_not(world: World) -> None:
    for report in (world.before, world.after):
        bare = system(report, BARE).verdict
        assert bare.criteria["artifacts"].state == "not_met"
        assert bare.criteria["artifacts"].reason.startswith("posts no result links: none of its")
        assert bare.criteria["artifacts"].assess_with is None
        assert any(r.startswith("posts no result links") for r in bare.reasons)
        assert bare.verdict == "unreliable"


def test_after_the_probe_every_criterion_is_met_or_not_met(world: World) -> None:
    for account in CIS:
        assert set(states(world.after, account).values()) <= {"met", "not_met"}, account
    assert set(states(world.after, ACME).values()) == {"met"}
    assert system(world.after, ACME).verdict.verdict == "reliable"
    delta = system(world.after, "delta-irmc-ci").verdict
    assert delta.verdict == "unreliable" and delta.criteria["artifacts"].state == "not_met"
    assert "artifacts available for" in delta.criteria["artifacts"].reason


def test_a_driver_whose_best_ci_is_unproven_is_neither_supported_nor_unsupported(
    world: World,
) -> None:
    before = {d.name: d.verdict for d in world.before.drivers}
    after = {d.name: d.verdict for d in world.after.drivers}
    assert before["idrac"] == "unproven" and after["idrac"] == "supported"  # Acme's evidence
    assert before["kilo"] == after["kilo"] == "unsupported"  # no links, probe or not


def test_a_window_without_patch_sets_assesses_neither_coverage_nor_timeliness(
    world: World,
) -> None:
    policy = load_policy()
    store = open_store(world.unprobed_db)
    try:
        later = world.window.end + timedelta(days=30)
        empty = Window(later - timedelta(days=7), later)
        report = Judge(store, world.registry, policy, now=later).report(empty)
    finally:
        store.close()
    assert all(s.verdict.verdict != "reliable" for s in report.systems)
    coverage = system(report, ACME).verdict.criteria["coverage"]
    assert coverage.state == "not_assessed"
    assert coverage.reason.startswith("the window holds no patch set it must test")
    assert coverage.assess_with == "driverci audit collect"
    assert states(report, ACME)["timeliness"] == "not_assessed"


def _cli(world: World, *args: str) -> Any:
    _register_subcommands()
    return CliRunner().invoke(
        app,
        [
            *args,
            "--db",
            world.unprobed_db,
            "--registry",
            str(world.registry_path),
            "--since",
            world.window.start.date().isoformat(),
            "--until",
            world.window.end.date().isoformat(),
        ],
    )


def _flat(text: str) -> str:
    """The output with every run of whitespace one space (a terminal wraps long lines)."""
    return re.sub(r"\s+", " ", text)


def test_the_report_before_the_probe_says_not_assessed_in_every_format(world: World) -> None:
    table = _cli(world, "audit", "report")
    assert table.exit_code == 0, table.output
    assert "not assessed" in table.output
    assert "artifacts not assessed: no result link probed yet; run `driverci audit probe`" in _flat(
        table.output
    )

    document = json.loads(_cli(world, "audit", "report", "--format", "json").stdout)
    acme = next(s for s in document["systems"] if s["account"] == ACME)
    assert acme["verdict"] == "unproven"
    assert acme["criteria"]["artifacts"] == {
        "state": "not_assessed",
        "reason": "no result link probed yet",
        "assess_with": "driverci audit probe",
    }
    assert acme["criteria"]["coverage"]["state"] == "met"
    assert acme["criteria"]["coverage"]["assess_with"] is None
    assert acme["artifacts"]["checked"] == 0 and acme["coverage"] > 0.95  # old keys kept

    markdown = _cli(world, "audit", "report", "--format", "markdown").stdout
    row = next(line for line in markdown.splitlines() if line.startswith("| Acme iDRAC CI"))
    assert "not assessed" in row and "**unproven**" in row
    assert "run \\`driverci audit probe\\`" in markdown

    page = _cli(world, "audit", "report", "--format", "html").stdout
    assert "<tr class='unproven'>" in page and "not assessed" in page

    failing = _cli(world, "audit", "report", "--format", "json", "--fail-on", "unproven")
    assert failing.exit_code == 1


def test_propose_before_the_probe_deprecates_only_on_evidence(world: World, tmp_path: Path) -> None:
    result = _cli(world, "audit", "propose", "--output", str(tmp_path))
    assert result.exit_code == 0, result.output
    # Kilo's CI posts no links (evidence): its driver's deprecation is due. iDRAC's best CI
    # only lacks a probe: nothing is proposed, and the output says why.
    (note,) = (tmp_path / "releasenotes" / "notes").iterdir()
    assert note.name.startswith("deprecate-kilo-")
    assert "posts no result links" in note.read_text()
    assert "nothing proposed for idrac: not every criterion of their CI is assessed" in _flat(
        result.output
    )


def test_notify_before_the_probe_tells_no_one_an_unproven_ci_is_unreliable(
    world: World,
) -> None:
    store = open_store(world.unprobed_db)
    try:
        notices = Notifier(store, world.registry, None, None, None, dry_run=True).notify(
            world.before
        )
    finally:
        store.close()
    events = {n.account: n.event for n in notices}
    assert events.get("bolt-idrac-ci") == events.get(BARE) == "unreliable"
    assert ACME not in events and "delta-irmc-ci" not in events

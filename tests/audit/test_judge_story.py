"""The judge, end to end: a seeded Gerrit with eight CIs of known behaviour is collected over
REST, its result links probed, and every CI gets the verdict its behaviour deserves, with
figures that match what was seeded."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from driverci.audit.engine import Judge
from driverci.audit.evaluate.facts import Window
from driverci.audit.evaluate.parallel import ParallelTuning
from driverci.audit.govern.report import AuditReport, report_to_json
from driverci.audit.intake.collect import RestCollector
from driverci.audit.intake.ingest import Ingestor
from driverci.audit.probe.artifacts import ArtifactSurvey
from driverci.audit.probe.fetch import ProbeLimits
from driverci.cli import _register_subcommands, app
from driverci.emulator.seed.scenario import Scenario, bundled_scenario_path, load_scenario
from driverci.emulator.seed.scenario_registry import scenario_registry
from driverci.emulator.seed.seeder import seed_scenario
from driverci.emulator.server import EmulatorServer
from driverci.emulator.state.journal import EmulatorState
from driverci.gerrit.rest import GerritRestClient
from driverci.policy.loader import load_policy
from driverci.registry.loader import load_registry, save_registry
from driverci.registry.schema import Registry
from driverci.store.db import Store, open_store
from driverci.store.repository import count_rows


@dataclass
class JudgedWorld:
    store: Store
    registry: Registry
    registry_path: Path
    db_url: str
    window: Window
    truth: dict[str, Any]
    report: AuditReport

    def system(self, account: str) -> Any:
        return next(s for s in self.report.systems if s.evaluation.account == account)

    def truth_rates(self, account: str) -> tuple[float, float]:
        """Coverage and on-time share the scenario seeded for this CI inside the window."""
        entry = next(s for s in self.truth["systems"] if s["account"] == account)
        days = [d for d, _ in _days(self.window)]
        rows = [entry["by_day"][d] for d in days if d in entry["by_day"]]
        expected = sum(r[0] for r in rows)
        reported = sum(r[1] for r in rows)
        on_time = sum(r[2] for r in rows)
        return reported / expected, on_time / reported


def _days(window: Window) -> Iterator[tuple[str, date]]:
    day = window.start.date()
    while day < window.end.date():
        yield day.isoformat(), day
        day += timedelta(days=1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def smaller(scenario: Scenario) -> Scenario:
    """The bundled judge scenario, fewer changes a day so the suite stays fast."""
    return scenario.model_copy(update={"changes_per_day": 9.0, "days": 44})


async def _build(tmp: Path) -> JudgedWorld:
    scenario = smaller(load_scenario(bundled_scenario_path("judge-8cis")))
    port = _free_port()
    state = EmulatorState(tmp / "gerrit", web_url=f"http://127.0.0.1:{port}")
    seed_scenario(state, tmp / "gerrit" / "git", scenario)
    registry = scenario_registry(scenario, load_registry())
    registry_path = tmp / "registry.yaml"
    save_registry(registry, registry_path)
    policy = load_policy()
    db_url = f"sqlite:///{tmp / 'judge.sqlite'}"
    store = open_store(db_url)
    end = scenario.start + timedelta(days=scenario.days)
    window = Window(end - timedelta(days=30), end)
    async with EmulatorServer(state, http_port=port) as server:
        async with GerritRestClient(server.http_url) as client:
            for project in (registry.project, registry.sandbox_project):
                await RestCollector(Ingestor(store, registry), client, project).run()
        survey = ArtifactSurvey(store, ProbeLimits(allow_private=True), now=end)
        links = survey.links_to_probe(registry.project, window.start, window.end, ["zuul"])
        await survey.run(links)
    state.close()
    truth = json.loads((tmp / "gerrit" / "scenario-truth.json").read_text())
    report = Judge(store, registry, policy, now=end).report(window)
    return JudgedWorld(store, registry, registry_path, db_url, window, truth, report)


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JudgedWorld]:
    world = asyncio.run(_build(tmp_path_factory.mktemp("judge")))
    yield world
    world.store.close()


EXPECTED_VERDICTS = {
    "zuul": "reliable",
    "acme-redfish-ci": "reliable",  # perfect
    "bolt-idrac-ci": "unreliable",  # slow past the deadline
    "cobalt-ilo-ci": "unreliable",  # misses a fifth of patch sets
    "delta-irmc-ci": "unreliable",  # artifacts die after a week
    "echo-ipmi-ci": "unreliable",  # flaky
    "foxtrot-intel-ci": "unreliable",  # rubber stamp testing another revision
    "golf-snmp-ci": "unreliable",  # went dark
    "hotel-fake-ci": "unreliable",  # sandbox only
}


def test_every_ci_gets_the_verdict_its_behaviour_deserves(judged: JudgedWorld) -> None:
    verdicts = {s.evaluation.account: s.verdict.verdict for s in judged.report.systems}
    assert verdicts == EXPECTED_VERDICTS


def test_reasons_name_the_defect_a_person_must_fix(judged: JudgedWorld) -> None:
    def reasons(account: str) -> str:
        return " ".join(judged.system(account).verdict.reasons)

    assert "on time" in reasons("bolt-idrac-ci") and "4 h deadline" in reasons("bolt-idrac-ci")
    assert "coverage" in reasons("cobalt-ilo-ci") and "missed" in reasons("cobalt-ilo-ci")
    assert "artifacts available" in reasons("delta-irmc-ci")
    assert "false failures" in reasons("echo-ipmi-ci")
    assert "another revision" in reasons("foxtrot-intel-ci")
    assert "silent for" in reasons("golf-snmp-ci")
    assert "never reported" in reasons("hotel-fake-ci")
    assert judged.system("acme-redfish-ci").verdict.reasons == []


@pytest.mark.parametrize(
    "account",
    [
        "acme-redfish-ci",
        "bolt-idrac-ci",
        "cobalt-ilo-ci",
        "delta-irmc-ci",
        "echo-ipmi-ci",
        "foxtrot-intel-ci",
    ],
)
def test_coverage_and_timeliness_match_what_was_seeded(judged: JudgedWorld, account: str) -> None:
    coverage, on_time = judged.truth_rates(account)
    ev = judged.system(account).evaluation
    assert ev.coverage == pytest.approx(coverage, abs=0.02)
    assert ev.on_time_rate == pytest.approx(on_time, abs=0.02)


def test_missed_patch_sets_are_the_ones_the_ci_never_answered(judged: JudgedWorld) -> None:
    entry = next(s for s in judged.truth["systems"] if s["account"] == "cobalt-ilo-ci")
    seeded_missed = {tuple(item) for item in entry["seeded"]["missed"]}
    found = set(judged.system("cobalt-ilo-ci").evaluation.missed)
    assert found and found <= seeded_missed


def test_drivers_without_a_reliable_ci_are_unsupported(judged: JudgedWorld) -> None:
    drivers = {d.name: d.verdict for d in judged.report.drivers if d.status != "removed"}
    assert drivers["redfish"] == "supported"
    assert drivers["idrac"] == "unsupported"  # only Bolt, which is too slow, covers it
    assert drivers["ipmi"] == "supported"  # upstream Zuul covers it despite flaky Echo


def test_sandbox_only_ci_met_the_sandbox_milestone_but_not_per_patch_testing(
    judged: JudgedWorld,
) -> None:
    states = {m.key: m.state for m in judged.system("hotel-fake-ci").milestones}
    assert states["sandbox"] in ("met", "met_late")
    assert states["per_patch"] in ("missed", "pending")


def test_json_report_has_the_documented_shape(judged: JudgedWorld) -> None:
    document = report_to_json(judged.report)
    assert set(document["window"]) == {"start", "end"}
    system = next(s for s in document["systems"] if s["account"] == "cobalt-ilo-ci")
    for key in (
        "account",
        "name",
        "drivers",
        "expected",
        "reported",
        "coverage",
        "missed",
        "on_time",
        "on_time_rate",
        "deadline_hours",
        "latency_hours",
        "artifacts",
        "accuracy",
        "duplicates",
        "last_report",
        "last_success",
        "milestones",
        "verdict",
        "reasons",
    ):
        assert key in system, key
    assert set(system["latency_hours"]) == {"p50", "p95", "max"}
    assert {"checked", "available", "standard", "retained"} <= set(system["artifacts"])
    assert {"false_failures", "recheck_flips", "rubber_stamp", "revision_mismatch"} <= set(
        system["accuracy"]
    )
    assert system["missed"][0].keys() == {"change", "patchset"}
    assert {d["name"] for d in document["drivers"]} >= {"redfish", "idrac", "ipmi"}


def test_a_report_evaluated_in_two_processes_is_the_same_report(
    judged: JudgedWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Forking pays only for large windows; lowered here so this small world forks.
    monkeypatch.setattr(ParallelTuning, "min_weight", 1)
    policy = load_policy()
    end = judged.window.end

    in_two = Judge(judged.store, judged.registry, policy, now=end, processes=2)
    report = in_two.report(judged.window)

    assert report_to_json(report) == report_to_json(judged.report)
    assert any(s.evaluation.artifacts.checked for s in report.systems)  # probes came back too


def test_report_command_fails_when_a_ci_is_unreliable(judged: JudgedWorld) -> None:
    _register_subcommands()
    result = CliRunner().invoke(
        app,
        [
            "audit",
            "report",
            "--format",
            "json",
            "--db",
            judged.db_url,
            "--registry",
            str(judged.registry_path),
            "--since",
            judged.window.start.date().isoformat(),
            "--until",
            judged.window.end.date().isoformat(),
            "--fail-on",
            "unreliable",
        ],
    )
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert {s["account"] for s in document["systems"]} >= set(EXPECTED_VERDICTS)


def test_collect_killed_halfway_then_rerun_matches_one_uninterrupted_run(
    judged: JudgedWorld, tmp_path: Path
) -> None:
    async def collect(store: Store, interrupt_after: int | None) -> None:
        scenario = smaller(load_scenario(bundled_scenario_path("judge-8cis")))
        scenario = scenario.model_copy(update={"days": 6, "cis": scenario.cis[:2]})
        state_dir = tmp_path / f"gerrit-{interrupt_after}"
        state = EmulatorState(state_dir)
        seed_scenario(state, state_dir / "git", scenario)
        async with EmulatorServer(state) as server, GerritRestClient(server.http_url) as client:
            collector = RestCollector(Ingestor(store, judged.registry), client, "openstack/ironic")
            collector.PAGE_SIZE = 10
            if interrupt_after is not None:
                await collector.run(stop_after_pages=interrupt_after)
                await collector.run()
            else:
                await collector.run()
        state.close()

    whole = open_store(f"sqlite:///{tmp_path / 'whole.sqlite'}")
    resumed = open_store(f"sqlite:///{tmp_path / 'resumed.sqlite'}")
    asyncio.run(collect(whole, None))
    asyncio.run(collect(resumed, 3))
    with whole.transaction() as a, resumed.transaction() as b:
        whole_counts, resumed_counts = count_rows(a), count_rows(b)
    whole_counts.pop("collect_cursors"), resumed_counts.pop("collect_cursors")
    assert resumed_counts == whole_counts
    assert whole_counts["review_messages"] > 100

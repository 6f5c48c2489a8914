"""The judge's scenario: each seeded CI behaves as the scenario says, and the truth file agrees."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from driverci.emulator.seed.scenario import CISpec, Scenario, bundled_scenario_path, load_scenario
from driverci.emulator.seed.seeder import seed_scenario
from driverci.emulator.state.journal import EmulatorState

DEADLINE_HOURS = 4.0


def share_within_deadline(ci: CISpec) -> float:
    """P(latency <= 4 h) for the scenario's log-normal latency."""
    mu = math.log(ci.latency_hours.median)
    sigma = (math.log(ci.latency_hours.p95) - mu) / 1.6448536269514722
    z = (math.log(DEADLINE_HOURS) - mu) / sigma
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


@pytest.fixture(scope="module")
def judge(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Scenario, EmulatorState, dict[str, Any]]:
    state_dir = tmp_path_factory.mktemp("judge")
    scenario = load_scenario(bundled_scenario_path("judge-8cis"))
    state = EmulatorState(state_dir)
    summary = seed_scenario(state, state_dir / "git", scenario)
    assert summary.seconds < 60
    truth = json.loads((state_dir / "scenario-truth.json").read_text())
    return scenario, state, {s["account"]: s for s in truth["systems"]}


def test_eight_distinct_behaviours(judge: tuple[Scenario, EmulatorState, dict[str, Any]]) -> None:
    scenario, _, truth = judge
    assert len(scenario.cis) == 8
    assert len({ci.behaviour for ci in scenario.cis}) == 8
    assert set(truth) == {ci.account for ci in scenario.cis}


def test_reported_and_on_time_shares_follow_the_scenario(
    judge: tuple[Scenario, EmulatorState, dict[str, Any]],
) -> None:
    scenario, _, truth = judge
    for ci in scenario.cis:
        seeded = truth[ci.account]["seeded"]
        if ci.sandbox_only:
            assert seeded["expected"] == 0 and seeded["reported"] == 0
            continue
        assert seeded["expected"] > 1000, ci.account
        if ci.stops_at is None:
            assert abs(seeded["coverage"] - ci.report_rate) < 0.03, ci.account
        assert abs(seeded["on_time_rate"] - share_within_deadline(ci)) < 0.03, ci.account


def test_truth_counts_match_the_comments_in_gerrit(
    judge: tuple[Scenario, EmulatorState, dict[str, Any]],
) -> None:
    scenario, state, truth = judge
    for ci in scenario.cis:
        account = state.account_by_username(ci.account)
        assert account is not None
        comments = [
            (c, m)
            for c in state.changes.values()
            if c.project == scenario.project
            for m in c.messages
            if m.author_id == account.account_id
        ]
        seeded = truth[ci.account]["seeded"]
        assert len(comments) == seeded["comments"], ci.account
        reported = {(c.number, m.revision_number or 0) for c, m in comments}
        assert len(reported) == seeded["reported"], ci.account
        on_time = 0
        for change_number, patch_set in reported:
            change = state.changes[change_number]
            first = min(
                m.date for m in change.messages
                if m.author_id == account.account_id and m.revision_number == patch_set
            )  # fmt: skip
            ps = change.patch_sets[patch_set - 1]
            on_time += first - ps.created <= timedelta(hours=DEADLINE_HOURS)
        assert on_time == seeded["on_time"], ci.account


def test_a_dark_ci_posts_nothing_after_it_stops_and_sandbox_only_stays_in_the_sandbox(
    judge: tuple[Scenario, EmulatorState, dict[str, Any]],
) -> None:
    scenario, state, truth = judge
    dark = next(ci for ci in scenario.cis if ci.stops_at is not None)
    sandbox_only = next(ci for ci in scenario.cis if ci.sandbox_only)
    ids = {
        ci.account: state.account_by_username(ci.account).account_id  # type: ignore[union-attr]
        for ci in (dark, sandbox_only)
    }
    for change in state.changes.values():
        for message in change.messages:
            if message.author_id == ids[dark.account]:
                assert dark.stops_at is not None and message.date < dark.stops_at
            if message.author_id == ids[sandbox_only.account]:
                assert change.project == scenario.sandbox_project
    assert truth[sandbox_only.account]["seeded"]["sandbox_comments"] >= 5
    assert truth[dark.account]["seeded"]["coverage"] < 0.6


def test_rubber_stamp_always_succeeds_and_its_artifacts_name_another_revision(
    judge: tuple[Scenario, EmulatorState, dict[str, Any]],
) -> None:
    scenario, state, truth = judge
    stamp = next(ci for ci in scenario.cis if not ci.tests_revision)
    assert truth[stamp.account]["seeded"]["failures"] == 0
    assert state.state_dir is not None
    records = [
        json.loads(line) for line in (state.state_dir / "artifacts.jsonl").read_text().splitlines()
    ]
    mine = [r for r in records if r["ci"] == stamp.account]
    assert mine and all(r["revision"] != r["patch_set_revision"] for r in mine)
    honest = [r for r in records if r["ci"] != stamp.account]
    assert all(r["revision"] == r["patch_set_revision"] for r in honest)


def test_flaky_ci_fails_where_upstream_passed(
    judge: tuple[Scenario, EmulatorState, dict[str, Any]],
) -> None:
    scenario, _, truth = judge
    for ci in scenario.cis:
        seeded = truth[ci.account]["seeded"]
        if ci.false_failure_rate >= 0.2:
            assert seeded["false_failures"] > 0.15 * seeded["comments"]
            assert seeded["recheck_answers"] > 0
        elif not ci.sandbox_only:
            assert seeded["false_failures"] < 0.03 * seeded["comments"] + 1


def test_ci_started_after_the_stable_branch_does_not_test_it(
    judge: tuple[Scenario, EmulatorState, dict[str, Any]],
) -> None:
    scenario, state, _ = judge
    late = next(ci for ci in scenario.cis if ci.started > scenario.branch_creation("stable/2025.2"))
    early = next(
        ci for ci in scenario.cis if ci.started < scenario.branch_creation("stable/2025.2")
    )
    by_branch: dict[str, set[str]] = {"master": set(), "stable/2025.2": set()}
    names = {a.account_id: a.username for a in state.accounts.values()}
    for change in state.changes.values():
        if change.project == scenario.project:
            for message in change.messages:
                by_branch[change.branch].add(names.get(message.author_id or 0, ""))
    assert late.account in by_branch["master"] and late.account not in by_branch["stable/2025.2"]
    assert early.account in by_branch["stable/2025.2"]


def test_bundled_example_is_the_issue_scenario() -> None:
    example = load_scenario(bundled_scenario_path("example"))
    assert example.days == 60 and example.changes_per_day == 20
    assert example.cis[0].account == "acme-ironic-ci"
    assert Path(bundled_scenario_path("judge-8cis")).exists()

"""The rehearsal (`driverci sandbox`) end to end, on a tiny fake Ironic tree instead of the
PyPI sdist: the same code path (emulator, git pushes, the reference CI with its real local
executor and stestr, the log server, the judge over REST), in seconds and without network.

One rehearsal runs for the module; each test reads one thing a user would check."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from driverci.audit.parse.comment import parse_ci_message
from driverci.sandbox.cli import prepare_source, print_result
from driverci.sandbox.outcome import CIWATCH
from driverci.sandbox.rehearsal import Rehearsal, RehearsalResult

pytestmark = pytest.mark.timeout(120)


class Rehearsed:
    def __init__(self, result: RehearsalResult, printed: str, state: Path) -> None:
        self.result = result
        self.printed = printed
        self.state = state


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsed]:
    base = tmp_path_factory.mktemp("sandbox")
    output = io.StringIO()
    console = Console(file=output, width=200, color_system=None)
    # A relative state directory, as `driverci sandbox` has by default.
    with contextlib.chdir(base):
        state = Path("state")
        source = prepare_source(
            fake=True,
            fast=False,
            version="0",
            cache_dir=Path("/nonexistent"),
            state_dir=state,
            out=console,
        )
        result = asyncio.run(Rehearsal(state, source, console).run())
        print_result(result, console)
    yield Rehearsed(result, output.getvalue(), base / "state")


def test_the_breaking_patch_fails_and_its_link_shows_the_failing_test(rehearsed: Rehearsed) -> None:
    breaking = rehearsed.result.outcome("breaking")
    [comment] = breaking.comments
    assert "Build failed (check pipeline)." in comment
    [unit] = breaking.jobs(0)
    assert (unit.job, unit.result) == ("redfish-unit", "FAILURE")
    [check] = [c for c in rehearsed.result.artifacts if c.url.rstrip("/") == unit.url.rstrip("/")]
    assert check.ok and check.status == 200
    assert "testr_results.html shows the failing" in check.note
    # What the browser showed is what the CI published.
    published = rehearsed.state / "ci" / "logs" / unit.url.split("/", 3)[3]
    page = (published / "testr_results.html").read_text()
    assert "test_power.RedfishPowerTestCase.test_get_power_state" in page
    assert "Result: FAILURE" in (published / "job-output.txt").read_text()


def test_the_docs_only_patch_is_not_tested_and_gets_no_comment(rehearsed: Rehearsed) -> None:
    docs = rehearsed.result.outcome("docs-only")
    assert docs.comments == [] and not docs.tested
    assert docs.as_expected


def test_the_good_patch_succeeds_and_a_recheck_reports_again(rehearsed: Rehearsed) -> None:
    good = rehearsed.result.outcome("good")
    first, second = good.comments
    assert "Build succeeded (check pipeline)." in first
    assert "Build succeeded (check pipeline)." in second
    assert good.jobs(0)[0].url != good.jobs(1)[0].url  # a new run with its own logs
    assert all(check.ok for check in rehearsed.result.artifacts)


def test_every_comment_is_readable_by_ciwatch_and_the_judge(rehearsed: Rehearsed) -> None:
    for outcome in rehearsed.result.outcomes:
        for text in outcome.comments:
            assert CIWATCH.search(text)
            parsed = parse_ci_message(text)
            assert parsed.pipeline == "check"
            assert parsed.result == ("FAILURE" if outcome.patch.key == "breaking" else "SUCCESS")


def test_the_judge_rates_the_ci_reliable_on_its_own_sandbox_history(rehearsed: Rehearsed) -> None:
    result = rehearsed.result
    assert result.verdict == "reliable"
    system = result.judgement.system("sandbox-redfish-ci")
    assert system is not None
    ev = system.evaluation
    assert (ev.expected, ev.reported) == (2, 2)  # breaking and good; docs-only is excluded
    assert (ev.artifacts.checked, ev.artifacts.standard) == (3, 3)
    assert ev.duplicates == 0  # the second comment answered a recheck
    # The rehearsal policy is written out, and differs from Ironic's only in min_sample.
    policy = yaml.safe_load((rehearsed.state / "policy-rehearsal.yaml").read_text())
    assert policy["thresholds"]["min_sample"] == 2
    report = json.loads((rehearsed.state / "report.json").read_text())
    assert "Sandbox Redfish CI" in json.dumps(report)


def test_the_spec_sandbox_milestone_check_passes_on_ci_sandbox(rehearsed: Rehearsed) -> None:
    lines = rehearsed.result.sandbox_check
    assert lines and all(ok for ok, _ in lines)
    assert any("opendev/ci-sandbox" in text for _, text in lines)


def test_the_printout_tells_the_story(rehearsed: Rehearsed) -> None:
    printed = rehearsed.printed
    assert "Build failed (check pipeline)." in printed
    assert "- redfish-unit http" in printed
    assert "Sandbox Redfish CI rated reliable by the judge" in printed
    assert "NOT as expected" not in printed

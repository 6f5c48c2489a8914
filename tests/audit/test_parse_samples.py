"""The parser on real captured Gerrit payloads (shared/gerrit-samples) and DriverLog's patterns.

Every line of every message that matches a ciwatch-like job pattern must come back as a job with
the same name, URL and result: the issue's "every job line of every CI message is extracted".
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from driverci.audit.parse.comment import JobResult, compile_ci_pattern, parse_ci_message

REPO_ROOT = Path(__file__).resolve().parents[2]
# ciwatch's comment_pattern, with any upper-case result word (Zuul has many more than four).
GENERIC_JOB_LINE = re.compile(r"[-*]\s+([^\s*]+)\s+(http[^\s*]+) : ([A-Z][A-Z_]+)")


def shared_dir() -> Path:
    return Path(os.environ.get("DRIVERCI_SHARED", REPO_ROOT.parent / "shared"))


def samples_dir() -> Path:
    return shared_dir() / "gerrit-samples"


def load_json(path: Path) -> Any:
    """Decode a sample: JSON, JSON lines, or a REST answer led by Gerrit's ``)]}'`` line."""
    text = path.read_text(encoding="utf-8")
    if text.startswith(")]}'"):
        text = text.partition("\n")[2]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def strings_in(document: Any) -> Iterator[str]:
    """Every string value in a decoded JSON document (messages sit at many depths)."""
    if isinstance(document, str):
        yield document
    elif isinstance(document, dict):
        for value in document.values():
            yield from strings_in(value)
    elif isinstance(document, list):
        for value in document:
            yield from strings_in(value)


def sample_files() -> list[Path]:
    directory = samples_dir()
    if not directory.is_dir():
        pytest.skip(f"no gerrit samples at {directory} (set DRIVERCI_SHARED)")
    return sorted(directory.glob("*.json"))


def messages_with_job_lines() -> list[tuple[str, str]]:
    found = []
    for path in sample_files():
        for text in strings_in(load_json(path)):
            if GENERIC_JOB_LINE.search(text):
                found.append((path.name, text))
    return found


def test_every_job_line_in_every_sample_message_is_extracted() -> None:
    messages = messages_with_job_lines()
    total_lines = 0
    for file_name, text in messages:
        expected = [
            match.groups()
            for line in text.splitlines()
            if (match := GENERIC_JOB_LINE.search(line)) is not None
        ]
        parsed = parse_ci_message(text)

        assert [(job.name, job.url, job.result) for job in parsed.jobs] == expected, file_name
        assert parsed.is_parseable, file_name
        total_lines += len(expected)

    # GerritChange.json: two Zuul 3.x "noop" lines; the 2014 Jenkins event: eleven.
    assert {name for name, _ in messages} >= {
        "GerritChange.json",
        "openstack-2014-jenkins-events.json",
    }
    assert total_lines >= 13


def test_the_2014_jenkins_report_is_a_failure_with_durations() -> None:
    events = load_json(samples_dir() / "openstack-2014-jenkins-events.json")["events"]

    parsed = parse_ci_message(events[0]["comment"])

    assert (parsed.patch_set, parsed.kind, parsed.result) == (1, "result", "FAILURE")
    assert len(parsed.jobs) == 11
    assert [job.name for job in parsed.jobs if job.result == "FAILURE"] == [
        "check-requirements-integration-dsvm",
        "check-tempest-dsvm-full",
        "check-tempest-dsvm-postgres-full",
        "check-tempest-dsvm-neutron",
    ]
    postgres = parsed.jobs[5]
    assert postgres.duration_seconds == 1 * 3600 + 1 * 60 + 15
    assert parsed.jobs[0].duration_seconds == 46


def test_zuul_3_messages_of_a_whole_change_tell_start_result_and_gate() -> None:
    change = load_json(samples_dir() / "GerritChange.json")
    by_zuul = [m["message"] for m in change["messages"] if m["author"].get("username") == "zuul"]

    parsed = [parse_ci_message(text) for text in by_zuul]

    assert [(p.kind, p.result, p.pipeline) for p in parsed] == [
        ("start", "UNKNOWN", "check"),  # "Starting check jobs."
        ("result", "SUCCESS", None),
        ("other", "UNKNOWN", None),  # "Change has been successfully merged by Zuul CI"
        ("start", "UNKNOWN", "gate"),  # "Starting gate jobs."
        ("result", "SUCCESS", "gate"),
    ]
    assert parsed[1].jobs == (
        JobResult(
            "noop",
            "https://softwarefactory-project.io/zuul/t/local/build/c6511d87e5f644e7b566b73741600392",
            "SUCCESS",
            0,
        ),
    )
    assert [p.votes for p in parsed] == [{}, {"Verified": 1}, {}, {"Verified": 0}, {"Verified": 2}]


def test_the_stream_event_comment_is_a_start() -> None:
    event = load_json(samples_dir() / "EventCommentAdded.json")

    parsed = parse_ci_message(event["comment"])

    assert (parsed.patch_set, parsed.kind) == (3, "start")


def test_human_review_messages_in_the_samples_never_look_like_unparseable_reports() -> None:
    for path in sample_files():
        for text in strings_in(load_json(path)):
            parsed = parse_ci_message(text)
            assert parsed.is_parseable or GENERIC_JOB_LINE.search(text), (path.name, text[:80])


def driverlog_ci_entries() -> list[dict[str, str]]:
    path = shared_dir() / "reference" / "driverlog-default_data.json"
    if not path.is_file():
        pytest.skip(f"no DriverLog data at {path}")
    drivers = json.loads(path.read_text(encoding="utf-8"))["drivers"]
    return [driver["ci"] for driver in drivers if "success_pattern" in driver.get("ci", {})]


def test_every_driverlog_pattern_compiles() -> None:
    entries = driverlog_ci_entries()

    assert len(entries) > 100
    for entry in entries:
        compile_ci_pattern(entry["success_pattern"])
        compile_ci_pattern(entry["failure_pattern"])


@pytest.mark.parametrize(
    ("ci_id", "success_text", "failure_text"),
    [
        ("Fujitsu_iRMC_CI", "Build succeeded.", "Build failed."),
        ("proliantci", "Build Successful \n\nhttp://j/job/x/1/ : SUCCESS", "Build Failed \n\n"),
        (
            "openstack-ironic-ci",
            "* dell-hw13G-tempest-dsvm-ironic-pxe_drac http://ci/1 : SUCCESS in 5s",
            "* dell-hw13G-tempest-dsvm-ironic-pxe_drac http://ci/1 : FAILURE in 5s",
        ),
    ],
)
def test_ironic_vendor_patterns_from_driverlog_read_their_reports(
    ci_id: str, success_text: str, failure_text: str
) -> None:
    entry = next(e for e in driverlog_ci_entries() if e["id"] == ci_id)
    patterns = {
        "success_pattern": entry["success_pattern"],
        "failure_pattern": entry["failure_pattern"],
    }

    success = parse_ci_message(f"Patch Set 2:\n\n{success_text}", **patterns)
    failure = parse_ci_message(f"Patch Set 2:\n\n{failure_text}", **patterns)

    # A stated "Build ..." decides before the patterns; Dell's job patterns read the rest.
    source = "header" if success_text.startswith("Build") else "pattern"
    assert (success.result, success.result_source) == ("SUCCESS", source)
    assert (failure.result, failure.result_source) == ("FAILURE", source)

"""The persisted queue and the reporter: order, idempotence, crash recovery, one comment."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from ci_fixtures import CI, CIWATCH, FastExecutor, running, write_ci_yaml

from driverci.ci.decide import PATCHSET, Decision, PatchSetFacts
from driverci.ci.email import Notifier
from driverci.ci.queue import FINISHED, QUEUED, JobRecord, RunQueue
from driverci.ci.report import Reporter, format_comment, format_duration, job_line
from driverci.gerrit.rest import GerritRestClient
from driverci.store.db import Store
from world import GerritWorld, wait_until

T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
FACTS = PatchSetFacts(
    "openstack/ironic", "master", 7, 1, "a" * 40, "refs/changes/07/7/1", 1, "NEW", False, ()
)


def decision(at: dt.datetime, trigger_id: str = PATCHSET) -> Decision:
    return Decision("enqueue", "test", PATCHSET, trigger_id, at)


def test_intake_is_idempotent_and_the_queue_is_served_by_deadline(store: Store) -> None:
    queue = RunQueue(store, CI)
    late = queue.enqueue(replace(FACTS, change=1), decision(T0), T0 + dt.timedelta(hours=8))
    early = queue.enqueue(replace(FACTS, change=2), decision(T0), T0 + dt.timedelta(hours=1))
    overdue = queue.enqueue(replace(FACTS, change=3), decision(T0), T0 - dt.timedelta(hours=1))
    assert late and early and overdue
    assert queue.enqueue(replace(FACTS, change=1), decision(T0), T0) is None  # same trigger
    assert [run.change_number for run in queue.waiting()] == [3, 2, 1]  # overdue not starved


def test_a_new_patch_set_supersedes_queued_runs_of_older_ones(store: Store) -> None:
    queue = RunQueue(store, CI)
    queue.enqueue(FACTS, decision(T0), T0)
    running = queue.enqueue(replace(FACTS, change=8), decision(T0), T0)
    assert running and queue.claim(running.id)
    assert queue.supersede(7, 2, same_patch_set=False) == []
    assert queue.supersede(8, 2, same_patch_set=False) == [running.id]  # caller stops it
    assert queue.waiting() == []


def test_a_run_interrupted_by_a_crash_is_retried_once_then_given_up(store: Store) -> None:
    queue = RunQueue(store, CI)
    run = queue.enqueue(FACTS, decision(T0), T0)
    assert run and queue.claim(run.id)
    assert queue.recover() == ([run.id], [])
    assert [r.attempt for r in queue.waiting()] == [2]
    assert queue.claim(run.id)
    assert queue.recover() == ([], [run.id])
    assert queue.waiting() == []


def test_job_lines_match_ciwatch_whatever_the_result() -> None:
    start = T0
    for result, shown in [("SUCCESS", "SUCCESS"), ("FAILURE", "FAILURE"), ("TIMED_OUT", "FAILURE")]:
        record = JobRecord(
            "redfish-unit", False, result, "http://l/x/", start, start + dt.timedelta(seconds=3723)
        )
        line = job_line(record)
        match = CIWATCH.match(line)
        assert match and match.group(3) == shown
        assert " in 1h 02m 03s" in line and line.endswith("(non-voting)")
    assert format_duration(65) == "1m 05s" and format_duration(7) == "7s"


async def test_one_comment_per_run_even_after_a_crash_between_posting_and_recording(
    world: GerritWorld,
) -> None:
    config = write_ci_yaml(world, "http://logs.example.org/", extra="vote: true\n")
    change, patch_set = await world.push({"ironic/drivers/redfish.py": b"z = 1\n"}, "Vote")
    queue = RunQueue(world.store, CI)
    facts = replace(FACTS, change=change.number, revision=patch_set.revision)
    run = queue.enqueue(facts, decision(T0), T0)
    assert run is not None and queue.claim(run.id)
    url = f"http://logs.example.org/{change.number}/{run.id}/"
    queue.finish(run.id, "SUCCESS", [JobRecord("redfish-unit", True, "SUCCESS", url, T0, T0)], "")
    async with GerritRestClient(world.url, CI, "sandbox-redfish-ci-secret") as rest:
        reporter = Reporter(config, rest, queue, Notifier(None, config.name))
        finished = queue.get(run.id)
        assert finished is not None and finished.state == FINISHED
        # Ironic lets only zuul vote Verified: the comment is posted without the vote.
        assert await reporter.report(finished) == "posted-without-vote"
        # As if the CI crashed before recording it: reporting again finds the comment.
        assert await reporter.report(finished) == "found-posted"
    assert len(world.messages_by(change, CI)) == 1


async def test_after_n_failures_in_a_row_failures_are_withheld_until_a_success(
    world: GerritWorld,
) -> None:
    config = write_ci_yaml(world, "http://logs.example.org/", extra="max_consecutive_failures: 2\n")
    queue = RunQueue(world.store, CI)
    outcomes = ["FAILURE", "FAILURE", "FAILURE", "SUCCESS", "FAILURE"]
    statuses = []
    async with GerritRestClient(world.url, CI, "sandbox-redfish-ci-secret") as rest:
        reporter = Reporter(config, rest, queue, Notifier(None, config.name))
        for index, result in enumerate(outcomes):
            change, ps = await world.push({f"ironic/drivers/f{index}.py": b"1\n"}, f"F{index}")
            run = queue.enqueue(
                replace(FACTS, change=change.number, revision=ps.revision), decision(T0), T0
            )
            assert run and queue.claim(run.id)
            url = f"http://logs.example.org/{run.id}/"
            queue.finish(run.id, result, [JobRecord("j", True, result, url, T0, T0)], "")
            finished = queue.get(run.id)
            assert finished is not None
            statuses.append(await reporter.report(finished))
    assert statuses == ["posted", "posted", "suppressed", "posted", "posted"]


def test_the_comment_has_the_header_the_jobs_the_wiki_and_how_to_recheck(
    world: GerritWorld,
) -> None:
    config = write_ci_yaml(world, "http://l/")
    jobs = [JobRecord("redfish-unit", True, "FAILURE", "http://l/1/", T0, T0)]
    lines = format_comment(config, "FAILURE", jobs).splitlines()
    assert lines[0] == "Build failed (check pipeline)."
    assert lines[1] == "" and lines[3] == ""
    assert lines[2] == "- redfish-unit http://l/1/ : FAILURE in 0s"
    assert config.wiki in lines[4] and "recheck" in lines[5]


async def test_silent_mode_posts_nothing(world: GerritWorld) -> None:
    config = write_ci_yaml(world, "http://logs.example.org/", extra="silent: true\n")
    async with running(config, FastExecutor()) as service:
        change, _ = await world.push({"ironic/drivers/silent.py": b"1\n"}, "Silent")
        await wait_until(lambda: bool(service.queue.runs(["reported"])), 20, "a report")
    assert world.messages_by(change, CI) == []
    assert service.queue.runs()[0].report_status == "emailed"
    assert not service.queue.runs([QUEUED])

"""Stories of the testbed pool with the local executor: one job per testbed at a time, a
broken testbed taken out of service and the operator told, and put back by the operator."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pool_fixtures import (
    DRIVERCI,
    Bed,
    job,
    manifests,
    write_pool_ci_yaml,
)

from driverci.ci.decide import PATCHSET, RECONCILE, Decision, PatchSetFacts
from driverci.ci.model import JobOutcome, JobRequest
from driverci.ci.service import CIService
from world import GerritWorld, Inbox, reported_per_patch_set, smtp_server, wait_until


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    received = Inbox()
    with smtp_server(received) as port:
        yield received, port


def status_json(config_path: Path) -> dict[str, object]:
    done = subprocess.run(
        [DRIVERCI, "ci", "status", "--json", "-c", str(config_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    status: dict[str, object] = json.loads(done.stdout)
    return status


async def serve(service: CIService) -> asyncio.Task[None]:
    task = asyncio.create_task(service.run())
    await wait_until(lambda: service.stream is not None and service.stream.stats.connects > 0)
    await asyncio.sleep(0.3)
    return task


async def test_each_testbed_serves_one_job_at_a_time_while_the_pool_serves_several(
    world: GerritWorld,
) -> None:
    config = write_pool_ci_yaml(
        world,
        world.tmp / "ci",
        broker=None,
        backend=None,
        testbeds=[Bed("rf-1", ("redfish",)), Bed("rf-2", ("redfish",))],
        jobs=job("redfish-deploy", "redfish", "sleep 0.4"),
        slots=4,  # more runs could start than there are testbeds: the pool holds them back
    )
    service = CIService(config)
    task = await serve(service)
    try:
        changes = [
            (await world.push({f"ironic/drivers/modules/redfish/p{i}.py": b"x\n"}, f"P{i}"))[0]
            for i in range(6)
        ]
        expected = {(change.number, 1) for change in changes}
        await wait_until(lambda: set(reported_per_patch_set(world)) >= expected, 60, "6 reports")
    finally:
        await service.stop()
        await task
    # What each published job says: its testbed, when it started and finished.
    events = sorted(
        (str(m[kind]), kind, str(m["testbed"]))
        for m in manifests(config)
        for kind in ("started", "finished")
    )
    assert len(events) == 12
    busy: dict[str, bool] = {}
    most_at_once = running = 0
    for _, kind, bed in events:
        if kind == "started":
            assert not busy.get(bed), f"{bed} ran two jobs at once"
            busy[bed] = True
            running += 1
            most_at_once = max(most_at_once, running)
        else:
            busy[bed] = False
            running -= 1
    assert most_at_once == 2
    assert {bed for _, _, bed in events} == {"rf-1", "rf-2"}


async def test_a_testbed_failing_three_jobs_in_a_row_leaves_the_pool_until_the_operator_returns_it(
    world: GerritWorld, inbox: tuple[Inbox, int]
) -> None:
    mails, port = inbox
    config = write_pool_ci_yaml(
        world,
        world.tmp / "ci",
        broker=None,
        backend=None,
        testbeds=[Bed("rf-1", ("redfish",)), Bed("rf-2", ("redfish",))],
        # rf-2's BMC is broken: every job on it fails.
        jobs=job("redfish-deploy", "redfish", 'test "$DRIVERCI_TESTBED" != rf-2'),
        slots=1,
        extra=f"email:\n  smtp: 127.0.0.1:{port}\n  sender: ci@example.org\n"
        "  to: [operator@example.org]\n",
    )
    assert config.source is not None
    service = CIService(config)
    task = await serve(service)
    try:
        pushed = 0

        async def push() -> None:
            nonlocal pushed
            pushed += 1
            await world.push({f"ironic/drivers/modules/redfish/q{pushed}.py": b"x\n"}, f"Q{pushed}")
            await wait_until(lambda: len(reported_per_patch_set(world)) == pushed, 30, "a report")

        while not any("out of service" in str(m["Subject"]) for m in mails.messages):
            assert pushed < 12, "rf-2 was never taken out of service"
            await push()
        status = status_json(config.source)
        assert status["testbeds_out_of_service"] == ["rf-2"]
        failures_before = sum("Build failed" in m for m in all_ci_comments(world))
        for _ in range(3):  # only rf-1 serves now: every run succeeds
            await push()
        assert sum("Build failed" in m for m in all_ci_comments(world)) == failures_before
        subprocess.run(
            [DRIVERCI, "ci", "testbed", "enable", "rf-2", "-c", str(config.source)], check=True
        )
        assert status_json(config.source)["testbeds_out_of_service"] == []
    finally:
        await service.stop()
        await task
    mail = next(m for m in mails.messages if "out of service" in str(m["Subject"]))
    assert "rf-2" in str(mail["Subject"])
    assert "driverci ci testbed enable rf-2" in mail.get_content()


def all_ci_comments(world: GerritWorld) -> list[str]:
    return [
        message
        for change in world.state.changes.values()
        for message in world.messages_by(change, "sandbox-redfish-ci")
    ]


class StartRecorder:
    """Records which patch set each job was started for, on which testbed."""

    def __init__(self) -> None:
        self.starts: list[tuple[int, str]] = []

    async def run(self, request: JobRequest, cancel: asyncio.Event) -> JobOutcome:
        now = dt.datetime.now(dt.UTC)
        self.starts.append((request.target.change, request.testbed.name if request.testbed else ""))
        await asyncio.sleep(0.05)
        return JobOutcome("SUCCESS", request.log_url, now, dt.datetime.now(dt.UTC))


async def test_the_pool_serves_the_earliest_deadline_first_whatever_the_arrival_order(
    world: GerritWorld,
) -> None:
    config = write_pool_ci_yaml(
        world,
        world.tmp / "ci",
        broker=None,
        backend=None,
        testbeds=[Bed("rf-1", ("redfish",))],
        jobs=job("redfish-deploy", "redfish", "true"),
        slots=4,
    )
    recorder = StartRecorder()
    service = CIService(config, executor=recorder)
    now = dt.datetime.now(dt.UTC)
    # Found in this order (a recheck now, then patch sets missed hours ago, by reconciliation).
    hours_ago = {101: 0, 102: 3, 103: 1, 104: 2, 105: 5, 106: 4}
    for change, hours in hours_ago.items():
        facts = PatchSetFacts(
            "openstack/ironic",
            "master",
            change,
            1,
            "a" * 40,
            f"refs/changes/01/{change}/1",
            1,
            "NEW",
            False,
            ("ironic/drivers/redfish.py",),
        )
        at = now - dt.timedelta(hours=hours)
        service.submit(facts, Decision("enqueue", "test", RECONCILE, PATCHSET, at))
    task = asyncio.create_task(service.run(stream=False))
    try:
        await wait_until(lambda: len(recorder.starts) == 6, 30, "six runs")
    finally:
        await service.stop()
        await task
    assert [change for change, _ in recorder.starts] == [105, 106, 102, 104, 103, 101]
    assert {bed for _, bed in recorder.starts} == {"rf-1"}

"""The reference CI's cost per event at peak, for ``bench_ci_pool``: intake and dispatch with
the testbed pool, and publishing a job to RabbitMQ through the real ``CeleryExecutor``."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.ci_sim import SimGerrit, SimRest, VirtualClock, settle
from benchmarks.common import bench_ci_config
from driverci.ci.decide import decide_patch_set
from driverci.ci.listen import facts_from_change
from driverci.ci.model import JobOutcome, JobRequest
from driverci.ci.service import CIService, job_request
from driverci.store.models import CIRun

START = dt.datetime(2026, 1, 5, 14, tzinfo=dt.UTC)
PATCH_SETS_PER_CHANGE = 1.8  # as in the year model: some events supersede a queued run


def pool_testbeds(count: int = 4) -> list[dict[str, Any]]:
    return [
        {"name": f"redfish-{index}", "labels": ["redfish"], "bmc": f"10.0.0.{index}"}
        for index in range(1, count + 1)
    ]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


class NoopExecutor:
    """Every job succeeds at once."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock

    async def run(self, request: JobRequest, cancel: asyncio.Event) -> JobOutcome:
        now = self.clock()
        return JobOutcome("SUCCESS", request.log_url, now, now, executor="noop")


async def intake_cost(
    tmp: Path, events: int = 1000, seconds: float = 60.0
) -> tuple[list[float], list[float]]:
    """Microseconds per patchset event: (decide + new_patch_set + submit + dispatch, the run's
    completion in the service's tasks), ``events`` spread over ``seconds`` of virtual time.

    What the listener does before deciding (the REST read of the change) is not counted.
    """
    clock = VirtualClock(START)
    config = bench_ci_config(tmp, 4, testbeds=pool_testbeds(), job_label="redfish")
    gerrit = SimGerrit(config.project, config.gerrit.username, clock)
    service = CIService(config, executor=NoopExecutor(clock), clock=clock)
    await service.rest.aclose()
    service.rest = service.reporter.rest = service.listener.rest = SimRest(gerrit)
    intake: list[float] = []
    completion: list[float] = []
    for index in range(events):
        clock.now = clock.at(index * seconds / events)
        change = int(index / PATCH_SETS_PER_CHANGE) + 1
        patch_set = len(gerrit.changes[change].patch_sets) + 1 if change in gerrit.changes else 1
        gerrit.upload(change, patch_set)
        facts = facts_from_change(gerrit.info(change), patch_set)
        began = time.perf_counter()
        decision = decide_patch_set(config, service.policy, facts, clock())
        service.new_patch_set(change, patch_set)
        service.submit(facts, decision)
        service.dispatch()
        dispatched = time.perf_counter()
        await settle(service, None, scheduler=False)
        intake.append((dispatched - began) * 1e6)
        completion.append((time.perf_counter() - dispatched) * 1e6)
    service.store.close()
    return intake, completion


def celery_send_cost(tmp: Path, sends: int = 300) -> list[float] | str:
    """Microseconds per ``CeleryExecutor._send`` to private RabbitMQ/Redis servers (started and
    killed here, so nothing is left in the machine's own), or why not measured."""
    for binary in ("rabbitmq-server", "redis-server"):
        if shutil.which(binary) is None:
            return f"{binary} not installed"
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    try:
        from brokers import brokers  # tests/brokers.py: private servers on free ports
    except ImportError as exc:
        return f"tests/brokers.py not importable: {exc}"
    finally:
        sys.path.pop(0)
    with brokers() as (rabbit, redis_server):
        celery = {"broker": rabbit.url, "backend": redis_server.url}
        config = bench_ci_config(
            tmp,
            4,
            testbeds=pool_testbeds(),
            job_label="redfish",
            extra={"executor": "celery", "celery": celery},
        )
        try:
            return asyncio.run(_sends(config, sends))
        finally:  # the servers' logs, kept by tests/brokers.py for failing tests
            rabbit.log.unlink(missing_ok=True)
            redis_server.log.unlink(missing_ok=True)


async def _sends(config: Any, sends: int) -> list[float]:
    from driverci.ci.workers.client import CeleryExecutor
    from driverci.ci.workers.wire import task_id

    executor = CeleryExecutor(config)
    testbed = {"redfish": config.testbeds[0]}
    cancel = asyncio.Event()
    durations = []
    try:
        for index in range(sends):
            run = CIRun(
                id=f"0190000000-bench-{index}",
                project=config.project,
                branch="master",
                change_number=index + 1,
                patch_set=1,
                revision="a" * 40,
                ref=f"refs/changes/{(index + 1) % 100:02d}/{index + 1}/1",
                attempt=1,
            )
            request = job_request(config, run, 0, testbed)
            began = time.perf_counter()
            await executor._send(request, task_id(run.id, request.job.name, 1), cancel)
            durations.append((time.perf_counter() - began) * 1e6)
    finally:
        await executor.aclose()
    return durations

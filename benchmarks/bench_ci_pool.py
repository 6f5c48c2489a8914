"""The reference CI with a testbed pool: a year of Ironic, and the cost per event at peak.

Prints figures, asserts nothing. ``python -m benchmarks.bench_ci_pool [--quick]``
(``--quick``: a quarter of a year, for trying changes).

A year of Ironic's patch-set uploads (``benchmarks.common.ironic_year_arrivals``, the model of
``bench_ci_scheduling``), compressed in time: the real ``CIService`` runs under a virtual
clock with its real ``RunQueue`` in a real SQLite store (a temporary directory), its real
``TestbedPool`` of 4 testbeds labelled ``redfish``, its real scheduler (``run(stream=False)``:
recovery at start, ``_schedule_forever`` -> ``dispatch()``, the start-up reconciliation), its
real ``Listener`` (every event through ``Listener.handle``; missed ones through
``Listener.reconcile_once``) and its real ``Reporter``. Simulated (``benchmarks/ci_sim.py``):
Gerrit's REST answers and events, and the executor -- Celery workers that each run
**2 jobs at once (an assumption: ``--concurrency 2``)** on 1 or 2 executor hosts, behind the
broker's first-in first-out queue, holding their testbed's lock while they run. With 1 host
at most 2 jobs run at once although 4 testbeds exist: the service still starts 4 runs
(``slots: 4``, one testbed each) and two of them wait at the broker (capping with
``slots: 2`` instead gave the same figures, 78.0 % for deadline-first on 1 host, when tried).
A discrete-event loop moves the clock to the next upload, recheck, job end or outage edge,
hands the event to the service, and lets its tasks run until each waits for a job end.

What makes deadline-first and first-in first-out (``CIService.ORDER = "fifo"``: queue order,
the uuid7 id order) differ is modelled: the CI is down 4 times a year for 2-12 hours (a crash
of the listener; the workers go on, their jobs are adopted at restart) and reconciliation
takes in the missed patch sets with their upload time, so early deadlines, in Gerrit's order
(most recently updated first); rechecks (a tenth of the reports, about an hour later); and
superseding (a new patch set cancels the older runs of its change) in both orders. Not
modelled: merges and abandons, job failures (every job succeeds in 90 minutes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import logging
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.ci_costs import celery_send_cost, intake_cost, percentile, pool_testbeds
from benchmarks.ci_sim import (
    HostJob,
    SimGerrit,
    SimRest,
    SimulatedHosts,
    VirtualClock,
    settle,
    stop_task,
)
from benchmarks.common import HOUR, bench_ci_config, ironic_year_arrivals
from driverci.ci.config import CIConfig
from driverci.ci.service import CIService

START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # a Monday: day 0 of the arrival model
JOB_SECONDS = 90 * 60.0
DEADLINE = 4 * HOUR
SLOTS = 4
OUTAGES_A_YEAR = 4
RECHECK_SHARE = 0.1  # reports followed by a recheck
RECHECK_DELAY = HOUR  # mean time from a report to its recheck


def year_outages(seed: int, days: int) -> list[tuple[float, float]]:
    """(down, up) in seconds: a few crashes of the listener on working days, 2-12 h each."""
    rng = random.Random(f"outages:{seed}")
    weekdays = [day for day in range(days) if day % 7 < 5]
    count = max(1, round(OUTAGES_A_YEAR * days / 365))
    outages = []
    for day in sorted(rng.sample(weekdays, count)):
        down = (day * 24 + rng.uniform(0, 24)) * HOUR
        outages.append((down, down + rng.uniform(2, 12) * HOUR))
    return outages


@dataclass
class YearFigures:
    order: str
    hosts: int
    due: int
    on_time: int
    late_due: int
    late_on_time: int
    recheck_due: int
    recheck_on_time: int
    delays: list[float]  # seconds from upload to first report, due patch sets
    runs: Counter[str]
    host_jobs: int
    adopted: int
    lock_waits: int
    lock_wait_hours: float
    events: int
    wall: float

    def row(self) -> str:
        def share(hit: int, of: int) -> str:
            return f"{hit / of:6.1%} of {of:<4}" if of else "   n/a       "

        reported = [d for d in self.delays if d != float("inf")]
        median = statistics.median(reported) / 60 if reported else float("nan")
        p95 = percentile(self.delays, 0.95) / 60
        runs = self.runs
        return (
            f"  {self.order:<8} {self.hosts:>5}  {share(self.on_time, self.due)}  "
            f"{share(self.late_on_time, self.late_due)}  "
            f"{share(self.recheck_on_time, self.recheck_due)}  {median:5.0f} {p95:6.0f}  "
            f"{sum(runs.values()):>5} {runs['reported']:>5} {runs['cancelled']:>5} "
            f"{runs['error']:>3}  {self.host_jobs:>5} {self.adopted:>3} "
            f"{self.lock_waits:>3}/{self.lock_wait_hours:4.1f}h  "
            f"{self.wall / self.events * 1e6:5.0f}"
        )


HEADER = (
    "  order    hosts  due PS in 4 h     late-found in 4 h rechecks in 4 h     "
    "med    p95   runs: all  rep  canc err  jobs adopt lockwait  us/ev\n"
    "                                                                          "
    "(minutes)"
)
LEGEND = """\
  due PS: patch sets still current 4 h after their upload, share reported by then; late-found:
  those uploaded while the listener was down; rechecks: still current 4 h after the recheck.
  med/p95: minutes from upload to the first report (due patch sets; never reported = infinite).
  runs: the store's runs (reported, cancelled, error); jobs: jobs started on the hosts; adopt:
  jobs a restarted listener took over; lockwait: jobs that sat on a worker slot waiting for
  their testbed's lock (count/hours); us/ev: wall time per simulated event."""


class YearOfIronic:
    """One simulated year for one (order, executor hosts)."""

    def __init__(
        self,
        order: str,
        hosts: int,
        arrivals: Sequence[tuple[float, int, int]],
        outages: Sequence[tuple[float, float]],
        tmp: Path,
        seed: int,
    ) -> None:
        self.order, self.seed = order, seed
        self.arrivals, self.outages = arrivals, outages
        self.clock = VirtualClock(START)
        self.config: CIConfig = bench_ci_config(
            tmp, SLOTS, testbeds=pool_testbeds(), job_label="redfish"
        )
        self.gerrit = SimGerrit(self.config.project, self.config.gerrit.username, self.clock)
        self.gerrit.on_report = self._maybe_recheck
        self.hosts = SimulatedHosts(hosts, self.clock, JOB_SECONDS, self._job_ends_at)
        self.heap: list[tuple[float, int, str, Any]] = []
        self.seq = itertools.count()
        self.rechecks: list[tuple[int, int, float]] = []
        self.service: CIService | None = None
        self.task: asyncio.Task[None] | None = None
        self.events = 0

    def _push(self, seconds: float, kind: str, data: Any = None) -> None:
        heapq.heappush(self.heap, (seconds, next(self.seq), kind, data))

    def _now(self) -> float:
        return (self.clock.now - START).total_seconds()

    def _job_ends_at(self, when: dt.datetime, job: HostJob) -> None:
        self._push((when - START).total_seconds(), "job_end", job)

    def _maybe_recheck(self, change: int, patch_set: int) -> None:
        # Seeded by the report, not by the run: every configuration rechecks the same reports.
        count = len(self.gerrit.reports[(change, patch_set)])
        rng = random.Random(f"recheck:{self.seed}:{change}:{patch_set}:{count}")
        if rng.random() < RECHECK_SHARE:
            delay = rng.expovariate(1 / RECHECK_DELAY)
            self._push(round(self._now() + delay), "recheck", (change, patch_set))

    async def _start_service(self) -> None:
        service = CIService(self.config, executor=self.hosts, clock=self.clock)
        await service.rest.aclose()  # never used: Gerrit is simulated
        rest = SimRest(self.gerrit)
        service.rest = service.reporter.rest = service.listener.rest = rest
        service.ORDER = self.order  # type: ignore[misc]
        self.service = service
        self.task = asyncio.create_task(service.run(stream=False))
        await settle(service, self.hosts)

    async def run(self) -> YearFigures:
        began = time.perf_counter()
        for at, change, patch_set in self.arrivals:
            self._push(round(at), "upload", (change, patch_set))
        for down, up in self.outages:
            self._push(down, "down")
            self._push(up, "up")
        await self._start_service()
        while self.heap:
            seconds, _, kind, data = heapq.heappop(self.heap)
            self.clock.now = self.clock.at(seconds)
            await self._handle(kind, data)
            if self.service is not None:
                await settle(self.service, self.hosts)
            self.events += 1
        assert self.service is not None and self.task is not None
        runs = Counter(run.state for run in self.service.queue.runs())
        await self.service.stop()
        await self.task
        return self._figures(runs, time.perf_counter() - began)

    async def _handle(self, kind: str, data: Any) -> None:
        service = self.service
        if kind == "upload":
            event = self.gerrit.upload(*data)
            if service is not None:
                await service.listener.handle(event)
        elif kind == "recheck":
            change, patch_set = data
            if self.gerrit.current(change) != patch_set:
                return  # a newer patch set came first: nobody rechecks the old one
            event = self.gerrit.comment(change, patch_set, f"Patch Set {patch_set}:\n\nrecheck")
            self.rechecks.append((change, patch_set, self._now()))
            if service is not None:
                await service.listener.handle(event)
        elif kind == "job_end":
            self.hosts.finish(data)
        elif kind == "down" and service is not None and self.task is not None:
            await stop_task(self.task)  # killed: the store is left as a crash leaves it
            self.service = self.task = None
        elif kind == "up":
            await self._start_service()
            self._push(self._now() + self.config.reconcile_interval, "reconcile")
        elif kind == "reconcile" and service is not None:
            await service.listener.reconcile_once()

    def _figures(self, runs: Counter[str], wall: float) -> YearFigures:
        superseded = {(c, ps - 1): round(at) for at, c, ps in self.arrivals if ps > 1}
        reports = {
            key: [(moment - START).total_seconds() for moment in moments]
            for key, moments in self.gerrit.reports.items()
        }

        def first_report(key: tuple[int, int], after: float) -> float:
            return min((r for r in reports.get(key, []) if r >= after), default=float("inf"))

        def down_at(seconds: float) -> bool:
            return any(down <= seconds < up for down, up in self.outages)

        due = [
            (round(at), (c, ps), down_at(round(at)))
            for at, c, ps in self.arrivals
            if superseded.get((c, ps), float("inf")) > round(at) + DEADLINE
        ]
        delays = [first_report(key, at) - at for at, key, _ in due]
        late = [delay for delay, (_, _, found_late) in zip(delays, due, strict=True) if found_late]
        rechecks = [
            first_report((c, ps), at + 1) - at
            for c, ps, at in self.rechecks
            if superseded.get((c, ps), float("inf")) > at + DEADLINE
        ]
        return YearFigures(
            order=self.order,
            hosts=self.hosts.capacity // SimulatedHosts.CONCURRENCY,
            due=len(delays),
            on_time=sum(1 for d in delays if d <= DEADLINE),
            late_due=len(late),
            late_on_time=sum(1 for d in late if d <= DEADLINE),
            recheck_due=len(rechecks),
            recheck_on_time=sum(1 for d in rechecks if d <= DEADLINE),
            delays=delays,
            runs=runs,
            host_jobs=self.hosts.started,
            adopted=self.hosts.adopted,
            lock_waits=self.hosts.lock_waits,
            lock_wait_hours=self.hosts.lock_wait_seconds / HOUR,
            events=self.events,
            wall=wall,
        )


def year_of_ironic(days: int, seed: int = 1) -> list[YearFigures]:
    arrivals = ironic_year_arrivals(seed, days)
    outages = year_outages(seed, days)
    print(
        f"{days} days of Ironic: {len(arrivals)} patch sets, {len(outages)} outage(s) of the "
        f"listener ({', '.join(f'{(up - down) / HOUR:.1f} h' for down, up in outages)}); "
        f"4 testbeds, slots {SLOTS}, 90-min jobs, deadline 4 h; an executor host = one Celery "
        f"worker running {SimulatedHosts.CONCURRENCY} jobs at once (assumed)",
        flush=True,
    )
    print(HEADER, flush=True)
    figures = []
    for order, hosts in (("deadline", 1), ("fifo", 1), ("deadline", 2), ("fifo", 2)):
        with tempfile.TemporaryDirectory(prefix="driverci-bench-pool-") as name:
            year = YearOfIronic(order, hosts, arrivals, outages, Path(name), seed)
            figures.append(asyncio.run(year.run()))
        print(figures[-1].row(), flush=True)
    print(LEGEND, flush=True)
    return figures


def print_costs() -> None:
    with tempfile.TemporaryDirectory(prefix="driverci-bench-pool-") as name:
        intake, completion = asyncio.run(intake_cost(Path(name)))
    print(
        f"1,000 patch sets in one (virtual) minute, 4 testbeds, no-op executor:\n"
        f"  decide + new_patch_set + submit + dispatch: mean {statistics.mean(intake):.0f} us, "
        f"p99 {percentile(intake, 0.99):.0f} us per event\n"
        f"  the run then (finish, report to the simulated Gerrit, release): "
        f"mean {statistics.mean(completion):.0f} us, p99 {percentile(completion, 0.99):.0f} us",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="driverci-bench-pool-") as name:
        sends = celery_send_cost(Path(name))
    if isinstance(sends, str):
        print(f"  publishing through CeleryExecutor._send: skipped ({sends})", flush=True)
    else:
        first, rest = sends[0], sends[1:]
        print(
            f"  publishing a job through CeleryExecutor._send (RabbitMQ, publisher confirms): "
            f"first {first / 1000:.1f} ms (connecting), then mean {statistics.mean(rest):.0f} us, "
            f"p99 {percentile(rest, 0.99):.0f} us per job ({len(rest)} jobs)",
            flush=True,
        )


def main(argv: Sequence[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    days = 91 if "--quick" in args else 365
    quiet = logging.getLogger("driverci")  # crashes and reconciliations log warnings
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    began = time.perf_counter()
    try:
        year_of_ironic(days)
        print_costs()
    finally:
        quiet.setLevel(level)
    print(f"bench_ci_pool: {time.perf_counter() - began:.0f} s", flush=True)


if __name__ == "__main__":
    main()

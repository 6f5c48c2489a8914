"""The judge at scale: a year of a Cinder-sized project (about a million CI comments).

Prints figures next to their targets (issue 3), asserts nothing:
ingest from a dump, evaluate every CI over the year (in a fresh process, for its peak RSS),
re-evaluate one CI after one new event (LiveJudge), collect over REST from the emulator
(served by its own process, as a real Gerrit is).
``python -m benchmarks.bench_judge [--changes N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.common import print_machine_speed
from benchmarks.gen_dump import DumpShape, dump_registry, last_moment, write_dump
from driverci.audit.evaluate.facts import PatchSetFact, ResultFact, Window

if TYPE_CHECKING:
    from driverci.audit.intake.collect import CollectSummary
    from driverci.emulator.seed.scenario import Scenario
    from driverci.registry.schema import Registry
    from driverci.store.db import Store


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _line(what: str, value: str, target: str) -> None:
    print(f"{what:<52} {value:>14}   target {target}")


def bench_ingest(tmp: Path, shape: DumpShape, keep_dump: bool = False) -> Path:
    from driverci.audit.intake.collect import collect_dump
    from driverci.audit.intake.ingest import Ingestor
    from driverci.registry.loader import load_registry
    from driverci.store.db import open_store

    dump = tmp / "year.json"
    began = time.perf_counter()
    summary = write_dump(dump, shape)
    print(
        f"dump: {summary.changes} changes, {summary.patch_sets} patch sets, "
        f"{summary.comments} comments ({summary.ci_comments} by CIs), "
        f"{summary.bytes >> 20} MiB, generated in {time.perf_counter() - began:.1f} s"
    )
    db = tmp / "judge.sqlite"
    store = open_store(f"sqlite:///{db}")
    ingestor = Ingestor(store, dump_registry(shape, load_registry()))
    cpu, began = _cpu(), time.perf_counter()
    collected = collect_dump(ingestor, dump)
    store.close()
    # Until the store is on disk: else the kernel writes it back while the next figure is
    # measured, and the ingest looks faster than it is.
    os.sync()
    seconds = time.perf_counter() - began
    if not keep_dump:
        dump.unlink()  # scratch, and 600 MiB the page cache need not keep
    _line(
        f"ingest {collected.messages_new} messages from the dump",
        f"{seconds:.1f} s",
        f"< 60 s (cpu {_cpu() - cpu:.0f} s)",
    )
    return db


def evaluate_in_this_process(db: Path, changes: int) -> dict[str, Any]:
    """Run in a fresh process: load + evaluate all CIs over the year; then LiveJudge."""
    from driverci.audit.engine import Judge
    from driverci.audit.evaluate.parallel import every_core
    from driverci.audit.live.judge import LiveJudge
    from driverci.policy.loader import load_policy
    from driverci.registry.loader import load_registry
    from driverci.store.db import open_store

    shape = DumpShape(changes=changes)
    registry = dump_registry(shape, load_registry())
    policy = load_policy()
    store = open_store(f"sqlite:///{db}", run_migrations=False)
    end = last_moment(shape)
    window = Window(shape.start, end)
    began = time.perf_counter()
    # As `driverci audit report` runs it: CIs evaluated on every core.
    judge = Judge(store, registry, policy, now=end, processes=every_core())
    report = judge.report(window)
    report_seconds = time.perf_counter() - began
    report_rss = max(
        resource.getrusage(who).ru_maxrss >> 10
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )

    began = time.perf_counter()
    live = LiveJudge(store, registry, policy, window, now=end)
    load_seconds = time.perf_counter() - began
    account = registry.ci_systems[-1].account
    live.evaluate(account)  # first evaluation builds the CI's must-test set
    timings = []
    for step in range(5):
        created = end - timedelta(hours=10 + step)
        # Timed from the new facts' arrival to the CI's new figures and verdict.
        began = time.perf_counter()
        live.apply(
            PatchSetFact(
                registry.project, "master", 900_000 + step, 1, "a" * 40, created, ("x/y.py",)
            )
        )
        live.apply(ResultFact(account, 900_000 + step, 1, created + timedelta(hours=1), "SUCCESS"))
        live.evaluate(account)
        timings.append(time.perf_counter() - began)
    return {
        "systems": len(report.systems),
        "report_seconds": report_seconds,
        "report_rss_mib": report_rss,
        "live_load_seconds": load_seconds,
        "live_evaluate_ms": statistics.median(timings) * 1000,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10,
    }


def _evaluate_child(db: Path, shape: DumpShape) -> dict[str, Any]:
    child = subprocess.run(
        [
            sys.executable,
            *("-m", "benchmarks.bench_judge", "--evaluate", str(db)),
            *("--changes", str(shape.changes)),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return figures


def bench_evaluate(db: Path, shape: DumpShape, warm_runs: int = 3) -> None:
    # Each in a fresh process: right after the ingest part of the store may be out of the
    # page cache (the cache may be small), then as a judge that keeps running sees it; the
    # warm runs are repeated because a shared machine's speed varies from minute to minute.
    first = _evaluate_child(db, shape)
    warm = [_evaluate_child(db, shape) for _ in range(warm_runs)]
    again = warm[-1]
    _line(
        f"evaluate all {first['systems']} CIs over the year, first run",
        f"{first['report_seconds']:.1f} s",
        "< 10 s",
    )
    warm_seconds = sorted(run["report_seconds"] for run in warm)
    _line(
        f"  again, store in the page cache (best of {warm_runs})",
        f"{warm_seconds[0]:.1f} s",
        f"< 10 s (all: {', '.join(f'{s:.1f}' for s in warm_seconds)})",
    )
    _line("peak memory of that evaluation (ru_maxrss)", f"{first['report_rss_mib']} MiB", "< 1 GiB")
    _line("LiveJudge: load the year once", f"{again['live_load_seconds']:.1f} s", "(once)")
    _line(
        "re-evaluate one CI after one new event (median)",
        f"{again['live_evaluate_ms']:.1f} ms",
        "< 50 ms",
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def _emulator_process(state_dir: Path) -> Iterator[tuple[str, int]]:
    """``driverci emulator serve`` in its own process, as a real Gerrit is; yields its URL and
    process id."""
    import httpx

    http_port, ssh_port = _free_port(), _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            *("-m", "driverci.cli", "emulator", "serve", "--state", str(state_dir)),
            *("--http-port", str(http_port), "--ssh-port", str(ssh_port)),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/config/server/version").raise_for_status()
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the emulator did not start serving {url}") from None
                time.sleep(0.1)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


async def _collect(
    url: str, store: Store, registry: Registry, project: str
) -> tuple[CollectSummary, float]:
    from driverci.audit.intake.collect import RestCollector
    from driverci.audit.intake.ingest import Ingestor
    from driverci.gerrit.rest import GerritRestClient

    async with GerritRestClient(url) as client:
        began = time.perf_counter()
        summary = await RestCollector(Ingestor(store, registry), client, project).run()
        return summary, time.perf_counter() - began


@dataclass(frozen=True)
class RestShape:
    """The emulator's scenario for one REST figure."""

    label: str
    third_party_cis: int
    days: int
    changes_per_day: float


REST_SHAPES = (
    RestShape("the judge's scenario", 8, 50, 40.0),
    # The issue names a Cinder-sized year: 40 CIs comment on every patch set (about 110
    # comments per change). Fewer changes than a year, so the emulator is seeded in seconds.
    RestShape("Cinder-shaped changes", 39, 20, 25.0),
)


def _rest_scenario(shape: RestShape) -> Scenario:
    from driverci.emulator.seed.scenario import bundled_scenario_path, load_scenario

    base = load_scenario(bundled_scenario_path("judge-8cis"))
    extra = [
        base.cis[0].model_copy(
            update={"account": f"extra-{n}-ci", "name": f"Extra {n} CI", "behaviour": "perfect"}
        )
        for n in range(shape.third_party_cis - len(base.cis))
    ]
    return base.model_copy(
        update={
            "changes_per_day": shape.changes_per_day,
            "days": shape.days,
            "cis": base.cis + extra,
        }
    )


def bench_rest(tmp: Path, shape: RestShape) -> None:
    from benchmarks.rest_ceiling import (
        RestCost,
        native_floor_ms,
        print_rest_ceiling,
        process_cpu_seconds,
    )
    from driverci.emulator.seed.scenario_registry import scenario_registry
    from driverci.emulator.seed.seeder import seed_scenario
    from driverci.emulator.state.journal import EmulatorState
    from driverci.registry.loader import load_registry
    from driverci.store.db import open_store

    scenario = _rest_scenario(shape)
    work = tmp / f"rest-{shape.third_party_cis}"
    state_dir = work / "gerrit"
    state = EmulatorState(state_dir)
    seed_scenario(state, state_dir / "git", scenario)
    state.close()
    registry = scenario_registry(scenario, load_registry())
    store_db = work / "rest.sqlite"
    store = open_store(f"sqlite:///{store_db}")
    with _emulator_process(state_dir) as (url, pid):
        emulator_cpu, collector_cpu = process_cpu_seconds(pid), time.process_time()
        try:
            summary, seconds = asyncio.run(_collect(url, store, registry, scenario.project))
        finally:
            store.close()  # before the floor reads the store's file
        changes = summary.changes
        cost = RestCost(
            changes,
            seconds,
            time.process_time() - collector_cpu,
            process_cpu_seconds(pid) - emulator_cpu,
        )
        floor = native_floor_ms(url, scenario.project, store_db, changes)
    _line(
        f"collect {changes} changes over REST, {shape.label}",
        f"{changes / seconds:.0f} /s",
        ">= 2000 changes/s",
    )
    print(
        f"  {summary.messages_new / changes:.0f} comments per change: "
        f"{summary.messages_new / seconds:,.0f} comments/s"
    )
    print_rest_ceiling(cost, floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=DumpShape().changes)
    parser.add_argument("--keep", type=Path, help="build in this directory and keep it")
    parser.add_argument("--evaluate", type=Path, help=argparse.SUPPRESS)  # the child's part
    parser.add_argument("--skip-rest", action="store_true")
    args = parser.parse_args()
    if args.evaluate:
        print(json.dumps(evaluate_in_this_process(args.evaluate, args.changes)))
        return
    shape = replace(DumpShape(), changes=args.changes)
    print_machine_speed()
    with tempfile.TemporaryDirectory(prefix="bench-judge-") as scratch:
        tmp = args.keep or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        db = bench_ingest(tmp, shape, keep_dump=args.keep is not None)
        bench_evaluate(db, shape)
        if not args.skip_rest:
            for rest_shape in REST_SHAPES:
                bench_rest(tmp, rest_shape)


if __name__ == "__main__":
    main()

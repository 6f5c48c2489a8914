"""Small helpers shared by the benchmarks: timing, printing a figure beside its target, and
the reference CI's benchmark configuration and a year of Ironic's patch-set uploads."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from driverci.ci.config import CIConfig

HOUR = 3600.0


def print_figure(label: str, value: float, unit: str, target: str, met: bool | None) -> None:
    """One result line: ``label  value unit  (target ..., met|MISSED)``."""
    verdict = "" if met is None else ("met" if met else "MISSED")
    print(f"  {label:<52} {value:>10.2f} {unit:<9} target {target:<12} {verdict}", flush=True)


async def timed_runs(action: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    """Wall seconds of ``runs`` sequential awaits of ``action()``."""
    durations = []
    for _ in range(runs):
        began = time.perf_counter()
        await action()
        durations.append(time.perf_counter() - began)
    return durations


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine_speed(runs: int = 5) -> tuple[float, float]:
    """Seconds for a fixed pure-Python workload: (fastest, slowest) of ``runs``.

    Printed beside the figures so runs on different machines (or on one noisy machine) can
    be compared: every figure of this project is CPU-bound Python and scales with it.
    """
    durations = []
    for _ in range(runs):
        began = time.perf_counter()
        total = 0
        for number in range(2_000_000):
            total += number % 7
        durations.append(time.perf_counter() - began)
    return min(durations), max(durations)


def print_machine_speed(runs: int = 5) -> None:
    fastest, slowest = machine_speed(runs)
    print(
        f"machine speed: a fixed Python loop took {fastest * 1000:.0f}-{slowest * 1000:.0f} ms "
        f"({runs} runs; figures below scale with it)",
        flush=True,
    )


def bench_ci_config(
    tmp: Path,
    slots: int,
    *,
    url: str = "http://127.0.0.1:1",
    ssh_port: int = 1,
    testbeds: Sequence[dict[str, Any]] = (),
    job_label: str | None = None,
    extra: dict[str, Any] | None = None,
) -> CIConfig:
    """The benchmarks' ci.yaml for Ironic's Redfish CI (its state and password file in ``tmp``);
    ``testbeds`` and ``job_label`` give the one job a testbed of the pool."""
    (tmp / "password").write_text("sandbox-redfish-ci-secret\n")
    job: dict[str, Any] = {"name": "noop", "steps": [{"run": "true"}]}
    if job_label is not None:
        job["label"] = job_label
    return CIConfig.model_validate(
        {
            "name": "Bench Redfish CI",
            "gerrit": {
                "url": url,
                "ssh": f"127.0.0.1:{ssh_port}",
                "username": "sandbox-redfish-ci",
                "http_password_file": str(tmp / "password"),
                "ssh_key": str(tmp / "ci_key"),
            },
            "project": "openstack/ironic",
            "driver": "redfish",
            "started": "2026-01-01",
            "wiki": "https://wiki.example.org/CI",
            "slots": slots,
            "reconcile_interval": 3600,
            "testbeds": list(testbeds),
            "jobs": [job],
            "logs": {"dir": str(tmp / "logs"), "url": "http://logs.example.org/"},
            "state": f"sqlite:///{tmp / 'ci.sqlite'}",
            **(extra or {}),
        }
    )


def ironic_year_arrivals(seed: int = 1, days: int = 365) -> list[tuple[float, int, int]]:
    """Ironic's patch-set uploads, sorted: (seconds since day 0 00:00, change, patch set).

    Day 0 is a Monday; weekends are quiet. Bursty: most uploads in a few working hours
    (around 14:00 UTC), some days twice as busy; ~10 changes a working day, ~1.8 patch
    sets each, revisions ~1.5 h apart: about 4,500 patch sets a year.
    """
    rng = random.Random(seed)
    arrivals: list[tuple[float, int, int]] = []
    change = 0
    for day in range(days):
        if day % 7 >= 5:
            continue
        count = rng.choice([5, 7, 9, 9, 11, 18])  # changes that day
        for _ in range(count):
            change += 1
            start = day * 24 * HOUR + rng.gauss(14, 2.5) * HOUR
            revisions = 1 + int(rng.expovariate(1 / 1.2))
            at = start
            for patch_set in range(1, revisions + 1):
                arrivals.append((at, change, patch_set))
                at += rng.expovariate(1 / (1.5 * HOUR))
    arrivals.sort()
    return arrivals

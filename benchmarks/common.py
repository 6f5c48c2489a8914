"""Small helpers shared by the benchmarks: timing and printing a figure beside its target."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable


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

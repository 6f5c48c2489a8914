"""Evaluating in forked processes: same results in the same order, and a failing child is
reported, not hidden."""

from __future__ import annotations

import os

import pytest

from driverci.audit.evaluate.parallel import ParallelTuning, balanced_chunks, map_in_processes

pytestmark = pytest.mark.skipif(os.name != "posix", reason="fork is POSIX only")


@pytest.fixture(autouse=True)
def always_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ParallelTuning, "min_weight", 1)


def test_results_come_back_in_item_order_whoever_computed_them() -> None:
    items = list(range(10))

    def run(chunk: list[int]) -> list[tuple[int, int]]:
        return [(item * item, os.getpid()) for item in chunk]

    results = map_in_processes(items, run, processes=3, weight=lambda item: item + 1)

    assert [square for square, _pid in results] == [item * item for item in items]
    assert len({pid for _square, pid in results}) == 3  # two children helped


def test_a_failing_child_raises_here_with_its_error() -> None:
    parent = os.getpid()

    def run(chunk: list[int]) -> list[int]:
        if os.getpid() != parent:
            raise ValueError(f"cannot evaluate {chunk}")
        return chunk

    with pytest.raises(RuntimeError, match=r"failed: ValueError: cannot evaluate"):
        map_in_processes([1, 2, 3, 4], run, processes=2, weight=lambda item: 1)


def test_chunks_balance_the_work_not_the_count() -> None:
    weights = [100, 1, 1, 1, 1, 98]

    groups = balanced_chunks(weights, 2, weight=lambda w: w)

    assert sorted(sum(weights[i] for i in group) for group in groups) == [101, 101]

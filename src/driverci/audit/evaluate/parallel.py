"""Evaluate CIs in forked processes: once a year of facts is loaded, each CI's evaluation is a
pure function of facts already in memory, so a child forked from the loaded judge evaluates
some CIs while this process evaluates the others (no facts are copied or sent; only the
reports come back)."""

from __future__ import annotations

import heapq
import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import TypeVar, cast

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


class ParallelTuning:
    """When evaluating in several processes pays (tunables, Zuul style)."""

    # Below this many results a fork and the reports' trip back cost more than they save.
    min_weight = 200_000
    child_timeout_s = 600.0


def every_core() -> int:
    """How many processes use the whole machine (the command-line judge's choice)."""
    return os.cpu_count() or 1


def fork_available() -> bool:
    """Only ``fork`` shares the loaded facts for free (spawn would have to send them)."""
    return "fork" in multiprocessing.get_all_start_methods()


def balanced_chunks(
    items: Sequence[Item], parts: int, weight: Callable[[Item], int]
) -> list[list[int]]:
    """Indexes of ``items`` split into ``parts`` groups of similar total weight (heaviest
    first, each to the lightest group), each group in the items' order."""
    groups: list[list[int]] = [[] for _ in range(parts)]
    heap = [(0, part) for part in range(parts)]
    for index in sorted(range(len(items)), key=lambda i: -weight(items[i])):
        load, part = heapq.heappop(heap)
        groups[part].append(index)
        heapq.heappush(heap, (load + weight(items[index]), part))
    return [sorted(group) for group in groups if group]


def map_in_processes(
    items: Sequence[Item],
    run: Callable[[list[Item]], list[Result]],
    processes: int,
    weight: Callable[[Item], int],
) -> list[Result]:
    """``run`` over ``items`` (one result per item, in order), split across ``processes``:
    the first group here, the others in forked children. Falls back to one process when
    forking is unavailable, asked against, or not worth it."""
    total = sum(weight(item) for item in items)
    if processes < 2 or len(items) < 2 or total < ParallelTuning.min_weight or not fork_available():
        return run(list(items))
    groups = balanced_chunks(items, processes, weight)
    context = multiprocessing.get_context("fork")
    children: list[tuple[list[int], multiprocessing.process.BaseProcess, Connection]] = []
    for group in groups[1:]:
        receiver, sender = context.Pipe(duplex=False)
        chunk = [items[i] for i in group]
        child = context.Process(target=_child, args=(sender, run, chunk), daemon=True)
        child.start()
        sender.close()
        children.append((group, child, receiver))
    log.debug("evaluating %d items in %d processes", len(items), len(groups))
    results: list[Result | None] = [None] * len(items)
    try:
        for index, result in zip(groups[0], run([items[i] for i in groups[0]]), strict=True):
            results[index] = result
        for group, process, pipe in children:
            for index, result in zip(group, _receive(process, pipe), strict=True):
                results[index] = result
    finally:
        for _group, process, pipe in children:
            pipe.close()
            if process.is_alive():
                process.terminate()
            process.join()
    return cast(list[Result], results)  # every slot was filled above


def _child(
    sender: Connection, run: Callable[[list[Item]], list[Result]], chunk: list[Item]
) -> None:
    try:
        outcome: tuple[str, object] = ("ok", run(chunk))
    except Exception as exc:  # noqa: BLE001 - sent to the parent, which raises it there
        outcome = ("error", f"{type(exc).__name__}: {exc}")
    sender.send(outcome)
    sender.close()


def _receive(child: multiprocessing.process.BaseProcess, receiver: Connection) -> list[Result]:
    if not receiver.poll(ParallelTuning.child_timeout_s):
        raise RuntimeError(
            f"evaluation process {child.pid} sent nothing in {ParallelTuning.child_timeout_s:.0f} s"
        )
    try:
        status, payload = receiver.recv()
    except EOFError:
        child.join()
        raise RuntimeError(
            f"evaluation process {child.pid} ended (exit code {child.exitcode}) without results"
        ) from None
    if status != "ok":
        raise RuntimeError(f"evaluation process {child.pid} failed: {payload}")
    return payload  # type: ignore[no-any-return]

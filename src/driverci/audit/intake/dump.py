"""The changes of a saved dump, in file order, with a line naming each broken record.

What a dump may hold is read by :mod:`~driverci.audit.intake.dump_format`; here each value
becomes a change (a ``gerrit query`` record or a REST ChangeInfo), is completed with the patch
sets a current-patch-set-only record lacks (:mod:`~driverci.audit.intake.rebuild`), or is
reported as broken without stopping the rest. A large line dump is parsed and classified by
worker processes while the store is written.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from driverci.audit.intake.dump_format import (
    ACCEPTED,
    DumpProblem,
    DumpValue,
    Layout,
    Sniffed,
    read_lines,
    read_values,
)
from driverci.audit.intake.ingest import MessageClassifier
from driverci.audit.intake.normalize import NormalizedChange, from_change_info, from_stream_change
from driverci.audit.intake.rebuild import complete_patch_sets
from driverci.errors import PayloadError
from driverci.gerrit.models_base import describe_validation_error
from driverci.gerrit.models_rest import parse_change
from driverci.gerrit.models_stream import StreamChange
from driverci.registry.schema import Registry


@dataclass(frozen=True, slots=True)
class BrokenRecord:
    """One line for a person: ``file:line: what is wrong; what a dump may hold``."""

    text: str


DumpItem = NormalizedChange | BrokenRecord


def read_dump(path: Path, sniffed: Sniffed) -> Iterator[DumpItem]:
    """Every change of the dump at ``path`` (laid out as ``sniffed`` found), and every broken
    record, in file order."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed in finally below
    except OSError as exc:
        raise PayloadError(f"{path}: cannot read dump ({exc.strerror})") from None
    try:
        handle.seek(sniffed.offset)
        values = (
            read_lines(handle, sniffed.first_line)
            if sniffed.layout is Layout.LINES
            else read_values(handle, sniffed.first_line)
        )
        for value in values:
            item = change_from(path, value)
            if item is not None:
                yield item
    finally:
        handle.close()


def change_from(path: Path, found: DumpValue | DumpProblem) -> DumpItem | None:
    """The change a dump value holds, a broken record, or None for the stats row."""
    if isinstance(found, DumpProblem):
        return _broken(path, found.line, found.what)
    obj, line = found.value, found.line
    if not isinstance(obj, dict):
        return _broken(path, line, f"a JSON {_json_kind(obj)}, not an object")
    kind = obj.get("type")
    if kind == "stats":
        return None
    if kind == "error":  # gerrit query printed it instead of changes
        return _broken(path, line, f"Gerrit answered an error ({obj.get('message', '')!r})")
    if "_number" in obj:
        try:
            info = parse_change(obj, where=f"{path}:{line}")
        except PayloadError as exc:
            return BrokenRecord(f"{exc}; {ACCEPTED}")
        change = from_change_info(info)
        # CURRENT_REVISION gives one revision; without any revision option there are none.
        complete_patch_sets(change, partial=len(info.revisions) <= 1)
        return change
    if "number" in obj and "project" in obj:
        try:
            record = StreamChange.model_validate(obj)
        except ValidationError as exc:
            detail = describe_validation_error(exc)
            return _broken(path, line, f"gerrit query record {detail}")
        change = from_stream_change(record)
        complete_patch_sets(change, partial=not record.patch_sets)
        return change
    if isinstance(kind, str) and "change" in obj:
        what = f"a stream-events event ({kind!r}), not a change"
    else:
        keys = ", ".join(sorted(obj)[:5]) + (", ..." if len(obj) > 5 else "")
        what = "a JSON object that is neither a gerrit query record nor a ChangeInfo (keys: "
        what += f"{keys or 'none'})"
    return _broken(path, line, what)


def _broken(path: Path, line: int, what: str) -> BrokenRecord:
    return BrokenRecord(f"{path}:{line}: {what}; {ACCEPTED}")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or value is None:
        return "literal"
    return "number"


class DumpTuning:
    """How a large dump is read: worker processes parse and classify while the store is written."""

    # Below this size a pool costs more than it saves (each worker imports the parser).
    parallel_min_bytes = 32 << 20
    chunk_lines = 64  # changes per task sent to a worker
    # Tasks queued per worker: enough to keep workers busy while a batch is written,
    # few enough to bound memory.
    in_flight_per_worker = 8
    batch_changes = 256  # changes per store transaction while workers parse ahead
    # Young collections walk what is alive (the batch, changes parsed ahead) to free little.
    batches_per_cycle_collection = 8


# The classifier of a dump worker process, set once by its initializer (never at import).
_worker_classifier: MessageClassifier | None = None


def _init_dump_worker(registry: Registry, recheck_patterns: tuple[str, ...] = ()) -> None:
    global _worker_classifier
    _worker_classifier = MessageClassifier(registry, recheck_patterns)


def _classify_lines(path: str, first_line: int, lines: list[bytes]) -> list[DumpItem]:
    """Parse and classify dump lines in a worker (broken ones named, as in-process)."""
    assert _worker_classifier is not None, "worker started without its initializer"
    items: list[DumpItem] = []
    for value in read_lines(lines, first_line):
        item = change_from(Path(path), value)
        if isinstance(item, NormalizedChange):
            items.append(_worker_classifier.classify_change(item))
        elif item is not None:
            items.append(item)
    return items


def read_dump_parallel(
    path: Path,
    sniffed: Sniffed,
    registry: Registry,
    workers: int,
    recheck_patterns: tuple[str, ...] = (),
) -> Iterator[DumpItem]:
    """Like :func:`read_dump` for line dumps, parsed and classified by ``workers`` processes,
    in file order (rechecks read with the policy's ``recheck_patterns``, as in-process)."""
    assert sniffed.layout is Layout.LINES, "only a line dump splits into tasks"
    # fork: workers start at once and need no importable __main__ (spawn re-runs the caller's
    # script); they only parse, never touch the store connection they inherit.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    in_flight = max(1, workers * DumpTuning.in_flight_per_worker)
    with (
        open(path, "rb") as handle,
        ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_init_dump_worker,
            initargs=(registry, recheck_patterns),
        ) as pool,
    ):
        handle.seek(sniffed.offset)
        pending: deque[Future[list[DumpItem]]] = deque()
        line_number = sniffed.first_line
        while True:
            lines = list(itertools.islice(handle, DumpTuning.chunk_lines))
            if not lines:
                break
            pending.append(pool.submit(_classify_lines, str(path), line_number, lines))
            line_number += len(lines)
            if len(pending) >= in_flight:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()

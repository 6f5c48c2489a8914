"""Collect a project's changes, patch sets, files and messages into the store.

From Gerrit's REST API (resumable and incremental: a cursor records the query, the offset
reached and when the run began; a killed run resumes where it stopped, a finished run makes
the next one ask only for what changed since), from a saved dump (``gerrit query
--format=JSON`` lines or a REST change list), or live from the event stream (``follow``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from driverci.audit.intake.ingest import (
    IngestCounts,
    Ingestor,
    MessageClassifier,
    NormalizedChange,
    from_change_info,
    from_stream_change,
)
from driverci.errors import PayloadError
from driverci.gctools import YoungCycleCollector, cyclic_gc_paused
from driverci.gerrit.models_rest import ChangeInfo, parse_change, parse_change_list
from driverci.gerrit.models_stream import StreamChange
from driverci.gerrit.rest import GerritRestClient
from driverci.registry.schema import Registry
from driverci.store.repository import get_cursor, set_cursor

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]


@dataclass
class CollectSummary:
    changes: int = 0
    patch_sets: int = 0
    messages_new: int = 0
    ci_results: int = 0
    unparseable: int = 0
    rechecks: int = 0
    resumed: bool = False

    def add(self, counts: IngestCounts) -> None:
        self.changes += counts.changes
        self.patch_sets += counts.patch_sets
        self.messages_new += counts.messages_new
        self.ci_results += counts.ci_results
        self.unparseable += counts.unparseable
        self.rechecks += counts.rechecks

    def __str__(self) -> str:
        return (
            f"{self.changes} changes, {self.patch_sets} patch sets, {self.messages_new} new "
            f"messages ({self.ci_results} CI results, {self.unparseable} unparseable, "
            f"{self.rechecks} rechecks)" + (" (resumed)" if self.resumed else "")
        )


@dataclass
class _RunPosition:
    """Where a REST run is: its query, the offset reached, when it began, and when the last
    finished run began (kept until this one finishes, so an interrupted run changes nothing)."""

    query: str
    offset: int
    started: datetime
    last_updated: datetime | None
    resumed: bool = False


class RestCollector:
    """Backfill and incremental collection over REST."""

    PAGE_SIZE = 500  # Gerrit's default query limit for registered users
    OPTIONS = ("ALL_REVISIONS", "ALL_FILES", "MESSAGES", "DETAILED_ACCOUNTS")
    # Re-ask a little before the last run began: clocks differ and Gerrit's index lags.
    OVERLAP = timedelta(minutes=10)
    # A young collection walks the page fetched ahead (~60 ms) to free a few hundred cyclic
    # objects (asyncio and HTTP bookkeeping): worth it every few pages, not every page.
    PAGES_PER_CYCLE_COLLECTION = 8

    def __init__(self, ingestor: Ingestor, client: GerritRestClient, project: str) -> None:
        self.ingestor = ingestor
        self.client = client
        self.project = project
        self.source = f"rest:{client.base_url}"

    async def run(
        self,
        since: datetime | None = None,
        progress: Progress | None = None,
        stop_after_pages: int | None = None,
    ) -> CollectSummary:
        """Collect; ``stop_after_pages`` simulates an interruption (tests, benchmarks)."""
        summary = CollectSummary()
        position = self._start_position(since)
        summary.resumed = position.resumed
        with cyclic_gc_paused():
            await self._pages(position, summary, progress, stop_after_pages)
        log.info("collected %s from %s (%s)", summary, self.client.base_url, position.query)
        return summary

    def _start_position(self, since: datetime | None) -> _RunPosition:
        """Resume an interrupted run, else ask for what changed since the last finished one."""
        with self.ingestor.store.transaction() as session:
            cursor = get_cursor(session, self.source, self.project)
        last_updated = cursor.last_updated if cursor else None
        if cursor is not None and cursor.position:
            saved = json.loads(cursor.position)
            return _RunPosition(
                saved["query"],
                int(saved["offset"]),
                datetime.fromisoformat(saved["started"]),
                last_updated,
                resumed=True,
            )
        lower = since or (last_updated - self.OVERLAP if last_updated else None)
        query = f"project:{self.project}"
        if lower is not None:
            query += f' after:"{lower.astimezone(UTC):%Y-%m-%d %H:%M:%S}"'
        return _RunPosition(query, 0, datetime.now(UTC), last_updated)

    async def _pages(
        self,
        position: _RunPosition,
        summary: CollectSummary,
        progress: Progress | None,
        stop_after_pages: int | None,
    ) -> None:
        query, offset = position.query, position.offset
        pages = 0
        cycles = YoungCycleCollector(self.PAGES_PER_CYCLE_COLLECTION)
        # One page in flight ahead: Gerrit renders the next page while this one is stored.
        ahead: asyncio.Task[list[ChangeInfo]] | None = asyncio.create_task(
            self._page(query, offset)
        )
        try:
            while ahead is not None:
                changes = await ahead
                ahead = None
                pages += 1
                more = bool(changes) and changes[-1].more_changes
                if more and (stop_after_pages is None or pages < stop_after_pages):
                    ahead = asyncio.create_task(self._page(query, offset + len(changes)))
                # Stored from a worker thread, so the event loop keeps fetching meanwhile.
                summary.add(await asyncio.to_thread(self._store_page, changes))
                offset += len(changes)
                self._save_position(position, offset if more else None)
                if progress:
                    progress(offset, None if more else offset)
                cycles.unit_done()
        finally:
            if ahead is not None:  # interrupted: the page fetched ahead is not stored
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)

    def _save_position(self, position: _RunPosition, offset: int | None) -> None:
        """Record the offset reached, or (``None``) that the run finished when it started."""
        with self.ingestor.store.transaction() as session:
            if offset is not None:
                saved = {
                    "query": position.query,
                    "offset": offset,
                    "started": position.started.isoformat(),
                }
                set_cursor(
                    session, self.source, self.project, position.last_updated, json.dumps(saved)
                )
            else:
                set_cursor(session, self.source, self.project, position.started, None)

    async def _page(self, query: str, offset: int) -> list[ChangeInfo]:
        return await self.client.query_changes(
            query, options=self.OPTIONS, limit=self.PAGE_SIZE, start=offset
        )

    def _store_page(self, changes: list[ChangeInfo]) -> IngestCounts:
        return self.ingestor.write([from_change_info(c) for c in changes])

    async def refresh_change(self, number: int) -> IngestCounts:
        """Fetch one change again (after an event) and store it."""
        info = await self.client.get_change(f"{self.project}~{number}", options=self.OPTIONS)
        return self.ingestor.write([from_change_info(info)])


def read_dump(path: Path) -> Iterator[NormalizedChange]:
    """Changes from a saved ``gerrit query --format=JSON`` output or REST change list."""
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed in finally below
    except OSError as exc:
        raise PayloadError(f"{path}: cannot read dump ({exc.strerror})") from None
    try:
        first, first_number = "", 0
        for first_number, first in enumerate(handle, start=1):  # noqa: B007
            if first.strip():
                break
        stripped = first.strip()
        if stripped == ")]}'" or stripped.startswith("["):
            body = (first if stripped.startswith("[") else "") + handle.read()
            for info in parse_change_list(body, where=str(path)):
                yield from_change_info(info)
            return
        yield from _dump_line(path, first_number, first)
        for line_number, line in enumerate(handle, start=first_number + 1):
            yield from _dump_line(path, line_number, line)
    finally:
        handle.close()


def _dump_line(path: Path, line_number: int, line: str) -> Iterator[NormalizedChange]:
    if not line.strip():
        return
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PayloadError(
            # json's messages may end in " at" ("Invalid control character at").
            f"{path}:{line_number}: invalid JSON ({exc.msg.removesuffix(' at')} at column "
            f"{exc.colno})"
        ) from None
    if not isinstance(obj, dict):
        raise PayloadError(f"{path}:{line_number}: expected a JSON object per line")
    if obj.get("type") == "stats":
        return
    if "_number" in obj:  # a REST ChangeInfo per line
        yield from_change_info(parse_change(obj, where=f"{path}:{line_number}"))
        return
    try:
        change = StreamChange.model_validate(obj)
    except ValueError as exc:
        first_error = str(exc).splitlines()[1:3]
        raise PayloadError(
            f"{path}:{line_number}: not a Gerrit change "
            f"({' '.join(s.strip() for s in first_error)})"
        ) from None
    yield from_stream_change(change)


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


def _classify_lines(path: str, first_line: int, lines: list[str]) -> list[NormalizedChange]:
    """Parse and classify dump lines in a worker (errors name the line, as in-process)."""
    assert _worker_classifier is not None, "worker started without its initializer"
    changes = []
    for offset, line in enumerate(lines):
        for change in _dump_line(Path(path), first_line + offset, line):
            changes.append(_worker_classifier.classify_change(change))
    return changes


def _is_line_dump(path: Path) -> bool:
    """True for ``gerrit query`` JSON lines (not a REST change list, which is one document)."""
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    stripped = line.strip()
                    return not (stripped == ")]}'" or stripped.startswith("["))
    except OSError as exc:
        raise PayloadError(f"{path}: cannot read dump ({exc.strerror})") from None
    return False


def read_dump_parallel(
    path: Path, registry: Registry, workers: int, recheck_patterns: tuple[str, ...] = ()
) -> Iterator[NormalizedChange]:
    """Like :func:`read_dump` for line dumps, parsed and classified by ``workers`` processes,
    in file order (rechecks read with the policy's ``recheck_patterns``, as in-process)."""
    # fork: workers start at once and need no importable __main__ (spawn re-runs the caller's
    # script); they only parse, never touch the store connection they inherit.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    in_flight = max(1, workers * DumpTuning.in_flight_per_worker)
    with (
        open(path, encoding="utf-8") as handle,
        ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_init_dump_worker,
            initargs=(registry, recheck_patterns),
        ) as pool,
    ):
        pending: deque[Future[list[NormalizedChange]]] = deque()
        line_number = 1
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


def collect_dump(
    ingestor: Ingestor,
    path: Path,
    batch_size: int = 2000,
    progress: Progress | None = None,
    workers: int | None = None,
) -> CollectSummary:
    """Store every change of a dump; ``workers`` processes parse a large line dump (default:
    one per CPU; 0 reads in this process)."""
    if workers is None:
        large = path.is_file() and path.stat().st_size >= DumpTuning.parallel_min_bytes
        workers = (os.cpu_count() or 1) if large else 0
    parallel = workers > 0 and _is_line_dump(path)
    if parallel:
        batch_size = min(batch_size, DumpTuning.batch_changes)
    summary = CollectSummary()
    batch: list[NormalizedChange] = []
    seen = 0
    cycles = YoungCycleCollector(DumpTuning.batches_per_cycle_collection)
    # Paused before the workers fork, so they parse with it paused too.
    with cyclic_gc_paused():
        changes = (
            read_dump_parallel(
                path, ingestor.registry, workers, ingestor.classifier.recheck_patterns
            )
            if parallel
            else read_dump(path)
        )
        for change in changes:
            batch.append(change)
            if len(batch) >= batch_size:
                summary.add(ingestor.write(batch))
                seen += len(batch)
                batch = []
                if progress:
                    progress(seen, None)
                cycles.unit_done()
        summary.add(ingestor.write(batch))
    if progress:
        progress(seen + len(batch), seen + len(batch))
    return summary

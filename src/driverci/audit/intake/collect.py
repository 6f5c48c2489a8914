"""Collect a project's changes, patch sets, files and messages into the store.

From Gerrit's REST API (resumable and incremental: a cursor records the query, the offset
reached and when the run began; a killed run resumes where it stopped, a finished run makes
the next one ask only for what changed since), from a saved dump (``gerrit query
--format=JSON`` records, one per line or pretty-printed, a ChangeInfo or a REST change list:
see :mod:`~driverci.audit.intake.dump`), or live from the event stream (``follow``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from driverci.audit.intake.dump import BrokenRecord, DumpTuning, read_dump, read_dump_parallel
from driverci.audit.intake.dump_format import Layout, sniff
from driverci.audit.intake.ingest import IngestCounts, Ingestor
from driverci.audit.intake.normalize import NormalizedChange, from_change_info
from driverci.audit.intake.rebuild import PatchSetGaps
from driverci.errors import PayloadError
from driverci.gctools import YoungCycleCollector, cyclic_gc_paused
from driverci.gerrit.models_rest import ChangeInfo
from driverci.gerrit.rest import GerritRestClient
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
    # Patch sets a dump lacked (current-patch-set-only records), for the warnings.
    gaps: PatchSetGaps = field(default_factory=PatchSetGaps)

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


class DumpRejected(PayloadError):
    """Some records of a dump were broken; every other one was stored (``summary``)."""

    MAX_LISTED = 20  # broken records kept word for word; the rest are counted

    def __init__(self, path: Path, summary: CollectSummary, broken: list[str], count: int) -> None:
        more = f" (and {count - 1} more broken records)" if count > 1 else ""
        super().__init__(f"{broken[0]}{more}")
        self.path = path
        self.summary = summary
        self.broken = broken  # the first MAX_LISTED lines
        self.count = count


def collect_dump(
    ingestor: Ingestor,
    path: Path,
    batch_size: int = 2000,
    progress: Progress | None = None,
    workers: int | None = None,
) -> CollectSummary:
    """Store every valid change of a dump; ``workers`` processes parse a large line dump
    (default: one per CPU; 0 reads in this process).

    PayloadError when the file holds no JSON at all (empty, binary, unreadable); DumpRejected,
    after storing the rest, when some records are broken.
    """
    sniffed = sniff(path)
    if workers is None:
        large = path.is_file() and path.stat().st_size >= DumpTuning.parallel_min_bytes
        workers = (os.cpu_count() or 1) if large else 0
    parallel = workers > 0 and sniffed.layout is Layout.LINES
    if parallel:
        batch_size = min(batch_size, DumpTuning.batch_changes)
    summary = CollectSummary()
    batch: list[NormalizedChange] = []
    broken: list[str] = []
    broken_count = seen = 0
    cycles = YoungCycleCollector(DumpTuning.batches_per_cycle_collection)
    # Paused before the workers fork, so they parse with it paused too.
    with cyclic_gc_paused():
        items = (
            read_dump_parallel(
                path, sniffed, ingestor.registry, workers, ingestor.classifier.recheck_patterns
            )
            if parallel
            else read_dump(path, sniffed)
        )
        for item in items:
            if isinstance(item, BrokenRecord):
                broken_count += 1
                if len(broken) < DumpRejected.MAX_LISTED:
                    broken.append(item.text)
                continue
            summary.gaps.add(item)
            batch.append(item)
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
    if broken:
        raise DumpRejected(path, summary, broken, broken_count)
    return summary

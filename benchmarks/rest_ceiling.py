"""Where REST collection's time goes, and the fastest rate this machine could reach.

Beside the measured rate, ``bench_judge`` prints the CPU each collected change cost the
emulator's process and the collector's, and a floor: the work in C that collecting a change
needs whatever Python does around it (decoding the page's JSON with orjson, matching the
candidate job lines of its messages with the parser's regex, SQLite inserting its rows into
the store's tables and indexes), plus the emulator's measured CPU. The machine's cores divided
by that floor bound the rate any collector written in Python could reach here.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from driverci.audit.intake.collect import RestCollector
from driverci.audit.parse.jobs import _JOB_LINE

# The store's tables a collected change writes, parents first.
STORE_TABLES = ("changes", "patch_sets", "patch_set_files", "review_messages")
MAGIC_PREFIX = b")]}'"


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class RestCost:
    """One measured collection."""

    changes: int
    seconds: float
    collector_cpu_s: float
    emulator_cpu_s: float

    def per_change_ms(self, seconds: float) -> float:
        return seconds / self.changes * 1000


def _fastest(action: Callable[[], object], runs: int = 3) -> float:
    durations = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        durations.append(time.perf_counter() - began)
    return min(durations)


def _fetch_pages(url: str, project: str) -> list[bytes]:
    """The pages the collector asked for, as the emulator sent them."""
    pages: list[bytes] = []
    offset = 0
    with httpx.Client(base_url=url, timeout=120) as client:
        while True:
            params = [("q", f"project:{project}"), ("n", str(RestCollector.PAGE_SIZE))]
            params += [("S", str(offset))] + [("o", o) for o in RestCollector.OPTIONS]
            body = client.get("/changes/", params=params).raise_for_status().content
            pages.append(body)
            changes = orjson.loads(body.removeprefix(MAGIC_PREFIX))
            offset += len(changes)
            if not changes or not changes[-1].get("_more_changes"):
                return pages


def _store_rows(store_db: Path, scratch: Path) -> Callable[[], None]:
    """An action inserting the collected store's rows into an empty copy of its schema with
    sqlite3's executemany, under the store's own pragmas."""
    with sqlite3.connect(store_db) as source:
        schema = [
            sql
            for (sql,) in source.execute(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name IN "
                f"({','.join('?' * len(STORE_TABLES))}) ORDER BY type DESC",  # tables first
                STORE_TABLES,
            )
        ]
        rows = {
            table: source.execute(f"SELECT * FROM {table}").fetchall() for table in STORE_TABLES
        }

    def insert() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)
        target = sqlite3.connect(scratch)
        target.execute("PRAGMA journal_mode=WAL")
        target.execute("PRAGMA synchronous=NORMAL")
        target.execute("PRAGMA foreign_keys=ON")
        for sql in schema:
            target.execute(sql)
        for table, table_rows in rows.items():
            if table_rows:
                marks = ",".join("?" * len(table_rows[0]))
                target.executemany(f"INSERT INTO {table} VALUES ({marks})", table_rows)
        target.commit()
        target.close()

    return insert


def native_floor_ms(url: str, project: str, store_db: Path, changes: int) -> dict[str, float]:
    """Milliseconds per change of the C-level work collecting needs, by part."""
    pages = _fetch_pages(url, project)
    decoded = [orjson.loads(page.removeprefix(MAGIC_PREFIX)) for page in pages]
    messages = [m["message"] for page in decoded for c in page for m in c.get("messages", [])]
    # The lines the parser tries its job-line regex on (extract_jobs' own pre-filter).
    lines = [line for m in messages for line in m.split("\n") if " :" in line or "\t:" in line]
    match = _JOB_LINE.match
    floor = {
        "JSON decode": _fastest(
            lambda: [orjson.loads(p.removeprefix(MAGIC_PREFIX)) for p in pages]
        ),
        "job-line regex": _fastest(lambda: [match(line) for line in lines]),
        "SQLite rows": _fastest(_store_rows(store_db, store_db.with_name("floor.sqlite"))),
    }
    return {part: seconds / changes * 1000 for part, seconds in floor.items()}


def print_rest_ceiling(cost: RestCost, floor_ms: dict[str, float]) -> None:
    cores = os.cpu_count() or 1
    collector_ms = cost.per_change_ms(cost.collector_cpu_s)
    emulator_ms = cost.per_change_ms(cost.emulator_cpu_s)
    print(
        f"  CPU per change: collector {collector_ms:.2f} ms, emulator {emulator_ms:.2f} ms; "
        f"{cores} cores allow at most {cores / (collector_ms + emulator_ms) * 1000:,.0f} /s "
        "at this CPU"
    )
    floor_total = sum(floor_ms.values()) + emulator_ms
    parts = " + ".join(f"{part} {ms:.2f}" for part, ms in floor_ms.items())
    print(
        f"  floor (C work + emulator): {parts} + emulator {emulator_ms:.2f} = {floor_total:.2f} ms"
    )
    print(
        f"  with no Python cost at all in the collector, {cores} cores allow at most "
        f"{cores / floor_total * 1000:,.0f} changes/s",
        flush=True,
    )

"""A user collects from a dump with broken records: each is named on one line (file, line,
what is wrong, what a dump may hold), everything valid around it is stored all the same, and
the command exits 2. A file with no JSON at all is refused in one line. Never a traceback.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dump_samples import (
    as_query_record,
    collect,
    errors,
    expected_patch_sets,
    pretty,
    query_lines,
    real_changes,
)

from driverci.audit.intake.collect import DumpRejected, collect_dump
from driverci.audit.intake.dump_format import SniffTuning
from driverci.audit.intake.ingest import Ingestor
from driverci.gerrit.models_base import JSON_MAGIC
from driverci.registry.loader import load_registry
from driverci.store.db import Store

ACCEPTED = (
    "; expected gerrit query JSON (one object per line, or pretty-printed), a ChangeInfo, "
    "or a JSON list of ChangeInfo"
)
SINCE, UNTIL = "2020-07-01", "2020-12-01"


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'driverci.sqlite'}"


@pytest.fixture
def records(shared_dir: Path) -> list[dict[str, Any]]:
    """Two real changes as gerrit query records: gerrit-haskell's (current patch set only,
    3 to test) and cinder's (every patch set, 3 to test)."""
    zuul_change = real_changes(shared_dir, "GerritChange.json")[0]
    cinder = real_changes(shared_dir, "opendev-cinder-change-758569.json")[0]
    return [
        as_query_record(zuul_change, all_patch_sets=False),
        as_query_record(cinder, all_patch_sets=True),
    ]


def _zuul_expected(db: str) -> int:
    return expected_patch_sets(db, SINCE, UNTIL)["zuul"][0]


def test_a_broken_line_is_named_and_the_lines_around_it_are_stored(
    records: list[dict[str, Any]], tmp_path: Path, db: str
) -> None:
    first, second = query_lines(records).splitlines(keepends=True)[:2]
    dump = tmp_path / "query.json"
    dump.write_text(first + '{"project": "openstack/ironic", "number": 7,\n' + second)

    result = collect(dump, db)

    assert result.exit_code == 2 and "Traceback" not in result.output
    assert errors(result) == [
        f"error: {dump}:2: invalid JSON (Expecting property name enclosed in double quotes at "
        f"column 45){ACCEPTED}"
    ]
    assert "1 broken record skipped" in result.stdout
    assert _zuul_expected(db) == 6


@pytest.mark.parametrize("chunk", [None, 7], ids=["default chunks", "7-byte chunks"])
def test_a_broken_pretty_printed_record_is_named_at_its_line_and_the_next_one_is_read(
    records: list[dict[str, Any]],
    shared_dir: Path,
    tmp_path: Path,
    db: str,
    chunk: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if chunk:  # text is decoded a chunk at a time: a record cut anywhere reads the same
        monkeypatch.setattr(SniffTuning, "chunk_bytes", chunk)
    broken = pretty([records[0]]).splitlines(keepends=True)
    subject = next(i for i, line in enumerate(broken) if line.startswith('  "subject"'))
    broken[subject] = broken[subject].replace('"subject":', '"subject"', 1)
    event = (shared_dir / "gerrit-samples" / "EventCommentAdded.json").read_text()
    stats = pretty([{"type": "stats", "rowCount": 2}])
    # A stream event (real, as published) and a broken copy of the first record between
    # two good records.
    dump = tmp_path / "pretty.json"
    dump.write_text(pretty([records[0]]) + event.rstrip() + "\n" + "".join(broken))
    dump.write_text(dump.read_text() + pretty([records[1]]) + stats)
    event_line = len(pretty([records[0]]).splitlines()) + 1
    before = event_line - 1 + len(event.rstrip().splitlines())

    result = collect(dump, db)

    assert result.exit_code == 2, result.output
    assert errors(result) == [
        f"error: {dump}:{event_line}: a stream-events event ('comment-added'), not a change"
        + ACCEPTED,
        f"error: {dump}:{before + 1 + subject}: invalid JSON (Expecting ':' delimiter at "
        f"column 13, in the record from line {before + 1}){ACCEPTED}",
    ]
    assert _zuul_expected(db) == 6


@pytest.mark.parametrize("chunk", [None, 7], ids=["default chunks", "7-byte chunks"])
def test_a_broken_item_of_a_list_is_named_and_the_other_items_are_stored(
    shared_dir: Path, tmp_path: Path, db: str, chunk: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if chunk:
        monkeypatch.setattr(SniffTuning, "chunk_bytes", chunk)
    changes = real_changes(shared_dir, "gerrit-review-changes-query.json")
    changes[3].pop("status")  # valid JSON, but no ChangeInfo: Gerrit always sends a status
    text = json.dumps(changes, indent=2)
    # Change 249221 (master, one upload) loses a quote: not JSON any more.
    text = text.replace('"change_id": "I65c80aa6', '"change_id: "I65c80aa6', 1)
    dump = tmp_path / "list.json"
    dump.write_text(JSON_MAGIC + "\n" + text)
    line = 1 + text[: text.index('"change_id: "I65c80aa6')].count("\n") + 1
    item_line = 1 + text[: text.index('"id": "plugins%2Fmulti-site~master~I65c80aa6')].count("\n")

    result = collect(dump, db)

    assert result.exit_code == 2, result.output
    assert errors(result)[0].startswith(
        # Column 18: the 'I' after the four blanks and '"change_id: "'.
        f"error: {dump}:{line}: invalid JSON (Expecting ':' delimiter at column 18, in the "
        f"record from line {item_line}){ACCEPTED}"
    )
    assert "ChangeInfo field status: Field required" in errors(result)[1]
    # Left: the master change with two uploads; 249252 (stable-2.16), 249209 (stable-3.0).
    assert expected_patch_sets(db, "2019-12-01", "2020-01-01")["zuul"] == (
        2,
        ["249214/1", "249214/2"],
    )


def test_a_record_that_is_not_utf8_is_named_and_the_others_are_stored(
    records: list[dict[str, Any]], tmp_path: Path, db: str
) -> None:
    # Latin-1 where UTF-8 belongs, inside the first record's subject.
    first = pretty([records[0]]).replace('"subject": "', '"subject": "Caf\u00e9 ', 1)
    dump = tmp_path / "mixed.json"
    dump.write_bytes(first.encode("latin-1") + pretty([records[1]]).encode())
    before = first[: first.index("\u00e9")]
    line, column = before.count("\n") + 1, len(before) - before.rfind("\n")

    result = collect(dump, db)

    assert result.exit_code == 2, result.output
    assert errors(result) == [
        f"error: {dump}:{line}: not UTF-8 text (at column {column}){ACCEPTED}"
    ]
    assert expected_patch_sets(db, SINCE, UNTIL)["zuul"] == (
        3,
        ["758569/1", "758569/2", "758569/3"],
    )


def test_many_broken_lines_are_listed_up_to_twenty_then_counted(
    records: list[dict[str, Any]], tmp_path: Path, db: str
) -> None:
    dump = tmp_path / "noisy.json"
    first, *rest = query_lines(records).splitlines(keepends=True)
    dump.write_text(first + "[1]\n" * 25 + "".join(rest))

    result = collect(dump, db)

    lines = errors(result)
    assert result.exit_code == 2 and len(lines) == 21
    assert lines[0] == f"error: {dump}:2: a JSON list, not an object{ACCEPTED}"
    assert lines[-1] == f"error: {dump}: 5 more broken records"
    assert _zuul_expected(db) == 6


def test_worker_processes_name_the_same_broken_lines(
    records: list[dict[str, Any]], tmp_path: Path, store: Store
) -> None:
    dump = tmp_path / "big.json"
    good = query_lines(records).splitlines(keepends=True)
    dump.write_text("".join([good[0], "{oops}\n", *good[1:]] * 40))
    registry = load_registry()

    outcomes = []
    for workers in (0, 2):
        with pytest.raises(DumpRejected) as rejected:
            collect_dump(Ingestor(store, registry), dump, workers=workers)
        outcomes.append((rejected.value.count, rejected.value.broken[:2]))
        assert rejected.value.summary.changes == 80
        assert rejected.value.summary.gaps.current_only == 40

    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1][1].startswith(f"{dump}:6: invalid JSON")


def _empty(path: Path) -> None:
    path.write_text("\n  \n")


def _only_magic(path: Path) -> None:
    path.write_text(JSON_MAGIC + "\n")


def _binary(path: Path) -> None:
    path.write_bytes(Path(sys.executable).read_bytes()[:4096])


def _gzipped(path: Path) -> None:
    path.write_bytes(gzip.compress(b'{"project": "openstack/ironic", "number": 1}\n'))


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (_empty, "the file is empty, no JSON"),
        (_only_magic, "the file holds only Gerrit's )]}' line, no JSON"),
        (_binary, "a binary file (it holds NUL bytes), not JSON text"),
        (_gzipped, "a binary file (gzip-compressed: decompress it first), not JSON text"),
    ],
    ids=["empty", "only )]}'", "binary", "gzip"],
)
def test_a_file_without_json_is_refused_in_one_line(
    tmp_path: Path, db: str, make: Any, problem: str
) -> None:
    dump = tmp_path / "dump.json"
    make(dump)
    db_option = ("--db", db)

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "driverci.cli",
            "audit",
            "collect",
            "--from-dump",
            str(dump),
            *db_option,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [f"error: {dump}: {problem}{ACCEPTED}"]

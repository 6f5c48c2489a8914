"""A user collects from every kind of dump Gerrit (or jq) gives, and the report counts the
patch sets each CI had to test: all of them, even where the dump kept only the current one.

The dumps are made from real payloads (tests/audit/dump_samples.py says how); the window
of each report is the one the real change lived in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dump_samples import (
    as_query_record,
    collect,
    expected_patch_sets,
    pretty,
    query_lines,
    real_changes,
    warnings,
)
from sqlalchemy import func, select

from driverci.audit.intake.dump_format import SniffTuning
from driverci.gerrit.models_base import JSON_MAGIC
from driverci.store.db import open_store
from driverci.store.models import PatchSet, PatchSetFile

CINDER = "opendev-cinder-change-758569.json"  # ALL_REVISIONS + ALL_FILES, no messages
ZUUL_CHANGE = "GerritChange.json"  # CURRENT_REVISION (patch set 3) + MESSAGES
GERRIT_REVIEW = "gerrit-review-changes-query.json"  # MESSAGES only, )]}' kept
# 2020: the cinder change (October) and the gerrit-haskell change (July).
SINCE, UNTIL = "2020-07-01", "2020-12-01"
CURRENT_ONLY_WARNING = (
    "warning: 1 change holds only its current patch set; rebuilt 2 earlier patch sets from "
    "their 'Uploaded patch set N.' messages; run gerrit query with --patch-sets for full data"
)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'driverci.sqlite'}"


@pytest.fixture
def cinder(shared_dir: Path) -> dict[str, Any]:
    return real_changes(shared_dir, CINDER)[0]


@pytest.fixture
def zuul_change(shared_dir: Path) -> dict[str, Any]:
    return real_changes(shared_dir, ZUUL_CHANGE)[0]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_query_lines_with_every_patch_set_count_them_all(
    cinder: dict[str, Any], tmp_path: Path, db: str
) -> None:
    # Named like a list: the content, not the name, tells what a dump is.
    dump = _write(
        tmp_path / "changes-list.json", query_lines([as_query_record(cinder, all_patch_sets=True)])
    )

    result = collect(dump, db)

    assert result.exit_code == 0, result.output
    assert warnings(result) == []
    expected, missed = expected_patch_sets(db, SINCE, UNTIL)["zuul"]
    assert (expected, missed) == (3, ["758569/1", "758569/2", "758569/3"])


def test_current_patch_set_lines_are_completed_from_upload_messages_with_one_warning(
    zuul_change: dict[str, Any], cinder: dict[str, Any], tmp_path: Path, db: str
) -> None:
    # gerrit query --current-patch-set --comments: patch sets 1 and 2 are only named by the
    # "Uploaded patch set N." messages.
    records = [as_query_record(zuul_change, all_patch_sets=False)]
    records.append(as_query_record(cinder, all_patch_sets=True))
    dump = _write(tmp_path / "query.json", query_lines(records))

    result = collect(dump, db)

    assert result.exit_code == 0, result.output
    assert warnings(result) == [CURRENT_ONLY_WARNING + " (REST: o=ALL_REVISIONS)"]
    # Zuul reported on patch set 3 only: the two rebuilt patch sets are in its denominator.
    zuul = expected_patch_sets(db, SINCE, UNTIL)["zuul"]
    assert zuul == (6, ["18839/1", "18839/2", "758569/1", "758569/2", "758569/3"])


def test_pretty_printed_query_records_read_as_their_lines(
    zuul_change: dict[str, Any], cinder: dict[str, Any], tmp_path: Path
) -> None:
    records = [as_query_record(zuul_change, all_patch_sets=False)]
    records.append(as_query_record(cinder, all_patch_sets=True))
    stats = {"type": "stats", "rowCount": 2}
    lines_db, pretty_db = (f"sqlite:///{tmp_path / name}" for name in ("l.sqlite", "p.sqlite"))

    assert collect(_write(tmp_path / "a", query_lines(records)), lines_db).exit_code == 0
    result = collect(_write(tmp_path / "b", pretty([*records, stats])), pretty_db)

    assert result.exit_code == 0, result.output
    assert warnings(result) == [CURRENT_ONLY_WARNING + " (REST: o=ALL_REVISIONS)"]
    from_pretty = expected_patch_sets(pretty_db, SINCE, UNTIL)
    assert from_pretty == expected_patch_sets(lines_db, SINCE, UNTIL)
    assert from_pretty["zuul"][0] == 6


def test_pretty_printed_records_read_alike_whatever_the_chunks(
    zuul_change: dict[str, Any],
    cinder: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Text is decoded a chunk at a time; a record cut anywhere must still read whole.
    records = [as_query_record(zuul_change, all_patch_sets=False)]
    records.append(as_query_record(cinder, all_patch_sets=True))
    dump = _write(tmp_path / "pretty.json", pretty(records))
    monkeypatch.setattr(SniffTuning, "chunk_bytes", 7)
    tiny = f"sqlite:///{tmp_path / 'tiny.sqlite'}"

    result = collect(dump, tiny)

    assert result.exit_code == 0, result.output
    assert expected_patch_sets(tiny, SINCE, UNTIL)["zuul"][0] == 6


@pytest.mark.parametrize("magic", [True, False], ids=["with )]}'", "without )]}'"])
@pytest.mark.parametrize("indent", [2, None], ids=["pretty", "one line"])
def test_a_single_change_info_is_completed_from_its_messages(
    zuul_change: dict[str, Any], tmp_path: Path, db: str, magic: bool, indent: int | None
) -> None:
    # GET /changes/{id}?o=CURRENT_REVISION&o=MESSAGES..., saved as Gerrit answered it.
    text = (JSON_MAGIC + "\n" if magic else "") + json.dumps(zuul_change, indent=indent)
    result = collect(_write(tmp_path / "change.txt", text), db)

    assert result.exit_code == 0, result.output
    assert warnings(result) == [CURRENT_ONLY_WARNING + " (REST: o=ALL_REVISIONS)"]
    assert expected_patch_sets(db, SINCE, UNTIL)["zuul"] == (3, ["18839/1", "18839/2"])


@pytest.mark.parametrize("magic", [True, False], ids=["with )]}'", "without )]}'"])
@pytest.mark.parametrize("indent", [2, None], ids=["pretty", "one line"])
def test_a_list_of_change_info_counts_every_revision(
    cinder: dict[str, Any], tmp_path: Path, db: str, magic: bool, indent: int | None
) -> None:
    text = (JSON_MAGIC + "\n" if magic else "") + json.dumps([cinder], indent=indent)
    result = collect(_write(tmp_path / "query.jsonl", text), db)

    assert result.exit_code == 0, result.output
    assert warnings(result) == []
    assert expected_patch_sets(db, SINCE, UNTIL)["zuul"][0] == 3


def test_a_list_without_revisions_is_rebuilt_from_upload_messages(
    shared_dir: Path, tmp_path: Path, db: str
) -> None:
    # gerrit-review.googlesource.com's answer as saved, )]}' line and all: MESSAGES but no
    # revision option, so no patch set at all; one change has two uploads.
    changes = real_changes(shared_dir, GERRIT_REVIEW)
    dump = _write(tmp_path / "sample.json", JSON_MAGIC + "\n" + json.dumps(changes, indent=2))

    result = collect(dump, db)

    assert result.exit_code == 0, result.output
    assert warnings(result) == [
        "warning: 5 changes hold no patch set; rebuilt 6 patch sets from their 'Uploaded "
        "patch set N.' messages; run gerrit query with --patch-sets for full data "
        "(REST: o=ALL_REVISIONS)"
    ]
    # Only master's patch sets must be tested: change 249221's one and 249214's two (the
    # other three changes are on stable-2.16 and stable-3.0 branches).
    zuul = expected_patch_sets(db, "2019-12-01", "2020-01-01")["zuul"]
    assert zuul == (3, ["249214/1", "249214/2", "249221/1"])


def test_rest_pages_saved_one_after_the_other_read_as_one_list(
    shared_dir: Path, tmp_path: Path, db: str
) -> None:
    # `curl .../changes/?q=...&S=0 >> f; curl ...&S=3 >> f`: each page with its )]}' line.
    changes = real_changes(shared_dir, GERRIT_REVIEW)
    pages = [changes[:3], changes[3:]]
    dump = tmp_path / "pages.json"
    dump.write_text("".join(f"{JSON_MAGIC}\n{json.dumps(page, indent=2)}\n" for page in pages))

    result = collect(dump, db)

    assert result.exit_code == 0, result.output
    assert warnings(result)[0].startswith("warning: 5 changes hold no patch set; rebuilt 6 ")
    zuul = expected_patch_sets(db, "2019-12-01", "2020-01-01")["zuul"]
    assert zuul == (3, ["249214/1", "249214/2", "249221/1"])


def test_a_change_with_neither_revisions_nor_messages_is_named(
    shared_dir: Path, tmp_path: Path, db: str
) -> None:
    dump = tmp_path / "2014.json"
    dump.write_text(json.dumps(real_changes(shared_dir, "openstack-2014-changes-query.json")))

    result = collect(dump, db)

    assert result.exit_code == 0, result.output
    assert warnings(result) == [
        "warning: 1 change holds no patch set; no 'Uploaded patch set N.' message tells what "
        "they were; run gerrit query with --patch-sets for full data (REST: o=ALL_REVISIONS)"
    ]


def test_a_patch_set_of_unknown_files_is_one_every_ci_must_test(
    zuul_change: dict[str, Any], tmp_path: Path, db: str
) -> None:
    # The current patch set made docs-only (a transformation): the policy excludes it, but
    # nothing shows the rebuilt patch sets 1 and 2 touched only docs, so they still count.
    (revision,) = zuul_change["revisions"].values()
    revision["files"] = {"doc/source/index.rst": {"lines_inserted": 3}}
    result = collect(_write(tmp_path / "c.json", json.dumps(zuul_change)), db)

    assert result.exit_code == 0, result.output
    assert expected_patch_sets(db, SINCE, UNTIL)["zuul"] == (2, ["18839/1", "18839/2"])


def _uploads(change: dict[str, Any]) -> dict[str, Any]:
    """The change with the "Uploaded patch set N." messages Gerrit wrote for its revisions
    (the cinder sample was fetched without MESSAGES), by its uploader at its time."""
    revisions = sorted(change["revisions"].values(), key=lambda r: r["_number"])
    change["messages"] = [
        {
            "id": f"upload-{r['_number']}",
            "author": r["uploader"],
            "date": r["created"],
            "message": f"Uploaded patch set {r['_number']}.",
            "tag": "autogenerated:gerrit:newPatchSet",
            "_revision_number": r["_number"],
        }
        for r in revisions
    ]
    return change


def _stored(db: str) -> list[tuple[int, str, int]]:
    store = open_store(db)
    try:
        with store.transaction() as session:
            files = (
                select(func.count(PatchSetFile.id))
                .where(PatchSetFile.patch_set_pk == PatchSet.id)
                .scalar_subquery()
            )
            rows = session.execute(
                select(PatchSet.number, PatchSet.revision, files).order_by(PatchSet.number)
            )
            return [(number, revision[:8], count) for number, revision, count in rows]
    finally:
        store.close()


def test_full_data_fills_in_rebuilt_patch_sets_and_a_partial_dump_never_erases_it(
    cinder: dict[str, Any], tmp_path: Path
) -> None:
    change = _uploads(cinder)
    full = _write(tmp_path / "full", query_lines([as_query_record(change, all_patch_sets=True)]))
    partial = _write(
        tmp_path / "current", query_lines([as_query_record(change, all_patch_sets=False)])
    )
    complete = sorted(
        (r["_number"], sha[:8], len([f for f in r["files"] if not f.startswith("/")]))
        for sha, r in change["revisions"].items()
    )
    assert [number for number, _, files in complete if files] == [1, 2, 3]

    first_partial = f"sqlite:///{tmp_path / 'a.sqlite'}"
    assert collect(partial, first_partial).exit_code == 0
    assert _stored(first_partial) == [(1, "", 0), (2, "", 0), complete[2]]
    assert collect(full, first_partial).exit_code == 0
    assert _stored(first_partial) == complete

    first_full = f"sqlite:///{tmp_path / 'b.sqlite'}"
    assert collect(full, first_full).exit_code == 0
    assert collect(partial, first_full).exit_code == 0
    assert _stored(first_full) == complete
    assert expected_patch_sets(first_full, SINCE, UNTIL)["zuul"][0] == 3

"""Dumps made from the real Gerrit payloads in ../shared/gerrit-samples (SOURCES.md says where
each came from), and a user's way of collecting them and reading the report.

Every dump here is a transformation of real data, said so where it is made: the project
renamed to openstack/ironic (the judge measures Ironic's CIs), REST ChangeInfo rewritten as
the ``gerrit query --format=JSON`` record Gerrit prints for the same change (same facts under
the SSH API's names, Gerrit's json.txt), re-laid out (one line, pretty-printed, a list), or
with Gerrit's ``)]}'`` line put back.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from driverci.audit.cli import audit_app
from driverci.gerrit.models_base import JSON_MAGIC

IRONIC = "openstack/ironic"
# FileInfo.status letter -> the type gerrit query prints (PatchListEntry.ChangeType).
FILE_TYPES = {"A": "ADDED", "D": "DELETED", "R": "RENAMED", "C": "COPIED", "W": "REWRITE"}


def real_changes(shared: Path, name: str) -> list[dict[str, Any]]:
    """The ChangeInfo objects of a sample (one, or a list), moved to openstack/ironic."""
    text = (shared / "gerrit-samples" / name).read_text(encoding="utf-8")
    data = json.loads(text.removeprefix(JSON_MAGIC))
    changes = data if isinstance(data, list) else [data]
    for change in changes:
        change["project"] = IRONIC
    return changes


def epoch(rest_time: str) -> int:
    """Gerrit's REST time ("2020-07-15 19:39:55.000000000", UTC) as query's epoch seconds."""
    moment = datetime.strptime(rest_time[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return int(moment.timestamp())


def _account(account: dict[str, Any] | None) -> dict[str, Any]:
    return {k: account[k] for k in ("name", "email", "username") if k in (account or {})}


def _patch_set(sha: str, revision: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": revision["_number"],
        "revision": sha,
        "ref": revision["ref"],
        "uploader": _account(revision.get("uploader")),
        "createdOn": epoch(revision["created"]),
        "kind": revision.get("kind"),
        "files": [
            {
                "file": path,
                "type": FILE_TYPES.get(info.get("status", "M"), "MODIFIED"),
                "insertions": info.get("lines_inserted", 0),
                "deletions": -info.get("lines_deleted", 0),  # negative, as Gerrit prints it
            }
            for path, info in revision.get("files", {}).items()
        ],
    }


def as_query_record(change: dict[str, Any], *, all_patch_sets: bool) -> dict[str, Any]:
    """The ``gerrit query --format=JSON --comments --files --current-patch-set`` record of a
    REST ChangeInfo, with ``--patch-sets`` when ``all_patch_sets``."""
    revisions = sorted(change.get("revisions", {}).items(), key=lambda kv: kv[1]["_number"])
    record: dict[str, Any] = {
        "project": change["project"],
        "branch": change["branch"],
        "id": change["change_id"],
        "number": change["_number"],
        "subject": change["subject"],
        "owner": _account(change.get("owner")),
        "createdOn": epoch(change["created"]),
        "lastUpdated": epoch(change["updated"]),
        "open": change["status"] == "NEW",
        "status": change["status"],
        "comments": [
            {
                "timestamp": epoch(m["date"]),
                "reviewer": _account(m.get("author")),
                "message": m["message"],
            }
            for m in change.get("messages", [])
        ],
    }
    current = [_patch_set(sha, rev) for sha, rev in revisions if sha == change["current_revision"]]
    record["currentPatchSet"] = current[0]
    if all_patch_sets:
        record["patchSets"] = [_patch_set(sha, rev) for sha, rev in revisions]
    return record


def query_lines(records: list[dict[str, Any]]) -> str:
    """What ``gerrit query --format=JSON`` prints: one record a line, then the stats row."""
    stats = {"type": "stats", "rowCount": len(records), "runTimeMilliseconds": 12}
    return "".join(json.dumps(r) + "\n" for r in [*records, stats])


def pretty(values: list[Any]) -> str:
    """The same values as ``jq .`` prints them: each spread over lines, one after the other."""
    return "".join(json.dumps(v, indent=2) + "\n" for v in values)


def collect(dump: Path, db: str) -> Result:
    """``driverci audit collect --from-dump DUMP`` as a user runs it."""
    return CliRunner().invoke(audit_app, ["collect", "--from-dump", str(dump), "--db", db])


def expected_patch_sets(db: str, since: str, until: str) -> dict[str, tuple[int, list[str]]]:
    """``driverci audit report --format json``: per CI, the patch sets it had to test (the
    coverage denominator) and the ones it missed, as change/patch set."""
    result = CliRunner().invoke(
        audit_app, ["report", "--format", "json", "--since", since, "--until", until, "--db", db]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    return {
        s["account"]: (s["expected"], [f"{m['change']}/{m['patchset']}" for m in s["missed"]])
        for s in report["systems"]
    }


def warnings(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("warning: ")]


def errors(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]

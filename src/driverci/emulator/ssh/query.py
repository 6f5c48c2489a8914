"""``gerrit query`` over SSH, following Gerrit's ``OutputStreamQuery``.

One ChangeAttribute per line (JSON) or Gerrit's indented TEXT form, then a stats record
``{"type":"stats","rowCount":N,"runTimeMilliseconds":M,"moreChanges":bool}``. A query that
does not parse prints ``{"type":"error","message":...}`` and still exits 0, as Gerrit does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from driverci.emulator.query.search import run_query
from driverci.emulator.ssh.stream_render import (
    JsonObject,
    account_attribute,
    account_by_id,
    change_attribute,
    epoch,
    gson_dumps,
    patch_set_attribute,
)
from driverci.emulator.state.journal import EmulatorError
from driverci.emulator.state.model import Account, Change, FileChange, PatchSet

if TYPE_CHECKING:
    from driverci.emulator.state.journal import EmulatorState

# FileChange.status letters as Gerrit's Patch.ChangeType names.
_FILE_TYPES = {
    "A": "ADDED",
    "M": "MODIFIED",
    "D": "DELETED",
    "R": "RENAMED",
    "C": "COPIED",
    "W": "REWRITE",
}
_DATE_FIELDS = frozenset({"lastUpdated", "grantedOn", "timestamp", "createdOn"})
# The author of messages Gerrit writes itself (GerritPersonIdent).
SERVER_IDENT: JsonObject = {"name": "Gerrit Code Review"}


@dataclass
class QueryOptions:
    """The output switches of ``gerrit query``."""

    format: str = "TEXT"
    current_patch_set: bool = False
    patch_sets: bool = False
    all_approvals: bool = False
    files: bool = False
    comments: bool = False
    commit_message: bool = False
    all_reviewers: bool = False
    start: int = 0
    no_limit: bool = False


class QueryCommand:
    """Runs one query and renders it; the limits are Gerrit's defaults."""

    DEFAULT_LIMIT = 500

    def __init__(self, state: EmulatorState, viewer: Account | None) -> None:
        self.state = state
        self.viewer = viewer

    def run(self, query: str, options: QueryOptions) -> str:
        started = time.monotonic()
        try:
            result = run_query(self.state, query, self.viewer)
        except EmulatorError as exc:
            return self._show({"type": "error", "message": str(exc)}, options)
        limit = None if options.no_limit else self.DEFAULT_LIMIT
        if result.limit is not None:
            limit = result.limit if limit is None else min(limit, result.limit)
        remaining = result.changes[options.start :]
        shown = remaining if limit is None else remaining[:limit]
        lines = [self._show(self.change_json(change, options), options) for change in shown]
        stats: JsonObject = {
            "type": "stats",
            "rowCount": len(shown),
            "runTimeMilliseconds": int((time.monotonic() - started) * 1000),
            "moreChanges": len(remaining) > len(shown),
        }
        lines.append(self._show(stats, options))
        return "".join(lines)

    def change_json(self, change: Change, options: QueryOptions) -> JsonObject:
        state = self.state
        base = change_attribute(state, change, with_message=False)
        attribute: JsonObject = {}
        for key in ("project", "branch", "topic", "id", "number", "subject", "owner", "url"):
            if key in base:
                attribute[key] = base[key]
        if options.commit_message and change.patch_sets:
            attribute["commitMessage"] = change.current.commit_message
        # The query always sets hashtags, even an empty list (OutputStreamQuery).
        attribute["hashtags"] = list(change.hashtags)
        attribute["createdOn"] = epoch(change.created)
        attribute["lastUpdated"] = epoch(change.updated)
        attribute["open"] = change.is_open
        attribute["status"] = change.status
        if options.comments and change.messages:
            attribute["comments"] = [
                self._message(m.author_id, m.date, m.message) for m in change.messages
            ]
        if change.wip:
            attribute["wip"] = True
        if options.current_patch_set and change.patch_sets:
            attribute["currentPatchSet"] = self._patch_set(
                change, change.current, True, options.files
            )
        if (options.patch_sets or options.all_approvals) and change.patch_sets:
            attribute["patchSets"] = [
                self._patch_set(change, ps, options.all_approvals, options.files)
                for ps in change.patch_sets
            ]
        if options.all_reviewers and change.reviewer_ids:
            attribute["allReviewers"] = [
                account_by_id(state, account_id) for account_id in sorted(change.reviewer_ids)
            ]
        return attribute

    def _message(self, author_id: int | None, at: datetime, text: str) -> JsonObject:
        author = self.state.accounts.get(author_id) if author_id is not None else None
        return {
            "timestamp": epoch(at),
            "reviewer": account_attribute(author) if author else dict(SERVER_IDENT),
            "message": text,
        }

    def _patch_set(
        self, change: Change, patch_set: PatchSet, approvals: bool, files: bool
    ) -> JsonObject:
        extra: JsonObject = {}
        if approvals:
            # EventFactory.addApprovals leaves out zero votes.
            votes = [
                approval
                for approval in change.approvals.values()
                if approval.patch_set == patch_set.number and approval.value != 0
            ]
            if votes:
                extra["approvals"] = [
                    {
                        "type": vote.label,
                        "description": vote.label,
                        "value": str(vote.value),
                        "grantedOn": epoch(vote.date),
                        "by": account_by_id(self.state, vote.account_id),
                    }
                    for vote in votes
                ]
        if files:
            extra["files"] = [_commit_msg_file(patch_set)] + [_file(f) for f in patch_set.files]
        return patch_set_attribute(self.state, patch_set, extra)

    def _show(self, record: JsonObject, options: QueryOptions) -> str:
        if options.format == "JSON":
            return gson_dumps(record) + "\n"
        if "type" in record:
            return text_lines(record, 0) + "\n"
        return f"change {record['id']}\n" + text_lines(record, 1) + "\n"


def _file(change: FileChange) -> JsonObject:
    item: JsonObject = {"file": change.path}
    if change.old_path:
        item["fileOld"] = change.old_path
    item["type"] = _FILE_TYPES.get(change.status, "MODIFIED")
    item["insertions"] = change.lines_inserted
    # EventFactory.addPatchSetFileNames: "p.deletions -= diff.deletions()", negative on the wire.
    item["deletions"] = -change.lines_deleted
    return item


def _commit_msg_file(patch_set: PatchSet) -> JsonObject:
    """Gerrit lists the magic /COMMIT_MSG file first; its text has a 6-line header."""
    lines = patch_set.commit_message.rstrip("\n").count("\n") + 1
    header_lines = 6 if len(patch_set.parents) <= 1 else 7
    return {
        "file": "/COMMIT_MSG",
        "type": "ADDED",
        "insertions": lines + header_lines,
        "deletions": 0,
    }


def text_lines(record: JsonObject, depth: int) -> str:
    """Gerrit's TEXT format (OutputStreamQuery.showText): indented ``key: value`` lines."""
    out: list[str] = []
    for key, value in record.items():
        _text_field(out, key, value, depth)
    return "".join(out)


def _text_field(out: list[str], key: str, value: Any, depth: int) -> None:
    indent = " " * (depth * 2)
    if isinstance(value, str) and "\n" in value:
        continuation = " " * (len(indent) + len(key) + 2)
        out.append(f"{indent}{key}: {value.replace(chr(10), chr(10) + continuation).strip()}\n")
    elif isinstance(value, int) and not isinstance(value, bool) and key in _DATE_FIELDS:
        when = datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        out.append(f"{indent}{key}: {when}\n")
    elif isinstance(value, bool):
        out.append(f"{indent}{key}: {str(value).lower()}\n")
    elif isinstance(value, str | int | float):
        out.append(f"{indent}{key}: {value}\n")
    elif isinstance(value, list):
        out.append(f"{indent}{key}:\n")
        for index, item in enumerate(value):
            if index:
                out.append(f"{indent}{key}:\n")
            if isinstance(item, dict):
                out.append(text_lines(item, depth + 1))
            else:
                out.append(f" {item}\n")
    elif isinstance(value, dict):
        out.append(f"{indent}{key}:\n")
        out.append(text_lines(value, depth + 1))

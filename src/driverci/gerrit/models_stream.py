"""Typed models of Gerrit's stream / ``gerrit query --format=JSON`` attribute schema.

Both eras parse: Gerrit <= 2.13 wrote change and patch-set numbers as strings (``"60244"``)
and 2.4-era approvals used category ids (``VRIF``); numbers become ints and ids label names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import Field, ValidationError, field_validator

from driverci.errors import GerritError, PayloadError
from driverci.gerrit.models_base import GerritModel, GerritTime, describe_validation_error

# Gerrit 2.4-era approval category ids and the label names they became.
LEGACY_LABEL_IDS = {"VRIF": "Verified", "CRVW": "Code-Review", "APRV": "Workflow"}


class StreamAccount(GerritModel):
    """An account in stream attributes; every field is optional (service accounts lack email)."""

    name: str | None = None
    email: str | None = None
    username: str | None = None

    @property
    def identity(self) -> str:
        """The most stable handle: username, else email, else name (same rule as REST)."""
        return self.username or self.email or self.name or ""


class StreamApproval(GerritModel):
    """A vote; ``value`` is a string on the wire (``"-1"``) and an int here."""

    type: str
    description: str | None = None
    value: int | None = None
    old_value: int | None = Field(default=None, alias="oldValue")
    granted_on: GerritTime | None = Field(default=None, alias="grantedOn")
    by: StreamAccount | None = None

    @field_validator("type")
    @classmethod
    def _label_name(cls, value: str) -> str:
        return LEGACY_LABEL_IDS.get(value, value)


class StreamFile(GerritModel):
    """A file of a patch set (query ``--files``)."""

    file: str
    file_old: str | None = Field(default=None, alias="fileOld")
    type: str | None = None
    insertions: int = 0
    deletions: int = 0


class StreamPatchSetComment(GerritModel):
    """An inline comment (query ``--comments`` with ``--patch-sets``)."""

    file: str | None = None
    line: int | None = None
    reviewer: StreamAccount | None = None
    message: str = ""


class StreamPatchSet(GerritModel):
    """A patch set attribute; ``number`` was a string before Gerrit 2.14."""

    number: int
    revision: str | None = None
    parents: list[str] = Field(default_factory=list)
    ref: str | None = None
    uploader: StreamAccount | None = None
    author: StreamAccount | None = None
    created_on: GerritTime | None = Field(default=None, alias="createdOn")
    kind: str | None = None
    files: list[StreamFile] = Field(default_factory=list)
    approvals: list[StreamApproval] = Field(default_factory=list)
    comments: list[StreamPatchSetComment] = Field(default_factory=list)
    size_insertions: int | None = Field(default=None, alias="sizeInsertions")
    size_deletions: int | None = Field(default=None, alias="sizeDeletions")


class StreamMessage(GerritModel):
    """A review message in query ``--comments`` output."""

    timestamp: GerritTime | None = None
    reviewer: StreamAccount | None = None
    message: str = ""


class StreamChange(GerritModel):
    """A change attribute; events carry a subset, ``gerrit query`` may carry all of it."""

    project: str
    branch: str | None = None
    topic: str | None = None
    id: str | None = None
    number: int
    subject: str | None = None
    owner: StreamAccount | None = None
    url: str | None = None
    commit_message: str | None = Field(default=None, alias="commitMessage")
    hashtags: list[str] = Field(default_factory=list)
    created_on: GerritTime | None = Field(default=None, alias="createdOn")
    last_updated: GerritTime | None = Field(default=None, alias="lastUpdated")
    open: bool | None = None
    status: str | None = None
    wip: bool = False
    private: bool = False
    comments: list[StreamMessage] = Field(default_factory=list)
    current_patch_set: StreamPatchSet | None = Field(default=None, alias="currentPatchSet")
    patch_sets: list[StreamPatchSet] = Field(default_factory=list, alias="patchSets")


class RefUpdate(GerritModel):
    """The ``refUpdate`` of a ref-updated event; ``new_rev`` of 40 zeros means deleted."""

    old_rev: str | None = Field(default=None, alias="oldRev")
    new_rev: str | None = Field(default=None, alias="newRev")
    ref_name: str = Field(alias="refName")
    project: str


class QueryStats(GerritModel):
    """The last line of ``gerrit query --format=JSON``."""

    row_count: int = Field(default=0, alias="rowCount")
    run_time_milliseconds: int | None = Field(default=None, alias="runTimeMilliseconds")
    more_changes: bool = Field(default=False, alias="moreChanges")


class QueryResult(GerritModel):
    """Everything ``gerrit query --format=JSON`` printed: the changes and the stats line."""

    changes: list[StreamChange] = Field(default_factory=list)
    stats: QueryStats | None = None


def parse_query_output(
    lines: str | bytes | Iterable[str | bytes], where: str = "gerrit query"
) -> QueryResult:
    """Parse ``gerrit query --format=JSON`` output: one change per line, then a stats line.

    Raises PayloadError (naming the line) for bad JSON or a malformed change, and GerritError
    when Gerrit printed ``{"type":"error","message":...}``.
    """
    if isinstance(lines, bytes):
        lines = lines.decode("utf-8", errors="replace")
    if isinstance(lines, str):
        lines = lines.splitlines()
    result = QueryResult()
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PayloadError(f"{where} line {line_number}: invalid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise PayloadError(f"{where} line {line_number}: expected a JSON object")
        kind = obj.get("type")
        try:
            if kind == "stats":
                result.stats = QueryStats.model_validate(obj)
            elif kind == "error":
                raise GerritError(f"{where}: Gerrit answered: {obj.get('message', '')}")
            else:
                result.changes.append(StreamChange.model_validate(obj))
        except ValidationError as exc:
            detail = describe_validation_error(exc)
            raise PayloadError(f"{where} line {line_number}: {detail}") from None
    return result

"""Plain row values for the bulk functions of :mod:`driverci.store.repository`.

Collectors (REST, stream, dumps) convert Gerrit models into these, so the store does not
depend on :mod:`driverci.gerrit`. All datetimes must be timezone-aware (UTC).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class ChangeRow:
    project: str
    branch: str
    number: int
    change_id: str
    subject: str
    status: str
    created: dt.datetime
    updated: dt.datetime
    owner_username: str | None = None
    owner_account_id: int | None = None
    submitted: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class PatchSetRow:
    change_pk: int
    number: int
    revision: str
    created: dt.datetime
    ref: str
    uploader_username: str | None = None
    uploader_account_id: int | None = None
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class FileRow:
    path: str
    status: str = "M"
    lines_inserted: int = 0
    lines_deleted: int = 0


class MessageRow(NamedTuple):
    """One review message; a named tuple because a dump brings a million of them, and its
    fields in order are the statement's parameters."""

    change_pk: int
    gerrit_id: str
    date: dt.datetime
    message: str
    patch_set_number: int | None = None
    author_account_id: int | None = None
    author_username: str | None = None
    author_name: str | None = None
    tag: str | None = None
    raw: str | None = None
    ci_account: str | None = None
    result: str | None = None
    parse_status: str = "unparsed"
    job_urls: str | None = None  # the jobs' result links, newline-separated
    all_jobs_failed: bool = False


@dataclass(frozen=True, slots=True)
class MessageParse:
    """What the judge's parser concluded about one stored message (by its primary key)."""

    message_pk: int
    ci_account: str | None
    result: str | None
    parse_status: str


@dataclass(frozen=True, slots=True)
class Cursor:
    source: str
    project: str
    last_updated: dt.datetime | None
    position: str | None
    saved_at: dt.datetime

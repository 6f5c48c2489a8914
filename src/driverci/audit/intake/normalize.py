"""Gerrit changes (REST ChangeInfo, or a ``gerrit query`` record) as plain records: the
change, its patch sets with their files, its messages, ready to classify and store."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from driverci.gerrit.models_rest import ChangeInfo
from driverci.gerrit.models_stream import StreamChange
from driverci.store.rows import ChangeRow, FileRow

# (ci_account, result, parse_status, job links newline-separated, all jobs failed) of one
# message. The job lines themselves are not stored: they can be read again from the message.
Classification = tuple[str | None, str | None, str, str | None, bool]

# split_header's header line; only its patch set number is needed when reading a dump.
_PATCH_SET_HEADER = re.compile(r"[ \t]*Patch Set (\d+):")
MAGIC_FILES = frozenset({"/COMMIT_MSG", "/MERGE_LIST", "/PATCHSET_LEVEL"})
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class NormalizedPatchSet:
    number: int
    revision: str
    created: datetime
    ref: str
    uploader_username: str | None
    uploader_account_id: int | None
    kind: str | None
    files: list[FileRow]
    # False for a patch set rebuilt from its upload message (see intake/rebuild.py): it is
    # stored only where none is yet, and never replaces stored files with none.
    files_known: bool = True


@dataclass
class NormalizedMessage:
    gerrit_id: str
    date: datetime
    message: str
    patch_set: int | None
    author_account_id: int | None
    author_username: str | None
    author_name: str | None
    tag: str | None
    service_user: bool = False
    # What the classifier concluded, when it ran ahead (e.g. in a worker process).
    classified: Classification | None = None

    def __reduce__(self) -> tuple[type[NormalizedMessage], tuple[object, ...]]:
        # Pickled by position: a dump's million messages cross from worker processes, and
        # rebuilding from a tuple is several times cheaper than the default state dict.
        return NormalizedMessage, (
            self.gerrit_id,
            self.date,
            self.message,
            self.patch_set,
            self.author_account_id,
            self.author_username,
            self.author_name,
            self.tag,
            self.service_user,
            self.classified,
        )


@dataclass
class NormalizedChange:
    row: ChangeRow
    patch_sets: list[NormalizedPatchSet] = field(default_factory=list)
    messages: list[NormalizedMessage] = field(default_factory=list)
    # What a dump's record lacked: "current" (only the current patch set), "none" (no patch
    # set), None (all of them); and how many of the others were rebuilt or stay unknown.
    partial: str | None = None
    patch_sets_rebuilt: int = 0
    patch_sets_unknown: int = 0


def from_change_info(info: ChangeInfo) -> NormalizedChange:
    owner = info.owner
    row = ChangeRow(
        project=info.project,
        branch=info.branch,
        number=info.number,
        change_id=info.change_id,
        subject=info.subject,
        status=info.status,
        created=info.created or EPOCH,
        updated=info.updated or info.created or EPOCH,
        owner_username=owner.username if owner else None,
        owner_account_id=owner.account_id if owner else None,
        submitted=info.submitted,
    )
    out = NormalizedChange(row)
    for sha, rev in info.revisions.items():
        files = [
            FileRow(path, f.status or "M", f.lines_inserted, f.lines_deleted)
            for path, f in rev.files.items()
            if path not in MAGIC_FILES
        ]
        out.patch_sets.append(
            NormalizedPatchSet(
                rev.number,
                sha,
                rev.created or row.created,
                rev.ref or "",
                rev.uploader.username if rev.uploader else None,
                rev.uploader.account_id if rev.uploader else None,
                rev.kind,
                files,
            )
        )
    for msg in info.messages:
        author = msg.author
        out.messages.append(
            NormalizedMessage(
                msg.id,
                msg.date,
                msg.message,
                msg.revision_number,
                author.account_id if author else None,
                author.username if author else None,
                (author.name or author.display_name) if author else None,
                msg.tag,
                bool(author and author.is_service_user),
            )
        )
    return out


def from_stream_change(change: StreamChange) -> NormalizedChange:
    """A change from ``gerrit query --format=JSON --patch-sets --files --comments``."""
    owner = change.owner
    created = change.created_on or EPOCH
    status = change.status or ("NEW" if change.open else "MERGED")
    row = ChangeRow(
        project=change.project,
        branch=change.branch or "master",
        number=change.number,
        change_id=change.id or "",
        subject=change.subject or "",
        status=status,
        created=created,
        updated=change.last_updated or created,
        owner_username=owner.username if owner else None,
    )
    out = NormalizedChange(row)
    patch_sets = change.patch_sets or (
        [change.current_patch_set] if change.current_patch_set else []
    )
    for ps in patch_sets:
        files = [
            FileRow(f.file, (f.type or "MODIFIED")[0], f.insertions, abs(f.deletions))
            for f in ps.files
            if f.file not in MAGIC_FILES
        ]
        out.patch_sets.append(
            NormalizedPatchSet(
                ps.number,
                ps.revision or "",
                ps.created_on or created,
                ps.ref or "",
                ps.uploader.username if ps.uploader else None,
                None,
                ps.kind,
                files,
            )
        )
    for comment in change.comments:
        when = comment.timestamp or created
        who = comment.reviewer
        key = f"{change.number}:{when.isoformat()}:{who.username if who else ''}:{comment.message}"
        out.messages.append(
            NormalizedMessage(
                hashlib.sha1(key.encode()).hexdigest(),
                when,
                comment.message,
                _header_patch_set(comment.message),
                None,
                who.username if who else None,
                who.name if who else None,
                None,
            )
        )
    return out


def _header_patch_set(message: str) -> int | None:
    """The N of a leading "Patch Set N:" (split_header's rule, without reading the votes)."""
    match = _PATCH_SET_HEADER.match(message)
    return int(match.group(1)) if match else None

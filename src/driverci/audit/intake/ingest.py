"""Turn Gerrit changes (REST ChangeInfo, or ``gerrit query`` JSON from a dump) into store rows,
classifying every message on the way: which CI wrote it and what it reported, or whether a
person asked for a recheck. Unreadable CI comments are kept and marked, never dropped."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from driverci.audit.parse.attribution import CiAttributor, CiIdentity, looks_like_ci
from driverci.audit.parse.comment import parse_ci_message
from driverci.audit.parse.recheck import RecheckAttributor
from driverci.gerrit.models_rest import ChangeInfo
from driverci.gerrit.models_stream import StreamChange
from driverci.registry.schema import Registry
from driverci.store.db import Store
from driverci.store.repository import (
    insert_messages,
    replace_patch_set_files,
    upsert_changes,
    upsert_patch_sets,
)
from driverci.store.rows import ChangeRow, FileRow, MessageRow, PatchSetRow

log = logging.getLogger(__name__)

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


def identities_from(registry: Registry) -> list[CiIdentity]:
    return [
        CiIdentity(
            ci.account,
            ci.account_id,
            ci.name,
            tuple(ci.success_pattern),
            tuple(ci.failure_pattern),
            (ci.name, ci.account),
            (ci.sandbox_account,) if ci.sandbox_account else (),
            tuple(ci.recheck_pattern),
        )
        for ci in registry.ci_systems
    ]


@dataclass
class IngestCounts:
    changes: int = 0
    patch_sets: int = 0
    messages_new: int = 0
    ci_results: int = 0
    unparseable: int = 0
    rechecks: int = 0


class MessageClassifier:
    """Which CI wrote a message and what it reported, or whether a person asked a recheck.

    Needs only the registry, so worker processes can classify while the store is written.
    """

    NON_CHECK_PIPELINES = frozenset(
        {"gate", "post", "promote", "periodic", "release", "tag", "deploy", "merge-check"}
    )

    def __init__(self, registry: Registry, recheck_patterns: Sequence[str] = ()) -> None:
        self.registry = registry
        #: The policy's ``recheck.patterns`` (``{ci}`` for a CI's names), kept for workers.
        self.recheck_patterns = tuple(recheck_patterns)
        self._identities = identities_from(registry)
        self._attributor = CiAttributor(self._identities)
        self._rechecks = RecheckAttributor(self._identities, self.recheck_patterns)

    def classify(self, msg: NormalizedMessage) -> Classification:
        """(ci_account, result, parse_status, job links, all jobs failed)."""
        if (msg.tag or "").startswith("autogenerated:gerrit") or (
            msg.author_username is None
            and msg.author_account_id is None
            and msg.author_name is None
        ):
            return None, None, "gerrit", None, False
        author = {
            "account_id": msg.author_account_id,
            "username": msg.author_username,
            "name": msg.author_name,
        }
        identity = self._attributor.attribute(author)
        account = identity.username if identity else None
        if identity is None and (msg.service_user or looks_like_ci(msg.author_name or "")):
            account = msg.author_username or msg.author_name  # an unregistered CI
        if account is None:
            # Stored with the account of the one CI asked, or none when it asks every CI.
            request = self._rechecks.request(msg.message)
            if request is not None:
                return request.target, None, "recheck", None, False
            return None, None, "human", None, False
        parsed = parse_ci_message(
            msg.message,
            success_pattern=identity.success_patterns if identity else None,
            failure_pattern=identity.failure_patterns if identity else None,
        )
        if (parsed.kind != "result" and parsed.is_parseable) or (
            parsed.pipeline or "check"
        ).lower() in self.NON_CHECK_PIPELINES:
            # Gate, post and periodic reports are not the per-patch-set result the spec asks.
            return account, None, "ci_other", None, False
        if not parsed.is_parseable or parsed.result == "UNKNOWN":
            return account, "UNKNOWN", "unparseable", None, False
        jobs = parsed.jobs
        # Job links first (the probe fetches the first), then the message's other result
        # links ("Logs: ...", "PASSED: <url>"). Links hold no whitespace: a newline parts them.
        job_urls = [j.url for j in jobs if j.url]
        urls = "\n".join(dict.fromkeys([*job_urls, *parsed.links])) or None
        all_failed = bool(jobs) and not any(j.succeeded for j in jobs)
        return account, parsed.result, "result", urls, all_failed

    def classify_change(self, change: NormalizedChange) -> NormalizedChange:
        """Classify every message of ``change`` ahead of :meth:`Ingestor.write`."""
        for msg in change.messages:
            msg.classified = self.classify(msg)
        return change


class Ingestor:
    """Writes normalized changes into the store, classifying messages as it goes."""

    NON_CHECK_PIPELINES = MessageClassifier.NON_CHECK_PIPELINES

    def __init__(
        self, store: Store, registry: Registry, recheck_patterns: Sequence[str] = ()
    ) -> None:
        self.store = store
        self.registry = registry
        self.classifier = MessageClassifier(registry, recheck_patterns)

    def classify(self, msg: NormalizedMessage) -> Classification:
        """(ci_account, result, parse_status, job links, all jobs failed)."""
        return self.classifier.classify(msg)

    def write(self, batch: Sequence[NormalizedChange]) -> IngestCounts:
        counts = IngestCounts()
        if not batch:
            return counts
        with self.store.transaction() as session:
            change_pks = upsert_changes(session, [c.row for c in batch])
            ps_rows = []
            for change in batch:
                pk = change_pks[(change.row.project, change.row.number)]
                ps_rows += [
                    PatchSetRow(
                        pk,
                        ps.number,
                        ps.revision,
                        ps.created,
                        ps.ref,
                        ps.uploader_username,
                        ps.uploader_account_id,
                        ps.kind,
                    )
                    for ps in change.patch_sets
                ]
            ps_pks = upsert_patch_sets(session, ps_rows)
            files = {}
            for change in batch:
                pk = change_pks[(change.row.project, change.row.number)]
                for ps in change.patch_sets:
                    files[ps_pks[(pk, ps.number)]] = ps.files
            replace_patch_set_files(session, files)
            rows = []
            for change in batch:
                pk = change_pks[(change.row.project, change.row.number)]
                for msg in change.messages:
                    account, result, status, urls, all_failed = msg.classified or self.classify(msg)
                    counts.ci_results += status == "result"
                    counts.unparseable += status == "unparseable"
                    counts.rechecks += status == "recheck"
                    rows.append(
                        MessageRow(
                            pk,
                            msg.gerrit_id,
                            msg.date,
                            msg.message,
                            msg.patch_set,
                            msg.author_account_id,
                            msg.author_username,
                            msg.author_name,
                            msg.tag,
                            None,
                            account,
                            result,
                            status,
                            urls,
                            all_failed,
                        )
                    )
            counts.messages_new = insert_messages(session, rows)
            counts.changes = len(batch)
            counts.patch_sets = len(ps_rows)
        return counts

"""Tables of the store (SQLAlchemy 2 typed declarative).

The Alembic migrations in ``migrations/versions`` create exactly these tables; a test
compares the two. Later features (audit results, CI runs) add tables with new migrations.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so migrations can alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes in Python on every backend.

    PostgreSQL stores ``timestamptz``. SQLite has no time zone type: values are stored as
    naive UTC and made aware again on the way out. Naive input is refused: a naive value
    is a bug at its source (which zone was meant?).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: store timezone-aware UTC values")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"database returned {type(value).__name__} for a datetime column")
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


class Change(Base):
    __tablename__ = "changes"
    __table_args__ = (
        UniqueConstraint("project", "number", name="uq_changes_project_number"),
        Index("ix_changes_project_branch", "project", "branch"),
        Index("ix_changes_updated", "updated"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(255))
    branch: Mapped[str] = mapped_column(String(255))
    number: Mapped[int] = mapped_column(Integer)
    change_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text, default="")
    owner_username: Mapped[str | None] = mapped_column(String(255))
    owner_account_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    created: Mapped[dt.datetime]
    updated: Mapped[dt.datetime]
    submitted: Mapped[dt.datetime | None]

    patch_sets: Mapped[list[PatchSet]] = relationship(
        back_populates="change", cascade="all, delete-orphan", passive_deletes=True
    )


class PatchSet(Base):
    __tablename__ = "patch_sets"
    __table_args__ = (
        UniqueConstraint("change_pk", "number", name="uq_patch_sets_change_number"),
        Index("ix_patch_sets_created", "created"),
        Index("ix_patch_sets_revision", "revision"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_pk: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    revision: Mapped[str] = mapped_column(String(64))
    created: Mapped[dt.datetime]
    uploader_username: Mapped[str | None] = mapped_column(String(255))
    uploader_account_id: Mapped[int | None] = mapped_column(BigInteger)
    #: Gerrit's revision kind (REWORK, TRIVIAL_REBASE, NO_CODE_CHANGE, ...).
    kind: Mapped[str | None] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(255))

    change: Mapped[Change] = relationship(back_populates="patch_sets")
    files: Mapped[list[PatchSetFile]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )


class PatchSetFile(Base):
    __tablename__ = "patch_set_files"
    __table_args__ = (
        UniqueConstraint("patch_set_pk", "path", name="uq_patch_set_files_patch_set_path"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patch_set_pk: Mapped[int] = mapped_column(ForeignKey("patch_sets.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text)
    #: Gerrit's file status letter: A, D, R, C, W, or M (Gerrit omits it for modified).
    status: Mapped[str] = mapped_column(String(1), default="M")
    lines_inserted: Mapped[int] = mapped_column(Integer, default=0)
    lines_deleted: Mapped[int] = mapped_column(Integer, default=0)


#: Indexes that exist on SQLite only, by name (see :func:`exists_on`).
SQLITE_ONLY_INDEXES = frozenset({"ix_review_messages_judge"})
#: Indexes that exist on PostgreSQL only, by name.
POSTGRESQL_ONLY_INDEXES = frozenset({"ix_review_messages_date"})
#: The judge's covering index on review messages (SQLite only; see migrations 0005, 0006).
JUDGE_INDEX_COLUMNS = (
    "change_pk",
    "parse_status",
    "date",
    "ci_account",
    "result",
    "patch_set_number",
    "all_jobs_failed",
    "author_name",
)


def exists_on(dialect: str, object_type: str, name: str | None) -> bool:
    """Whether a schema object of the models is created on ``dialect`` (Alembic's
    ``include_object``, so comparing the models with a database ignores the others)."""
    if object_type != "index":
        return True
    if name in SQLITE_ONLY_INDEXES:
        return dialect == "sqlite"
    if name in POSTGRESQL_ONLY_INDEXES:
        return dialect == "postgresql"
    return True


class ReviewMessage(Base):
    """A change message as Gerrit stores it, plus what the judge's parser made of it."""

    __tablename__ = "review_messages"
    __table_args__ = (
        UniqueConstraint("change_pk", "gerrit_id", name="uq_review_messages_change_gerrit_id"),
        # On SQLite the judge's covering index below serves the window queries; this one would
        # take a random insert per message, rewritten to the WAL by every bulk transaction.
        Index("ix_review_messages_date", "date").ddl_if(dialect="postgresql"),
        # SQLite stores a message's text inside its row, so a scan of a year's results would
        # read every message; this index holds what the judge reads (audit/evaluate/load.py)
        # instead.
        Index("ix_review_messages_judge", *JUDGE_INDEX_COLUMNS).ddl_if(dialect="sqlite"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gerrit_id: Mapped[str] = mapped_column(String(128))
    change_pk: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"))
    patch_set_number: Mapped[int | None] = mapped_column(Integer)
    author_account_id: Mapped[int | None] = mapped_column(BigInteger)
    author_username: Mapped[str | None] = mapped_column(String(255))
    author_name: Mapped[str | None] = mapped_column(String(255))
    date: Mapped[dt.datetime]
    tag: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text, default="")
    #: The message's JSON exactly as received, so it can be parsed again later.
    raw: Mapped[str | None] = mapped_column(Text)
    ci_account: Mapped[str | None] = mapped_column(String(255))
    result: Mapped[str | None] = mapped_column(String(32))
    parse_status: Mapped[str] = mapped_column(String(32), default="unparsed")
    #: The job lines as JSON ([name, url, result, seconds, non_voting] each), as stores written
    #: before revision 0005 hold them. No longer written: the message can be parsed again, and
    #: what the judge reads of the lines is in the two columns below.
    jobs_json: Mapped[str | None] = mapped_column(Text)
    #: What the judge needs of those lines, as plain columns so that loading a year of results
    #: parses no JSON: the result links in job order, one per line (None without links) ...
    job_urls: Mapped[str | None] = mapped_column(Text)
    #: ... and whether there were jobs and none succeeded (could not even install or import).
    all_jobs_failed: Mapped[bool] = mapped_column(Boolean, default=False)


class CollectCursor(Base):
    """How far a collector got, per source and project, so it can resume."""

    __tablename__ = "collect_cursors"
    __table_args__ = (
        UniqueConstraint("source", "project", name="uq_collect_cursors_source_project"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(512))
    project: Mapped[str] = mapped_column(String(255))
    last_updated: Mapped[dt.datetime | None]
    #: Opaque resume position (a query offset, a dump line number, ...), as JSON text.
    position: Mapped[str | None] = mapped_column(Text)
    saved_at: Mapped[dt.datetime]


class Meta(Base):
    """Generic key-value facts about the store (e.g. when it was created, by which version)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ArtifactProbe(Base):
    """One fetch of a result link by the judge: link rot shows as a series over time."""

    __tablename__ = "artifact_probes"
    __table_args__ = (Index("ix_artifact_probes_url_checked", "url", "checked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    #: The result comment whose link this is (``review_messages.id``): the judge joins on it
    #: instead of matching links. None when no stored comment carries the link any more.
    message_pk: Mapped[int | None] = mapped_column(Integer)
    checked_at: Mapped[dt.datetime]
    status: Mapped[int | None] = mapped_column(Integer)
    available: Mapped[bool] = mapped_column(Boolean, default=False)
    browsable: Mapped[bool] = mapped_column(Boolean, default=False)
    standard: Mapped[bool] = mapped_column(Boolean, default=False)
    #: JSON list of what infra requires that the artifacts lacked.
    missing_json: Mapped[str | None] = mapped_column(Text)
    manifest_revision: Mapped[str | None] = mapped_column(String(64))
    manifest_driver: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)


class VerdictRecord(Base):
    """The latest verdict per CI, so notifications fire once per change of state."""

    __tablename__ = "verdicts"
    __table_args__ = (UniqueConstraint("project", "account", name="uq_verdicts_project_account"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(255))
    account: Mapped[str] = mapped_column(String(255))
    verdict: Mapped[str] = mapped_column(String(32))
    reasons_json: Mapped[str] = mapped_column(Text, default="[]")
    since: Mapped[dt.datetime]
    evaluated_at: Mapped[dt.datetime]


class CIRun(Base):
    """One run of the reference CI: every configured job for one patch set and one trigger.

    ``intake_key`` makes intake idempotent: the same (CI, change, patch set, trigger) never
    creates two runs, whether it arrives live, by catch-up or by reconciliation.
    """

    __tablename__ = "ci_runs"
    __table_args__ = (
        UniqueConstraint("intake_key", name="uq_ci_runs_intake_key"),
        Index("ix_ci_runs_ci_state_deadline", "ci_account", "state", "deadline"),
        Index("ix_ci_runs_change", "ci_account", "change_number", "patch_set"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid7
    ci_account: Mapped[str] = mapped_column(String(255))
    intake_key: Mapped[str] = mapped_column(String(512))
    project: Mapped[str] = mapped_column(String(255))
    branch: Mapped[str] = mapped_column(String(255))
    change_number: Mapped[int] = mapped_column(Integer)
    patch_set: Mapped[int] = mapped_column(Integer)
    revision: Mapped[str] = mapped_column(String(64))
    ref: Mapped[str] = mapped_column(String(255))
    #: patchset, recheck, ready or reconcile (what made the CI test it).
    trigger: Mapped[str] = mapped_column(String(32))
    triggered_at: Mapped[dt.datetime]
    deadline: Mapped[dt.datetime]
    #: queued, running, finished (not yet reported), reported, cancelled, error.
    state: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    #: SUCCESS, FAILURE, MERGE_CONFLICT, ERROR or CANCELED once finished.
    result: Mapped[str | None] = mapped_column(String(32))
    reported_at: Mapped[dt.datetime | None]
    #: posted, posted-without-vote, suppressed, emailed, operator (told, not posted).
    report_status: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")

    jobs: Mapped[list[CIJobResult]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="CIJobResult.id"
    )


class CIJobResult(Base):
    """The outcome of one job of a run, as reported (one line of the comment)."""

    __tablename__ = "ci_job_results"
    __table_args__ = (UniqueConstraint("run_id", "job", name="uq_ci_job_results_run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("ci_runs.id", ondelete="CASCADE"))
    job: Mapped[str] = mapped_column(String(255))
    voting: Mapped[bool] = mapped_column(Boolean, default=True)
    result: Mapped[str] = mapped_column(String(32))
    log_url: Mapped[str] = mapped_column(Text)
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime]
    tests_passed: Mapped[int] = mapped_column(Integer, default=0)
    tests_failed: Mapped[int] = mapped_column(Integer, default=0)
    tests_skipped: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str] = mapped_column(Text, default="")
    #: The testbed the job held (empty when it needed none) and the executor that ran it.
    testbed: Mapped[str] = mapped_column(String(255), default="")
    executor: Mapped[str] = mapped_column(String(255), default="")


class CITestbed(Base):
    """A testbed of a reference CI's pool: in service or not, and its run of failures.

    Which run holds it lives in the scheduler's memory (a restart re-queues running runs);
    what is stored survives restarts and is what ``driverci ci status`` shows.
    """

    __tablename__ = "ci_testbeds"
    __table_args__ = (UniqueConstraint("ci_account", "name", name="uq_ci_testbeds_ci_account"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ci_account: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    in_service: Mapped[bool] = mapped_column(Boolean, default=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    #: The run holding it now (for status), empty when free.
    current_run: Mapped[str] = mapped_column(String(36), default="")
    #: Why it was taken out of service (or the last failure), for the operator.
    detail: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[dt.datetime | None]

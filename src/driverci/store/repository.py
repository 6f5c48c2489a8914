"""Bulk writes and small reads, built for volume (a million review messages per minute).

Every write is one dialect ``INSERT ... ON CONFLICT`` executed for many rows at once
(executemany / insertmanyvalues), so collecting the same data twice changes nothing.
Functions take a :class:`~sqlalchemy.orm.Session` inside the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import fields
from typing import Any, TypeVar

from sqlalchemy import Boolean, Dialect, Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from driverci.errors import StoreError
from driverci.store.models import (
    Change,
    CollectCursor,
    Meta,
    PatchSet,
    PatchSetFile,
    ReviewMessage,
    UTCDateTime,
)
from driverci.store.rows import (
    ChangeRow,
    Cursor,
    FileRow,
    MessageParse,
    MessageRow,
    PatchSetRow,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class BulkTuning:
    """Rows per statement: bounded so one statement's parameters stay within driver limits."""

    batch_rows = 5_000
    # sqlite3's executemany binds row by row, so no parameter limit applies; bounded for memory.
    sqlite_batch_rows = 50_000


def _batches(items: Sequence[T], size: int | None = None) -> Iterator[Sequence[T]]:
    step = size or BulkTuning.batch_rows
    for start in range(0, len(items), step):
        yield items[start : start + step]


def _params(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Row dataclasses as statement parameters (shallow: ``dataclasses.asdict`` deep-copies)."""
    if not rows:
        return []
    names = [field.name for field in fields(rows[0])]
    return [{name: getattr(row, name) for name in names} for row in rows]


def _insert(session: Session, table: Table) -> Any:
    """The dialect's INSERT (with ``on_conflict_*``) for ``table``."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise StoreError(f"the store supports SQLite and PostgreSQL, not {dialect}")


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def upsert_changes(session: Session, rows: Sequence[ChangeRow]) -> dict[tuple[str, int], int]:
    """Insert or update changes by (project, number); return their primary keys."""
    table = _table(Change)
    keys: dict[tuple[str, int], int] = {}
    unique = list({(row.project, row.number): row for row in rows}.values())
    for batch in _batches(unique):
        stmt = _insert(session, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["project", "number"],
            set_={
                name: stmt.excluded[name]
                for name in (
                    "branch",
                    "change_id",
                    "subject",
                    "owner_username",
                    "owner_account_id",
                    "status",
                    "created",
                    "updated",
                    "submitted",
                )
            },
        ).returning(table.c.id, table.c.project, table.c.number)
        result = session.execute(stmt, _params(batch))
        keys.update({(project, number): pk for pk, project, number in result.all()})
    return keys


def upsert_patch_sets(session: Session, rows: Sequence[PatchSetRow]) -> dict[tuple[int, int], int]:
    """Insert or update patch sets by (change_pk, number); return their primary keys."""
    table = _table(PatchSet)
    keys: dict[tuple[int, int], int] = {}
    unique = list({(row.change_pk, row.number): row for row in rows}.values())
    for batch in _batches(unique):
        stmt = _insert(session, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["change_pk", "number"],
            set_={
                name: stmt.excluded[name]
                for name in (
                    "revision",
                    "created",
                    "uploader_username",
                    "uploader_account_id",
                    "kind",
                    "ref",
                )
            },
        ).returning(table.c.id, table.c.change_pk, table.c.number)
        result = session.execute(stmt, _params(batch))
        keys.update({(change_pk, number): pk for pk, change_pk, number in result.all()})
    return keys


def replace_patch_set_files(session: Session, files: Mapping[int, Sequence[FileRow]]) -> int:
    """Make each patch set's stored files exactly ``files[patch_set_pk]``; return rows written."""
    if not files:
        return 0
    table = _table(PatchSetFile)
    patch_set_pks = list(files)
    for batch in _batches(patch_set_pks, 1_000):
        session.execute(delete(table).where(table.c.patch_set_pk.in_(batch)))
    params = [
        {"patch_set_pk": patch_set_pk, **values}
        for patch_set_pk, rows in files.items()
        for values in _params(list({row.path: row for row in rows}.values()))
    ]
    for param_batch in _batches(params):
        session.execute(_insert(session, table), list(param_batch))
    return len(params)


def insert_messages(session: Session, rows: Sequence[MessageRow]) -> int:
    """Insert review messages, skipping any already stored (same change and Gerrit id).

    Returns how many were new.
    """
    table = _table(ReviewMessage)
    if session.get_bind().dialect.name == "sqlite":
        return _insert_messages_sqlite(session, table, rows)
    inserted = 0
    for batch in _batches(rows):
        stmt = _insert(session, table).on_conflict_do_nothing(
            index_elements=["change_pk", "gerrit_id"]
        )
        # RETURNING yields only the rows actually inserted: a portable count (executemany's
        # rowcount is not summed by every driver, e.g. psycopg with batched VALUES).
        result = session.execute(stmt.returning(table.c.id), [row._asdict() for row in batch])
        inserted += len(result.all())
    return inserted


def _bind_processor(table: Table, column: str, dialect: Dialect) -> Callable[[Any], Any] | None:
    """What SQLAlchemy itself applies to a value of ``column`` (the dialect's own type, so
    SQLite datetimes get its fixed text format, not sqlite3's default adapter)."""
    processor: Callable[[Any], Any] | None = (
        table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    )
    return processor


def _insert_messages_sqlite(session: Session, table: Table, rows: Sequence[MessageRow]) -> int:
    """The same INSERT through sqlite3's executemany, in the session's transaction.

    At a million messages SQLAlchemy's per-row parameter handling costs more than SQLite's
    own insert; values still get what each column type needs (:func:`_sqlite_converter`).
    """
    if not rows:
        return 0
    names = list(MessageRow._fields)
    dialect = session.get_bind().dialect
    converters = [
        (index, convert)
        for index, name in enumerate(names)
        if (convert := _sqlite_converter(table, name, dialect)) is not None
    ]
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
        "ON CONFLICT (change_pk, gerrit_id) DO NOTHING"
    )
    driver = session.connection().connection.driver_connection
    assert driver is not None
    before = driver.total_changes
    cursor = driver.cursor()
    try:
        for batch in _batches(rows, BulkTuning.sqlite_batch_rows):
            params = []
            for row in batch:
                values = list(row)
                for index, convert in converters:
                    values[index] = convert(values[index])
                params.append(values)
            cursor.executemany(sql, params)
    finally:
        cursor.close()
    inserted: int = driver.total_changes - before
    return inserted


def _utc_text(value: dt.datetime) -> str:
    """An aware datetime as SQLite's DATETIME text of its UTC time (as UTCDateTime stores it)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()}: store timezone-aware UTC values")
    if value.utcoffset():
        value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_converter(table: Table, column: str, dialect: Dialect) -> Callable[[Any], Any] | None:
    """What a value of ``column`` needs before sqlite3 takes it; None when nothing.

    SQLAlchemy's bind processor, except where a cheaper way stores the same thing (a million
    messages: its processor chain costs several microseconds a value): sqlite3 stores a bool
    as 0/1 itself, and :func:`_utc_text` formats UTCDateTime in C (checked against the
    processor, so a different storage format falls back to it).
    """
    processor = _bind_processor(table, column, dialect)
    column_type = table.c[column].type
    if processor is None or isinstance(column_type, Boolean):
        return None
    if isinstance(column_type, UTCDateTime):
        sample = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        if processor(sample) == _utc_text(sample):
            return _utc_text
    return processor


def update_message_parse(session: Session, parses: Sequence[MessageParse]) -> int:
    """Store the parser's conclusions (ci_account, result, parse_status) by message key."""
    table = _table(ReviewMessage)
    params = [
        {
            "id": item.message_pk,
            "ci_account": item.ci_account,
            "result": item.result,
            "parse_status": item.parse_status,
        }
        for item in parses
    ]
    for param_batch in _batches(params):
        session.execute(update(ReviewMessage), list(param_batch))
    log.debug("stored parse results of %d messages in %s", len(params), table.name)
    return len(params)


def get_cursor(session: Session, source: str, project: str) -> Cursor | None:
    """Where collection from ``source`` for ``project`` stopped (None: never ran)."""
    found = session.execute(
        select(CollectCursor).where(
            CollectCursor.source == source, CollectCursor.project == project
        )
    ).scalar_one_or_none()
    if found is None:
        return None
    return Cursor(
        source=found.source,
        project=found.project,
        last_updated=found.last_updated,
        position=found.position,
        saved_at=found.saved_at,
    )


def set_cursor(
    session: Session,
    source: str,
    project: str,
    last_updated: dt.datetime | None,
    position: str | None = None,
) -> None:
    """Record progress of a collector (upsert by source and project)."""
    table = _table(CollectCursor)
    values = {
        "source": source,
        "project": project,
        "last_updated": last_updated,
        "position": position,
        "saved_at": dt.datetime.now(dt.UTC),
    }
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source", "project"],
        set_={name: stmt.excluded[name] for name in ("last_updated", "position", "saved_at")},
    )
    session.execute(stmt, values)


def get_meta(session: Session, key: str) -> str | None:
    return session.execute(select(Meta.value).where(Meta.key == key)).scalar_one_or_none()


def set_meta(session: Session, key: str, value: str) -> None:
    table = _table(Meta)
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value})
    session.execute(stmt, {"key": key, "value": value})


def count_rows(session: Session) -> dict[str, int]:
    """Rows per table, for status lines and tests."""
    counts: dict[str, int] = {}
    for model in (Change, PatchSet, PatchSetFile, ReviewMessage, CollectCursor, Meta):
        table = _table(model)
        counts[table.name] = session.execute(select(func.count()).select_from(table)).scalar_one()
    return counts

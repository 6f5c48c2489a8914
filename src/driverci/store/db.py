"""Engines, migrations and the :class:`Store` handle.

SQLite (WAL) is the default; PostgreSQL is chosen by URL
(``DRIVERCI_DB=postgresql+psycopg://user:pw@host/db``). Nothing here runs at import time.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import as_file, files
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from driverci.errors import StoreError

log = logging.getLogger(__name__)

ENV_DB_URL = "DRIVERCI_DB"
DEFAULT_DB_URL = "sqlite:///./driverci.sqlite"


class SQLiteTuning:
    """Pragmas applied to every SQLite connection (tunables, Zuul style)."""

    busy_timeout_ms = 30_000
    # WAL with synchronous=NORMAL: safe against application crashes, far faster for bulk
    # ingestion than FULL; only a power loss can drop the last transactions.
    synchronous = "NORMAL"
    cache_size_kib = 65_536


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _store_error(action: str, url: str, err: BaseException) -> StoreError:
    detail = str(getattr(err, "orig", None) or err).strip().splitlines()
    first = detail[0] if detail else type(err).__name__
    return StoreError(f"cannot {action} database {mask_url(url)}: {first}")


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLiteTuning.busy_timeout_ms)}")
        cursor.execute(f"PRAGMA synchronous={SQLiteTuning.synchronous}")
        cursor.execute(f"PRAGMA cache_size=-{int(SQLiteTuning.cache_size_kib)}")
    finally:
        cursor.close()


def resolve_url(url: str | None = None) -> str:
    """The URL to use: ``url``, else ``$DRIVERCI_DB`` (read now), else the SQLite default."""
    return url or os.environ.get(ENV_DB_URL) or DEFAULT_DB_URL


def make_engine(url: str | None = None) -> Engine:
    """Create an engine (no connection yet). Bad URLs raise :class:`StoreError`."""
    resolved = resolve_url(url)
    try:
        parsed = make_url(resolved)
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed)
            event.listen(engine, "connect", _tune_sqlite)
        else:
            engine = create_engine(parsed, pool_pre_ping=True)
    except (ArgumentError, SQLAlchemyError, ImportError, ValueError) as err:
        raise _store_error("use", resolved, err) from None
    return engine


def _alembic_config(connection: Any, script_location: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (Alembic upgrade), creating it on a fresh database.

    The Alembic environment ships inside the package, so this works from an installed wheel.
    """
    from alembic import command

    url = engine.url.render_as_string(hide_password=False)
    try:
        with (
            as_file(files("driverci.store") / "migrations") as script_dir,
            engine.begin() as connection,
        ):
            command.upgrade(_alembic_config(connection, str(script_dir)), revision)
    except SQLAlchemyError as err:
        raise _store_error("migrate", url, err) from None
    log.debug("migrated %s to %s", mask_url(url), revision)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None when never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@dataclass
class Store:
    """An open database: its engine and a session factory."""

    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def url(self) -> str:
        """The database URL with the password masked."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def table_names(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str | None = None, *, run_migrations: bool = True) -> Store:
    """Open (and by default migrate) the database at ``url`` / ``$DRIVERCI_DB`` / SQLite.

    Unreachable servers, missing directories and bad URLs raise :class:`StoreError` with
    one line naming the URL (password masked).
    """
    engine = make_engine(url)
    try:
        if run_migrations:
            migrate(engine)
        else:
            with engine.connect():
                pass
    except SQLAlchemyError as err:
        engine.dispose()
        raise _store_error("open", resolve_url(url), err) from None
    except StoreError:
        engine.dispose()
        raise
    return Store(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))

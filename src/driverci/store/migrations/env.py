"""Alembic environment for driverci's store.

Run through :func:`driverci.store.db.migrate`, which hands over an open connection in
``config.attributes["connection"]``; the ``alembic`` command line works too when given
``-x url=...`` (or ``DRIVERCI_DB``).
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from driverci.store.db import make_engine
from driverci.store.models import Base, exists_on


def include_object_for(dialect: str) -> Any:
    def include_object(obj: Any, name: str | None, type_: str, *_: Any) -> bool:
        return exists_on(dialect, type_, name)

    return include_object


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables for later migrations.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object_for(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    engine = make_engine(url)
    try:
        with engine.begin() as own_connection:
            _run(own_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("driverci migrations run online only (pass a database URL)")
run_migrations_online()

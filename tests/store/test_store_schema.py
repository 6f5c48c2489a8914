"""Opening a store: migrations, connection settings, and errors a user can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from driverci.errors import StoreError
from driverci.store import Store, make_engine, migrate, open_store
from driverci.store.db import current_revision
from driverci.store.models import Base, exists_on

TABLES = [
    "alembic_version",
    "artifact_probes",
    "changes",
    "ci_job_results",
    "ci_runs",
    "ci_testbeds",
    "collect_cursors",
    "meta",
    "patch_set_files",
    "patch_sets",
    "review_messages",
    "verdicts",
]


def test_a_fresh_database_is_migrated_to_the_full_schema(store: Store) -> None:
    assert store.table_names() == TABLES
    assert current_revision(store.engine) == "0007"


def test_migrations_create_exactly_what_the_models_describe(store: Store) -> None:
    with store.engine.connect() as connection:
        dialect = connection.dialect.name
        context = MigrationContext.configure(
            connection,
            opts={"include_object": lambda _obj, name, kind, *_: exists_on(dialect, kind, name)},
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_migrating_again_changes_nothing(store: Store) -> None:
    migrate(store.engine)
    reopened = open_store(store.engine.url.render_as_string(hide_password=False))
    try:
        assert reopened.table_names() == TABLES
    finally:
        reopened.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'ci.sqlite'}")
    try:
        with store.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA busy_timeout")).scalar_one() > 0
    finally:
        store.close()


def test_the_database_url_comes_from_the_environment_at_call_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DRIVERCI_DB", raising=False)
    assert str(make_engine().url) == "sqlite:///./driverci.sqlite"
    wanted = f"sqlite:///{tmp_path / 'from-env.sqlite'}"
    monkeypatch.setenv("DRIVERCI_DB", wanted)
    assert str(make_engine().url) == wanted
    assert str(make_engine("sqlite:///explicit.sqlite").url) == "sqlite:///explicit.sqlite"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://ci:s3cret@127.0.0.1:1/driverci",
            "postgresql+psycopg://ci:***@127.0.0.1:1/driverci",
        ),
        ("nonsense-without-scheme", "nonsense-without-scheme"),
        ("nosuchdb://ci:s3cret@host/db", "nosuchdb://ci:***@host/db"),
    ],
)
def test_a_bad_url_gives_one_line_naming_it_without_the_password(url: str, shown: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "\n" not in message
    assert shown in message
    assert "s3cret" not in message


def test_a_database_in_a_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'ci.sqlite'}"
    with pytest.raises(StoreError, match=r"no/such/dir/ci\.sqlite"):
        open_store(url)

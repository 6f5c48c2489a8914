"""Store: SQLAlchemy models and Alembic migrations (SQLite by default, PostgreSQL by URL)."""

from driverci.store.db import (
    DEFAULT_DB_URL,
    ENV_DB_URL,
    Store,
    make_engine,
    mask_url,
    migrate,
    open_store,
)
from driverci.store.models import UTCDateTime
from driverci.store.repository import (
    count_rows,
    get_cursor,
    get_meta,
    insert_messages,
    replace_patch_set_files,
    set_cursor,
    set_meta,
    update_message_parse,
    upsert_changes,
    upsert_patch_sets,
)
from driverci.store.rows import ChangeRow, Cursor, FileRow, MessageParse, MessageRow, PatchSetRow

__all__ = [
    "DEFAULT_DB_URL",
    "ENV_DB_URL",
    "ChangeRow",
    "Cursor",
    "FileRow",
    "MessageParse",
    "MessageRow",
    "PatchSetRow",
    "Store",
    "UTCDateTime",
    "count_rows",
    "get_cursor",
    "get_meta",
    "insert_messages",
    "make_engine",
    "mask_url",
    "migrate",
    "open_store",
    "replace_patch_set_files",
    "set_cursor",
    "set_meta",
    "update_message_parse",
    "upsert_changes",
    "upsert_patch_sets",
]

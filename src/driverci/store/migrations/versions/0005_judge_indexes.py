"""Review-message indexes for what the judge reads, not for what nobody reads.

Dropped: the (author, date) and (CI account, date) indexes. No query selects messages by
author or CI (the judge loads a window's results in one pass and groups them in memory); each
cost a B-tree insert per message, and at a million messages they outgrew SQLite's page cache,
so a bulk load slowed down as it grew.

On SQLite, the date index goes too and a covering index of the columns the judge loads
comes. The date index took an insert at a random place per message: a bulk transaction of
30,000 messages dirtied most of its pages, all written again to the WAL at every commit.
The covering index serves the window queries instead (seeking by change, status and date),
and as SQLite keeps a message's text inside its row, scanning a year of results no longer
reads ~1 GB of message text, only ~330 MB of index. Its key starts with the change, which
grows as messages are collected, so new entries land at the end. PostgreSQL plans these
scans differently and keeps its date index.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in driverci.store.models.JUDGE_INDEX_COLUMNS at this revision (migrations never import
# models: a later change to the model must not rewrite history).
JUDGE_INDEX_COLUMNS = [
    "change_pk",
    "parse_status",
    "date",
    "ci_account",
    "result",
    "patch_set_number",
    "all_jobs_failed",
    "job_urls",
    "author_name",
]


def upgrade() -> None:
    op.drop_index("ix_review_messages_author_date", table_name="review_messages")
    op.drop_index("ix_review_messages_ci_date", table_name="review_messages")
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("ix_review_messages_judge", "review_messages", JUDGE_INDEX_COLUMNS)
        op.drop_index("ix_review_messages_date", table_name="review_messages")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("ix_review_messages_date", "review_messages", ["date"])
        op.drop_index("ix_review_messages_judge", table_name="review_messages")
    op.create_index("ix_review_messages_ci_date", "review_messages", ["ci_account", "date"])
    op.create_index(
        "ix_review_messages_author_date", "review_messages", ["author_username", "date"]
    )

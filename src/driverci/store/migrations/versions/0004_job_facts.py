"""Job facts as plain columns on review messages: result links and "every job failed".

The judge loads every CI result of a year (a million rows); reading two plain columns instead
of parsing ``jobs_json`` per row makes that several times faster. Existing rows are filled in
from their ``jobs_json``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL_BATCH = 10_000  # rows updated per statement while filling in existing messages


def upgrade() -> None:
    with op.batch_alter_table("review_messages") as batch:
        batch.add_column(sa.Column("job_urls", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("all_jobs_failed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    _backfill()


def _backfill() -> None:
    messages = sa.table(
        "review_messages",
        sa.column("id", sa.Integer()),
        sa.column("jobs_json", sa.Text()),
        sa.column("job_urls", sa.Text()),
        sa.column("all_jobs_failed", sa.Boolean()),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(messages.c.id, messages.c.jobs_json).where(messages.c.jobs_json.is_not(None))
    ).all()
    update = (
        sa.update(messages)
        .where(messages.c.id == sa.bindparam("pk"))
        .values(job_urls=sa.bindparam("urls"), all_jobs_failed=sa.bindparam("failed"))
    )
    params = []
    for pk, jobs_json in rows:
        jobs = json.loads(jobs_json)  # [[name, url, result, seconds, non_voting], ...]
        urls = "\n".join(job[1] for job in jobs if job[1])
        failed = bool(jobs) and all(job[2] != "SUCCESS" for job in jobs)
        params.append({"pk": pk, "urls": urls or None, "failed": failed})
    for start in range(0, len(params), BACKFILL_BATCH):
        connection.execute(update, params[start : start + BACKFILL_BATCH])


def downgrade() -> None:
    with op.batch_alter_table("review_messages") as batch:
        batch.drop_column("all_jobs_failed")
        batch.drop_column("job_urls")

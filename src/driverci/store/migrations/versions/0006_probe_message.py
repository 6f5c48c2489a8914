"""Artifact probes name the result comment they probed; result links leave the judge's index.

The judge used to load every result's links (a year of a Cinder-sized project: a million
strings, 220 MB of them inside the covering index, 260 MB once in memory) only to find the
result behind each probed link. A probe now records its comment (``message_pk``), so the
judge joins probes to comments and never reads links in bulk, and ``job_urls`` leaves
``ix_review_messages_judge``: the index shrinks by two thirds, so does a cold judge's reading.

Existing probes are matched to the comment that carries their link, the last one posted when
several do (as the judge matched them before).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
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
    "author_name",
]
PREVIOUS_JUDGE_INDEX_COLUMNS = [*JUDGE_INDEX_COLUMNS[:-1], "job_urls", "author_name"]
BATCH = 20_000


def upgrade() -> None:
    op.add_column("artifact_probes", sa.Column("message_pk", sa.Integer(), nullable=True))
    _match_existing_probes()
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_review_messages_judge", table_name="review_messages")
        op.create_index("ix_review_messages_judge", "review_messages", JUDGE_INDEX_COLUMNS)


def _match_existing_probes() -> None:
    bind = op.get_bind()
    probes_by_url: dict[str, list[int]] = defaultdict(list)
    for probe_id, url in bind.execute(sa.text("SELECT id, url FROM artifact_probes")):
        probes_by_url[url].append(probe_id)
    if not probes_by_url:
        return
    owner: dict[str, int] = {}
    messages = bind.execute(
        sa.text(
            "SELECT id, job_urls FROM review_messages WHERE job_urls IS NOT NULL "
            "AND parse_status IN ('result', 'unparseable') ORDER BY date, id"
        )
    )
    for message_pk, job_urls in messages:
        for url in job_urls.split("\n"):
            if url in probes_by_url:
                owner[url] = message_pk  # the last comment posted with the link wins
    updates = [
        {"probe": probe_id, "message": message_pk}
        for url, message_pk in owner.items()
        for probe_id in probes_by_url[url]
    ]
    statement = sa.text("UPDATE artifact_probes SET message_pk = :message WHERE id = :probe")
    for start in range(0, len(updates), BATCH):
        bind.execute(statement, updates[start : start + BATCH])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_review_messages_judge", table_name="review_messages")
        op.create_index("ix_review_messages_judge", "review_messages", PREVIOUS_JUDGE_INDEX_COLUMNS)
    with op.batch_alter_table("artifact_probes") as batch:
        batch.drop_column("message_pk")

"""The judge's tables: parsed job lines on messages, artifact probes, verdicts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from driverci.store.models import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("review_messages") as batch:
        batch.add_column(sa.Column("jobs_json", sa.Text(), nullable=True))
    op.create_table(
        "artifact_probes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("browsable", sa.Boolean(), nullable=False),
        sa.Column("standard", sa.Boolean(), nullable=False),
        sa.Column("missing_json", sa.Text(), nullable=True),
        sa.Column("manifest_revision", sa.String(64), nullable=True),
        sa.Column("manifest_driver", sa.String(255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_artifact_probes"),
    )
    op.create_index("ix_artifact_probes_url_checked", "artifact_probes", ["url", "checked_at"])
    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("account", sa.String(255), nullable=False),
        sa.Column("verdict", sa.String(32), nullable=False),
        sa.Column("reasons_json", sa.Text(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("evaluated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_verdicts"),
        sa.UniqueConstraint("project", "account", name="uq_verdicts_project_account"),
    )


def downgrade() -> None:
    op.drop_table("verdicts")
    op.drop_index("ix_artifact_probes_url_checked", table_name="artifact_probes")
    op.drop_table("artifact_probes")
    with op.batch_alter_table("review_messages") as batch:
        batch.drop_column("jobs_json")

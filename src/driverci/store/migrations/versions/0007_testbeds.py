"""The reference CI's testbed pool: testbeds in or out of service, and where each job ran.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from driverci.store.models import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ci_testbeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ci_account", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("in_service", sa.Boolean(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("current_run", sa.String(36), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ci_testbeds"),
        sa.UniqueConstraint("ci_account", "name", name="uq_ci_testbeds_ci_account"),
    )
    with op.batch_alter_table("ci_job_results") as batch:
        batch.add_column(sa.Column("testbed", sa.String(255), nullable=False, server_default=""))
        batch.add_column(sa.Column("executor", sa.String(255), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("ci_job_results") as batch:
        batch.drop_column("executor")
        batch.drop_column("testbed")
    op.drop_table("ci_testbeds")

"""The reference CI's persistent queue: runs and their job results.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from driverci.store.models import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ci_runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("ci_account", sa.String(255), nullable=False),
        sa.Column("intake_key", sa.String(512), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("change_number", sa.Integer(), nullable=False),
        sa.Column("patch_set", sa.Integer(), nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(255), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("triggered_at", UTCDateTime(), nullable=False),
        sa.Column("deadline", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("result", sa.String(32), nullable=True),
        sa.Column("reported_at", UTCDateTime(), nullable=True),
        sa.Column("report_status", sa.String(32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ci_runs"),
        sa.UniqueConstraint("intake_key", name="uq_ci_runs_intake_key"),
    )
    op.create_index("ix_ci_runs_ci_state_deadline", "ci_runs", ["ci_account", "state", "deadline"])
    op.create_index("ix_ci_runs_change", "ci_runs", ["ci_account", "change_number", "patch_set"])
    op.create_table(
        "ci_job_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("job", sa.String(255), nullable=False),
        sa.Column("voting", sa.Boolean(), nullable=False),
        sa.Column("result", sa.String(32), nullable=False),
        sa.Column("log_url", sa.Text(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
        sa.Column("tests_passed", sa.Integer(), nullable=False),
        sa.Column("tests_failed", sa.Integer(), nullable=False),
        sa.Column("tests_skipped", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["ci_runs.id"],
            name="fk_ci_job_results_run_id_ci_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ci_job_results"),
        sa.UniqueConstraint("run_id", "job", name="uq_ci_job_results_run_id"),
    )


def downgrade() -> None:
    op.drop_table("ci_job_results")
    op.drop_index("ix_ci_runs_change", table_name="ci_runs")
    op.drop_index("ix_ci_runs_ci_state_deadline", table_name="ci_runs")
    op.drop_table("ci_runs")

"""Initial schema: changes, patch sets, files, review messages, collect cursors, meta.

Revision ID: 0001
Revises:
Create Date: 2026-05-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from driverci.store.models import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("owner_username", sa.String(255), nullable=True),
        sa.Column("owner_account_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
        sa.Column("submitted", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_changes"),
        sa.UniqueConstraint("project", "number", name="uq_changes_project_number"),
    )
    op.create_index("ix_changes_project_branch", "changes", ["project", "branch"])
    op.create_index("ix_changes_updated", "changes", ["updated"])

    op.create_table(
        "patch_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("change_pk", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("uploader_username", sa.String(255), nullable=True),
        sa.Column("uploader_account_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(32), nullable=True),
        sa.Column("ref", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(
            ["change_pk"],
            ["changes.id"],
            name="fk_patch_sets_change_pk_changes",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_patch_sets"),
        sa.UniqueConstraint("change_pk", "number", name="uq_patch_sets_change_number"),
    )
    op.create_index("ix_patch_sets_created", "patch_sets", ["created"])
    op.create_index("ix_patch_sets_revision", "patch_sets", ["revision"])

    op.create_table(
        "patch_set_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patch_set_pk", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("status", sa.String(1), nullable=False),
        sa.Column("lines_inserted", sa.Integer(), nullable=False),
        sa.Column("lines_deleted", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patch_set_pk"],
            ["patch_sets.id"],
            name="fk_patch_set_files_patch_set_pk_patch_sets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_patch_set_files"),
        sa.UniqueConstraint("patch_set_pk", "path", name="uq_patch_set_files_patch_set_path"),
    )

    op.create_table(
        "review_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gerrit_id", sa.String(128), nullable=False),
        sa.Column("change_pk", sa.Integer(), nullable=False),
        sa.Column("patch_set_number", sa.Integer(), nullable=True),
        sa.Column("author_account_id", sa.BigInteger(), nullable=True),
        sa.Column("author_username", sa.String(255), nullable=True),
        sa.Column("author_name", sa.String(255), nullable=True),
        sa.Column("date", UTCDateTime(), nullable=False),
        sa.Column("tag", sa.String(255), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("ci_account", sa.String(255), nullable=True),
        sa.Column("result", sa.String(32), nullable=True),
        sa.Column("parse_status", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["change_pk"],
            ["changes.id"],
            name="fk_review_messages_change_pk_changes",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_review_messages"),
        sa.UniqueConstraint("change_pk", "gerrit_id", name="uq_review_messages_change_gerrit_id"),
    )
    op.create_index(
        "ix_review_messages_author_date", "review_messages", ["author_username", "date"]
    )
    op.create_index("ix_review_messages_ci_date", "review_messages", ["ci_account", "date"])
    op.create_index("ix_review_messages_date", "review_messages", ["date"])

    op.create_table(
        "collect_cursors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("last_updated", UTCDateTime(), nullable=True),
        sa.Column("position", sa.Text(), nullable=True),
        sa.Column("saved_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_collect_cursors"),
        sa.UniqueConstraint("source", "project", name="uq_collect_cursors_source_project"),
    )

    op.create_table(
        "meta",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
    )


def downgrade() -> None:
    op.drop_table("meta")
    op.drop_table("collect_cursors")
    op.drop_index("ix_review_messages_date", table_name="review_messages")
    op.drop_index("ix_review_messages_ci_date", table_name="review_messages")
    op.drop_index("ix_review_messages_author_date", table_name="review_messages")
    op.drop_table("review_messages")
    op.drop_table("patch_set_files")
    op.drop_index("ix_patch_sets_revision", table_name="patch_sets")
    op.drop_index("ix_patch_sets_created", table_name="patch_sets")
    op.drop_table("patch_sets")
    op.drop_index("ix_changes_updated", table_name="changes")
    op.drop_index("ix_changes_project_branch", table_name="changes")
    op.drop_table("changes")

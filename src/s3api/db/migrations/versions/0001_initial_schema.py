"""Initial schema: the five original tables plus the queue and dead-letter tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_dead_letters_queue_created", "dead_letters", ["queue", "created_at"], unique=False
    )

    op.create_table(
        "queue_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.BigInteger(), nullable=False),
        sa.Column("lease_id", sa.String(length=36), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id"),
    )
    op.create_index(
        "ix_queue_messages_ready", "queue_messages", ["queue", "available_at"], unique=False
    )
    op.create_index("ux_queue_messages_lease", "queue_messages", ["lease_id"], unique=True)

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("device_hash", sa.String(length=256), nullable=True),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("device_hash"),
    )
    op.create_table(
        "billing_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_billing_events_user_created", "billing_events", ["user_id", "created_at"], unique=False
    )
    op.create_index("ux_billing_events_job_kind", "billing_events", ["job_id", "kind"], unique=True)

    op.create_table(
        "jobs_log",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("preset", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total_items", sa.Integer(), nullable=False),
        sa.Column("done_items", sa.Integer(), nullable=False),
        sa.Column("failed_items", sa.Integer(), nullable=False),
        sa.Column("concepts", sa.JSON(), nullable=True),
        sa.Column("protect", sa.JSON(), nullable=True),
        sa.Column("rule_id", sa.String(length=36), nullable=True),
        sa.Column("output_template", sa.String(length=64), nullable=True),
        sa.Column("refunded", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_jobs_log_status_updated", "jobs_log", ["status", "updated_at"], unique=False
    )
    op.create_index("ix_jobs_log_user_created", "jobs_log", ["user_id", "created_at"], unique=False)
    op.create_index("ix_jobs_log_user_status", "jobs_log", ["user_id", "status"], unique=False)

    op.create_table(
        "rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("preset_id", sa.String(length=32), nullable=False),
        sa.Column("concepts", sa.JSON(), nullable=False),
        sa.Column("protect", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rules_user_created", "rules", ["user_id", "created_at"], unique=False)

    op.create_table(
        "job_items_log",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("input_key", sa.String(length=512), nullable=False),
        sa.Column("output_key", sa.String(length=512), nullable=False),
        sa.Column("preview_key", sa.String(length=512), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("idempotency_key", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs_log.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "idx"),
    )
    op.create_index(
        "ux_job_items_idempotency", "job_items_log", ["job_id", "idempotency_key"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ux_job_items_idempotency", table_name="job_items_log")

    op.drop_table("job_items_log")
    op.drop_index("ix_rules_user_created", table_name="rules")

    op.drop_table("rules")
    op.drop_index("ix_jobs_log_user_status", table_name="jobs_log")
    op.drop_index("ix_jobs_log_user_created", table_name="jobs_log")
    op.drop_index("ix_jobs_log_status_updated", table_name="jobs_log")

    op.drop_table("jobs_log")
    op.drop_index("ux_billing_events_job_kind", table_name="billing_events")
    op.drop_index("ix_billing_events_user_created", table_name="billing_events")

    op.drop_table("billing_events")
    op.drop_table("users")
    op.drop_index("ux_queue_messages_lease", table_name="queue_messages")
    op.drop_index("ix_queue_messages_ready", table_name="queue_messages")

    op.drop_table("queue_messages")
    op.drop_index("ix_dead_letters_queue_created", table_name="dead_letters")

    op.drop_table("dead_letters")

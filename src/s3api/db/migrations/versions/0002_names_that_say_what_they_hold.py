"""Tables named for what they hold; the queue tables know subjects, not jobs.

`jobs_log` / `job_items_log` hold current state, not a log: they become `jobs` / `job_items`.
The queue's `job_id` becomes `subject_id`, unique per queue rather than across all queues.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_JOB_INDEXES = {
    "user_created": ["user_id", "created_at"],
    "user_status": ["user_id", "status"],
    "status_updated": ["status", "updated_at"],
}


def _rename_job_indexes(old_table: str, new_table: str) -> None:
    """PostgreSQL renames in place; SQLite cannot rename an index, so it is rebuilt."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for suffix, columns in _JOB_INDEXES.items():
        old_name, new_name = f"ix_{old_table}_{suffix}", f"ix_{new_table}_{suffix}"
        if postgres:
            op.execute(f"ALTER INDEX {old_name} RENAME TO {new_name}")
        else:
            op.drop_index(old_name, table_name=new_table)
            op.create_index(new_name, new_table, columns, unique=False)


def _rebuild_queue_messages(old_column: str, new_column: str, per_queue: bool) -> None:
    """Recreate `queue_messages` with the subject column; its unique constraint has no name."""
    op.drop_index("ix_queue_messages_ready", table_name="queue_messages")
    op.drop_index("ux_queue_messages_lease", table_name="queue_messages")
    op.rename_table("queue_messages", "queue_messages_before")
    subject_length = 64 if per_queue else 36
    op.create_table(
        "queue_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column(new_column, sa.String(length=subject_length), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.BigInteger(), nullable=False),
        sa.Column("lease_id", sa.String(length=36), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        *([] if per_queue else [sa.UniqueConstraint(new_column)]),
    )
    columns = (
        "id, queue, {subject}, body, attempts, available_at, lease_id, last_error, created_at_ms"
    )
    # column names are this module's constants, never input
    op.execute(
        f"INSERT INTO queue_messages ({columns.format(subject=new_column)}) "  # noqa: S608
        f"SELECT {columns.format(subject=old_column)} FROM queue_messages_before"
    )
    op.drop_table("queue_messages_before")
    op.create_index("ix_queue_messages_ready", "queue_messages", ["queue", "available_at"])
    op.create_index("ux_queue_messages_lease", "queue_messages", ["lease_id"], unique=True)
    if per_queue:
        op.create_index(
            "ux_queue_messages_subject", "queue_messages", ["queue", new_column], unique=True
        )


def upgrade() -> None:
    op.rename_table("jobs_log", "jobs")
    op.rename_table("job_items_log", "job_items")
    _rename_job_indexes("jobs_log", "jobs")
    _rebuild_queue_messages("job_id", "subject_id", per_queue=True)
    with op.batch_alter_table("dead_letters") as batch:
        batch.alter_column(
            "job_id",
            new_column_name="subject_id",
            existing_type=sa.String(length=36),
            type_=sa.String(length=64),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.alter_column(
            "subject_id",
            new_column_name="job_id",
            existing_type=sa.String(length=64),
            type_=sa.String(length=36),
            existing_nullable=False,
        )
    op.drop_index("ux_queue_messages_subject", table_name="queue_messages")
    _rebuild_queue_messages("subject_id", "job_id", per_queue=False)
    _rename_job_indexes("jobs", "jobs_log")
    op.rename_table("job_items", "job_items_log")
    op.rename_table("jobs", "jobs_log")

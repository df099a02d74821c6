"""Re-runs, idempotent creates, retention, and a ledger that outlives its user.

`jobs` learns its parent job and when retention removed its objects; `idempotency_keys`
remembers the first answer to a create per (user, key); `billing_events.user_id` becomes a
plain column, so deleting an account keeps its ledger.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_LEDGER_COLUMNS = "id, user_id, job_id, kind, amount, reason, created_at"


def _rebuild_billing_events(*, user_foreign_key: bool) -> None:
    """Recreate the ledger with or without its foreign key to `users`, keeping every row.

    The key of 0001 has no name, so a rebuild is the one way that works on both databases.
    """
    op.drop_index("ix_billing_events_user_created", table_name="billing_events")
    op.drop_index("ux_billing_events_job_kind", table_name="billing_events")
    op.rename_table("billing_events", "billing_events_before")
    op.create_table(
        "billing_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *(
            [sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE")]
            if user_foreign_key
            else []
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    # the column list is this module's constant, never input
    op.execute(
        f"INSERT INTO billing_events ({_LEDGER_COLUMNS}) "  # noqa: S608
        f"SELECT {_LEDGER_COLUMNS} FROM billing_events_before"
    )
    op.drop_table("billing_events_before")
    op.create_index(
        "ix_billing_events_user_created", "billing_events", ["user_id", "created_at"], unique=False
    )
    op.create_index("ux_billing_events_job_kind", "billing_events", ["job_id", "kind"], unique=True)


def upgrade() -> None:
    op.add_column("jobs", sa.Column("parent_job_id", sa.String(length=36), nullable=True))
    op.add_column("jobs", sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_job_items_input_key", "job_items", ["input_key"], unique=False)
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "key"),
    )
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at"])
    _rebuild_billing_events(user_foreign_key=False)


def downgrade() -> None:
    # ledger rows of deleted accounts cannot point at a user again
    op.execute("DELETE FROM billing_events WHERE user_id NOT IN (SELECT id FROM users)")
    _rebuild_billing_events(user_foreign_key=True)
    op.drop_index("ix_idempotency_keys_created", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_job_items_input_key", table_name="job_items")
    # plain ALTER TABLE (SQLite 3.35+): rebuilding `jobs` would cascade into `job_items`
    op.drop_column("jobs", "expired_at")
    op.drop_column("jobs", "parent_job_id")

"""Output sets remember the variants their job renders of every photo.

Two nullable columns: sets made before them render one result per photo, as then.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("output_sets", sa.Column("variants", sa.JSON(), nullable=True))
    op.add_column("output_sets", sa.Column("variant_keys", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("output_sets", "variant_keys")
    op.drop_column("output_sets", "variants")

"""Jobs remember the format their results are encoded in.

One new column with a server default, so every job made before it reads `png`, the only
format there was.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column("output_format", sa.String(length=8), nullable=False, server_default="png"),
    )


def downgrade() -> None:
    op.drop_column("jobs", "output_format")

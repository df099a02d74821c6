"""Saved rules store the protect list they apply.

Before this revision the worker added the preset's protect defaults to every list, so a
rule saved with `protect: []` still kept grout and logos. Now a list is applied exactly,
so each stored list is rewritten to what it protected: its own names, then the defaults
its concepts did not edit. The defaults are copied here as they were, not imported, so
later catalogue changes do not alter this revision.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PROTECT_DEFAULTS_BEFORE = {
    "interior": ("Grout", "Frame_Molding", "Glass_highlight"),
    "seller": ("Label_Text", "Logo", "Gloss"),
}


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _as_applied(preset_id: str, concepts: Any, protect: Any) -> list[str]:
    edited = set(concepts) if isinstance(concepts, dict) else set()
    requested = [name for name in protect if isinstance(name, str)] if protect else []
    defaults = [name for name in _PROTECT_DEFAULTS_BEFORE.get(preset_id, ()) if name not in edited]
    return list(dict.fromkeys([*requested, *defaults]))


def upgrade() -> None:
    connection = op.get_bind()
    rules = sa.table(
        "rules",
        sa.column("id", sa.String()),
        sa.column("preset_id", sa.String()),
        sa.column("concepts", sa.JSON()),
        sa.column("protect", sa.JSON()),
    )
    rows = connection.execute(
        sa.select(rules.c.id, rules.c.preset_id, rules.c.concepts, rules.c.protect)
    ).all()
    for rule_id, preset_id, concepts, protect in rows:
        stored = _loaded(protect)
        applied = _as_applied(preset_id, _loaded(concepts), stored)
        if applied != stored:
            connection.execute(rules.update().where(rules.c.id == rule_id).values(protect=applied))


def downgrade() -> None:
    """Nothing to undo: the lists stay what they protected, which the older code also
    protects (it only adds defaults the lists now already hold)."""

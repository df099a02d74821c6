"""Saved rules: reusable concept edits, limited by the plan's rule slots."""

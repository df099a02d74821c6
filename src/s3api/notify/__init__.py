"""Cross-process wake-ups: which subject changed, never what changed."""

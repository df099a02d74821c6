"""Push dispatch tests."""

"""Queue tests."""

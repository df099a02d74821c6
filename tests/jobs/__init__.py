"""Jobs pipeline tests."""

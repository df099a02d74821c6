"""Webhook tests run with retry delays of one second each, moved by a frozen queue clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3api.settings import Settings
from tests.support.databases import make_settings


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Test settings with `WEBHOOK_RETRY_DELAYS=1,1,1` (four attempts in all)."""
    return make_settings(tmp_path / "data", database_url, webhook_retry_delays="1,1,1")

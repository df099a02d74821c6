"""Push target configuration: URL per mode, the auth header, refusing bad values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from s3api.common.errors import ConfigurationError
from s3api.dispatch.target import DispatchMode, PushTarget, parse_header
from s3api.settings import Settings


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, s3api_data_dir=tmp_path, **values)


def test_no_target_without_dispatch_url(tmp_path: Path) -> None:
    assert PushTarget.from_settings(settings(tmp_path)) is None


def test_generic_mode_posts_the_message_itself_to_the_url(tmp_path: Path) -> None:
    target = PushTarget.from_settings(
        settings(tmp_path, dispatch_url="https://gpu.example/jobs", dispatch_timeout_seconds=7)
    )
    assert target == PushTarget("https://gpu.example/jobs", DispatchMode.GENERIC, 7.0, {})
    assert target.payload({"job_id": "j"}) == {"job_id": "j"}


def test_serverless_mode_wraps_the_message_and_posts_to_run(tmp_path: Path) -> None:
    target = PushTarget.from_settings(
        settings(
            tmp_path,
            dispatch_url="https://api.runpod.ai/v2/abc/",
            dispatch_mode="Serverless",
            dispatch_auth_header="Authorization: Bearer key:with:colons",
        )
    )
    assert target is not None
    assert target.url == "https://api.runpod.ai/v2/abc/run"
    assert target.headers == {"Authorization": "Bearer key:with:colons"}
    assert target.payload({"job_id": "j"}) == {"input": {"job_id": "j"}}


@pytest.mark.parametrize("raw", ["Bearer xyz", ": value", "Name:", "Two words: value"])
def test_malformed_auth_header_is_a_configuration_error(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="DISPATCH_AUTH_HEADER"):
        parse_header(raw)


def test_unknown_mode_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="DISPATCH_MODE"):
        PushTarget.from_settings(
            settings(tmp_path, dispatch_url="https://gpu.example", dispatch_mode="lambda")
        )

"""Behind uvicorn, the client address is the socket's unless the peer is a trusted proxy.

uvicorn trusts `X-Forwarded-For` from 127.0.0.1 by default; `serve` turns that off so that
only `FORWARDED_ALLOW_IPS` decides.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.live import free_port, running_server, server_environment

pytestmark = pytest.mark.slow


def sign_in_as(base_url: str, forwarded_for: str) -> int:
    """The status of `POST /auth/anon` claiming to be forwarded for `forwarded_for`."""
    response = httpx.post(
        f"{base_url}/auth/anon", headers={"X-Forwarded-For": forwarded_for}, timeout=10
    )
    return response.status_code


@pytest.mark.parametrize(
    ("trusted", "second_status"), [(None, 429), ("127.0.0.1", 200)], ids=["untrusted", "trusted"]
)
def test_forwarded_for_counts_only_from_a_trusted_proxy(
    tmp_path: Path, trusted: str | None, second_status: int
) -> None:
    port = free_port()
    extra = {"ANON_SIGNUP_RATE": "1/hour", "RUN_BACKGROUND": "false"}
    if trusted is not None:
        extra["FORWARDED_ALLOW_IPS"] = trusted
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'address.db'}"
    environment = server_environment(tmp_path / "data", database_url, port, **extra)
    if trusted is None:
        environment.pop("FORWARDED_ALLOW_IPS", None)
    with running_server(environment, port, tmp_path) as server:
        assert sign_in_as(server.base_url, "192.0.2.1") == 200
        assert sign_in_as(server.base_url, "192.0.2.2") == second_status

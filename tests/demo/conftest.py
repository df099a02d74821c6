"""Fixtures for the demo command: a live server process, a stand-in GPU side, a CLI runner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.demo import GpuStandIn
from tests.support.live import ServerProcess, free_port, running_server, server_environment


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`s3api serve` on SQLite with no embedded worker, shared by a module's tests."""
    workdir = tmp_path_factory.mktemp("demo-server")
    port = free_port()
    database_url = f"sqlite+aiosqlite:///{workdir / 'demo.db'}"
    environment = server_environment(workdir / "data", database_url, port)
    with running_server(environment, port, workdir) as server:
        yield server


@pytest.fixture
def gpu_stand_in(live_server: ServerProcess) -> Iterator[GpuStandIn]:
    """The stand-in GPU side, running for the duration of one test."""
    stand_in = GpuStandIn(live_server.base_url)
    stand_in.start()
    try:
        yield stand_in
    finally:
        stand_in.stop()


@pytest.fixture(autouse=True)
def plain_wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich output without colour codes and wide enough that table rows are not wrapped."""
    monkeypatch.setenv("COLUMNS", "250")
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)

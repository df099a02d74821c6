"""The embedded worker survives a crash of its pull loop."""

from __future__ import annotations

import asyncio

import pytest

from s3api.context import AppContext
from s3api.delivery import embedded_worker as embedded


async def test_embedded_worker_restarts_its_pull_loop_after_a_crash(
    context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[str] = []
    stop = asyncio.Event()

    async def listening(_base_url: str) -> None:
        return None

    async def flaky_pull_worker(*_args: object, **_kwargs: object) -> None:
        runs.append("run")
        if len(runs) == 1:
            raise RuntimeError("engine failed to load")
        stop.set()

    monkeypatch.setattr(embedded, "wait_until_listening", listening)
    monkeypatch.setattr(embedded, "run_pull_worker", flaky_pull_worker)
    monkeypatch.setattr(embedded, "RESTART_DELAY_SECONDS", 0.0)

    await asyncio.wait_for(
        embedded.run_embedded_worker(context.settings, context.delivery, stop), timeout=10
    )

    assert runs == ["run", "run"]

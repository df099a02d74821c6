"""`serve --workers N`: the background duties, the embedded worker and the push dispatcher
run in exactly one process per host, elected by a file lock, and move when it exits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from s3api import app as app_module
from s3api.app import create_app
from s3api.common.host_lock import HostLock
from s3api.context import AppContext
from tests.support.databases import make_settings
from tests.support.foundation import sqlite_url

WAIT_SECONDS = 5.0


def test_only_one_holder_at_a_time(tmp_path: Path) -> None:
    first, second = HostLock(tmp_path / "duties.lock"), HostLock(tmp_path / "duties.lock")
    assert first.try_acquire()
    assert not second.try_acquire()
    assert not second.held
    first.release()
    assert second.try_acquire()
    assert second.held
    second.release()


async def test_of_two_serving_processes_one_runs_the_duties(tmp_path: Path) -> None:
    lock = tmp_path / "host-duties.lock"
    url = sqlite_url(tmp_path / "shared.db")
    apps = [
        create_app(
            make_settings(tmp_path / "data", url, run_background=True),
            migrate=True,
            host_duties_lock=lock,
        )
        for _ in range(2)
    ]
    try:
        async with apps[0].router.lifespan_context(apps[0]):
            async with apps[1].router.lifespan_context(apps[1]):
                held = [app.state.host_duties_lock.held for app in apps]
                assert held == [True, False]
            assert apps[0].state.host_duties_lock.held
        assert not apps[0].state.host_duties_lock.held
    finally:
        for app in apps:
            context: AppContext = app.state.context
            await context.close()


async def test_the_duties_move_when_their_process_exits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "HOST_DUTIES_RETRY_SECONDS", 0.01)
    holder, waiting = HostLock(tmp_path / "d.lock"), HostLock(tmp_path / "d.lock")
    assert holder.try_acquire()
    stop = asyncio.Event()

    elected = asyncio.create_task(app_module._elected(waiting, stop))
    holder.release()
    assert await asyncio.wait_for(elected, WAIT_SECONDS) is True
    assert waiting.held
    waiting.release()


async def test_a_process_stopped_before_its_turn_takes_no_duties(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "HOST_DUTIES_RETRY_SECONDS", 0.01)
    holder, waiting = HostLock(tmp_path / "d.lock"), HostLock(tmp_path / "d.lock")
    assert holder.try_acquire()
    stop = asyncio.Event()

    elected = asyncio.create_task(app_module._elected(waiting, stop))
    stop.set()
    assert await asyncio.wait_for(elected, WAIT_SECONDS) is False
    assert not waiting.held
    holder.release()

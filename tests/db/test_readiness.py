"""A database that must be ready: one-line refusals, and retries while it cannot be reached."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from s3api.app import create_app
from s3api.cli import app as cli
from s3api.common.errors import ConfigurationError
from s3api.common.host_lock import HostLock
from s3api.context import AppContext
from s3api.db.engine import Database, async_database_url
from s3api.db.readiness import (
    DatabaseUnreachableError,
    SchemaOutOfDateError,
    database_label,
    ensure_schema,
    wait_for_schema,
)
from tests.support.databases import (
    TEST_CALLBACK_SECRET,
    TEST_SECRET,
    make_settings,
    postgres_admin,
)
from tests.support.foundation import assert_error, client_for, sqlite_url

CLOSED_PORT_URL = "postgresql+asyncpg://s3api:hunter2-password@127.0.0.1:1/orders"


class _OnWarning(logging.Handler):
    """Calls `action(count)` for each WARNING of `s3api.db` (the retry loop's lines)."""

    def __init__(self, action: Callable[[int], None]) -> None:
        super().__init__(logging.WARNING)
        self.action = action
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self.action(len(self.lines))


@pytest.fixture
def on_retry_warning() -> Iterator[Callable[[Callable[[int], None]], _OnWarning]]:
    logger = logging.getLogger("s3api.db")
    installed: list[_OnWarning] = []

    def install(action: Callable[[int], None]) -> _OnWarning:
        handler = _OnWarning(action)
        logger.addHandler(handler)
        installed.append(handler)
        return handler

    yield install
    for handler in installed:
        logger.removeHandler(handler)


@pytest.fixture
async def unmigrated_postgres_url(postgres_url: str) -> AsyncIterator[str]:
    """A PostgreSQL database that exists but was never migrated."""
    name = f"s3api_unmigrated_{uuid.uuid4().hex[:10]}"
    await postgres_admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{postgres_url.rsplit('/', 1)[0]}/{name}"
    finally:
        await postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_label_names_host_and_database_and_hides_the_password() -> None:
    label = database_label(CLOSED_PORT_URL)
    assert '"orders"' in label
    assert "127.0.0.1:1" in label
    assert "hunter2" not in label
    assert "***" in label


async def test_an_unreachable_database_is_one_line_naming_it() -> None:
    database = Database(CLOSED_PORT_URL)
    try:
        with pytest.raises(DatabaseUnreachableError) as raised:
            await ensure_schema(database, migrate=False)
    finally:
        await database.dispose()
    message = str(raised.value)
    assert "\n" not in message
    assert "127.0.0.1:1" in message
    assert "orders" in message
    assert "hunter2" not in message


def test_migrate_of_an_unreachable_database_fails_with_that_one_line(tmp_path: Path) -> None:
    env = {"DATABASE_URL": CLOSED_PORT_URL, "S3API_DATA_DIR": str(tmp_path)}
    env |= {"JWT_SECRET": TEST_SECRET, "GPU_CALLBACK_SECRET": TEST_CALLBACK_SECRET}
    result = CliRunner().invoke(cli, ["migrate"], env=env)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith('cannot reach database "orders" on 127.0.0.1:1')
    assert "hunter2" not in result.output


async def test_a_never_migrated_postgres_schema_is_out_of_date(
    unmigrated_postgres_url: str,
) -> None:
    database = Database(unmigrated_postgres_url)
    try:
        with pytest.raises(SchemaOutOfDateError, match="run `s3api migrate`"):
            await ensure_schema(database, migrate=False)
    finally:
        await database.dispose()


async def test_a_migrated_postgres_schema_is_ready(postgres_url: str) -> None:
    database = Database(postgres_url)
    try:
        await ensure_schema(database, migrate=False)
    finally:
        await database.dispose()


def test_serve_on_a_never_migrated_postgres_exits_1_with_one_line(
    unmigrated_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **_: served.append(application))
    env = {"DATABASE_URL": unmigrated_postgres_url, "S3API_DATA_DIR": str(tmp_path)}
    env |= {"JWT_SECRET": TEST_SECRET, "GPU_CALLBACK_SECRET": TEST_CALLBACK_SECRET}
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "run `s3api migrate`" in lines[0]
    assert served == []


def test_serve_on_an_unreachable_database_still_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **_: served.append(application))
    env = {"DATABASE_URL": CLOSED_PORT_URL, "S3API_DATA_DIR": str(tmp_path)}
    env |= {"JWT_SECRET": TEST_SECRET, "GPU_CALLBACK_SECRET": TEST_CALLBACK_SECRET}
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code == 0, result.output
    assert len(served) == 1


async def test_waiting_retries_with_backoff_one_line_per_try(
    on_retry_warning: Callable[[Callable[[int], None]], _OnWarning],
) -> None:
    stop = asyncio.Event()
    handler = on_retry_warning(lambda count: stop.set() if count == 4 else None)
    database = Database(CLOSED_PORT_URL)
    try:
        ready = await wait_for_schema(
            database, migrate=False, stop=stop, first_retry_seconds=0.001, max_retry_seconds=0.004
        )
    finally:
        await database.dispose()
    assert ready is False
    assert len(handler.lines) == 4
    assert all("\n" not in line and "hunter2" not in line for line in handler.lines)
    delays = [line.rsplit("trying again in ", 1)[1] for line in handler.lines]
    assert delays == ["0.001s", "0.002s", "0.004s", "0.004s"]


async def test_waiting_ends_ready_once_the_database_answers(
    tmp_path: Path, on_retry_warning: Callable[[Callable[[int], None]], _OnWarning]
) -> None:
    directory = tmp_path / "mounted-later"
    on_retry_warning(lambda count: directory.mkdir() if count == 2 else None)
    database = Database(sqlite_url(directory / "s3api.db"))
    try:
        ready = await wait_for_schema(
            database, migrate=True, stop=asyncio.Event(), first_retry_seconds=0.001
        )
        await ensure_schema(database, migrate=False)
    finally:
        await database.dispose()
    assert ready is True


async def test_waiting_refuses_a_schema_found_out_of_date_once_reachable(
    postgres_url: str, on_retry_warning: Callable[[Callable[[int], None]], _OnWarning]
) -> None:
    name = f"s3api_late_{uuid.uuid4().hex[:10]}"
    created: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    # the database does not exist yet (unreachable); it appears, unmigrated, after one try
    on_retry_warning(
        lambda count: (
            created.append(loop.create_task(postgres_admin(f'CREATE DATABASE "{name}"')))
            if count == 1
            else None
        )
    )
    database = Database(f"{postgres_url.rsplit('/', 1)[0]}/{name}")
    try:
        with pytest.raises(SchemaOutOfDateError):
            await wait_for_schema(
                database, migrate=False, stop=asyncio.Event(), first_retry_seconds=0.2
            )
    finally:
        await database.dispose()
        await asyncio.gather(*created)
        await postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_the_app_starts_on_an_unreachable_database_and_answers_503(
    tmp_path: Path,
) -> None:
    application = create_app(make_settings(tmp_path / "data", CLOSED_PORT_URL))
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        assert_error(await client.get("/health"), 503, "UNAVAILABLE")
    assert application.state.refused is None


async def test_the_app_refuses_a_never_migrated_postgres_and_stops_the_server(
    unmigrated_postgres_url: str, tmp_path: Path
) -> None:
    stopped: list[bool] = []
    application = create_app(
        make_settings(tmp_path / "data", unmigrated_postgres_url, run_background=True),
        stop_server=lambda: stopped.append(True),
    )
    async with application.router.lifespan_context(application):
        pass
    assert stopped == [True]
    assert "s3api migrate" in application.state.refused


async def test_a_process_waiting_for_its_database_leaves_the_host_duties_to_others(
    tmp_path: Path,
) -> None:
    lock_path = tmp_path / "host-duties.lock"
    application = create_app(
        make_settings(tmp_path / "data", CLOSED_PORT_URL, run_background=True),
        host_duties_lock=lock_path,
    )
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    other_process = HostLock(lock_path)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        assert_error(await client.get("/health"), 503, "UNAVAILABLE")
        assert not application.state.host_duties_lock.held
        assert other_process.try_acquire()
    other_process.release()
    assert application.state.refused is None


async def test_a_process_refusing_an_out_of_date_schema_takes_no_host_duties(
    unmigrated_postgres_url: str, tmp_path: Path
) -> None:
    application = create_app(
        make_settings(tmp_path / "data", unmigrated_postgres_url, run_background=True),
        host_duties_lock=tmp_path / "host-duties.lock",
    )
    async with application.router.lifespan_context(application):
        assert not application.state.host_duties_lock.held
    assert "s3api migrate" in application.state.refused


async def test_a_background_pass_on_an_unreachable_database_logs_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stop = asyncio.Event()
    scheduled = logging.getLogger("s3api.scheduled")
    handler = _OnWarning(lambda _count: stop.set())
    scheduled.addHandler(handler)
    context = AppContext.build(make_settings(tmp_path / "data", CLOSED_PORT_URL).prepare())
    try:
        with caplog.at_level(logging.INFO):
            await context.background.run_forever(stop)
    finally:
        scheduled.removeHandler(handler)
        await context.close()
    assert len(handler.lines) == 1
    assert "\n" not in handler.lines[0]
    assert 'cannot reach database "orders"' in handler.lines[0]
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(
    "where",
    [
        "postgres@127.0.0.1:5432/s3api_no_such_database",
        "s3api_no_such_role@127.0.0.1:5432/postgres",
    ],
    ids=["database", "role"],
)
async def test_every_route_answers_503_while_postgres_refuses_the_database_or_role(
    tmp_path: Path, postgres_url: str, where: str
) -> None:
    settings = make_settings(tmp_path / "data", f"postgresql://{where}")
    async with client_for(settings) as (_application, client):
        for response in (
            await client.post("/auth/anon", json=None),
            await client.get("/health"),
        ):
            assert_error(response, 503, "UNAVAILABLE")
            assert "Traceback" not in response.text


def test_postgres_and_postgresql_urls_mean_asyncpg() -> None:
    assert async_database_url("postgres://u:p@h/db") == "postgresql+asyncpg://u:p@h/db"
    assert async_database_url("postgresql://u@h:5/db") == "postgresql+asyncpg://u@h:5/db"


@pytest.mark.parametrize(
    "url", ["mysql://u:secret@h/db", "postgresql+psycopg2://u:secret@h/d", "x"]
)
def test_an_unusable_database_url_is_one_line_without_its_password(url: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        async_database_url(url)
    assert "\n" not in str(refused.value)
    assert "secret" not in str(refused.value)

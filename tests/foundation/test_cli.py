"""The `s3api` command line: help, migrate, and the production refusal."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from s3api.app import HOST_DUTIES_LOCK_ENV
from s3api.cli import app

EXPECTED_TABLES = {
    "users",
    "rules",
    "jobs",
    "job_items",
    "billing_events",
    "queue_messages",
    "dead_letters",
}


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner in an empty working directory (no `.env`) with no configuration set."""
    monkeypatch.chdir(tmp_path)
    for name in (
        "S3API_ENV",
        "JWT_SECRET",
        "GPU_CALLBACK_SECRET",
        "PUBLIC_BASE_URL",
        "DATABASE_URL",
        "S3API_DATA_DIR",
        "PORT",
        "LIMIT_CONCURRENCY",
        "TIMEOUT_KEEP_ALIVE",
    ):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def _tables(path: Path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in rows}
    finally:
        connection.close()


def test_help_lists_serve_and_migrate(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    assert "serve" in result.output
    assert "migrate" in result.output


def test_serve_help_shows_host_and_port_defaults(runner: CliRunner) -> None:
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    assert "--host" in result.output
    assert "--port" in result.output
    assert "8787" in result.output


def test_migrate_creates_the_tables_in_the_configured_database(
    runner: CliRunner, tmp_path: Path
) -> None:
    database = tmp_path / "cli.db"
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{database}", "S3API_DATA_DIR": str(tmp_path)}
    result = runner.invoke(app, ["migrate"], env=env)
    assert result.exit_code == 0, result.output
    assert _tables(database) >= EXPECTED_TABLES


def test_migrate_twice_succeeds(runner: CliRunner, tmp_path: Path) -> None:
    database = tmp_path / "twice.db"
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{database}", "S3API_DATA_DIR": str(tmp_path)}
    assert runner.invoke(app, ["migrate"], env=env).exit_code == 0
    result = runner.invoke(app, ["migrate"], env=env)
    assert result.exit_code == 0, result.output
    assert _tables(database) >= EXPECTED_TABLES


def test_migrate_defaults_to_sqlite_in_the_data_dir(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["migrate"], env={"S3API_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 0, result.output
    assert _tables(tmp_path / "data" / "s3api.db") >= EXPECTED_TABLES


def test_production_without_secrets_exits_2_naming_what_to_set(
    runner: CliRunner, tmp_path: Path
) -> None:
    env = {"S3API_ENV": "production", "S3API_DATA_DIR": str(tmp_path)}
    result = runner.invoke(app, ["migrate"], env=env)
    assert result.exit_code == 2
    for name in ("JWT_SECRET", "GPU_CALLBACK_SECRET", "PUBLIC_BASE_URL"):
        assert name in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "s3api.db").exists()


def test_serve_in_production_without_secrets_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    env = {"S3API_ENV": "production", "S3API_DATA_DIR": str(tmp_path)}
    result = runner.invoke(app, ["serve", "--port", "1"], env=env)
    assert result.exit_code == 2
    assert "JWT_SECRET" in result.output


def test_installed_entry_point_runs(tmp_path: Path) -> None:
    executable = Path(sys.executable).parent / "s3api"
    result = subprocess.run(
        [str(executable), "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "migrate" in result.stdout


@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1"])
def test_serve_on_a_port_outside_1_to_65535_exits_2_with_one_line(
    runner: CliRunner, tmp_path: Path, port: str
) -> None:
    result = runner.invoke(app, ["serve", "--port", port], env={"S3API_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("configuration error: --port:")  # the flag that was typed
    assert port in lines[0]


def test_an_unusable_database_url_exits_2_with_one_line(runner: CliRunner, tmp_path: Path) -> None:
    env = {"S3API_DATA_DIR": str(tmp_path), "DATABASE_URL": "mysql://u:hunter2@h/db"}
    result = runner.invoke(app, ["migrate"], env=env)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "DATABASE_URL" in lines[0]
    assert "hunter2" not in lines[0]


def test_starting_logs_no_alembic_plugin_lines_at_info(tmp_path: Path) -> None:
    import logging

    from s3api.logging_setup import configure_logging

    configure_logging("INFO")
    assert not logging.getLogger("alembic.runtime.plugins").isEnabledFor(logging.INFO)


@pytest.mark.parametrize("command", ["serve", "migrate", "background"])
def test_an_unknown_s3api_env_exits_2_with_one_line(
    runner: CliRunner, tmp_path: Path, command: str
) -> None:
    env = {"S3API_ENV": "prod", "S3API_DATA_DIR": str(tmp_path)}
    result = runner.invoke(app, [command], env=env)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "S3API_ENV" in lines[0]
    assert "'prod'" in lines[0]
    assert "production" in lines[0]


def test_serve_passes_connection_limits_and_keep_alive_to_uvicorn(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda _app, **options: calls.append(options))
    env = {"S3API_DATA_DIR": str(tmp_path), "TIMEOUT_KEEP_ALIVE": "7"}
    result = runner.invoke(app, ["serve", "--port", "8799", "--limit-concurrency", "50"], env=env)
    assert result.exit_code == 0, result.output
    [options] = calls
    assert options["limit_concurrency"] == 50
    assert options["timeout_keep_alive"] == 7
    assert options["port"] == 8799


def test_serve_defaults_leave_concurrency_unlimited_and_keep_alive_at_5_seconds(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda _app, **options: calls.append(options))
    result = runner.invoke(app, ["serve"], env={"S3API_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    [options] = calls
    assert options["limit_concurrency"] is None
    assert options["timeout_keep_alive"] == 5


def test_serve_with_workers_hands_the_same_limits_to_every_process(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the command hands its settings to the worker processes through the environment
    for name in (
        "HOST",
        "PORT",
        "TIMEOUT_KEEP_ALIVE",
        "LIMIT_CONCURRENCY",
        "S3API_DATA_DIR",
        "JWT_SECRET",
        "GPU_CALLBACK_SECRET",
        "DEVICE_HASH_SECRET",
        HOST_DUTIES_LOCK_ENV,
    ):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **options: calls.append((target, options)))
    result = runner.invoke(
        app,
        ["serve", "--workers", "2", "--limit-concurrency", "50", "--timeout-keep-alive", "7"],
        env={"S3API_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    [(target, options)] = calls
    assert target == "s3api.app:create_app_from_environment"
    assert options["factory"] is True
    assert options["workers"] == 2
    assert options["limit_concurrency"] == 50
    assert options["timeout_keep_alive"] == 7
    assert options["proxy_headers"] is False
    assert os.environ["LIMIT_CONCURRENCY"] == "50"
    assert os.environ["TIMEOUT_KEEP_ALIVE"] == "7"
    assert os.environ[HOST_DUTIES_LOCK_ENV] == str(tmp_path.resolve() / "host-duties.lock")

"""Worker configuration: the secret, the engine registry, the embedded worker's address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from s3api.cli import app
from s3api.common.errors import ConfigurationError
from s3api.settings import Settings
from s3api.worker.engine import Engine
from s3api.worker.engine.registry import ENGINE_FACTORIES, build_engine, register_engine
from s3api.worker.settings import WorkerSettings


def worker_settings(tmp_path: Path, **values: Any) -> WorkerSettings:
    return WorkerSettings(_env_file=None, s3api_data_dir=tmp_path, **values)


def test_explicit_secret_wins_over_the_kept_file(tmp_path: Path) -> None:
    (tmp_path / ".gpu_callback_secret").write_text("kept\n")
    assert worker_settings(tmp_path, gpu_callback_secret="explicit").resolved_callback_secret() == (
        "explicit"
    )


def test_development_secret_is_read_from_the_servers_data_dir(tmp_path: Path) -> None:
    server = Settings(_env_file=None, s3api_data_dir=tmp_path, jwt_secret="j" * 40).prepare()
    assert worker_settings(tmp_path).resolved_callback_secret() == server.callback_secret


def test_missing_secret_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="GPU_CALLBACK_SECRET"):
        worker_settings(tmp_path).resolved_callback_secret()


def test_default_engine_is_the_real_engine(tmp_path: Path) -> None:
    assert isinstance(build_engine(worker_settings(tmp_path)), Engine)


def test_registered_engine_is_selected_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("s3api.worker.engine.registry.ENGINE_FACTORIES", dict(ENGINE_FACTORIES))
    custom = Engine()
    register_engine("custom", lambda _settings: custom)
    assert build_engine(worker_settings(tmp_path, worker_engine="custom")) is custom


def test_unknown_engine_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="WORKER_ENGINE"):
        build_engine(worker_settings(tmp_path, worker_engine="nope"))


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "http://127.0.0.1:8787"),
        ("0.0.0.0", "http://127.0.0.1:8787"),
        ("::", "http://[::1]:8787"),
        ("api.internal", "http://api.internal:8787"),
    ],
)
def test_embedded_worker_calls_the_servers_own_address(host: str, expected: str) -> None:
    settings = Settings(_env_file=None, host=host, public_base_url="https://public.example")
    assert settings.embedded_worker_api_url == expected


def test_pushing_to_a_dispatch_url_replaces_the_embedded_worker() -> None:
    assert Settings(_env_file=None).runs_embedded_worker
    assert not Settings(_env_file=None, embedded_worker=False).runs_embedded_worker
    assert not Settings(_env_file=None, dispatch_url="https://gpu.example").runs_embedded_worker


def test_worker_command_refuses_to_start_without_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GPU_CALLBACK_SECRET", raising=False)
    result = CliRunner().invoke(app, ["worker"], env={"S3API_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "GPU_CALLBACK_SECRET" in result.output


def test_embedded_worker_gets_the_servers_engine_settings(tmp_path: Path) -> None:
    from s3api.delivery.embedded_worker import embedded_worker_settings

    server = Settings(
        _env_file=None,
        s3api_data_dir=tmp_path,
        worker_engine="sam3",
        sam3_model="/models/sam3",
        worker_device="cuda:1",
        worker_gpu_batch=16,
        worker_compile=True,
        gpu_callback_secret="s" * 40,
    )
    worker = embedded_worker_settings(server)
    assert (worker.worker_engine, worker.sam3_model, worker.worker_device) == (
        "sam3",
        "/models/sam3",
        "cuda:1",
    )
    assert (worker.worker_gpu_batch, worker.worker_compile) == (16, True)

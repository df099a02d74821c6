"""Settings: production refuses weak configuration, development keeps its secrets."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from s3api.common.errors import ConfigurationError
from s3api.security.tokens import TokenIssuer
from s3api.settings import Settings
from s3api.users.plans import Plan, PlanPolicy
from s3api.worker.settings import WorkerSettings

STRONG = "s" * 32
ENV_VARS = (
    "S3API_ENV",
    "JWT_SECRET",
    "GPU_CALLBACK_SECRET",
    "DEVICE_HASH_SECRET",
    "ANON_SIGNUP_RATE",
    "USER_WRITE_RATE",
    "RATE_LIMIT_STORAGE_URL",
    "FORWARDED_ALLOW_IPS",
    "PUBLIC_BASE_URL",
    "CORS_ORIGINS",
    "DATABASE_URL",
    "S3API_DATA_DIR",
    "PORT",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No configuration leaks in from the environment running the tests."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def _production(tmp_path: Path, **values: Any) -> Settings:
    base: dict[str, Any] = {
        "s3api_env": "production",
        "s3api_data_dir": tmp_path / "data",
        "jwt_secret": STRONG,
        "gpu_callback_secret": STRONG,
        "device_hash_secret": STRONG,
        "public_base_url": "https://api.example.com",
    }
    base.update(values)
    return Settings(_env_file=None, **{k: v for k, v in base.items() if v is not None})


def _refusal(settings: Settings) -> str:
    with pytest.raises(ConfigurationError) as caught:
        settings.prepare()
    return str(caught.value)


def test_production_without_any_secret_or_base_url_names_all_three(tmp_path: Path) -> None:
    message = _refusal(
        _production(tmp_path, jwt_secret=None, gpu_callback_secret=None, public_base_url=None)
    )
    for name in ("JWT_SECRET", "GPU_CALLBACK_SECRET", "PUBLIC_BASE_URL"):
        assert name in message


@pytest.mark.parametrize("name", ["jwt_secret", "gpu_callback_secret", "device_hash_secret"])
def test_production_with_a_missing_secret_names_it(tmp_path: Path, name: str) -> None:
    message = _refusal(_production(tmp_path, **{name: None}))
    assert name.upper() in message
    assert "PUBLIC_BASE_URL" not in message


@pytest.mark.parametrize("name", ["jwt_secret", "gpu_callback_secret", "device_hash_secret"])
def test_production_with_a_short_secret_names_it(tmp_path: Path, name: str) -> None:
    message = _refusal(_production(tmp_path, **{name: "s" * 31}))
    assert name.upper() in message


def test_production_without_public_base_url_names_it(tmp_path: Path) -> None:
    message = _refusal(_production(tmp_path, public_base_url=None))
    assert "PUBLIC_BASE_URL" in message
    assert "JWT_SECRET" not in message


def test_production_never_generates_secrets(tmp_path: Path) -> None:
    _refusal(_production(tmp_path, jwt_secret=None))
    assert not (tmp_path / "data" / ".jwt_secret").exists()


def test_production_with_strong_secrets_and_base_url_prepares(tmp_path: Path) -> None:
    settings = _production(tmp_path).prepare()
    assert settings.jwt_key == STRONG
    assert settings.callback_secret == STRONG
    assert settings.device_hash_key == STRONG


def test_production_refusal_is_read_from_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3API_ENV", "production")
    monkeypatch.setenv("S3API_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JWT_SECRET", "short")
    message = _refusal(Settings(_env_file=None))
    assert "JWT_SECRET" in message


def _development(data_dir: Path) -> Settings:
    return Settings(_env_file=None, s3api_data_dir=data_dir).prepare()


def test_development_generates_strong_secrets(tmp_path: Path) -> None:
    settings = _development(tmp_path / "data")
    assert len(settings.jwt_key) >= 32
    assert len(settings.callback_secret) >= 32
    assert settings.jwt_key != settings.callback_secret


def test_development_reuses_its_secrets_from_the_data_dir(tmp_path: Path) -> None:
    first = _development(tmp_path / "data")
    second = _development(tmp_path / "data")
    assert second.jwt_key == first.jwt_key
    assert second.callback_secret == first.callback_secret


def test_token_issued_before_a_restart_verifies_after_it(tmp_path: Path) -> None:
    first = _development(tmp_path / "data")
    second = _development(tmp_path / "data")
    token = TokenIssuer(first.jwt_key, first.jwt_ttl_seconds).issue("user-1")
    assert TokenIssuer(second.jwt_key, second.jwt_ttl_seconds).verify(token) == "user-1"


def test_different_data_dirs_get_different_secrets(tmp_path: Path) -> None:
    assert _development(tmp_path / "a").jwt_key != _development(tmp_path / "b").jwt_key


def test_generated_secret_files_are_private(tmp_path: Path) -> None:
    _development(tmp_path / "data")
    for name in (".jwt_secret", ".gpu_callback_secret", ".device_hash_secret"):
        mode = stat.S_IMODE((tmp_path / "data" / name).stat().st_mode)
        assert mode & 0o077 == 0, oct(mode)


def test_explicit_development_secret_is_kept(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, s3api_data_dir=tmp_path, jwt_secret=STRONG).prepare()
    assert settings.jwt_key == STRONG


def test_settings_are_read_from_a_dot_env_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "JWT_SECRET=from-dot-env-0123456789-0123456789\nPORT=9999\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.jwt_secret == "from-dot-env-0123456789-0123456789"
    assert settings.port == 9999


def test_environment_variables_win_over_the_dot_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("PORT=9999\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PORT", "7777")
    assert Settings().port == 7777


def test_env_example_documents_every_setting() -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    assert example.is_file(), f"{example} is missing (API.md section 9)"
    text = example.read_text(encoding="utf-8")
    names = [*Settings.model_fields, *WorkerSettings.model_fields]
    undocumented = [name.upper() for name in names if name.upper() not in text]
    assert undocumented == []


def test_plan_limits_default_to_the_api_table() -> None:
    plans = PlanPolicy.from_settings(Settings(_env_file=None))
    free, pro = plans.limits(Plan.FREE), plans.limits(Plan.PRO)
    assert (free.credits_at_signup, free.max_concurrency, free.max_rule_slots) == (10, 1, 2)
    assert free.max_items_per_job == 10
    assert (pro.credits_at_signup, pro.max_concurrency, pro.max_rule_slots) == (200, 3, 20)
    assert pro.max_items_per_job == 200


def test_cors_origins_are_split_on_commas() -> None:
    settings = Settings(_env_file=None, cors_origins="https://a.example, https://b.example,")
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_cors_origins_environment_variable_is_split_on_commas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example,https://b.example")
    assert Settings(_env_file=None).cors_origins == ["https://a.example", "https://b.example"]

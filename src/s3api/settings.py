"""Service configuration: one settings object, read once from the environment and `.env`.

Plan policy lives in `s3api.users.plans`; kept development secrets in `s3api.common`.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from limits import parse_many
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from s3api.common.dev_secrets import (
    DEVICE_HASH_SECRET_FILE,
    GPU_CALLBACK_SECRET_FILE,
    JWT_SECRET_FILE,
    keep_secret,
)
from s3api.common.errors import ConfigurationError

logger = logging.getLogger("s3api.settings")

MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    """Where the service runs; production refuses weak or missing secrets."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class StorageBackend(StrEnum):
    """Which object store holds the images."""

    LOCAL = "local"
    S3 = "s3"


class LogFormat(StrEnum):
    """How log records are written: readable lines, or one JSON object per line."""

    TEXT = "text"
    JSON = "json"


class Settings(BaseSettings):
    """Every tunable of the service, with the defaults of the embedded setup."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    s3api_env: Environment = Environment.DEVELOPMENT
    s3api_data_dir: Path = Path("./data")
    database_url: str | None = None
    public_base_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=1, le=65535)
    limit_concurrency: int | None = Field(default=None, ge=1)
    timeout_keep_alive: int = Field(default=5, ge=1)

    jwt_secret: str | None = None
    gpu_callback_secret: str | None = None
    device_hash_secret: str | None = None
    jwt_ttl_seconds: int = 30 * 24 * 3600
    # how far apart replicas' clocks may be when they judge a token's iat and exp
    jwt_leeway_seconds: float = Field(default=5.0, ge=0, le=300)

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = 1024 * 1024
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.TEXT
    metrics_token: str | None = None

    storage_backend: StorageBackend = StorageBackend.LOCAL
    presign_ttl_seconds: int = 3600
    # customer share links (`POST /jobs/{id}/share`): the longest, and default, lifetime
    share_link_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    # input upload URLs: a PUT must start before this; a kept URL is refused once used up
    upload_url_ttl_seconds: int = Field(default=900, ge=1)
    # local storage: abandoned upload files idle this long are swept
    partial_upload_max_idle_seconds: int = Field(default=3600, ge=1)
    # S3: sweep objects under jobs that no longer exist (off when the bucket is shared)
    s3_orphan_sweep: bool = True
    max_upload_bytes: int = 20 * 1024 * 1024
    max_result_bytes: int = 200 * 1024 * 1024
    # `POST /jobs/{id}/analyze` and its callback; the reference worker segments analysis
    # messages, so they are on; false switches the step off (the routes answer 404)
    analysis_enabled: bool = True
    # distinct concepts one job's analysis may cover (a client asking for ever new ones stops)
    max_analysis_concepts: int = Field(default=32, ge=1, le=64)
    s3_endpoint_url: str | None = None
    s3_region: str = "auto"
    s3_bucket: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    r2_account_id: str | None = None
    r2_access_key_id: str | None = None
    r2_secret_access_key: str | None = None
    r2_bucket_name: str | None = None

    rate_limit_storage_url: str = "memory://"
    rate_limit_key_prefix: str = "s3api-rate"
    # a few devices behind one NAT each sign in once per install; 20 an hour never gets in
    # their way but caps what one address can mint at 200 free credits an hour
    anon_signup_rate: str = "20/hour"
    user_write_rate: str = "60/minute"
    share_view_rate: str = "1200/minute"
    """Public share page and image requests per client IP: a page of N photos is 1 + 2N."""

    free_credits: int = 10
    free_max_concurrency: int = 1
    free_max_rule_slots: int = 2
    free_max_items_per_job: int = 10
    pro_credits: int = 200
    pro_max_concurrency: int = 3
    pro_max_rule_slots: int = 20
    pro_max_items_per_job: int = 200
    # output templates each plan may ask for, by id; `*` allows every template
    free_templates: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["전후비교"])
    pro_templates: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    free_watermark: bool = True
    watermark_text: str = Field(default="Made with S3 API", min_length=1, max_length=60)
    # left, top, width, height as fractions of the result's width and height
    watermark_box: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [0.58, 0.9, 0.4, 0.07]
    )
    watermark_opacity: float = Field(default=0.6, gt=0, le=1)

    queue_max_retries: int = 3
    queue_visibility_timeout_seconds: int = 300
    queue_batch_concurrency: int = 4
    background_interval_seconds: float = 2.0
    stale_unstarted_job_seconds: int = 24 * 3600
    stale_running_job_seconds: int = 3600
    run_background: bool = True
    # days a finished job keeps its photos, results and previews; 0 keeps them forever
    result_retention_days: int = Field(default=30, ge=0)

    embedded_worker: bool = True
    dispatch_url: str | None = None
    dispatch_mode: str = "generic"
    dispatch_auth_header: str | None = None
    dispatch_timeout_seconds: float = 30.0
    dispatch_poll_interval_seconds: float = 1.0
    dispatch_backoff_seconds: float = 1.0
    dispatch_backoff_max_seconds: float = 300.0
    dispatch_batch_size: int = Field(default=10, ge=1, le=100)
    worker_engine: str = "default"
    sam3_model: str | None = None
    worker_device: str = "auto"
    worker_gpu_batch: int = Field(default=8, ge=1, le=64)
    worker_compile: bool = False

    max_streams_per_user: int = Field(default=5, ge=1)
    stream_ping_seconds: float = Field(default=15.0, gt=0)
    webhook_retry_delays: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5.0, 30.0, 120.0, 600.0, 1800.0]
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_poll_interval_seconds: float = Field(default=1.0, gt=0)
    webhook_concurrency: int = Field(default=20, ge=1, le=200)

    @model_validator(mode="before")
    @classmethod
    def _split_lists(cls, values: dict[str, object]) -> dict[str, object]:
        lists = ("cors_origins", "forwarded_allow_ips", "free_templates", "pro_templates")
        for name in (*lists, "watermark_box"):
            raw = values.get(name)
            if isinstance(raw, str):
                values[name] = [item.strip() for item in raw.split(",") if item.strip()]
        delays = values.get("webhook_retry_delays")
        if isinstance(delays, str):
            values["webhook_retry_delays"] = [item.strip() for item in delays.split(",") if item]
        return values

    @field_validator("watermark_box")
    @classmethod
    def _box_inside_the_image(cls, value: list[float]) -> list[float]:
        if len(value) != 4:
            raise ValueError("give left,top,width,height as four fractions, e.g. 0.58,0.9,0.4,0.07")
        left, top, width, height = value
        if (
            min(left, top) < 0
            or min(width, height) <= 0
            or left + width > 1 + 1e-9
            or top + height > 1 + 1e-9
        ):
            raise ValueError("the box must lie inside the image (fractions of 0 to 1)")
        return value

    @field_validator("watermark_text")
    @classmethod
    def _text_the_bundled_font_draws(cls, value: str) -> str:
        # the watermark is drawn with the font inside Pillow, which covers Latin text only
        if not all(" " <= char <= "\u024f" and char.isprintable() for char in value):
            raise ValueError("use printable Latin characters only")
        return value

    @field_validator("anon_signup_rate", "user_write_rate", "share_view_rate")
    @classmethod
    def _rate_in_limits_notation(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a rate such as 20/hour or 10/minute") from exc
        return value

    @field_validator("rate_limit_storage_url")
    @classmethod
    def _known_rate_limit_storage(cls, value: str) -> str:
        if not value.startswith(("memory://", "redis://", "rediss://", "redis+unix://")):
            raise ValueError("use memory:// or a redis:// URL")
        return value

    @property
    def is_production(self) -> bool:
        """Whether the strict production checks apply."""
        return self.s3api_env is Environment.PRODUCTION

    @property
    def resolved_database_url(self) -> str:
        """The configured database, or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.s3api_data_dir / 's3api.db').resolve()}"

    @property
    def resolved_public_base_url(self) -> str:
        """Base of callback and local-storage URLs, without a trailing slash."""
        base = self.public_base_url or f"http://{self.host}:{self.port}"
        return base.rstrip("/")

    @property
    def embedded_worker_api_url(self) -> str:
        """Where the embedded worker reaches this server's own API (not the public URL)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def runs_embedded_worker(self) -> bool:
        """Whether `serve` runs the reference worker: pushing to DISPATCH_URL replaces it."""
        return self.embedded_worker and not self.dispatch_url

    @property
    def jwt_key(self) -> str:
        """The JWT signing key; `prepare()` must have run."""
        if not self.jwt_secret:
            raise ConfigurationError("JWT_SECRET is not set")
        return self.jwt_secret

    @property
    def callback_secret(self) -> str:
        """The GPU side's shared secret; `prepare()` must have run."""
        if not self.gpu_callback_secret:
            raise ConfigurationError("GPU_CALLBACK_SECRET is not set")
        return self.gpu_callback_secret

    @property
    def device_hash_key(self) -> str:
        """The key of the stored device-hash HMACs; `prepare()` must have run."""
        if not self.device_hash_secret:
            raise ConfigurationError("DEVICE_HASH_SECRET is not set")
        return self.device_hash_secret

    def prepare(self) -> Settings:
        """Check production requirements, create the data dir and fill development secrets."""
        if self.is_production:
            problems = []
            for name in ("jwt_secret", "gpu_callback_secret", "device_hash_secret"):
                value = getattr(self, name)
                if not value or len(value) < MIN_SECRET_LENGTH:
                    problems.append(
                        f"set {name.upper()} to a random string of at least "
                        f"{MIN_SECRET_LENGTH} characters"
                    )
            if not self.public_base_url:
                problems.append("set PUBLIC_BASE_URL to the public https URL of this service")
            if problems:
                raise ConfigurationError(
                    "refusing to start with S3API_ENV=production: " + "; ".join(problems)
                )
        self.s3api_data_dir.mkdir(parents=True, exist_ok=True)
        if not self.jwt_secret:
            self.jwt_secret = keep_secret(self.s3api_data_dir, JWT_SECRET_FILE, "JWT_SECRET")
        if not self.gpu_callback_secret:
            self.gpu_callback_secret = keep_secret(
                self.s3api_data_dir, GPU_CALLBACK_SECRET_FILE, "GPU_CALLBACK_SECRET"
            )
        if not self.device_hash_secret:
            self.device_hash_secret = keep_secret(
                self.s3api_data_dir, DEVICE_HASH_SECRET_FILE, "DEVICE_HASH_SECRET"
            )
        return self

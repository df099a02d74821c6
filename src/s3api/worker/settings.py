"""Configuration of the reference GPU worker: the API's address and its shared secret suffice;
the engine variables (WORKER_ENGINE, SAM3_MODEL, WORKER_DEVICE, ...) choose the model."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from s3api.common.dev_secrets import GPU_CALLBACK_SECRET_FILE, read_kept_secret
from s3api.common.errors import ConfigurationError
from s3api.settings import LogFormat

DEFAULT_API_BASE_URL = "http://127.0.0.1:8787"


class WorkerSettings(BaseSettings):
    """Every tunable of `s3api worker`, read from the environment and `.env`."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    worker_api_base_url: str = DEFAULT_API_BASE_URL
    gpu_callback_secret: str | None = None
    s3api_data_dir: Path = Path("./data")
    worker_batch_concurrency: int = Field(default=4, ge=1, le=64)
    worker_engine: str = "default"
    worker_lease_seconds: int = Field(default=300, ge=1, le=3600)
    worker_poll_interval_seconds: float = Field(default=2.0, gt=0)
    worker_shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    worker_message_retry_delay_seconds: int = Field(default=30, ge=0, le=43200)
    worker_http_timeout_seconds: float = Field(default=60.0, gt=0)
    worker_http_attempts: int = Field(default=5, ge=1, le=20)
    worker_http_backoff_seconds: float = Field(default=0.5, ge=0)
    worker_http_backoff_max_seconds: float = Field(default=10.0, ge=0)
    sam3_model: str | None = None
    sam3_instance_threshold: float = Field(default=0.5, ge=0, lt=1)
    worker_device: str = "auto"
    worker_gpu_batch: int = Field(default=8, ge=1, le=64)
    worker_compile: bool = False
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.TEXT
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    max_input_megapixels: float = Field(default=80.0, gt=0, le=170)
    worker_max_work_megapixels: float = Field(default=50.0, gt=0)
    worker_pixel_budget_megapixels: float = Field(default=100.0, gt=0)
    worker_instance_min_area: float = Field(default=0.0005, ge=0, lt=1)
    """Fraction of a photo's pixels below which a connected region is no instance (the
    default engine, and any segmenter that gives masks only)."""

    @property
    def max_input_pixels(self) -> int:
        """Inputs above this many pixels fail with a reason instead of being decoded."""
        return int(self.max_input_megapixels * 1_000_000)

    @property
    def max_work_pixels(self) -> int:
        """Inputs above this many pixels are edited at an integer fraction of their size."""
        return int(self.worker_max_work_megapixels * 1_000_000)

    @property
    def pixel_budget(self) -> int:
        """Input pixels the worker's concurrent items may hold decoded at once."""
        return int(self.worker_pixel_budget_megapixels * 1_000_000)

    @property
    def api_base_url(self) -> str:
        """The API's base URL without a trailing slash."""
        return self.worker_api_base_url.rstrip("/")

    def resolved_callback_secret(self) -> str:
        """GPU_CALLBACK_SECRET, or in development the one the server keeps in its data dir."""
        if self.gpu_callback_secret:
            return self.gpu_callback_secret
        kept = read_kept_secret(self.s3api_data_dir, GPU_CALLBACK_SECRET_FILE)
        if kept is not None:
            return kept
        raise ConfigurationError(
            "set GPU_CALLBACK_SECRET (no development secret found in "
            f"{self.s3api_data_dir / GPU_CALLBACK_SECRET_FILE})"
        )

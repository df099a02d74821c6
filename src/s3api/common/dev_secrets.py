"""Development secrets kept in the data directory, shared by the server and the worker.

Without `JWT_SECRET` or `GPU_CALLBACK_SECRET`, a development server generates each once and
keeps it in its data directory; a worker on the same machine reads the callback secret
from there.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path

from s3api.common.errors import ConfigurationError

logger = logging.getLogger("s3api.settings")

JWT_SECRET_FILE = ".jwt_secret"  # noqa: S105 - a file name, not a secret
GPU_CALLBACK_SECRET_FILE = ".gpu_callback_secret"  # noqa: S105 - a file name
DEVICE_HASH_SECRET_FILE = ".device_hash_secret"  # noqa: S105 - a file name
_WRITER_WAIT_STEPS = 100
_WRITER_WAIT_SECONDS = 0.01


def keep_secret(data_dir: Path, file_name: str, variable: str) -> str:
    """The secret kept in `data_dir`, generated (once, race-free) if none is there yet."""
    path = data_dir / file_name
    value = secrets.token_urlsafe(48)
    try:
        # O_EXCL: of two processes starting on a fresh data dir, exactly one writes
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_when_written(path)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value)
    logger.warning(
        "%s was not set: generated one for development and kept it in %s", variable, path
    )
    return value


def read_kept_secret(data_dir: Path, file_name: str) -> str | None:
    """The secret a development server kept in `data_dir`, if there is one."""
    path = data_dir / file_name
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8").strip() or None


def _read_when_written(path: Path) -> str:
    """Read a kept secret, waiting briefly if its writer has not finished yet."""
    for _ in range(_WRITER_WAIT_STEPS):
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
        time.sleep(_WRITER_WAIT_SECONDS)
    raise ConfigurationError(f"{path} is empty: delete it to generate a new secret")

"""LocalStack's S3 on a free local port: an endpoint that verifies SigV4 pre-signed URLs.

moto accepts any signature, so the signature tests run against LocalStack, which needs
Python >= 3.12 and lives in its own venv (`make .venv-localstack/.installed`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON_VARIABLE = "S3API_TEST_LOCALSTACK_PYTHON"
REGION = "us-east-1"
ACCESS_KEY_ID = "s3api-signature-tests"
SECRET_ACCESS_KEY = "test"
"""LocalStack checks signatures of unregistered access keys against the secret `test`."""
READY_TIMEOUT_SECONDS = 90.0


def localstack_python() -> Path:
    """The interpreter that runs LocalStack: `S3API_TEST_LOCALSTACK_PYTHON` or the repo's venv."""
    configured = os.environ.get(PYTHON_VARIABLE)
    return Path(configured) if configured else REPO_ROOT / ".venv-localstack" / "bin" / "python"


def require_localstack_python() -> Path:
    """The interpreter; skip without one, except under `CI=true`, where that is a failure."""
    python = localstack_python()
    if python.is_file():
        return python
    message = (
        f"no LocalStack interpreter at {python} (run `make .venv-localstack/.installed` "
        f"or set {PYTHON_VARIABLE})"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}: the S3 signature tests are required in CI")
    pytest.skip(f"{message}: skipping the S3 signature tests")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_s3_is_up(endpoint: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll the health endpoint until S3 answers, within a bound; fail if LocalStack exits."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"LocalStack exited with {process.returncode}:\n{tail}")
        try:
            health = httpx.get(f"{endpoint}/_localstack/health", timeout=2.0)
            if health.json().get("services", {}).get("s3") in ("available", "running"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"LocalStack did not serve S3 within {READY_TIMEOUT_SECONDS:.0f} s")


@contextmanager
def localstack_s3_server(bucket: str) -> Iterator[str]:
    """Start LocalStack's S3 (signatures verified) on 127.0.0.1, create `bucket`, yield the
    endpoint URL, stop it after."""
    python = require_localstack_python()
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="s3api-localstack-") as volume:
        log = Path(volume) / "localstack.log"
        environment = {
            **os.environ,
            "SERVICES": "s3",
            "S3_SKIP_SIGNATURE_VALIDATION": "0",
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "LOCALSTACK_HOST": f"127.0.0.1:{port}",
            "DNS_ADDRESS": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
            "LOCALSTACK_VOLUME_DIR": str(Path(volume) / "volume"),
        }
        with log.open("wb") as output:
            process = subprocess.Popen(
                [str(python), "-m", "localstack.runtime.main"],
                env=environment,
                cwd=volume,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        endpoint = f"http://127.0.0.1:{port}"
        try:
            _wait_until_s3_is_up(endpoint, process, log)
            admin = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name=REGION,
                aws_access_key_id=ACCESS_KEY_ID,
                aws_secret_access_key=SECRET_ACCESS_KEY,
            )
            try:
                admin.create_bucket(Bucket=bucket)
            finally:
                admin.close()
            yield endpoint
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

"""The Makefile and .gitignore do what the README says a user may ask of them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _dry_run(*arguments: str) -> str:
    """The commands `make -n` would run; nothing is executed."""
    done = subprocess.run(
        ["make", "-n", "-C", str(REPOSITORY), *arguments],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_serve_takes_port_and_host() -> None:
    assert "s3api serve --host 0.0.0.0 --port 9123" in _dry_run(
        "serve", "PORT=9123", "HOST=0.0.0.0"
    )


def test_serve_defaults_to_the_client_port_on_localhost() -> None:
    assert "s3api serve --host 127.0.0.1 --port 8787" in _dry_run("serve")


def test_clean_removes_the_demo_data() -> None:
    [removal] = [line for line in _dry_run("clean").splitlines() if line.startswith("rm -rf")]
    assert {"data", "demo-data", "demo-output"} <= set(removal.split())


def test_demo_data_is_ignored_by_git() -> None:
    if shutil.which("git") is None or not (REPOSITORY / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(
        ["git", "-C", str(REPOSITORY), "check-ignore", "-q", "demo-data/s3api.db"], check=False
    )
    assert done.returncode == 0

"""A bounded Schemathesis run against the server's own OpenAPI document.

Every check runs, positive and negative data alike: requests the schema calls valid must be
accepted and requests it calls invalid must be refused, so the document has to declare every
limit the server enforces. One run signs in as a user; another presents the GPU secret to
the GPU-side routes. Schemathesis drives a real server process over HTTP.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.databases import TEST_CALLBACK_SECRET
from tests.support.live import ServerProcess, free_port, running_server, server_environment

pytestmark = pytest.mark.slow

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# the coverage phase adds its boundary cases on top: about 900 requests, 30 s, in all
EXAMPLES_PER_OPERATION = 3
GPU_ROUTES = r"^/queues/|/callback$"
# signed object URLs carry an HMAC no schema can describe; they have their own tests
SIGNED_ROUTES = r"^/objects/"
# A well-formed page cursor: the cursor is opaque, only ever copied from a previous page.
VALID_CURSOR = (
    base64.urlsafe_b64encode(f"2026-01-01T00:00:00+00:00|{uuid.UUID(int=1)}".encode())
    .decode()
    .rstrip("=")
)
CONFIG = f"""
[parameters]
"query.cursor" = "{VALID_CURSOR}"

[generation]
allow-x00 = false

# The edits of an update or an execute are checked against the preset of the stored rule or
# job, which the request does not carry: a schema-valid body can still be 400 there.
[[operations]]
include-name = "PUT /rules/{{rule_id}}"
checks.positive_data_acceptance.expected-statuses = [200, 400, 401, 403, 404, 409, 429]

[[operations]]
include-name = "POST /jobs/{{job_id}}/execute"
checks.positive_data_acceptance.expected-statuses = [202, 400, 401, 403, 404, 409, 429]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`s3api serve` on SQLite without a worker, shared by both runs."""
    workdir = tmp_path_factory.mktemp("schemathesis")
    port = free_port()
    database_url = f"sqlite+aiosqlite:///{workdir / 'schemathesis.db'}"
    environment = server_environment(workdir / "data", database_url, port, RUN_BACKGROUND="false")
    with running_server(environment, port, workdir) as running:
        yield running


def run_schemathesis(server: ServerProcess, tmp_path: Path, *arguments: str) -> None:
    """Run every check in both generation modes; fail with Schemathesis's report."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG, encoding="utf-8")
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{server.base_url}/openapi.json",
        "--checks",
        "all",
        "--mode",
        "all",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--generation-deterministic",
        "--no-color",
        "--output-truncate",
        "false",
        *arguments,
    ]
    # run in the test's own directory: schemathesis keeps a cache in its working directory
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]


def test_user_routes_pass_every_check(server: ServerProcess, tmp_path: Path) -> None:
    signed_in = httpx.post(f"{server.base_url}/auth/anon", timeout=10)
    token = signed_in.json()["data"]["token"]
    run_schemathesis(
        server,
        tmp_path,
        "--header",
        f"Authorization: Bearer {token}",
        "--exclude-path-regex",
        f"{GPU_ROUTES}|{SIGNED_ROUTES}",
    )


def test_gpu_routes_pass_every_check(server: ServerProcess, tmp_path: Path) -> None:
    run_schemathesis(
        server,
        tmp_path,
        "--header",
        f"X-Callback-Secret: {TEST_CALLBACK_SECRET}",
        "--include-path-regex",
        GPU_ROUTES,
    )

"""The lifecycle benchmark drives whole jobs to `done` as a real GPU side would."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from bench.lifecycle import BENCH_SERVER_ENV, run
from bench.server import spawned_server


@pytest.mark.slow
async def test_a_tiny_spawned_run_ends_every_job_done(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pulls, stores results and previews, reports and acks: a result reported without its
    stored objects is refused, so a job ends `done` only when all of that happened."""
    args = argparse.Namespace(clients=3, jobs=2, items=2)
    with spawned_server(tmp_path, None, BENCH_SERVER_ENV) as (base_url, secret):
        await run(base_url, secret, args)
    printed = capsys.readouterr().out
    assert "completed jobs (ended done): 6 of 6 in" in printed
    counts = {
        line.split()[0] + " " + line.split()[1]: int(line.split()[2])
        for line in printed.splitlines()
        if line.startswith(("PUT result", "PUT preview", "POST callback", "POST ack"))
    }
    assert counts == {"PUT result": 12, "PUT preview": 12, "POST callback": 12, "POST ack": 6}

"""Lifecycle benchmark: many clients drive whole jobs through a running server.

Each client repeatedly signs in a fresh user, creates a job of N items, uploads real JPEGs
to the issued URLs, confirms, executes, reports N results as the GPU side would (callbacks
with the shared secret) and reads the final status. Prints completed jobs/s, requests/s and p50/p99
latency per endpoint. The server should run with EMBEDDED_WORKER=false so that only this
script reports results, and with enough sign-up credits for every job:

    EMBEDDED_WORKER=false FREE_CREDITS=1000000 s3api serve &
    python -m bench.lifecycle --clients 8 --jobs 5 --items 5
    python -m bench.lifecycle --spawn --database-url postgresql+asyncpg://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from bench.server import spawned_server

BENCH_SERVER_ENV = {"EMBEDDED_WORKER": "false", "FREE_CREDITS": "1000000"}


def sample_jpeg() -> bytes:
    """One small real photo-like JPEG (64x48)."""
    buffer = io.BytesIO()
    Image.effect_noise((64, 48), 40).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


class Recorder:
    """Latencies per endpoint label."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)

    async def call(
        self, client: aiohttp.ClientSession, label: str, method: str, url: str, **kwargs: Any
    ) -> Any:
        """Send one request, record its latency, fail loudly on an unexpected status; the
        answer's `data`. (aiohttp: a load generator on the server's cores must cost little.)"""
        started = time.perf_counter()
        async with client.request(method, url, **kwargs) as response:
            body = await response.read()
        self.latencies[label].append(time.perf_counter() - started)
        if response.status >= 400:
            raise RuntimeError(f"{label}: {response.status} {body[:200]!r}")
        return json.loads(body)["data"] if body else None


async def run_client(
    base_url: str,
    secret: str,
    jobs: int,
    items: int,
    image: bytes,
    recorder: Recorder,
    *,
    until: float | None = None,
) -> int:
    """One client's jobs, one after the other, each by a freshly signed-in user (sign-in,
    create, uploads, confirm, execute, callbacks, status), stopping after `jobs` or when
    `time.perf_counter()` passes `until`."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as client:
        completed = 0
        for _ in range(jobs):
            if until is not None and time.perf_counter() >= until:
                break
            if await _one_job(client, base_url, secret, items, image, recorder):
                completed += 1
        return completed


async def _one_job(
    client: aiohttp.ClientSession,
    base_url: str,
    secret: str,
    items: int,
    image: bytes,
    recorder: Recorder,
) -> bool:
    """A fresh user's whole job; True when it ended `done`."""
    signed = await recorder.call(client, "POST /auth/anon", "POST", f"{base_url}/auth/anon")
    headers = {"Authorization": f"Bearer {signed['token']}"}
    user_id = signed["user_id"]
    job = await recorder.call(
        client,
        "POST /jobs",
        "POST",
        f"{base_url}/jobs",
        json={"preset": "interior", "item_count": items},
        headers=headers,
    )
    job_id = job["job_id"]
    await asyncio.gather(
        *(
            recorder.call(
                client,
                "PUT upload",
                "PUT",
                entry["url"],
                data=image,
                headers={"Content-Type": "application/octet-stream"},
            )
            for entry in job["presigned_urls"]
        )
    )
    await recorder.call(
        client,
        "POST confirm-upload",
        "POST",
        f"{base_url}/jobs/{job_id}/confirm-upload",
        headers=headers,
    )
    await recorder.call(
        client,
        "POST execute",
        "POST",
        f"{base_url}/jobs/{job_id}/execute",
        json={"concepts": {"Floor": {"action": "recolor", "value": "oak_a"}}},
        headers=headers,
    )
    await asyncio.gather(
        *(
            recorder.call(
                client,
                "POST callback",
                "POST",
                f"{base_url}/jobs/{job_id}/callback",
                json={
                    "idx": idx,
                    "status": "done",
                    "output_key": f"outputs/{user_id}/{job_id}/{idx}_result.png",
                    "preview_key": f"previews/{user_id}/{job_id}/{idx}_thumb.jpg",
                    "idempotency_key": f"{job_id}:{idx}:1",
                },
                headers={"X-Callback-Secret": secret},
            )
            for idx in range(items)
        )
    )
    final = await recorder.call(
        client, "GET /jobs/{id}", "GET", f"{base_url}/jobs/{job_id}", headers=headers
    )
    return bool(final["job"]["status"] == "done")


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of the sorted values fall."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(recorder: Recorder, completed: int, elapsed: float, args: argparse.Namespace) -> None:
    """Print the figures."""
    requests = sum(len(v) for v in recorder.latencies.values())
    print(f"clients={args.clients} jobs/client={args.jobs} items/job={args.items}")
    print(f"completed jobs: {completed} in {elapsed:.2f} s -> {completed / elapsed:.2f} jobs/s")
    print(f"requests: {requests} -> {requests / elapsed:.1f} req/s")
    print(f"{'endpoint':<22}{'count':>7}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for label, values in recorder.latencies.items():
        print(
            f"{label:<22}{len(values):>7}{percentile(values, 0.5) * 1000:>10.1f}"
            f"{percentile(values, 0.99) * 1000:>10.1f}{statistics.fmean(values) * 1000:>10.1f}"
        )


async def run(base_url: str, secret: str, args: argparse.Namespace) -> None:
    """Warm up with one job, then run every client concurrently and report."""
    image = sample_jpeg()
    await run_client(base_url, secret, 1, args.items, image, Recorder())
    recorder = Recorder()
    started = time.perf_counter()
    results = await asyncio.gather(
        *(
            run_client(base_url, secret, args.jobs, args.items, image, recorder)
            for _ in range(args.clients)
        )
    )
    report(recorder, sum(results), time.perf_counter() - started, args)


def main(argv: list[str] | None = None) -> None:
    """Parse options, optionally start a server, run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8787")
    parser.add_argument("--secret", default=os.environ.get("GPU_CALLBACK_SECRET"))
    parser.add_argument("--data-dir", default="./data", help="where a dev server keeps its secret")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=5, help="jobs per client")
    parser.add_argument("--items", type=int, default=5, help="items per job (free plan: <= 10)")
    parser.add_argument("--spawn", action="store_true", help="start a server for the run")
    parser.add_argument("--database-url", default=None, help="with --spawn: database to use")
    args = parser.parse_args(argv)
    if args.spawn:
        with (
            tempfile.TemporaryDirectory() as workdir,
            spawned_server(Path(workdir), args.database_url, BENCH_SERVER_ENV) as (
                base_url,
                secret,
            ),
        ):
            asyncio.run(run(base_url, secret, args))
        return
    secret = args.secret
    secret_file = Path(args.data_dir) / ".gpu_callback_secret"
    if not secret and secret_file.exists():
        secret = secret_file.read_text().strip()
    if not secret:
        sys.exit("set GPU_CALLBACK_SECRET or --secret (or --data-dir of a dev server)")
    asyncio.run(run(args.base_url, secret, args))


if __name__ == "__main__":
    main()

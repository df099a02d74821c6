"""Lifecycle benchmark: many clients drive whole jobs through a running server.

Each client repeatedly signs in a fresh user, creates a job of N items, uploads real JPEGs
to the issued URLs, confirms, executes, then acts as the GPU side (with the shared secret):
takes the job's queue message from one shared puller, stores a small result and preview at
each item's pre-signed URLs, reports N callbacks with the message's keys, acks the message
and reads the final status. Prints completed jobs/s, requests/s and p50/p99 latency per
endpoint. The server should run with EMBEDDED_WORKER=false so that only this
script reports results, and with enough sign-up credits for every job:

    EMBEDDED_WORKER=false FREE_CREDITS=1000000 s3api serve &
    python -m bench.lifecycle --clients 8 --jobs 5 --items 5
    python -m bench.lifecycle --spawn --database-url postgresql+asyncpg://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from PIL import Image

from bench.server import spawned_server
from s3api.common.output_formats import OutputFormat

BENCH_SERVER_ENV = {"EMBEDDED_WORKER": "false", "FREE_CREDITS": "1000000"}
MESSAGE_WAIT_SECONDS = 30.0  # how long a lifecycle waits for its job's queue message
EMPTY_QUEUE_WAIT_SECONDS = 0.02  # an empty pull waits this long (or for the next execute)
PULL_BATCH = 10
VISIBILITY_SECONDS = 60


def sample_jpeg() -> bytes:
    """One small real photo-like JPEG (64x48)."""
    buffer = io.BytesIO()
    Image.effect_noise((64, 48), 40).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


def encoded_image(image_format: str) -> bytes:
    """A tiny image in `image_format` (a Pillow format name), standing in for a result."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (180, 140, 90)).save(buffer, format=image_format)
    return buffer.getvalue()


RESULTS = {
    output_format: encoded_image("JPEG" if output_format is OutputFormat.JPEG else output_format)
    for output_format in OutputFormat
}
PREVIEW = encoded_image("JPEG")


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


class GpuSide:
    """The GPU side shared by concurrent lifecycles: one puller task leases queue messages
    and hands each to the lifecycle waiting for its job, as a pool of workers would."""

    def __init__(self, base_url: str, secret: str, recorder: Recorder) -> None:
        self.base_url = base_url
        self.headers = {"X-Callback-Secret": secret}
        self.recorder = recorder
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._executed = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._puller: asyncio.Task[None] | None = None

    async def __aenter__(self) -> GpuSide:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self._puller = asyncio.create_task(self._pull_loop())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._puller is not None:
            self._puller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._puller
        if self._session is not None:
            await self._session.close()

    def expect(self, job_id: str) -> asyncio.Future[dict[str, Any]]:
        """Register a waiter for `job_id`'s message; call before executing the job (the
        puller may hand the message over before `execute` has answered)."""
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[job_id] = waiter
        return waiter

    async def message_for(
        self, job_id: str, waiter: asyncio.Future[dict[str, Any]]
    ) -> dict[str, Any]:
        """The leased message of an executed job, from its `expect` waiter; fails after a
        bound."""
        if not waiter.done() and (self._puller is None or self._puller.done()):
            raise RuntimeError("the GPU side's puller is not running")
        self._executed.set()
        try:
            return await asyncio.wait_for(waiter, MESSAGE_WAIT_SECONDS)
        except TimeoutError:
            self._waiting.pop(job_id, None)
            raise RuntimeError(
                f"no queue message for a job within {MESSAGE_WAIT_SECONDS} s"
            ) from None

    async def _pull_loop(self) -> None:
        """Pull while someone waits; an empty queue waits for the next execute (bounded)."""
        assert self._session is not None
        try:
            while True:
                await self._executed.wait()
                self._executed.clear()
                while self._waiting:
                    pulled = await self.recorder.call(
                        self._session,
                        "POST pull",
                        "POST",
                        f"{self.base_url}/queues/gpu-jobs/pull",
                        json={
                            "batch_size": PULL_BATCH,
                            "visibility_timeout_seconds": VISIBILITY_SECONDS,
                        },
                        headers=self.headers,
                    )
                    for message in pulled["messages"]:
                        # a message of no waiting job (another client's) is left to expire
                        waiter = self._waiting.pop(message["body"].get("job_id", ""), None)
                        if waiter is not None and not waiter.done():
                            waiter.set_result(message)
                    if not pulled["messages"]:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._executed.wait(), EMPTY_QUEUE_WAIT_SECONDS)
                        self._executed.clear()
        except Exception as error:
            for waiter in self._waiting.values():
                if not waiter.done():
                    waiter.set_exception(error)
            self._waiting.clear()
            raise


async def run_client(
    base_url: str,
    gpu: GpuSide,
    jobs: int,
    items: int,
    image: bytes,
    recorder: Recorder,
    *,
    until: float | None = None,
) -> int:
    """One client's jobs, one after the other, each by a freshly signed-in user (sign-in,
    create, uploads, confirm, execute, the GPU side's work, status), stopping after `jobs`
    or when `time.perf_counter()` passes `until`."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as client:
        completed = 0
        for _ in range(jobs):
            if until is not None and time.perf_counter() >= until:
                break
            if await _one_job(client, base_url, gpu, items, image, recorder):
                completed += 1
        return completed


async def _one_job(
    client: aiohttp.ClientSession,
    base_url: str,
    gpu: GpuSide,
    items: int,
    image: bytes,
    recorder: Recorder,
) -> bool:
    """A fresh user's whole job; True when it ended `done`."""
    signed = await recorder.call(client, "POST /auth/anon", "POST", f"{base_url}/auth/anon")
    headers = {"Authorization": f"Bearer {signed['token']}"}
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
    waiter = gpu.expect(job_id)
    await recorder.call(
        client,
        "POST execute",
        "POST",
        f"{base_url}/jobs/{job_id}/execute",
        json={"concepts": {"Floor": {"action": "recolor", "value": "oak_a"}}},
        headers=headers,
    )
    message = await gpu.message_for(job_id, waiter)
    await asyncio.gather(
        *(_report_item(client, gpu, message, item, recorder) for item in message["body"]["items"])
    )
    await recorder.call(
        client,
        "POST ack",
        "POST",
        f"{base_url}/queues/gpu-jobs/ack",
        json={"acks": [{"lease_id": message["lease_id"]}]},
        headers=gpu.headers,
    )
    final = await recorder.call(
        client, "GET /jobs/{id}", "GET", f"{base_url}/jobs/{job_id}", headers=headers
    )
    return bool(final["job"]["status"] == "done")


async def _report_item(
    client: aiohttp.ClientSession,
    gpu: GpuSide,
    message: dict[str, Any],
    item: dict[str, Any],
    recorder: Recorder,
) -> None:
    """Store one item's result and preview at its pre-signed URLs, then report it `done`."""
    body = message["body"]
    output_format = OutputFormat(body.get("output_format") or OutputFormat.PNG)
    await asyncio.gather(
        recorder.call(
            client,
            "PUT result",
            "PUT",
            item["output_url"],
            data=RESULTS[output_format],
            headers={"Content-Type": output_format.content_type},
        ),
        recorder.call(
            client,
            "PUT preview",
            "PUT",
            item["preview_url"],
            data=PREVIEW,
            headers={"Content-Type": "image/jpeg"},
        ),
    )
    await recorder.call(
        client,
        "POST callback",
        "POST",
        f"{gpu.base_url}/jobs/{body['job_id']}/callback",
        json={
            "idx": item["idx"],
            "status": "done",
            "output_key": item["output_key"],
            "preview_key": item["preview_key"],
            "idempotency_key": f"{body['idempotency_prefix']}:{item['idx']}:{message['attempts']}",
        },
        headers=gpu.headers,
    )


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of the sorted values fall."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(recorder: Recorder, completed: int, elapsed: float, args: argparse.Namespace) -> None:
    """Print the figures."""
    requests = sum(len(v) for v in recorder.latencies.values())
    print(f"clients={args.clients} jobs/client={args.jobs} items/job={args.items}")
    print(
        f"completed jobs (ended done): {completed} of {args.clients * args.jobs}"
        f" in {elapsed:.2f} s -> {completed / elapsed:.2f} jobs/s"
    )
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
    async with GpuSide(base_url, secret, Recorder()) as gpu:
        await run_client(base_url, gpu, 1, args.items, image, Recorder())
    recorder = Recorder()
    started = time.perf_counter()
    async with GpuSide(base_url, secret, recorder) as gpu:
        results = await asyncio.gather(
            *(
                run_client(base_url, gpu, args.jobs, args.items, image, recorder)
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

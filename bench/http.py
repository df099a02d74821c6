"""HTTP benchmark: the API's hot paths against a bare Starlette endpoint, in one run.

Starts a bare Starlette JSON endpoint and a throwaway `s3api serve`, loads each with `wrk`
(one thread, `--connections` connections, a warm-up first) and prints, per workload,
requests/s, p50, p99, errors and the ratio to the bare endpoint. The lifecycle row drives
whole jobs (sign-in, create, uploads, confirm, execute, pull, result uploads, callbacks,
ack, status) with `--clients` concurrent users and reports jobs/s.

    python -m bench.http                                   # SQLite, one process
    python -m bench.http --backend postgresql --workers 2  # a throwaway PostgreSQL database
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from bench.lifecycle import GpuSide, Recorder, percentile, run_client, sample_jpeg
from bench.server import free_port, spawned_server, wait_until_healthy

LUA_SCRIPT = Path(__file__).with_name("wrk_report.lua")
DEFAULT_POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_SERVER_ENV = {
    "EMBEDDED_WORKER": "false",
    "RUN_BACKGROUND": "true",
    "FREE_CREDITS": "100000000",
    "FREE_MAX_CONCURRENCY": "1000000",
    "FREE_MAX_ITEMS_PER_JOB": "200",
}
LISTED_JOBS = 20
DETAILED_JOB_ITEMS = 50


@dataclass(frozen=True)
class Workload:
    """One `wrk` run: a request, repeated as fast as the connections allow."""

    name: str
    method: str
    path: str
    body: str = ""
    header: str = ""
    writes: bool = False


@dataclass(frozen=True)
class Result:
    """What one workload reached."""

    name: str
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    unit: str = "req/s"


def run_wrk(base_url: str, workload: Workload, seconds: float, connections: int) -> Result:
    """Load `base_url` with `workload` for `seconds` and parse the summary the script prints."""
    environment = {
        **os.environ,
        "BENCH_METHOD": workload.method,
        "BENCH_BODY": workload.body,
        "BENCH_HEADER": workload.header,
    }
    completed = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "5s",
            "-s",
            str(LUA_SCRIPT),
            base_url + workload.path,
        ],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(row for row in completed.stdout.splitlines() if row.startswith("BENCH_RESULT "))
    figures = json.loads(line.removeprefix("BENCH_RESULT "))
    errors = sum(figures[key] for key in ("connect", "read", "write", "status", "timeout"))
    return Result(
        name=workload.name,
        per_second=figures["requests"] / (figures["duration_us"] / 1e6),
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        errors=errors,
    )


def measure(base_url: str, workload: Workload, args: argparse.Namespace) -> Result:
    """Warm up, then measure."""
    run_wrk(base_url, workload, args.warmup, args.connections)
    return run_wrk(base_url, workload, args.duration, args.connections)


@contextmanager
def bare_server() -> Iterator[str]:
    """The bare Starlette endpoint, served by uvicorn like the API."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=Path(__file__).resolve().parent.parent,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(f"{base_url}/")
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def postgres_database(admin_dsn: str) -> Iterator[str]:
    """A throwaway PostgreSQL database, migrated; yields its SQLAlchemy URL."""
    name = f"s3api_bench_{secrets.token_hex(4)}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    host_part = admin_dsn.split("://", 1)[1].rsplit("/", 1)[0]
    url = f"postgresql+asyncpg://{host_part}/{name}"
    try:
        subprocess.run(
            [sys.executable, "-m", "s3api", "migrate"],
            env={**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"},
            check=True,
            capture_output=True,
        )
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def prepare_fixtures(base_url: str) -> tuple[str, str]:
    """A user with `LISTED_JOBS` jobs, one of them of `DETAILED_JOB_ITEMS` items."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        signed = client.post("/auth/anon").json()["data"]
        header = {"Authorization": f"Bearer {signed['token']}"}
        detailed = client.post(
            "/jobs", json={"preset": "interior", "item_count": DETAILED_JOB_ITEMS}, headers=header
        ).json()["data"]["job_id"]
        for _ in range(LISTED_JOBS - 1):
            client.post("/jobs", json={"preset": "interior", "item_count": 3}, headers=header)
    return f"Authorization: Bearer {signed['token']}", detailed


async def lifecycle_rate(
    base_url: str, secret: str, clients: int, items: int, seconds: float
) -> Result:
    """Whole jobs per second with `clients` users, each running jobs until the time is up."""
    image = sample_jpeg()
    async with GpuSide(base_url, secret, Recorder()) as gpu:
        await run_client(base_url, gpu, 1, items, image, Recorder())
    recorder = Recorder()
    started = time.perf_counter()
    until = started + seconds
    async with GpuSide(base_url, secret, recorder) as gpu:
        completed = await asyncio.gather(
            *(
                run_client(base_url, gpu, 10**9, items, image, recorder, until=until)
                for _ in range(clients)
            )
        )
    elapsed = time.perf_counter() - started
    latencies = [value for values in recorder.latencies.values() for value in values]
    return Result(
        name=f"lifecycle ({items} items, {clients} clients)",
        per_second=sum(completed) / elapsed,
        p50_ms=percentile(latencies, 0.5) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        errors=0,
        unit="jobs/s",
    )


def print_table(title: str, bare: Result, results: list[Result]) -> None:
    """The table, ratios against the bare endpoint."""
    print(f"\n{title}")
    print("| workload | rate | p50 ms | p99 ms | errors | vs bare |")
    print("|---|---|---|---|---|---|")
    for result in [bare, *results]:
        ratio = (
            f"{result.per_second / bare.per_second * 100:.1f} %" if result.unit == "req/s" else "–"
        )
        print(
            f"| {result.name} | {result.per_second:,.1f} {result.unit} | {result.p50_ms:.1f} "
            f"| {result.p99_ms:.1f} | {result.errors} | {ratio} |"
        )


def run_benchmark(args: argparse.Namespace, database_url: str | None) -> None:
    """Bare first, then every workload against one server."""
    with bare_server() as bare_url:
        bare = measure(bare_url, Workload("bare Starlette", "GET", "/"), args)
    environment = {**BENCH_SERVER_ENV, "LOG_LEVEL": "WARNING"}
    with (
        tempfile.TemporaryDirectory() as workdir,
        spawned_server(Path(workdir), database_url, environment, workers=args.workers) as (
            base_url,
            secret,
        ),
    ):
        auth_header, detailed_job = prepare_fixtures(base_url)
        workloads = [
            Workload("GET /health", "GET", "/health"),
            Workload("GET /presets", "GET", "/presets", header=auth_header),
            Workload("GET /me", "GET", "/me", header=auth_header),
            Workload("POST /auth/anon", "POST", "/auth/anon", writes=True),
            Workload(
                f"GET /jobs/{{id}} ({DETAILED_JOB_ITEMS} items)",
                "GET",
                f"/jobs/{detailed_job}",
                header=auth_header,
            ),
            Workload(f"GET /jobs ({LISTED_JOBS} jobs)", "GET", "/jobs", header=auth_header),
        ]
        chosen = [w for w in workloads if not args.only or any(o in w.name for o in args.only)]
        results = [measure(base_url, workload, args) for workload in chosen]
        if not args.only or "lifecycle" in args.only:
            results.append(
                asyncio.run(
                    lifecycle_rate(base_url, secret, args.clients, args.items, args.duration)
                )
            )
    backend = "SQLite" if database_url is None else "PostgreSQL"
    print_table(
        f"{backend}, {args.workers} worker(s), wrk -t1 -c{args.connections}, "
        f"{args.duration:g} s after {args.warmup:g} s warm-up",
        bare,
        results,
    )


def main(argv: list[str] | None = None) -> None:
    """Parse options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-admin-dsn", default=DEFAULT_POSTGRES_ADMIN_DSN)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per workload")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--clients", type=int, default=8, help="lifecycle clients")
    parser.add_argument("--items", type=int, default=3, help="lifecycle items per job")
    parser.add_argument("--only", nargs="*", help="workloads whose name contains one of these")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is required (apt-get install wrk)")
    if args.backend == "sqlite":
        run_benchmark(args, None)
        return
    with postgres_database(args.postgres_admin_dsn) as url:
        run_benchmark(args, url)


if __name__ == "__main__":
    main()

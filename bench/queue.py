"""Lease throughput: how fast consumers take messages off the `gpu-jobs` queue.

Fills the queue with N messages of queued jobs straight through the database, then has
`--consumers` concurrent consumers lease them in batches of `--batch` (each lease one
transaction, as `POST /queues/gpu-jobs/pull` does) until the queue is empty. Prints
messages/s and the p50/p99 of one lease. In-process, no HTTP: it measures the queue and
the database, not the web stack.

    python -m bench.queue --messages 2000 --batch 10
    python -m bench.queue --database-url postgresql+asyncpg://postgres@127.0.0.1/bench --consumers 4
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from s3api.context import AppContext
from s3api.db.migrate import upgrade_to_head
from s3api.db.models import Job
from s3api.ids import new_id
from s3api.jobs.states import JobStatus
from s3api.settings import Settings
from s3api.timeutil import utcnow

FILL_CHUNK = 200


async def fill(context: AppContext, user_id: str, messages: int) -> None:
    """`messages` queued jobs, each with its message, in chunks of one transaction."""
    for start in range(0, messages, FILL_CHUNK):
        async with context.database.transaction() as connection:
            now = utcnow()
            for _ in range(min(FILL_CHUNK, messages - start)):
                job_id = new_id()
                await connection.execute(
                    insert(Job).values(
                        id=job_id,
                        user_id=user_id,
                        preset="interior",
                        status=JobStatus.QUEUED.value,
                        total_items=1,
                        done_items=0,
                        failed_items=0,
                        refunded=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await context.queue.enqueue(connection, job_id, {"job_id": job_id, "items": []})


async def consume(context: AppContext, batch: int, latencies: list[float]) -> int:
    """Lease until the queue is empty; returns how many messages this consumer took."""
    taken = 0
    while True:
        started = time.perf_counter()
        leased = await context.delivery.lease_messages(batch, 300)
        latencies.append(time.perf_counter() - started)
        if not leased:
            return taken
        taken += len(leased)


async def run(database_url: str, messages: int, batch: int, consumers: int) -> None:
    """Fill, then drain with concurrent consumers, and print the figures."""
    with tempfile.TemporaryDirectory() as workdir:
        settings = Settings(
            _env_file=None,
            s3api_data_dir=Path(workdir),
            database_url=database_url or None,
            run_background=False,
            embedded_worker=False,
            jwt_secret=secrets.token_urlsafe(48),
            gpu_callback_secret=secrets.token_urlsafe(48),
        ).prepare()
        context = AppContext.build(settings)
        try:
            await upgrade_to_head(context.database)
            user_id = (await context.auth.sign_in_anonymous(None)).user_id
            await fill(context, user_id, messages)
            latencies: list[float] = []
            started = time.perf_counter()
            taken = await asyncio.gather(
                *(consume(context, batch, latencies) for _ in range(consumers))
            )
            elapsed = time.perf_counter() - started
        finally:
            await context.close()
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    print(
        f"{backend}: {sum(taken)} messages leased by {consumers} consumer(s) in batches of "
        f"{batch}: {sum(taken) / elapsed:.0f} messages/s; one lease p50 "
        f"{statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    )


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--consumers", type=int, default=1)
    arguments = parser.parse_args()
    asyncio.run(
        run(arguments.database_url, arguments.messages, arguments.batch, arguments.consumers)
    )


if __name__ == "__main__":
    main()

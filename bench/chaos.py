"""Chaos run: concurrent job lifecycles, a misbehaving GPU side and server crashes, then the
money and queue invariants checked in SQL.

Starts `s3api serve` (no embedded worker; SQLite by default, PostgreSQL with
`--database-url`), drives `--lifecycles` jobs with at most `--concurrency` at once, and acts
as the GPU side itself: duplicate and conflicting callbacks, late callbacks after a job ended,
leases left to expire, hand-backs, and cancels racing the results; some jobs are analysed
before execute (label maps, instances file and overlay stored, analysis callbacks duplicated
and replayed); most ask for a set: drafts and options (charged per render, their variants
stored), before/after; sets are assembled with duplicates, failures and files missing.
Meanwhile it SIGKILLs the server `--kills` times and starts it again. Then it drains the
queue, stops the server and checks every invariant; it prints the counts and exits 1 on any
violation:

    python -m bench.chaos --lifecycles 60 --concurrency 8 --kills 3
    python -m bench.chaos --database-url postgresql+asyncpg://postgres@127.0.0.1/chaos
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.chaos_analysis import (
    analysed_not_done,
    analyze_and_wait,
    report_analysis_item,
    running_analyses_without_message,
)
from bench.chaos_sets import (
    pick_job,
    render_violations,
    renders_by_job,
    report_output_set,
    store_variants,
)
from bench.lifecycle import sample_jpeg
from bench.server import BenchServer
from s3api.db.engine import Database
from s3api.db.migrate import upgrade_to_head
from s3api.db.models import BillingEvent, Job, OutputSet, QueueMessage, User

VISIBILITY_SECONDS = 3
TERMINAL = ("done", "failed", "canceled")
ACTIVE_WITH_MESSAGE = ("queued", "running")
CONCEPTS = {"Floor": {"action": "recolor", "value": "oak_a"}}
RESULT_BYTES = b"\x89PNG\r\n\x1a\n chaos result"


class UnavailableError(Exception):
    """The server did not answer (killed, restarting): the caller may try again."""


class Chaos:
    """Shared state of one run: the server, the counters and the random source."""

    def __init__(self, server: BenchServer, seed: int) -> None:
        self.server = server
        self.random = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.server_errors: list[str] = []
        self.restarting = asyncio.Event()
        self.restarting.set()  # set = the server is up

    async def call(
        self, client: httpx.AsyncClient, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        """One request; transport errors (a killed server) wait for the restart and retry."""
        for _ in range(50):
            await self.restarting.wait()
            try:
                response = await client.request(method, f"{self.server.base_url}{path}", **kwargs)
            except httpx.TransportError:
                self.counts["transport errors"] += 1
                await asyncio.sleep(0.2)
                continue
            if response.status_code >= 500:
                self.counts[f"status {response.status_code}"] += 1
                if response.status_code != 503:
                    self.server_errors.append(f"{method} {path}: {response.status_code}")
                    return response
                await asyncio.sleep(0.2)
                continue
            return response
        raise UnavailableError(f"{method} {path}")

    async def store_results(self, client: httpx.AsyncClient, item: dict[str, Any]) -> None:
        """PUT a result and a preview to the item's pre-signed URLs, as a worker does before
        it reports the item done; a killed server is waited for as in `call`."""
        for url in (item["output_url"], item["preview_url"]):
            for _ in range(50):
                await self.restarting.wait()
                try:
                    stored = await client.put(
                        url, content=RESULT_BYTES, headers={"Content-Type": "image/png"}
                    )
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
                    continue
                if stored.status_code != 503:
                    break
                await asyncio.sleep(0.2)
        await store_variants(self, client, item)

    def gpu(self, secret: str) -> dict[str, str]:
        """Headers of the GPU side."""
        return {"X-Callback-Secret": secret}


async def lifecycle(chaos: Chaos, client: httpx.AsyncClient, items: int, image: bytes) -> str:
    """Sign in, create, upload, confirm, execute, maybe cancel, wait for the end."""
    signed = await chaos.call(client, "POST", "/auth/anon")
    headers = {"Authorization": f"Bearer {signed.json()['data']['token']}"}
    preset, execute_body = pick_job(chaos, CONCEPTS)
    created = await chaos.call(
        client, "POST", "/jobs", json={"preset": preset, "item_count": items}, headers=headers
    )
    if created.status_code != 201:
        return f"create {created.status_code}"
    job = created.json()["data"]
    job_path = f"/jobs/{job['job_id']}"
    roll = chaos.random.random()
    if roll < 0.05:
        return "abandoned"  # stays created: credits reserved until the sweeper
    for entry in job["presigned_urls"]:
        path = entry["url"].removeprefix(chaos.server.base_url)
        await chaos.call(client, "PUT", path, content=image)
    await chaos.call(client, "POST", f"{job_path}/confirm-upload", headers=headers)
    if roll < 0.10:
        await chaos.call(client, "POST", f"{job_path}/cancel", headers=headers)
        return "canceled before execute"
    if roll < 0.45 and preset == "interior":  # analysed first: execute reuses the maps
        chaos.counts["analyses"] += 1
        if not await analyze_and_wait(chaos, client, job_path, headers, CONCEPTS):
            return "analysis unfinished"
        if roll < 0.15:
            await chaos.call(client, "POST", f"{job_path}/cancel", headers=headers)
            return "canceled after analysis"
    executed = await chaos.call(
        client, "POST", f"{job_path}/execute", json=execute_body, headers=headers
    )
    chaos.counts[f"execute {execute_body.get('output_template')} {executed.status_code}"] += 1
    if roll < 0.25:  # a cancel racing the GPU side's results
        await asyncio.sleep(chaos.random.random() * 0.5)
        await chaos.call(client, "POST", f"{job_path}/cancel", headers=headers)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        answer = await chaos.call(client, "GET", job_path, headers=headers)
        status = str(answer.json()["data"]["job"]["status"])
        if status in TERMINAL:
            return status
        await asyncio.sleep(0.2)
    return "unfinished"


async def report_item(
    chaos: Chaos,
    client: httpx.AsyncClient,
    secret: str,
    message: dict[str, Any],
    item: dict[str, Any],
) -> bool:
    """One item's callback, sometimes duplicated or contradicted; True once it was taken."""
    body = message["body"]
    if body.get("kind") == "analysis":
        return await report_analysis_item(chaos, client, secret, message, item)
    done = chaos.random.random() < 0.8
    key = f"{body['job_id']}:{item['idx']}:{message['attempts']}"
    report: dict[str, Any] = {"idx": item["idx"], "idempotency_key": key}
    if done:
        await chaos.store_results(client, item)
        report |= {
            "status": "done",
            "output_key": item["output_key"],
            "preview_key": item["preview_key"],
        }
    else:
        report |= {"status": "failed", "error": "chaos: bad photo"}
    path = f"/jobs/{body['job_id']}/callback"
    sends = [report]
    if chaos.random.random() < 0.2:
        sends.append(report)  # a duplicate, concurrently
        chaos.counts["duplicate callbacks"] += 1
    if chaos.random.random() < 0.1:  # a conflicting result for the same item
        other = {
            "idx": item["idx"],
            "idempotency_key": f"{key}:other",
            "status": "failed",
            "error": "x",
        }
        sends.append(other)
        chaos.counts["conflicting callbacks"] += 1
    answers = await asyncio.gather(
        *(chaos.call(client, "POST", path, json=send, headers=chaos.gpu(secret)) for send in sends)
    )
    for answer in answers:
        chaos.counts[f"callback {answer.status_code}"] += 1
    return answers[0].status_code == 200


async def gpu_worker(
    chaos: Chaos, client: httpx.AsyncClient, secret: str, stop: asyncio.Event
) -> None:
    """Pull, report every item (with mischief), then ack, hand back or let the lease expire."""
    while not stop.is_set():
        try:
            pulled = await chaos.call(
                client,
                "POST",
                "/queues/gpu-jobs/pull",
                json={"batch_size": 2, "visibility_timeout_seconds": VISIBILITY_SECONDS},
                headers=chaos.gpu(secret),
            )
        except UnavailableError:
            continue
        messages = pulled.json()["data"]["messages"] if pulled.status_code == 200 else []
        if not messages:
            await asyncio.sleep(0.1)
            continue
        for message in messages:
            chaos.counts["deliveries"] += 1
            is_set = message["body"].get("kind") == "output_set"
            try:
                if is_set:
                    taken = [await report_output_set(chaos, client, secret, message)]
                else:
                    taken = await asyncio.gather(
                        *(
                            report_item(chaos, client, secret, message, item)
                            for item in message["body"]["items"]
                        )
                    )
                fate = chaos.random.random()
                if not all(taken):  # as a real worker: only a fully reported message is acked
                    chaos.counts["deliveries not fully reported"] += 1
                    continue
                if fate < 0.1:
                    chaos.counts["leases left to expire"] += 1
                    continue
                ack: dict[str, Any] = {"acks": [{"lease_id": message["lease_id"]}]}
                if fate < 0.15:
                    ack = {"retries": [{"lease_id": message["lease_id"], "delay_seconds": 0}]}
                    chaos.counts["hand-backs"] += 1
                await chaos.call(
                    client, "POST", "/queues/gpu-jobs/ack", json=ack, headers=chaos.gpu(secret)
                )
                if chaos.random.random() < 0.1:  # a late callback once it has ended
                    chaos.counts["late callbacks"] += 1
                    if is_set:
                        await report_output_set(chaos, client, secret, message)
                    else:
                        first = message["body"]["items"][0]
                        await report_item(chaos, client, secret, message, first)
            except UnavailableError:
                chaos.counts["deliveries cut by a crash"] += 1


async def crash_now_and_then(chaos: Chaos, kills: int, every: float) -> None:
    """SIGKILL the server `kills` times, `every` seconds apart, starting it again each time."""
    for _ in range(kills):
        await asyncio.sleep(every)
        chaos.restarting.clear()
        chaos.server.kill()
        chaos.counts["kills"] += 1
        await asyncio.to_thread(chaos.server.start)
        chaos.restarting.set()


async def run_lifecycles(chaos: Chaos, args: argparse.Namespace) -> Counter[str]:
    """Every lifecycle, at most `concurrency` at once, with the GPU side and the crashes."""
    outcomes: Counter[str] = Counter()
    slots = asyncio.Semaphore(args.concurrency)
    image = sample_jpeg()
    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=30) as client:

        async def one() -> None:
            async with slots:
                items = chaos.random.randint(1, args.items)
                try:
                    outcomes[await lifecycle(chaos, client, items, image)] += 1
                except UnavailableError:
                    outcomes["unavailable"] += 1

        workers = [
            asyncio.create_task(gpu_worker(chaos, client, chaos.server.secret, stop))
            for _ in range(args.workers)
        ]
        crasher = asyncio.create_task(crash_now_and_then(chaos, args.kills, args.kill_every))
        await asyncio.gather(*(one() for _ in range(args.lifecycles)))
        await crasher  # every crash happens, even after the last lifecycle
        stop.set()
        await asyncio.gather(*workers)
        # drain: a well-behaved GPU side finishes whatever is still queued or leased
        await drain(chaos, client)
    return outcomes


async def drain(chaos: Chaos, client: httpx.AsyncClient, within_seconds: float = 60.0) -> None:
    """Report `done` for every item still delivered and ack, until the queue stays empty."""
    deadline = time.monotonic() + within_seconds
    secret = chaos.server.secret
    idle_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - idle_since < VISIBILITY_SECONDS + 2:
        pulled = await chaos.call(
            client,
            "POST",
            "/queues/gpu-jobs/pull",
            json={"batch_size": 10, "visibility_timeout_seconds": 30},
            headers=chaos.gpu(secret),
        )
        messages = pulled.json()["data"]["messages"]
        if not messages:
            await asyncio.sleep(0.5)
            continue
        idle_since = time.monotonic()
        for message in messages:
            body = message["body"]
            if body.get("kind") == "output_set":
                await report_output_set(chaos, client, secret, message, failing=0.0)
            for item in [] if body.get("kind") == "output_set" else body["items"]:
                if body.get("kind") == "analysis":
                    await report_analysis_item(chaos, client, secret, message, item, failing=0.0)
                    continue
                key = f"{body['job_id']}:{item['idx']}:{message['attempts']}"
                report = {"idx": item["idx"], "idempotency_key": key, "status": "done"}
                report |= {"output_key": item["output_key"], "preview_key": item["preview_key"]}
                await chaos.store_results(client, item)
                await chaos.call(
                    client,
                    "POST",
                    f"/jobs/{body['job_id']}/callback",
                    json=report,
                    headers=chaos.gpu(secret),
                )
            ack = {"acks": [{"lease_id": message["lease_id"]}]}
            await chaos.call(
                client, "POST", "/queues/gpu-jobs/ack", json=ack, headers=chaos.gpu(secret)
            )
            chaos.counts["drained deliveries"] += 1


async def check_invariants(database_url: str) -> tuple[Counter[str], list[str]]:
    """Every money and queue invariant, in SQL; returns table counts and violations."""
    database = Database(database_url)
    try:
        async with database.read() as connection:
            return await _counts(connection), await _violations(connection)
    finally:
        await database.dispose()


async def _counts(connection: AsyncConnection) -> Counter[str]:
    counts: Counter[str] = Counter()
    for status, number in await connection.execute(
        select(Job.status, func.count()).group_by(Job.status)
    ):
        counts[f"jobs {status}"] = int(number)
    for kind, number in await connection.execute(
        select(BillingEvent.kind, func.count()).group_by(BillingEvent.kind)
    ):
        counts[f"billing events {kind}"] = int(number)
    for status, number in await connection.execute(
        select(OutputSet.status, func.count()).group_by(OutputSet.status)
    ):
        counts[f"sets {status}"] = int(number)
    counts["users"] = int(
        (await connection.execute(select(func.count()).select_from(User))).scalar_one()
    )
    return counts


async def _violations(connection: AsyncConnection) -> list[str]:
    violations: list[str] = []
    ledger = (
        select(BillingEvent.user_id, func.sum(BillingEvent.amount).label("total"))
        .group_by(BillingEvent.user_id)
        .subquery()
    )
    for user_id, credits, total in await connection.execute(
        select(User.id, User.credits, ledger.c.total)
        .outerjoin(ledger, ledger.c.user_id == User.id)
        .where(User.credits != func.coalesce(ledger.c.total, 0))
    ):
        violations.append(f"user {user_id}: credits {credits} != sum of billing events {total}")
    is_reserve = case((BillingEvent.kind == "reserve", 1), else_=0)
    is_refund = case((BillingEvent.kind == "refund", 1), else_=0)
    events = (
        select(
            BillingEvent.job_id,
            func.sum(is_reserve).label("reserves"),
            func.sum(is_refund).label("refunds"),
            func.sum(is_refund * BillingEvent.amount).label("refunded"),
        )
        .where(BillingEvent.job_id.is_not(None))
        .group_by(BillingEvent.job_id)
        .subquery()
    )
    rows = await connection.execute(
        select(
            Job.id,
            Job.status,
            Job.settled_at,
            Job.refunded,
            events.c.reserves,
            events.c.refunds,
            events.c.refunded,
        ).outerjoin(events, events.c.job_id == Job.id)
    )
    for job_id, status, settled_at, refunded, reserves, refunds, refund_amount in rows:
        if (reserves or 0) != 1:
            violations.append(f"job {job_id}: {reserves or 0} reserve events")
        if (refunds or 0) > 1:
            violations.append(f"job {job_id}: {refunds} refund events")
        terminal = status in TERMINAL
        if terminal and settled_at is None:
            violations.append(f"job {job_id}: {status} but never settled")
        if not terminal and (settled_at is not None or (refunds or 0) > 0):
            violations.append(f"job {job_id}: {status} but already settled")
        if (refund_amount or 0) != (refunded or 0):
            violations.append(
                f"job {job_id}: refunded {refunded} but refund events {refund_amount}"
            )
    used = analysed_not_done()
    renders = await renders_by_job(connection)
    for job_id, refunded, total, done, analysed in await connection.execute(
        select(Job.id, Job.refunded, Job.total_items, Job.done_items, used.c.analysed)
        .outerjoin(used, used.c.job_id == Job.id)
        .where(Job.status.in_(TERMINAL))
    ):
        per_photo = renders.get(job_id, 1)
        if refunded != (total - done) * per_photo - (analysed or 0):
            each = "" if per_photo == 1 else f" of {per_photo} renders each"
            violations.append(
                f"job {job_id}: refunded {refunded} but {total} items{each}, "
                f"{done} done and {analysed or 0} more analysed"
            )
    violations += await render_violations(connection)
    for job_id in await running_analyses_without_message(connection):
        violations.append(f"job {job_id}: analysis running without a queue message")
    for job_id, status in await connection.execute(
        select(Job.id, Job.status)
        .outerjoin(QueueMessage, QueueMessage.subject_id == Job.id)
        .where(Job.status.in_(ACTIVE_WITH_MESSAGE), QueueMessage.id.is_(None))
    ):
        violations.append(f"job {job_id}: {status} without a queue message")
    return violations


async def migrate(database_url: str) -> None:
    """`s3api migrate`: `serve` refuses a PostgreSQL database behind the migrations."""
    database = Database(database_url)
    try:
        await upgrade_to_head(database)
    finally:
        await database.dispose()


def main(argv: list[str] | None = None) -> None:
    """Parse options, run the chaos, check the invariants, print, exit 1 on a violation."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifecycles", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=8, help="lifecycles at once")
    parser.add_argument("--items", type=int, default=4, help="most items per job (free plan: 10)")
    parser.add_argument("--workers", type=int, default=3, help="concurrent GPU-side pullers")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs of the server")
    parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between kills")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    environment = {
        "EMBEDDED_WORKER": "false",
        "FREE_CREDITS": "50",
        "FREE_MAX_CONCURRENCY": "2",
        "FREE_TEMPLATES": "*",
        "QUEUE_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_SECONDS),
        "BACKGROUND_INTERVAL_SECONDS": "0.5",
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as workdir:
        server = BenchServer(Path(workdir), args.database_url, environment)
        database_url = (
            args.database_url or f"sqlite+aiosqlite:///{Path(workdir) / 'data' / 's3api.db'}"
        )
        if args.database_url:
            asyncio.run(migrate(args.database_url))
        server.start()
        try:
            chaos = Chaos(server, args.seed)
            outcomes = asyncio.run(run_lifecycles(chaos, args))
        finally:
            server.stop()
        counts, violations = asyncio.run(check_invariants(database_url))
    print(
        f"chaos on {'PostgreSQL' if args.database_url else 'SQLite'}: {args.lifecycles} lifecycles, "
        f"{args.concurrency} at once, {args.workers} GPU pullers, {time.monotonic() - started:.0f} s"
    )
    for title, counter in (
        ("lifecycle outcomes", outcomes),
        ("events", chaos.counts),
        ("database", counts),
    ):
        print(
            f"{title}: " + ", ".join(f"{name}={number}" for name, number in sorted(counter.items()))
        )
    for error in chaos.server_errors[:20]:
        print(f"server error: {error}")
    for violation in violations[:50]:
        print(f"VIOLATION {violation}")
    print(f"invariant violations: {len(violations)}, server errors: {len(chaos.server_errors)}")
    raise SystemExit(1 if violations or chaos.server_errors else 0)


if __name__ == "__main__":
    main()

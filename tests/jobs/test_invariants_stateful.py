"""Random sequences of client, GPU and queue actions never break the money invariants.

Hypothesis drives create / upload / confirm / execute / callbacks (duplicates, out of range,
late) / cancel / pulls / lease expiry / dead-lettering for several users; after every step
the ledger, the slots and the settlement of every job are checked against the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from sqlalchemy import func, select

from s3api.app import create_app
from s3api.context import AppContext
from s3api.db.engine import Database
from s3api.db.migrate import upgrade_to_head
from s3api.db.models import BillingEvent, Job, User
from s3api.jobs.states import TERMINAL
from s3api.users.plans import Plan
from tests.support.clock import FakeClock
from tests.support.databases import TEST_CALLBACK_SECRET, make_settings
from tests.support.factories import ApiClient, SignedIn, jpeg_bytes

SECRET = {"X-Callback-Secret": TEST_CALLBACK_SECRET}
T = TypeVar("T")


class Harness:
    """An app, a client and an event loop that outlive one Hypothesis example."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.database_url = database_url
        if database_url.startswith("sqlite"):
            self.run(self._migrate())
        self.app = create_app(make_settings(data_dir, database_url), migrate=False)
        self.context: AppContext = self.app.state.context
        self.clock = FakeClock(self.context.queue.clock_ms())
        self.context.queue.clock_ms = self.clock
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self.http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self.api = ApiClient(self.http, TEST_CALLBACK_SECRET, self.context.storage)

    async def _migrate(self) -> None:
        database = Database(self.database_url)
        try:
            await upgrade_to_head(database)
        finally:
            await database.dispose()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        self.run(self.http.aclose())
        self.run(self.context.close())
        self.loop.close()


def build_machine(harness: Harness) -> type[RuleBasedStateMachine]:
    class JobsMachine(RuleBasedStateMachine):
        users = Bundle("users")
        jobs = Bundle("jobs")

        def __init__(self) -> None:
            super().__init__()
            self.h = harness
            self.user_ids: list[str] = []
            self.leases: list[str] = []

        @rule(target=users)
        def sign_in(self) -> SignedIn:
            user = self.h.run(self.h.api.sign_in())
            self.user_ids.append(user.user_id)
            return user

        @rule(
            target=jobs,
            user=users,
            item_count=st.one_of(st.integers(1, 3), st.integers(min_value=0, max_value=12)),
        )
        def create_job(self, user: SignedIn, item_count: int) -> tuple[SignedIn, dict[str, Any]]:
            response = self.h.run(
                self.h.http.post(
                    "/jobs",
                    json={"preset": "interior", "item_count": item_count},
                    headers=user.headers,
                )
            )
            if response.status_code == 201:
                return user, response.json()["data"]
            assert response.status_code in (400, 402, 403, 429), response.text
            return user, {"job_id": "missing", "presigned_urls": []}

        @rule(job=jobs, everything=st.booleans())
        def upload(self, job: tuple[SignedIn, dict[str, Any]], everything: bool) -> None:
            urls = job[1]["presigned_urls"]
            for entry in urls if everything else urls[:1]:
                self.h.run(self.h.http.put(entry["url"], content=jpeg_bytes(8, 8)))

        @rule(job=jobs)
        def confirm(self, job: tuple[SignedIn, dict[str, Any]]) -> None:
            response = self.h.run(self.h.api.confirm(job[0], job[1]["job_id"]))
            assert response.status_code in (200, 404, 409), response.text

        @rule(job=jobs)
        def execute(self, job: tuple[SignedIn, dict[str, Any]]) -> None:
            response = self.h.run(self.h.api.execute(job[0], job[1]["job_id"]))
            assert response.status_code in (202, 404, 409), response.text

        @rule(job=jobs)
        def start(self, job: tuple[SignedIn, dict[str, Any]]) -> None:
            """Upload, confirm and execute in one step so deep states are reached often."""
            self.upload(job, everything=True)
            self.confirm(job)
            self.execute(job)

        @rule(job=jobs, done_pattern=st.lists(st.booleans(), min_size=1, max_size=12))
        def report_every_item(
            self, job: tuple[SignedIn, dict[str, Any]], done_pattern: list[bool]
        ) -> None:
            for idx in range(len(job[1]["presigned_urls"])):
                self.callback(job, idx, done_pattern[idx % len(done_pattern)], attempt=1)

        @rule(
            job=jobs,
            idx=st.integers(min_value=-1, max_value=3),
            done=st.booleans(),
            attempt=st.integers(min_value=1, max_value=2),
        )
        def callback(
            self, job: tuple[SignedIn, dict[str, Any]], idx: int, done: bool, attempt: int
        ) -> None:
            user, created = job
            response = self.h.run(
                self.h.api.callback(
                    created["job_id"],
                    user.user_id,
                    idx,
                    "done" if done else "failed",
                    idempotency_key=f"{created['job_id']}:{idx}:{attempt}",
                )
            )
            assert response.status_code in (200, 400, 404, 409), response.text

        @rule(job=jobs)
        def cancel(self, job: tuple[SignedIn, dict[str, Any]]) -> None:
            response = self.h.run(
                self.h.http.post(f"/jobs/{job[1]['job_id']}/cancel", headers=job[0].headers)
            )
            assert response.status_code in (200, 404, 409), response.text

        @rule()
        def pull(self) -> None:
            response = self.h.run(
                self.h.http.post(
                    "/queues/gpu-jobs/pull",
                    json={"batch_size": 3, "visibility_timeout_seconds": 30},
                    headers=SECRET,
                )
            )
            assert response.status_code == 200
            self.leases.extend(m["lease_id"] for m in response.json()["data"]["messages"])

        @rule(retry=st.booleans())
        def settle_leases(self, retry: bool) -> None:
            key = "retries" if retry else "acks"
            body = {key: [{"lease_id": lease} for lease in self.leases]}
            self.leases.clear()
            response = self.h.run(
                self.h.http.post("/queues/gpu-jobs/ack", json=body, headers=SECRET)
            )
            assert response.status_code == 200

        @rule()
        def leases_expire(self) -> None:
            self.h.clock.advance(31)
            self.h.run(self.h.context.delivery.dead_letter_exhausted())

        @invariant()
        def money_and_slots_add_up(self) -> None:
            if self.user_ids:
                self.h.run(check_invariants(self.h.context, self.user_ids))

    return JobsMachine


async def check_invariants(context: AppContext, user_ids: list[str]) -> None:
    async with context.database.read() as connection:
        users = {
            row.id: row
            for row in await connection.execute(
                select(User.id, User.plan, User.credits).where(User.id.in_(user_ids))
            )
        }
        ledger = dict(
            (
                await connection.execute(
                    select(BillingEvent.user_id, func.sum(BillingEvent.amount))
                    .where(BillingEvent.user_id.in_(user_ids))
                    .group_by(BillingEvent.user_id)
                )
            ).all()
        )
        jobs = (await connection.execute(select(Job).where(Job.user_id.in_(user_ids)))).all()
        refunds = dict(
            (
                await connection.execute(
                    select(BillingEvent.job_id, func.count())
                    .where(BillingEvent.kind == "refund", BillingEvent.user_id.in_(user_ids))
                    .group_by(BillingEvent.job_id)
                )
            ).all()
        )
    for user_id, user in users.items():
        assert user.credits >= 0
        assert user.credits == ledger[user_id]
        active = [j for j in jobs if j.user_id == user_id and j.status not in TERMINAL]
        assert len(active) <= context.limiter.plans.limits(Plan(user.plan)).max_concurrency
    for job in jobs:
        assert job.done_items + job.failed_items <= job.total_items
        if job.status in TERMINAL:
            assert job.settled_at is not None
            assert job.refunded == job.total_items - job.done_items
            assert refunds.get(job.id, 0) == (1 if job.refunded > 0 else 0)
        else:
            assert job.settled_at is None
            assert refunds.get(job.id, 0) == 0


def test_random_action_sequences_keep_the_invariants(
    backend: str, empty_database_url: str, tmp_path: Path
) -> None:
    if backend == "postgres":
        asyncio.run(_truncate(empty_database_url))
    harness = Harness(tmp_path / "data", empty_database_url)
    try:
        machine = build_machine(harness)
        machine.TestCase.settings = settings(
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        machine.TestCase().runTest()
    finally:
        harness.close()


async def _truncate(url: str) -> None:
    from tests.support.databases import truncate_postgres

    await truncate_postgres(url)

"""Shared helpers of the jobs contract tests (API.md §3 endpoints 9–15, §4–§7).

This module holds no tests: it gives the `test_contract_*` files one way to reach the
database, to drive a job to a given state and to check the money invariants of §4.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import select, update

from s3api.context import AppContext
from s3api.db.models import (
    AnalysisItem,
    BillingEvent,
    Job,
    JobItem,
    OutputSet,
    QueueMessage,
    User,
)
from s3api.jobs.states import TERMINAL, JobStatus
from s3api.storage.keys import is_valid_key
from tests.support.databases import TEST_CALLBACK_SECRET
from tests.support.factories import ApiClient, SignedIn, jpeg_bytes

SECRET_HEADERS = {"X-Callback-Secret": TEST_CALLBACK_SECRET}
WALL_TONE: dict[str, Any] = {"concepts": {"Wall": {"action": "tone", "value": "warm"}}}
FLOOR_OAK: dict[str, Any] = {"concepts": {"Floor": {"action": "recolor", "value": "oak_a"}}}


def image_bytes(image_format: str, size: tuple[int, int] = (16, 12)) -> bytes:
    """A real, small image in a Pillow format ("PNG", "WEBP", "JPEG")."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, format=image_format)
    return buffer.getvalue()


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the error envelope with this status and code; returns its `error`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["data"] is None
    assert body["error"]["code"] == code, body
    error: dict[str, Any] = body["error"]
    return error


def data_of(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """Assert the success envelope with this status; returns its `data`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    assert body["error"] is None
    data: dict[str, Any] = body["data"]
    return data


async def post_job(
    api: ApiClient, user: SignedIn, body: dict[str, Any] | None = None
) -> httpx.Response:
    """`POST /jobs` with an arbitrary body."""
    return await api.http.post("/jobs", json=body, headers=user.headers)


async def uploaded_job(api: ApiClient, user: SignedIn, item_count: int = 2) -> str:
    """A job taken through create, upload and confirm; returns its id."""
    created = await api.create_job(user, item_count)
    await api.upload_all(created)
    data_of(await api.confirm(user, created["job_id"]))
    job_id: str = created["job_id"]
    return job_id


async def post_callback(
    api: ApiClient,
    job_id: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """`POST /jobs/{id}/callback` with an arbitrary body (the secret by default). Like a
    worker, it first stores the objects a `done` body names, where they are valid keys."""
    if body.get("status") == "done" and api.storage is not None:
        for name in ("output_key", "preview_key"):
            key = body.get(name)
            if isinstance(key, str) and is_valid_key(key):
                await api.storage.put_bytes(key, jpeg_bytes(), "application/octet-stream")
    return await api.http.post(
        f"/jobs/{job_id}/callback",
        json=body,
        headers=SECRET_HEADERS if headers is None else headers,
    )


async def pull(api: ApiClient) -> list[dict[str, Any]]:
    """`POST /queues/gpu-jobs/pull` as a worker; the leased messages."""
    response = await api.http.post(
        "/queues/gpu-jobs/pull", json={"batch_size": 10}, headers=SECRET_HEADERS
    )
    data = data_of(response)
    messages: list[dict[str, Any]] = data["messages"]
    return messages


async def set_plan(context: AppContext, user_id: str, plan: str) -> None:
    """Change a user's plan in the database, as an operator would."""
    async with context.database.transaction() as connection:
        await connection.execute(update(User).where(User.id == user_id).values(plan=plan))


async def grant(context: AppContext, user_id: str, amount: int) -> None:
    """Give credits through the ledger (an operator `grant`), keeping §4's invariant."""
    async with context.database.transaction() as connection:
        await context.limiter.grant_credits(connection, user_id, amount, "test grant")


async def pro_user(api: ApiClient, context: AppContext, extra_credits: int = 0) -> SignedIn:
    """A signed-in user on the pro plan, optionally with more credits granted."""
    user = await api.sign_in()
    await set_plan(context, user.user_id, "pro")
    if extra_credits:
        await grant(context, user.user_id, extra_credits)
    return user


async def credits_of(context: AppContext, user_id: str) -> int:
    """`users.credits` straight from the database."""
    async with context.database.read() as connection:
        query = select(User.credits).where(User.id == user_id)
        return int((await connection.execute(query)).scalar_one())


@dataclass(frozen=True)
class Ledger:
    """A user's billing rows, as `(kind, amount, job_id)`."""

    rows: list[tuple[str, int, str | None]]

    @property
    def total(self) -> int:
        """Σ amount."""
        return sum(amount for _, amount, _ in self.rows)

    def of_job(self, job_id: str, kind: str) -> list[int]:
        """The amounts of one kind for one job."""
        return [amount for k, amount, j in self.rows if j == job_id and k == kind]


async def ledger_of(context: AppContext, user_id: str) -> Ledger:
    """Every billing row of the user."""
    async with context.database.read() as connection:
        rows = await connection.execute(
            select(BillingEvent.kind, BillingEvent.amount, BillingEvent.job_id).where(
                BillingEvent.user_id == user_id
            )
        )
        entries = [(str(row.kind), int(row.amount), row.job_id) for row in rows]
    return Ledger(sorted(entries, key=lambda entry: (entry[0], entry[1], entry[2] or "")))


async def job_row(context: AppContext, job_id: str) -> dict[str, Any]:
    """The `jobs` row of a job."""
    async with context.database.read() as connection:
        row = (await connection.execute(select(Job.__table__).where(Job.id == job_id))).one()
        return dict(row._mapping)


async def item_statuses(context: AppContext, job_id: str) -> list[str]:
    """The items' statuses in idx order."""
    async with context.database.read() as connection:
        rows = await connection.execute(
            select(JobItem.status).where(JobItem.job_id == job_id).order_by(JobItem.idx)
        )
        return [str(status) for (status,) in rows]


async def queue_bodies(context: AppContext, job_id: str | None = None) -> list[dict[str, Any]]:
    """The bodies of the rows in `queue_messages` (of one job when given)."""
    query = select(QueueMessage.body)
    if job_id is not None:
        query = query.where(QueueMessage.subject_id == job_id)
    async with context.database.read() as connection:
        return [dict(body) for (body,) in await connection.execute(query)]


async def settled_at(context: AppContext, job_id: str) -> datetime | None:
    """`jobs.settled_at` of a job."""
    value: datetime | None = (await job_row(context, job_id))["settled_at"]
    return value


async def assert_money_invariants(context: AppContext, user_id: str) -> None:
    """API.md §4 for one user: ledger = balance ≥ 0, one reserve per job, terminal jobs
    settled once with `refunded` equal to their single refund row and to the items no GPU
    work used (neither done nor analysed), active jobs unsettled."""
    ledger = await ledger_of(context, user_id)
    credits = await credits_of(context, user_id)
    assert credits == ledger.total, (credits, ledger.rows)
    assert credits >= 0
    async with context.database.read() as connection:
        jobs = (await connection.execute(select(Job.__table__).where(Job.user_id == user_id))).all()
    for job in jobs:
        renders = await _renders_per_photo(context, job.id)
        assert ledger.of_job(job.id, "reserve") == [-job.total_items]
        extra = job.total_items * (renders - 1)
        assert ledger.of_job(job.id, "reserve_renders") == ([-extra] if extra else [])
        refunds = ledger.of_job(job.id, "refund")
        assert len(refunds) <= 1
        if JobStatus(job.status) in TERMINAL:
            assert job.settled_at is not None, job.id
            assert job.refunded == sum(refunds), (job.id, job.refunded, refunds)
            analysed = await _analysed_not_done(context, job.id)
            unused = (job.total_items - job.done_items) * renders - analysed
            assert job.refunded == unused, job.id
        else:
            assert job.settled_at is None, job.id
            assert refunds == []


async def _renders_per_photo(context: AppContext, job_id: str) -> int:
    """Edits each photo of the job renders and is charged for (drafts, options), else 1."""
    async with context.database.read() as connection:
        variants = (
            await connection.execute(select(OutputSet.variants).where(OutputSet.job_id == job_id))
        ).scalar_one_or_none()
    return len(variants) if variants else 1


async def _analysed_not_done(context: AppContext, job_id: str) -> int:
    """Items of the job whose analysis succeeded but whose result is not done."""
    async with context.database.read() as connection:
        analysed = await connection.execute(
            select(AnalysisItem.idx).where(
                AnalysisItem.job_id == job_id, AnalysisItem.analysed_at.is_not(None)
            )
        )
        done = await connection.execute(
            select(JobItem.idx).where(JobItem.job_id == job_id, JobItem.status == "done")
        )
        return len({idx for (idx,) in analysed} - {idx for (idx,) in done})

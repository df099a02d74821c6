"""The chaos run's invariant checks find each kind of violation, and none on sound data."""

from __future__ import annotations

from bench.chaos import check_invariants
from sqlalchemy import delete, update

from s3api.context import AppContext
from s3api.db.models import BillingEvent, Job, QueueMessage, User
from tests.support.analysis import post_analyze, run_analysis
from tests.support.factories import ApiClient
from tests.support.jobs import data_of, pro_user, uploaded_job


async def test_a_sound_database_has_no_violation(
    api: ApiClient, context: AppContext, database_url: str
) -> None:
    user = await api.sign_in()
    await api.queued_job(user)
    counts, violations = await check_invariants(database_url)
    assert violations == []
    assert counts["jobs queued"] == 1
    assert counts["billing events reserve"] == 1


async def test_each_broken_invariant_is_reported(
    api: ApiClient, context: AppContext, database_url: str
) -> None:
    first, second = await api.sign_in(), await api.sign_in()
    queued = (await api.queued_job(first))["job_id"]
    other = (await api.queued_job(second))["job_id"]
    async with context.database.transaction() as connection:
        await connection.execute(
            update(User).where(User.id == first.user_id).values(credits=User.credits + 1)
        )
        await connection.execute(delete(QueueMessage).where(QueueMessage.subject_id == queued))
        await connection.execute(
            update(Job).where(Job.id == other).values(status="done", settled_at=None)
        )
        await connection.execute(
            delete(BillingEvent).where(BillingEvent.job_id == other, BillingEvent.kind == "reserve")
        )
    _, violations = await check_invariants(database_url)
    text = "\n".join(violations)
    assert f"user {first.user_id}: credits" in text
    assert f"job {queued}: queued without a queue message" in text
    assert f"job {other}: done but never settled" in text
    assert f"job {other}: 0 reserve events" in text


async def test_analysed_jobs_are_sound_and_their_broken_invariants_reported(
    api: ApiClient, context: AppContext, database_url: str
) -> None:
    first, second = await api.sign_in(), await api.sign_in()
    canceled = await uploaded_job(api, first, 2)
    data_of(await post_analyze(api, first, canceled), 202)
    await run_analysis(api, context, failed=(1,))
    data_of(await api.http.post(f"/jobs/{canceled}/cancel", headers=first.headers))
    running = await uploaded_job(api, second, 1)
    data_of(await post_analyze(api, second, running), 202)
    _, violations = await check_invariants(database_url)
    assert violations == []
    async with context.database.transaction() as connection:
        # one credit too many given back, consistently in the ledger and the balance
        await connection.execute(update(Job).where(Job.id == canceled).values(refunded=2))
        await connection.execute(
            update(BillingEvent)
            .where(BillingEvent.job_id == canceled, BillingEvent.kind == "refund")
            .values(amount=2)
        )
        await connection.execute(
            update(User).where(User.id == first.user_id).values(credits=User.credits + 1)
        )
        await connection.execute(delete(QueueMessage))
    _, violations = await check_invariants(database_url)
    assert violations == [
        f"job {canceled}: refunded 2 but 2 items, 0 done and 1 more analysed",
        f"job {running}: analysis running without a queue message",
    ]


async def test_a_drafts_job_is_sound_and_a_wrong_render_reserve_is_reported(
    api: ApiClient, context: AppContext, database_url: str
) -> None:
    user = await pro_user(api, context)
    job_id = await uploaded_job(api, user, 2)
    execute = {"output_template": "시안3안팩"}
    response = await api.http.post(f"/jobs/{job_id}/execute", json=execute, headers=user.headers)
    data_of(response, 202)
    counts, violations = await check_invariants(database_url)
    assert violations == []
    assert counts["billing events reserve_renders"] == 1
    async with context.database.transaction() as connection:
        # one render fewer reserved, consistently in the ledger and the balance
        await connection.execute(
            update(BillingEvent)
            .where(BillingEvent.job_id == job_id, BillingEvent.kind == "reserve_renders")
            .values(amount=-3)
        )
        await connection.execute(
            update(User).where(User.id == user.user_id).values(credits=User.credits + 1)
        )
    _, violations = await check_invariants(database_url)
    assert violations == [f"job {job_id}: 1 render reserves of 3, not 4"]

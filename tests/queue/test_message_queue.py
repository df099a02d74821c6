"""The queue's own guards, on a real connection and without any domain around it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.exc import IntegrityError

from s3api.db.engine import Database
from s3api.queue.message_queue import MessageQueue
from tests.support.clock import FakeClock


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated database of the current backend."""
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000_000)


@pytest.fixture
def queue(clock: FakeClock) -> MessageQueue:
    return MessageQueue("test-queue", max_deliveries=2, clock_ms=clock)


async def _enqueue(
    database: Database, queue: MessageQueue, count: int, prefix: str = "subject"
) -> list[str]:
    async with database.transaction() as connection:
        return [await queue.enqueue(connection, f"{prefix}-{n}", {"n": n}) for n in range(count)]


async def test_a_lease_takes_the_oldest_messages_each_with_its_own_lease_id(
    database: Database, queue: MessageQueue, clock: FakeClock
) -> None:
    first = await _enqueue(database, queue, 2)
    clock.advance(1)
    await _enqueue(database, queue, 1, prefix="later")
    async with database.transaction() as connection:
        leased = await queue.lease(connection, 2, 30)
    assert sorted(message.id for message in leased) == sorted(first)
    assert [message.attempts for message in leased] == [1, 1]
    lease_ids = [message.lease_id for message in leased]
    assert len(set(lease_ids)) == 2
    assert all(str(uuid.UUID(lease_id)) == lease_id for lease_id in lease_ids)


async def test_leased_messages_are_invisible_until_the_lease_ends(
    database: Database, queue: MessageQueue, clock: FakeClock
) -> None:
    await _enqueue(database, queue, 1)
    async with database.transaction() as connection:
        [leased] = await queue.lease(connection, 5, 30)
        assert await queue.lease(connection, 5, 30) == []
    clock.advance(31)
    async with database.transaction() as connection:
        [again] = await queue.lease(connection, 5, 30)
    assert (again.id, again.attempts) == (leased.id, 2)
    assert again.lease_id != leased.lease_id


async def test_concurrent_leases_never_share_a_message(
    database: Database, queue: MessageQueue
) -> None:
    await _enqueue(database, queue, 20)

    async def lease_some() -> list[str]:
        async with database.transaction() as connection:
            return [message.id for message in await queue.lease(connection, 3, 30)]

    batches = await asyncio.gather(*(lease_some() for _ in range(10)))
    taken = [message_id for batch in batches for message_id in batch]
    assert len(taken) == len(set(taken)) == 20


async def test_ack_deletes_only_under_a_live_lease(
    database: Database, queue: MessageQueue, clock: FakeClock
) -> None:
    await _enqueue(database, queue, 2)
    async with database.transaction() as connection:
        live, expiring = await queue.lease(connection, 2, 30)
    clock.advance(31)
    async with database.transaction() as connection:
        assert not await queue.ack(connection, expiring.lease_id)
        assert not await queue.ack(connection, "not-a-lease")
    clock.advance(-31)
    async with database.transaction() as connection:
        assert await queue.ack(connection, live.lease_id)
        assert not await queue.ack(connection, live.lease_id)


async def test_a_retry_releases_until_the_last_delivery_then_dead_letters_with_the_payload(
    database: Database, queue: MessageQueue, clock: FakeClock
) -> None:
    [message_id] = await _enqueue(database, queue, 1)
    async with database.transaction() as connection:
        [first] = await queue.lease(connection, 1, 30)
        released = await queue.retry(connection, first.lease_id, 10, "busy")
    assert (released.retried, released.dead) == (True, None)
    clock.advance(11)
    async with database.transaction() as connection:
        [second] = await queue.lease(connection, 1, 30)
        outcome = await queue.retry(connection, second.lease_id, 10, "gpu oom")
        assert await queue.lease(connection, 1, 30) == []
    assert outcome.dead is not None
    assert (outcome.dead.id, outcome.dead.subject_id) == (message_id, "subject-0")
    assert (outcome.dead.body, outcome.dead.attempts, outcome.dead.error) == (
        {"n": 0},
        2,
        "gpu oom",
    )
    async with database.read() as connection:
        [record] = await queue.dead_letters(connection, 10)
    assert (record.id, record.last_error) == (message_id, "gpu oom")


async def test_an_expired_last_lease_is_dead_lettered_once(
    database: Database, queue: MessageQueue, clock: FakeClock
) -> None:
    await _enqueue(database, queue, 1)
    for _ in range(2):
        async with database.transaction() as connection:
            assert len(await queue.lease(connection, 1, 30)) == 1
        clock.advance(31)
    async with database.transaction() as connection:
        [dead] = await queue.dead_letter_exhausted(connection, 10)
        assert await queue.dead_letter_exhausted(connection, 10) == []
    assert (dead.subject_id, dead.error) == ("subject-0", "lease expired")


async def test_one_live_message_per_subject_and_queue(
    database: Database, queue: MessageQueue
) -> None:
    other = MessageQueue("other-queue", max_deliveries=2)
    async with database.transaction() as connection:
        await queue.enqueue(connection, "subject", {})
        await other.enqueue(connection, "subject", {})
    with pytest.raises(IntegrityError):
        async with database.transaction() as connection:
            await queue.enqueue(connection, "subject", {})

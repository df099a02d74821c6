"""Delivery use cases: leasing with fresh URLs, acks, retries and dead-lettering.

The queue itself knows nothing about jobs; this is where its messages meet the job
lifecycle: a message whose job has ended is dropped instead of handed out, and a
dead-lettered message fails its job with a refund. An analysis message (subject: its run
id) lives while its run is running on an `uploaded` job; dead-lettered, it fails the run.
An assembly message (subject: its set id) lives while its set is pending; dead-lettered,
it fails the set.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.engine import Database
from s3api.delivery.schemas import (
    AckResult,
    DeadLetterList,
    DeadLetterPublic,
    LeaseRetry,
    PulledMessage,
)
from s3api.jobs import repository as jobs_repository
from s3api.jobs.analysis import repository as analysis_repository
from s3api.jobs.analysis.lifecycle import AnalysisLifecycle
from s3api.jobs.analysis.messages import ANALYSIS_KIND
from s3api.jobs.lifecycle import JobLifecycle
from s3api.jobs.messages import with_item_urls
from s3api.jobs.output_sets import repository as sets_repository
from s3api.jobs.output_sets.lifecycle import OutputSetLifecycle
from s3api.jobs.output_sets.messages import OUTPUT_SET_KIND
from s3api.jobs.states import TERMINAL
from s3api.queue.message_queue import DeadMessage, LeasedMessage, MessageQueue
from s3api.storage.base import ObjectStorage

logger = logging.getLogger("s3api.delivery")

DEFAULT_RETRY_REASON = "retried by consumer"


class DeliveryService:
    """The `gpu-jobs` queue as the GPU side and the background duties use it."""

    def __init__(
        self,
        database: Database,
        queue: MessageQueue,
        lifecycle: JobLifecycle,
        storage: ObjectStorage,
        presign_ttl_seconds: int,
        analyses: AnalysisLifecycle,
        output_sets: OutputSetLifecycle,
    ) -> None:
        self.database = database
        self.queue = queue
        self.lifecycle = lifecycle
        self.analyses = analyses
        self.output_sets = output_sets
        self.storage = storage
        self.presign_ttl_seconds = presign_ttl_seconds

    async def lease_messages(
        self, batch_size: int, visibility_timeout_seconds: int
    ) -> list[LeasedMessage]:
        """Lease visible messages of live jobs in one transaction; drop those of ended jobs."""
        leased: list[LeasedMessage] = []
        async with self.database.transaction() as connection:
            while len(leased) < batch_size:
                wanted = batch_size - len(leased)
                batch = await self.queue.lease(connection, wanted, visibility_timeout_seconds)
                live = await self._drop_moot(connection, batch)
                leased.extend(live)
                if len(batch) < wanted or len(live) == len(batch):
                    break
        return leased

    async def pull_messages(
        self, batch_size: int, visibility_timeout_seconds: int
    ) -> list[PulledMessage]:
        """Lease messages and give each item pre-signed URLs valid for at least the lease."""
        leased = await self.lease_messages(batch_size, visibility_timeout_seconds)
        expires_in = max(self.presign_ttl_seconds, visibility_timeout_seconds)
        return [
            PulledMessage(
                id=message.id,
                lease_id=message.lease_id,
                attempts=message.attempts,
                timestamp_ms=message.timestamp_ms,
                body=await with_item_urls(self.storage, message.body, expires_in),
            )
            for message in leased
        ]

    async def acknowledge(self, lease_ids: Sequence[str]) -> int:
        """Delete the messages of live leases; returns how many."""
        acked = 0
        async with self.database.transaction() as connection:
            for lease_id in lease_ids:
                acked += await self.queue.ack(connection, lease_id)
        return acked

    async def retry(self, retries: Sequence[LeaseRetry]) -> int:
        """Redeliver after a delay, or dead-letter a message with no delivery left."""
        retried = 0
        for item in retries:
            async with self.database.transaction() as connection:
                outcome = await self.queue.retry(
                    connection,
                    item.lease_id,
                    item.delay_seconds,
                    item.error or DEFAULT_RETRY_REASON,
                )
                retried += outcome.retried
                if outcome.dead is not None:
                    await self._fail_job_of(connection, outcome.dead)
        return retried

    async def acknowledge_and_retry(
        self, ack_ids: Sequence[str], retries: Sequence[LeaseRetry]
    ) -> AckResult:
        """`POST /queues/gpu-jobs/ack`."""
        return AckResult(acked=await self.acknowledge(ack_ids), retried=await self.retry(retries))

    async def dead_letter_exhausted(self, limit: int = 50) -> int:
        """Move messages whose last lease expired to the dead letters; fail their jobs."""
        async with self.database.transaction() as connection:
            dead = await self.queue.dead_letter_exhausted(connection, limit)
            for message in dead:
                await self._fail_job_of(connection, message)
        return len(dead)

    async def list_dead_letters(self, limit: int) -> DeadLetterList:
        """Dead-lettered messages, newest first."""
        async with self.database.read() as connection:
            records = await self.queue.dead_letters(connection, limit)
        return DeadLetterList(
            messages=[
                DeadLetterPublic(
                    id=record.id,
                    job_id=record.subject_id,
                    attempts=record.attempts,
                    last_error=record.last_error,
                    created_at=record.created_at,
                    body=record.body,
                )
                for record in records
            ]
        )

    async def _drop_moot(
        self, connection: AsyncConnection, batch: list[LeasedMessage]
    ) -> list[LeasedMessage]:
        """Delete the messages of jobs that have ended or vanished; return the rest."""
        if not batch:
            return batch
        subjects = [message.subject_id for message in batch]
        statuses = await jobs_repository.statuses_of(connection, subjects)
        runs = await analysis_repository.live_runs(
            connection, [m.subject_id for m in batch if m.body.get("kind") == ANALYSIS_KIND]
        )
        # an assembly message lives while its set waits, after its job has ended
        sets = await sets_repository.pending_set_ids(
            connection, [m.subject_id for m in batch if m.body.get("kind") == OUTPUT_SET_KIND]
        )
        moot = [
            message.id
            for message in batch
            if message.subject_id not in runs
            and message.subject_id not in sets
            and (
                statuses.get(message.subject_id) is None or statuses[message.subject_id] in TERMINAL
            )
        ]
        await self.queue.delete(connection, moot)
        return [message for message in batch if message.id not in moot]

    async def _fail_job_of(self, connection: AsyncConnection, message: DeadMessage) -> None:
        reason = f"dispatch gave up after {message.attempts} deliveries: {message.error}"
        if message.body.get("kind") == ANALYSIS_KIND:
            ended = await self.analyses.fail_run(connection, message.subject_id, reason)
            logger.warning(
                "dead-lettered analysis message=%s run=%s attempts=%d run_failed=%s",
                message.id,
                message.subject_id,
                message.attempts,
                ended,
            )
            return
        if message.body.get("kind") == OUTPUT_SET_KIND:
            ended = await self.output_sets.fail_set(connection, message.subject_id, reason)
            logger.warning(
                "dead-lettered output set message=%s set=%s attempts=%d set_failed=%s",
                message.id,
                message.subject_id,
                message.attempts,
                ended,
            )
            return
        failed = await self.lifecycle.fail_job(connection, message.subject_id, reason)
        logger.warning(
            "dead-lettered message=%s job=%s attempts=%d job_failed=%s",
            message.id,
            message.subject_id,
            message.attempts,
            failed,
        )

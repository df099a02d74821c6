"""Webhook delivery: lease from the `webhooks` queue, sign, POST, then ack, retry or dead-letter.

Deliveries run concurrently, each bounded by its own timeout, and the loop leases new
messages as soon as a delivery slot frees up, so a slow or dead receiver holds one slot for
at most one timeout and never the deliveries of other jobs or users. The queue gives at
least once: a receiver dedupes by `webhook-id`, which stays the same across retries.
The HTTP client is `outbound_client`'s: it checks the URL before every attempt and connects
only to the addresses that check approved.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass
from typing import Any

import httpx

from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.jobs import webhook_subscriptions
from s3api.jobs.service import JobsService
from s3api.jobs.webhook_subscriptions import DeliveryStatus, WebhookEvent
from s3api.queue.message_queue import LeasedMessage, MessageQueue
from s3api.security.outbound_urls import UnsafeUrlError
from s3api.security.pinned_transport import outbound_client
from s3api.settings import Settings
from s3api.timeutil import utcnow
from s3api.webhooks.secrets import WebhookSecretService
from s3api.webhooks.signing import signed_headers

logger = logging.getLogger("s3api.webhooks")

LEASE_MARGIN_SECONDS = 30
DEAD_LETTER_BATCH = 100


@dataclass(frozen=True)
class WebhookPolicy:
    """Timeout, retry delays and concurrency of deliveries."""

    retry_delays_seconds: tuple[float, ...]
    timeout_seconds: float
    concurrency: int
    poll_interval_seconds: float
    is_production: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookPolicy:
        """The policy configured by `WEBHOOK_*`."""
        return cls(
            retry_delays_seconds=tuple(settings.webhook_retry_delays),
            timeout_seconds=settings.webhook_timeout_seconds,
            concurrency=settings.webhook_concurrency,
            poll_interval_seconds=settings.webhook_poll_interval_seconds,
            is_production=settings.is_production,
        )

    @property
    def max_deliveries(self) -> int:
        """The first attempt and one per retry delay."""
        return 1 + len(self.retry_delays_seconds)

    def delay_after(self, attempts: int) -> float:
        """The wait before the next attempt, after `attempts` failed ones."""
        delays = self.retry_delays_seconds or (0.0,)
        return delays[min(attempts, len(delays)) - 1]


class WebhookDispatcher:
    """Delivers queued webhooks; `deliver_pending` is one pass, `run` the lifespan loop."""

    def __init__(
        self,
        database: Database,
        queue: MessageQueue,
        jobs: JobsService,
        secrets: WebhookSecretService,
        client: httpx.AsyncClient,
        policy: WebhookPolicy,
    ) -> None:
        self.database = database
        self.queue = queue
        self.jobs = jobs
        self.secrets = secrets
        self.client = client
        self.policy = policy
        self.lease_seconds = math.ceil(policy.timeout_seconds) + LEASE_MARGIN_SECONDS

    async def deliver_pending(self) -> int:
        """Lease what is due (up to the concurrency), deliver all of it; returns how many."""
        leased = await self._lease(self.policy.concurrency)
        await asyncio.gather(*(self.deliver(message) for message in leased))
        return len(leased)

    async def run(self, stop: asyncio.Event) -> None:
        """Keep up to `concurrency` deliveries in flight until `stop`."""
        in_flight: set[asyncio.Task[None]] = set()
        slot_freed = asyncio.Event()

        def finished(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            slot_freed.set()

        while not stop.is_set():
            leased: list[LeasedMessage] = []
            try:
                await self._dead_letter_expired()
                free = self.policy.concurrency - len(in_flight)
                leased = await self._lease(free) if free > 0 else []
            except Exception:
                logger.exception("webhook lease failed")
            for message in leased:
                task = asyncio.create_task(self.deliver(message))
                in_flight.add(task)
                task.add_done_callback(finished)
            if not leased:
                slot_freed.clear()
                waits = [asyncio.ensure_future(stop.wait())]
                if len(in_flight) >= self.policy.concurrency:
                    waits.append(asyncio.ensure_future(slot_freed.wait()))
                _, pending = await asyncio.wait(
                    waits,
                    timeout=self.policy.poll_interval_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for waiting in pending:
                    waiting.cancel()
        if in_flight:
            await asyncio.wait(in_flight, timeout=self.policy.timeout_seconds)

    async def deliver(self, message: LeasedMessage) -> None:
        """One attempt of one message, then its outcome recorded; never raises."""
        body = message.body
        code: int | None = None
        try:
            error: str | None = None
            try:
                payload = await self._payload(body)
            except ApiError as exc:
                if exc.code is not ErrorCode.JOB_NOT_FOUND:
                    raise
                await self._drop(message)
                return
            content = json.dumps(payload, separators=(",", ":"))
            secret = await self.secrets.secret_for(body["user_id"])
            headers = signed_headers(secret, message.id, utcnow(), content)
            response = await self.client.post(
                body["url"],
                content=content,
                headers={**headers, "Content-Type": "application/json"},
                timeout=self.policy.timeout_seconds,
                follow_redirects=False,
            )
            code = response.status_code
            if not response.is_success:
                error = f"receiver answered {code}"
        except UnsafeUrlError as exc:
            error = f"refused: the URL {exc}"
        except httpx.TimeoutException:
            error = f"no answer within {self.policy.timeout_seconds:g}s"
        except httpx.TransportError as exc:
            error = f"receiver unreachable ({type(exc).__name__})"
        except Exception as exc:
            logger.exception("webhook %s could not be prepared", message.id)
            error = f"delivery failed ({type(exc).__name__})"
        try:
            await self._record_outcome(message, code, error)
        except Exception:
            # the lease then runs out and the message comes back
            logger.exception("outcome of webhook %s not recorded", message.id)

    async def _payload(self, body: dict[str, Any]) -> dict[str, Any]:
        """`{type, timestamp, data}`, the data read now so its URLs are freshly signed."""
        job = (await self.jobs.job_detail(body["user_id"], body["job_id"])).model_dump(mode="json")
        data: dict[str, Any] = job
        if body["type"] == WebhookEvent.ITEM_COMPLETED.value and body.get("stage") == "analysis":
            idx = body["idx"]
            analysed = (job["analysis"] or {}).get("items", [])
            data = {
                "job_id": job["job_id"],
                "stage": "analysis",
                "analysis_id": body["analysis_id"],
                **next(item for item in analysed if item["idx"] == idx),
            }
        elif body["type"] == WebhookEvent.ITEM_COMPLETED.value:
            idx = body["idx"]
            [item] = [item for item in job["items"] if item["idx"] == idx]
            links = [link for link in job["download_urls"] if link["idx"] == idx]
            data = {
                "job_id": job["job_id"],
                **item,
                "output_url": links[0]["output_url"] if links else None,
                "preview_url": links[0]["preview_url"] if links else None,
            }
        return {"type": body["type"], "timestamp": body["timestamp"], "data": data}

    async def _drop(self, message: LeasedMessage) -> None:
        """The job (or its account) was deleted: nothing is left to announce."""
        async with self.database.transaction() as connection:
            await self.queue.ack(connection, message.lease_id)
        logger.info("webhook %s dropped: job %s was deleted", message.id, message.body["job_id"])

    async def _record_outcome(
        self, message: LeasedMessage, code: int | None, error: str | None
    ) -> None:
        job_id = message.body["job_id"]
        async with self.database.transaction() as connection:
            if error is None:
                if not await self.queue.ack(connection, message.lease_id):
                    logger.warning("lease of webhook %s ran out before its ack", message.id)
                status = DeliveryStatus.DELIVERED
            else:
                delay = self.policy.delay_after(message.attempts)
                outcome = await self.queue.retry(connection, message.lease_id, delay, error)
                status = DeliveryStatus.DEAD if outcome.dead else DeliveryStatus.RETRYING
                logger.warning(
                    "webhook %s job=%s attempt %d failed: %s%s",
                    message.id,
                    job_id,
                    message.attempts,
                    error,
                    "; dead-lettered" if outcome.dead else f"; retry in {delay:g}s",
                )
            await webhook_subscriptions.record_attempt(
                connection, job_id, status, code, error, utcnow()
            )

    async def _lease(self, count: int) -> list[LeasedMessage]:
        async with self.database.transaction() as connection:
            return await self.queue.lease(connection, count, self.lease_seconds)

    async def _dead_letter_expired(self) -> None:
        """Messages whose last lease ran out (a process died mid-delivery)."""
        async with self.database.transaction() as connection:
            for dead in await self.queue.dead_letter_exhausted(connection, DEAD_LETTER_BATCH):
                await webhook_subscriptions.record_attempt(
                    connection,
                    dead.body["job_id"],
                    DeliveryStatus.DEAD,
                    None,
                    dead.error,
                    utcnow(),
                )


async def run_webhook_dispatcher(
    database: Database,
    queue: MessageQueue,
    jobs: JobsService,
    secrets: WebhookSecretService,
    policy: WebhookPolicy,
    stop: asyncio.Event,
) -> None:
    """The lifespan task: a dispatcher with its own HTTP client until `stop` is set."""
    async with outbound_client(is_production=policy.is_production) as client:
        await WebhookDispatcher(database, queue, jobs, secrets, client, policy).run(stop)

"""The push dispatcher: lease messages in-process and POST each to the configured endpoint.

A 2xx answer means delivered: the lease is acknowledged and the remote reports items through
callbacks (the stale-job sweeper covers one that never does). Anything else is handed back
with a retry and an exponential delay, so the queue's delivery budget and
dead-lettering (API.md §6) apply unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import httpx

from s3api.delivery.schemas import LeaseRetry
from s3api.delivery.service import DeliveryService
from s3api.dispatch.target import PushTarget
from s3api.jobs.messages import with_item_urls
from s3api.queue.message_queue import LeasedMessage
from s3api.settings import Settings

logger = logging.getLogger("s3api.dispatch")

MAX_RETRY_DELAY_SECONDS = 43200
"""The longest delay the queue accepts for a retry."""
LEASE_MARGIN_SECONDS = 30


def backoff_delay_seconds(base_seconds: float, cap_seconds: float, attempts: int) -> int:
    """`base * 2^(attempts-1)` capped, in whole seconds as the queue counts them."""
    delay = base_seconds * 2.0 ** max(0, attempts - 1)
    return math.ceil(min(delay, cap_seconds, MAX_RETRY_DELAY_SECONDS))


class PushDispatcher:
    """Pushes visible messages to one target; `dispatch_pending` is a single pass."""

    def __init__(
        self,
        delivery: DeliveryService,
        settings: Settings,
        target: PushTarget,
        client: httpx.AsyncClient,
    ) -> None:
        self.delivery = delivery
        self.settings = settings
        self.target = target
        self.client = client
        # The lease only has to outlive one POST and its ack.
        self.lease_seconds = max(
            settings.queue_visibility_timeout_seconds,
            math.ceil(target.timeout_seconds) + LEASE_MARGIN_SECONDS,
        )

    async def dispatch_pending(self) -> int:
        """Lease what is visible, push each message, ack or retry it; returns how many."""
        leased = await self.delivery.lease_messages(
            self.settings.dispatch_batch_size, self.lease_seconds
        )
        await asyncio.gather(*(self._deliver(message) for message in leased))
        return len(leased)

    async def run(self, stop: asyncio.Event) -> None:
        """Repeat passes until `stop`; sleep the poll interval whenever nothing was visible."""
        interval = self.settings.dispatch_poll_interval_seconds
        logger.info("pushing queue messages to %s (%s)", self.target.url, self.target.mode)
        while not stop.is_set():
            try:
                pushed = await self.dispatch_pending()
            except Exception:
                logger.exception("dispatch pass failed")
                pushed = 0
            if pushed == 0:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=interval)
                except TimeoutError:
                    continue

    async def _deliver(self, leased: LeasedMessage) -> None:
        try:
            message = await self._delivered_message(leased)
            error = await self._push(message)
            if error is None:
                if not await self.delivery.acknowledge([leased.lease_id]):
                    logger.warning("lease of message %s expired before its ack", leased.id)
                return
            delay = backoff_delay_seconds(
                self.settings.dispatch_backoff_seconds,
                self.settings.dispatch_backoff_max_seconds,
                leased.attempts,
            )
            logger.warning(
                "push of message=%s job=%s attempt=%d failed (%s); retry in %ds",
                leased.id,
                leased.subject_id,
                leased.attempts,
                error,
                delay,
            )
            retry = LeaseRetry(lease_id=leased.lease_id, delay_seconds=delay, error=error[:500])
            await self.delivery.retry([retry])
        except Exception:
            # The lease then simply expires and the message comes back.
            logger.exception("dispatch of message %s failed", leased.id)

    async def _delivered_message(self, leased: LeasedMessage) -> dict[str, Any]:
        """The body with fresh per-item URLs and the delivery number for idempotency keys."""
        expires_in = max(self.settings.presign_ttl_seconds, self.lease_seconds)
        body = await with_item_urls(self.delivery.storage, leased.body, expires_in)
        return {**body, "message_id": leased.id, "attempts": leased.attempts}

    async def _push(self, message: dict[str, Any]) -> str | None:
        """POST one message; None when delivered, else a short reason."""
        try:
            response = await self.client.post(
                self.target.url,
                json=self.target.payload(message),
                headers=self.target.headers,
                timeout=self.target.timeout_seconds,
            )
        except httpx.TimeoutException:
            return f"no answer within {self.target.timeout_seconds:g}s"
        except httpx.TransportError as exc:
            return f"endpoint unreachable ({type(exc).__name__})"
        if response.is_success:
            return None
        return f"endpoint answered {response.status_code}"


async def run_dispatcher(
    delivery: DeliveryService, settings: Settings, target: PushTarget, stop: asyncio.Event
) -> None:
    """The lifespan task: a dispatcher with its own HTTP client until `stop` is set."""
    async with httpx.AsyncClient() as client:
        await PushDispatcher(delivery, settings, target, client).run(stop)

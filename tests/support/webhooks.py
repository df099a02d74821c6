"""Shared helpers of the webhook tests: jobs with webhooks, a dispatcher, verified deliveries."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpcore
from fastapi import FastAPI, Request, Response
from standardwebhooks.webhooks import Webhook

from s3api.context import AppContext
from s3api.security.outbound_urls import Resolver, resolve_host
from s3api.security.pinned_transport import outbound_client
from s3api.webhooks.dispatcher import WebhookDispatcher, WebhookPolicy
from tests.support.clock import FakeClock
from tests.support.factories import ApiClient, SignedIn
from tests.support.worker import RecordedRequest


def freeze_webhook_clock(context: AppContext) -> FakeClock:
    """The webhook queue's clock, moved only by `advance`."""
    clock = FakeClock(context.webhook_queue.clock_ms())
    context.webhook_queue.clock_ms = clock
    return clock


@asynccontextmanager
async def dispatcher_for(
    context: AppContext,
    policy: WebhookPolicy | None = None,
    *,
    resolve: Resolver = resolve_host,
    network_backend: httpcore.AsyncNetworkBackend | None = None,
) -> AsyncIterator[WebhookDispatcher]:
    """A dispatcher on the app's queue with its own pinned HTTP client, as the app builds it
    (`resolve` and `network_backend` let a test stand in for DNS and the network)."""
    policy = policy or context.webhook_policy
    client = outbound_client(
        is_production=policy.is_production, resolve=resolve, network_backend=network_backend
    )
    async with client:
        yield WebhookDispatcher(
            context.database,
            context.webhook_queue,
            context.jobs,
            context.webhook_secrets,
            client,
            policy,
        )


async def job_with_webhook(
    api: ApiClient,
    user: SignedIn,
    webhook_url: str,
    item_count: int = 2,
    events: list[str] | None = None,
) -> str:
    """A job created with a webhook, uploaded, confirmed and queued; returns its id."""
    body: dict[str, Any] = {
        "preset": "interior",
        "item_count": item_count,
        "webhook_url": webhook_url,
    }
    if events is not None:
        body["webhook_events"] = events
    response = await api.http.post("/jobs", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()["data"]
    await api.upload_all(created)
    assert (await api.confirm(user, created["job_id"])).status_code == 200
    assert (await api.execute(user, created["job_id"])).status_code == 202
    return str(created["job_id"])


async def finish_items(api: ApiClient, user: SignedIn, job_id: str, item_count: int) -> None:
    """Report every item done, as the GPU side does."""
    for idx in range(item_count):
        assert (await api.callback(job_id, user.user_id, idx)).status_code == 200


def verified_payloads(secret: str, requests: list[RecordedRequest]) -> list[dict[str, Any]]:
    """Every delivery checked with the Standard Webhooks reference package (raises if forged)."""
    verifier = Webhook(secret)
    payloads = []
    for request in requests:
        headers = {
            name: request.headers[name]
            for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        }
        verifier.verify(request.body, headers)
        payloads.append({"webhook-id": headers["webhook-id"], **json.loads(request.body)})
    return payloads


@dataclass
class WaitingReceiver:
    """A webhook receiver answering from a script, that a test can wait on without sleeping."""

    script: list[int]
    requests: list[RecordedRequest] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def app(self) -> FastAPI:
        """Records every POST and answers the next scripted status (then 200)."""
        application = FastAPI()

        @application.post("/{path:path}")
        async def receive(request: Request, path: str) -> Response:
            body = await request.body()
            with self._arrived:
                self.requests.append(
                    RecordedRequest(request.method, "/" + path, dict(request.headers), body)
                )
                status = self.script.pop(0) if self.script else 200
                self._arrived.notify_all()
            return Response(status_code=status)

        return application

    def wait_for(self, count: int, timeout_seconds: float) -> list[RecordedRequest]:
        """The first `count` requests, once they have arrived (fails after the timeout)."""
        with self._arrived:
            arrived = self._arrived.wait_for(lambda: len(self.requests) >= count, timeout_seconds)
            assert arrived, f"{len(self.requests)} of {count} webhook requests arrived"
            return list(self.requests[:count])

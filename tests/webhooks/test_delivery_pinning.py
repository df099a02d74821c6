"""Production deliveries: each attempt checks the URL and dials only the address checked."""

from __future__ import annotations

import dataclasses

import pytest

from s3api.context import AppContext
from tests.support.factories import ApiClient
from tests.support.outbound_network import (
    PUBLIC_ADDRESS,
    RECEIVER_NAME,
    FakeNetwork,
    FlippingResolver,
    http_answer,
)
from tests.support.webhooks import (
    dispatcher_for,
    finish_items,
    freeze_webhook_clock,
    job_with_webhook,
)
from tests.support.worker import scripted_endpoint

REFUSED = "refused: the URL resolves to a private, loopback or link-local address"


async def test_a_name_flipping_to_loopback_never_reaches_the_local_receiver(
    api: ApiClient, context: AppContext
) -> None:
    clock = freeze_webhook_clock(context)
    user = await api.sign_in()
    production = dataclasses.replace(context.webhook_policy, is_production=True)
    network = FakeNetwork(answers=[http_answer(500)])
    resolver = FlippingResolver([[PUBLIC_ADDRESS], ["127.0.0.1"]])
    with scripted_endpoint([]) as (receiver, url):
        port = int(url.rsplit(":", 1)[1])
        job_id = await job_with_webhook(api, user, f"https://{RECEIVER_NAME}:{port}/hook", 1)
        await finish_items(api, user, job_id, 1)
        async with dispatcher_for(
            context, production, resolve=resolver, network_backend=network
        ) as dispatcher:
            for _ in range(4):
                assert await dispatcher.deliver_pending() == 1
                clock.advance(1)
    assert receiver.requests == []
    assert network.dialled == [(PUBLIC_ADDRESS, port)] * 2
    assert all(dial.host_header == f"{RECEIVER_NAME}:{port}" for dial in network.dials)
    webhook = (await api.job(user, job_id))["webhook"]
    assert webhook["attempts"] == 4
    assert webhook["last_status"] == "dead"
    assert webhook["last_error"] == REFUSED


async def test_a_redirect_answer_is_a_failed_attempt_and_is_not_followed(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    production = dataclasses.replace(context.webhook_policy, is_production=True)
    with scripted_endpoint([]) as (receiver, url):
        location = url.replace("http:", "https:") + "/inside"
        network = FakeNetwork(answers=[http_answer(307, {"Location": location})])
        resolver = FlippingResolver([[PUBLIC_ADDRESS]])
        job_id = await job_with_webhook(api, user, f"https://{RECEIVER_NAME}/hook", 1)
        await finish_items(api, user, job_id, 1)
        async with dispatcher_for(
            context, production, resolve=resolver, network_backend=network
        ) as dispatcher:
            assert await dispatcher.deliver_pending() == 1
    assert receiver.requests == []
    assert network.dialled == [(PUBLIC_ADDRESS, 443)]
    webhook = (await api.job(user, job_id))["webhook"]
    assert webhook["last_error"] == "receiver answered 307"


@pytest.mark.parametrize(
    "address",
    [
        "100.100.100.200",
        "::ffff:100.64.0.1",
        "2002:7f00:1::",
        "64:ff9b::7f00:1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "127.0.0.1",
    ],
)
@pytest.mark.parametrize("named", [True, False], ids=["by-name", "literal"])
async def test_each_non_public_form_is_refused_before_every_attempt_and_never_dialled(
    api: ApiClient, context: AppContext, address: str, named: bool
) -> None:
    clock = freeze_webhook_clock(context)
    user = await api.sign_in()
    production = dataclasses.replace(context.webhook_policy, is_production=True)
    network = FakeNetwork()
    resolver = FlippingResolver([[address]])
    host = RECEIVER_NAME if named else (f"[{address}]" if ":" in address else address)
    job_id = await job_with_webhook(api, user, f"https://{host}/hook", 1)
    await finish_items(api, user, job_id, 1)
    async with dispatcher_for(
        context, production, resolve=resolver, network_backend=network
    ) as dispatcher:
        for _ in range(2):
            assert await dispatcher.deliver_pending() == 1
            clock.advance(1)
    assert network.dials == []
    assert len(resolver.lookups) == (2 if named else 0)
    webhook = (await api.job(user, job_id))["webhook"]
    assert (webhook["attempts"], webhook["last_error"]) == (2, REFUSED)

"""A stand-in for the GPU side of analyses: label maps, instances file, overlay, callback.

This module holds no tests. It writes the objects straight into the app's storage (so it
works on local storage and on S3 alike) and reports through the real callback route.
"""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import delete, select

from s3api.context import AppContext
from s3api.db.models import QueueMessage
from tests.support.databases import TEST_CALLBACK_SECRET
from tests.support.factories import ApiClient, SignedIn

SECRET_HEADERS = {"X-Callback-Secret": TEST_CALLBACK_SECRET}
WIDTH, HEIGHT = 16, 12
# two instances per concept: #1 in the top-left corner, #2 beside it
INSTANCES: list[dict[str, Any]] = [
    {"id": 1, "bbox": [0, 0, 4, 4], "area": 16, "score": 0.9},
    {"id": 2, "bbox": [6, 0, 4, 4], "area": 16, "score": 0.8},
]
FLOOR_KEEP_WALL: dict[str, Any] = {
    "concepts": {"Floor": {"action": "recolor", "value": "oak_a"}},
    "protect": ["Wall"],
}


def label_map_png() -> bytes:
    """A label map of `INSTANCES`: 0 = none, k = instance k."""
    image = Image.new("L", (WIDTH, HEIGHT), 0)
    for instance in INSTANCES:
        x, y, w, h = instance["bbox"]
        image.paste(int(instance["id"]), (x, y, x + w, y + h))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def overlay_png() -> bytes:
    """A tiny tinted preview."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


async def post_analyze(
    api: ApiClient, user: SignedIn, job_id: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    """`POST /jobs/{id}/analyze`."""
    return await api.http.post(
        f"/jobs/{job_id}/analyze", json=body or FLOOR_KEEP_WALL, headers=user.headers
    )


async def post_analysis_callback(
    api: ApiClient, job_id: str, body: dict[str, Any]
) -> httpx.Response:
    """`POST /jobs/{id}/analysis/callback` as the GPU side."""
    return await api.http.post(
        f"/jobs/{job_id}/analysis/callback", json=body, headers=SECRET_HEADERS
    )


async def analysis_bodies(context: AppContext) -> list[dict[str, Any]]:
    """The queued analysis messages."""
    async with context.database.read() as connection:
        rows = await connection.execute(select(QueueMessage.body))
        return [dict(body) for (body,) in rows if body.get("kind") == "analysis"]


def done_report(body: dict[str, Any], item: dict[str, Any], attempt: int = 1) -> dict[str, Any]:
    """The `done` callback of one item of an analysis message."""
    return {
        "analysis_id": body["analysis_id"],
        "idx": item["idx"],
        "status": "done",
        "idempotency_key": f"{body['idempotency_prefix']}:{item['idx']}:{attempt}",
        "width": WIDTH,
        "height": HEIGHT,
        "masks": {concept: entry["key"] for concept, entry in item["masks"].items()},
        "instances_key": item["instances_key"],
        "overlay_key": item["overlay_key"],
        "instances": dict.fromkeys(item["concepts"], INSTANCES),
    }


async def store_item_objects(context: AppContext, item: dict[str, Any]) -> None:
    """What a worker stores for one item: label maps, the merged instances file, the overlay."""
    storage = context.storage
    for entry in item["masks"].values():
        await storage.put_bytes(entry["key"], label_map_png(), "image/png")
    concepts = {**item["known_instances"], **dict.fromkeys(item["concepts"], INSTANCES)}
    document = {"width": WIDTH, "height": HEIGHT, "concepts": concepts}
    await storage.put_bytes(
        item["instances_key"], json.dumps(document).encode(), "application/json"
    )
    await storage.put_bytes(item["overlay_key"], overlay_png(), "image/png")


async def run_analysis(
    api: ApiClient, context: AppContext, failed: tuple[int, ...] = ()
) -> list[dict[str, Any]]:
    """Process every queued analysis message: store and report each item (`failed` ones fail).

    Returns the callback answers' data.
    """
    answers = []
    bodies = await analysis_bodies(context)
    for body in bodies:
        for item in body["items"]:
            if item["idx"] in failed:
                report: dict[str, Any] = {
                    "analysis_id": body["analysis_id"],
                    "idx": item["idx"],
                    "status": "failed",
                    "idempotency_key": f"{body['idempotency_prefix']}:{item['idx']}:1",
                    "error": "could not segment",
                }
            else:
                await store_item_objects(context, item)
                report = done_report(body, item)
            response = await post_analysis_callback(api, body["job_id"], report)
            assert response.status_code == 200, response.text
            answers.append(response.json()["data"])
    # what the worker's ack does once every item is reported
    async with context.database.transaction() as connection:
        await connection.execute(
            delete(QueueMessage).where(
                QueueMessage.subject_id.in_([body["analysis_id"] for body in bodies])
            )
        )
    return answers

"""The templates of the chaos run: execute bodies asking for sets (drafts charged three
renders a photo, options one per colour), a GPU side storing variant renders and assembling
sets with mischief, and the invariants that renders and sets add."""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING, Any

import httpx
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.models import BillingEvent, Job, OutputSet, QueueMessage

if TYPE_CHECKING:
    from bench.chaos import Chaos

OPTIONS = ["navy", "#1f3a5f", "terracotta"]
BODY_NAVY = {"Body": {"action": "recolor", "value": "navy"}}
ZIP_BYTES = b"PK\x03\x04 chaos zip"
TERMINAL = ("done", "failed", "canceled")


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 90, 90)).save(buffer, format="JPEG")
    return buffer.getvalue()


JPEG_BYTES = _jpeg()


def pick_job(chaos: Chaos, concepts: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A preset and an execute body: a third plain, the rest asking for a set."""
    roll = chaos.random.random()
    if roll < 0.33:
        return "interior", {"concepts": concepts}
    if roll < 0.55:
        return "interior", {"output_template": "시안3안팩"}  # three drafts, no own edits
    if roll < 0.7:
        return "interior", {"concepts": concepts, "output_template": "전후비교"}
    return "seller", {"concepts": BODY_NAVY, "output_template": "옵션보드", "options": OPTIONS}


async def store_variants(chaos: Chaos, client: httpx.AsyncClient, item: dict[str, Any]) -> None:
    """PUT every variant render of an item, as a worker does before it reports it done."""
    base = chaos.server.base_url
    for url in item.get("variant_urls", []):
        await chaos.call(client, "PUT", url.removeprefix(base), content=b"\x89PNG\r\n\x1a\n v")


async def report_output_set(
    chaos: Chaos,
    client: httpx.AsyncClient,
    secret: str,
    message: dict[str, Any],
    failing: float = 0.1,
) -> bool:
    """Upload the planned files and the zip and report the set ready (sometimes twice, or
    failed, or before a file is stored); True once a report was taken."""
    body = message["body"]
    base = chaos.server.base_url
    key = f"{body['idempotency_prefix']}:{message['attempts']}"
    report: dict[str, Any] = {"set_id": body["set_id"], "idempotency_key": key}
    if chaos.random.random() < failing:
        report |= {"status": "failed", "error": "chaos: assembly failed"}
    else:
        skip_one = chaos.random.random() < 0.1 and bool(body["files"])
        for position, entry in enumerate(body["files"]):
            if skip_one and position == 0:
                chaos.counts["set reported before a file was stored"] += 1
                continue
            await chaos.call(client, "PUT", entry["url"].removeprefix(base), content=JPEG_BYTES)
        await chaos.call(client, "PUT", body["zip_url"].removeprefix(base), content=ZIP_BYTES)
        report |= {
            "status": "ready",
            "zip_key": body["zip_key"],
            "files": [
                {
                    "name": entry["name"],
                    "key": entry["key"],
                    "width": entry["width"] or 8,
                    "height": entry["height"] or 8,
                }
                for entry in body["files"]
            ],
        }
    sends = [report, report] if chaos.random.random() < 0.2 else [report]
    path = f"/jobs/{body['job_id']}/output-set/callback"
    answers = await asyncio.gather(
        *(chaos.call(client, "POST", path, json=send, headers=chaos.gpu(secret)) for send in sends)
    )
    for answer in answers:
        chaos.counts[f"set callback {answer.status_code}"] += 1
    return answers[0].status_code == 200


async def render_violations(connection: AsyncConnection) -> list[str]:
    """Renders past each photo's first are reserved once and exactly; no set is left
    pending once its job ended without a queue message to assemble it."""
    violations: list[str] = []
    sets = {
        job_id: len(variants or []) or 1
        for job_id, variants in await connection.execute(
            select(OutputSet.job_id, OutputSet.variants)
        )
    }
    reserved = {
        job_id: (int(count), int(total))
        for job_id, count, total in await connection.execute(
            select(BillingEvent.job_id, func.count(), func.sum(BillingEvent.amount))
            .where(BillingEvent.kind == "reserve_renders")
            .group_by(BillingEvent.job_id)
        )
    }
    for job_id, total_items in await connection.execute(select(Job.id, Job.total_items)):
        extra = total_items * (sets.get(job_id, 1) - 1)
        count, amount = reserved.get(job_id, (0, 0))
        if (count, -amount) != ((1, extra) if extra else (0, 0)):
            violations.append(f"job {job_id}: {count} render reserves of {-amount}, not {extra}")
    for job_id, status in await connection.execute(
        select(Job.id, Job.status)
        .join(OutputSet, OutputSet.job_id == Job.id)
        .outerjoin(QueueMessage, QueueMessage.subject_id == OutputSet.set_id)
        .where(
            Job.status.in_(TERMINAL),
            OutputSet.status == "pending",
            QueueMessage.id.is_(None),
        )
    ):
        violations.append(f"job {job_id}: {status} with its set pending and no assembly message")
    return violations


async def renders_by_job(connection: AsyncConnection) -> dict[str, int]:
    """Edits rendered per photo, of every job whose set has variants."""
    return {
        job_id: len(variants)
        for job_id, variants in await connection.execute(
            select(OutputSet.job_id, OutputSet.variants)
        )
        if variants
    }

"""The analysis step of the chaos run: analyze, a GPU side storing label maps and reporting
them with mischief, and the invariants that analyses add."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import TYPE_CHECKING, Any

import httpx
from PIL import Image
from sqlalchemy import Subquery, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.models import AnalysisItem, Job, JobAnalysis, JobItem, QueueMessage

if TYPE_CHECKING:
    from bench.chaos import Chaos

WIDTH, HEIGHT = 16, 12
INSTANCES = [
    {"id": 1, "bbox": [0, 0, 4, 4], "area": 16, "score": 0.9},
    {"id": 2, "bbox": [6, 0, 4, 4], "area": 16, "score": 0.8},
]


def _png(mode: str, colour: int | tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (WIDTH, HEIGHT), colour).save(buffer, format="PNG")
    return buffer.getvalue()


LABEL_MAP = _png("L", 1)
OVERLAY = _png("RGB", (200, 40, 40))


async def analyze_and_wait(
    chaos: Chaos,
    client: httpx.AsyncClient,
    job_path: str,
    headers: dict[str, str],
    concepts: dict[str, Any],
) -> bool:
    """`POST …/analyze` (sometimes twice: the second answer is 409 or from storage), then wait
    until the analysis is no longer running; False when it never ended."""
    for _ in range(2 if chaos.random.random() < 0.3 else 1):
        answer = await chaos.call(
            client, "POST", f"{job_path}/analyze", json={"concepts": concepts}, headers=headers
        )
        chaos.counts[f"analyze {answer.status_code}"] += 1
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = (await chaos.call(client, "GET", job_path, headers=headers)).json()["data"]["job"]
        analysis = job["analysis"]
        if job["status"] != "uploaded" or analysis is None or analysis["status"] != "running":
            return True
        await asyncio.sleep(0.2)
    return False


async def report_analysis_item(
    chaos: Chaos,
    client: httpx.AsyncClient,
    secret: str,
    message: dict[str, Any],
    item: dict[str, Any],
    failing: float = 0.15,
) -> bool:
    """Store one photo's maps through the signed URLs and report it, sometimes twice or as
    failed; True once the report was taken."""
    body = message["body"]
    base = chaos.server.base_url
    key = f"{body['idempotency_prefix']}:{item['idx']}:{message['attempts']}"
    report: dict[str, Any] = {"analysis_id": body["analysis_id"], "idx": item["idx"]}
    report["idempotency_key"] = key
    if chaos.random.random() < failing:
        report |= {"status": "failed", "error": "chaos: no segmentation"}
    else:
        document = {"width": WIDTH, "height": HEIGHT, "concepts": {}}
        uploads = [(entry["url"], LABEL_MAP) for entry in item["masks"].values()]
        uploads += [
            (item["instances_url"], json.dumps(document).encode()),
            (item["overlay_url"], OVERLAY),
        ]
        for url, content in uploads:
            await chaos.call(client, "PUT", url.removeprefix(base), content=content)
        report |= {
            "status": "done",
            "width": WIDTH,
            "height": HEIGHT,
            "masks": {concept: entry["key"] for concept, entry in item["masks"].items()},
            "instances_key": item["instances_key"],
            "overlay_key": item["overlay_key"],
            "instances": dict.fromkeys(item["concepts"], INSTANCES),
        }
    sends = [report, report] if chaos.random.random() < 0.2 else [report]
    path = f"/jobs/{body['job_id']}/analysis/callback"
    answers = await asyncio.gather(
        *(chaos.call(client, "POST", path, json=send, headers=chaos.gpu(secret)) for send in sends)
    )
    for answer in answers:
        chaos.counts[f"analysis callback {answer.status_code}"] += 1
    return answers[0].status_code == 200


def analysed_not_done() -> Subquery:
    """Per job, the items analysed whose result is not done: used, so never refunded."""
    query = (
        select(AnalysisItem.job_id, func.count().label("analysed"))
        .join(JobItem, and_(JobItem.job_id == AnalysisItem.job_id, JobItem.idx == AnalysisItem.idx))
        .where(AnalysisItem.analysed_at.is_not(None), JobItem.status != "done")
        .group_by(AnalysisItem.job_id)
    )
    return query.subquery()


async def running_analyses_without_message(connection: AsyncConnection) -> list[str]:
    """Jobs still `uploaded` whose analysis runs but whose run has no queue message."""
    rows = await connection.execute(
        select(JobAnalysis.job_id)
        .join(Job, Job.id == JobAnalysis.job_id)
        .outerjoin(QueueMessage, QueueMessage.subject_id == JobAnalysis.run_id)
        .where(
            JobAnalysis.status == "running",
            Job.status == "uploaded",
            QueueMessage.id.is_(None),
        )
    )
    return [str(job_id) for (job_id,) in rows]

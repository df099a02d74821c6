"""What `GET /metrics` answers: the process metrics plus queue figures read at scrape time.

With `PROMETHEUS_MULTIPROC_DIR` set (several `serve` processes), the counters and
histograms of every process are merged from that directory; otherwise this process's
registry is exposed. Queue depth and dead letters come from the database in one query,
so every process answers the same figures and no gauge has to be kept in sync.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from s3api.db.models import DeadLetter, QueueMessage

MULTIPROCESS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class QueueDepth:
    """How many messages of one queue are in each state, and how many were dead-lettered."""

    ready: int  # visible, with deliveries left: the next pull takes them
    leased: int  # held by a consumer until its lease ends
    delayed: int  # released with a retry delay that has not passed yet
    exhausted: int  # out of deliveries, waiting for the background duty to dead-letter them
    dead_letters: int


async def read_queue_depth(
    connection: AsyncConnection, queue: str, now_ms: int, max_deliveries: int
) -> QueueDepth:
    """Count the queue's messages by state and its dead letters in one statement."""
    due = QueueMessage.available_at <= now_ms
    not_due = QueueMessage.available_at > now_ms

    def count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    dead_letters = (
        select(func.count()).select_from(DeadLetter).where(DeadLetter.queue == queue)
    ).scalar_subquery()
    row = (
        await connection.execute(
            select(
                count_where(and_(due, QueueMessage.attempts < max_deliveries)),
                count_where(and_(not_due, QueueMessage.lease_id.is_not(None))),
                count_where(and_(not_due, QueueMessage.lease_id.is_(None))),
                count_where(and_(due, QueueMessage.attempts >= max_deliveries)),
                dead_letters,
            )
            .select_from(QueueMessage)
            .where(QueueMessage.queue == queue)
        )
    ).one()
    ready, leased, delayed, exhausted, dead = (int(value) for value in row)
    return QueueDepth(ready, leased, delayed, exhausted, dead)


class _QueueDepthCollector(Collector):
    """Exposes one `QueueDepth` reading as gauges."""

    def __init__(self, queue: str, depth: QueueDepth) -> None:
        self.queue = queue
        self.depth = depth

    def collect(self) -> Iterator[Metric]:
        messages = GaugeMetricFamily(
            "s3api_queue_messages",
            "Messages in the queue by state (ready, leased, delayed, exhausted).",
            labels=["queue", "state"],
        )
        for state in ("ready", "leased", "delayed", "exhausted"):
            messages.add_metric([self.queue, state], getattr(self.depth, state))
        yield messages
        dead_letters = GaugeMetricFamily(
            "s3api_queue_dead_letters",
            "Messages that used up their deliveries and were dead-lettered.",
            labels=["queue"],
        )
        dead_letters.add_metric([self.queue], self.depth.dead_letters)
        yield dead_letters


def render_metrics(queue: str, depth: QueueDepth) -> bytes:
    """The text exposition of this process's (or every process's) metrics and `depth`."""
    if os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE):
        merged = CollectorRegistry()
        MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        process_metrics = generate_latest(merged)
    else:
        process_metrics = generate_latest(REGISTRY)
    database_metrics = CollectorRegistry()
    database_metrics.register(_QueueDepthCollector(queue, depth))
    return process_metrics + generate_latest(database_metrics)

"""The GPU worker's metrics, apart from the API's so the worker imports no database code.

In `serve` (embedded worker) they appear on the server's `/metrics`; `s3api worker`
serves them itself on `WORKER_METRICS_PORT`.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

_ITEM_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

WORKER_ITEM_SECONDS = Histogram(
    "s3api_worker_item_duration_seconds",
    "Worker time per item: download, engine, upload and report, by outcome.",
    ["outcome"],
    buckets=_ITEM_BUCKETS,
)
WORKER_ENGINE_SECONDS = Histogram(
    "s3api_worker_engine_duration_seconds",
    "Time the image engine spent on one item.",
    buckets=_ITEM_BUCKETS,
)


def observe_worker_item(outcome: str, seconds: float) -> None:
    """The worker finished with one item of a message."""
    WORKER_ITEM_SECONDS.labels(outcome).observe(seconds)


def observe_engine_time(seconds: float) -> None:
    """The image engine finished (or gave up on) one item."""
    WORKER_ENGINE_SECONDS.observe(seconds)


WORKER_SEGMENTATIONS = Counter(
    "s3api_worker_segmentations",
    "Concept segmentations per photo: computed by the segmenter or reused from a stored label map.",
    ["source"],
)


def observe_segmentations(*, computed: int, reused: int) -> None:
    """One photo's engine call segmented `computed` concepts and reused `reused` stored maps."""
    if computed:
        WORKER_SEGMENTATIONS.labels("computed").inc(computed)
    if reused:
        WORKER_SEGMENTATIONS.labels("reused").inc(reused)

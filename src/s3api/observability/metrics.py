"""The Prometheus metrics of the service and one small function per thing counted.

Counters and histograms only: they are correct in prometheus-client's multiprocess mode
(`PROMETHEUS_MULTIPROC_DIR`), which `serve` with several worker processes needs. Values
that describe the database (queue depth, dead letters) are read at scrape time instead,
see `s3api.observability.scrape`; the GPU worker's own metrics are in `worker_metrics`.

Domain counters are recorded with `after_commit`, so a rolled-back transaction counts
nothing and a retried one counts once.
"""

from __future__ import annotations

from functools import partial

from prometheus_client import Counter, Histogram, disable_created_metrics
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.types import Scope

from s3api.db.engine import after_commit

# `*_created` timestamps double the series and no dashboard of ours reads them
disable_created_metrics()  # type: ignore[no-untyped-call]

# a request whose path matched no route: one label value, whatever the path
UNMATCHED_ROUTE = "unmatched"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "s3api_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "s3api_http_request_duration_seconds",
    "Time from receiving a request to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)
JOBS_CREATED = Counter("s3api_jobs_created", "Jobs created (credits reserved).")
JOBS_FINISHED = Counter(
    "s3api_jobs_finished", "Jobs that reached a terminal status, by that status.", ["status"]
)
ITEMS_FINISHED = Counter(
    "s3api_items_finished", "Items that got their final status (done or failed).", ["status"]
)
CREDITS_MOVED = Counter(
    "s3api_credits_moved",
    "Credits moved on the ledger, by kind: reserve (at job creation), refund, grant.",
    ["kind"],
)


# labelled children by (method, route, status): a dict lookup instead of a locked
# `labels()` call on every request; bounded by the routes the app has
_http_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_http_request(scope: Scope, status: int, seconds: float) -> None:
    """Count one answered request under its route template (never the raw path)."""
    route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
    method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"
    key = (method, route, status)
    children = _http_children.get(key)
    if children is None:
        children = (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_REQUEST_SECONDS.labels(method, route),
        )
        _http_children[key] = children
    requests, latency = children
    requests.inc()
    latency.observe(seconds)


def count_job_created(connection: AsyncConnection) -> None:
    """A job was created in this transaction."""
    after_commit(connection, JOBS_CREATED.inc)


def count_job_finished(connection: AsyncConnection, status: str) -> None:
    """A job reached the terminal `status` in this transaction."""
    after_commit(connection, JOBS_FINISHED.labels(status=status).inc)


def count_items_finished(connection: AsyncConnection, status: str, count: int = 1) -> None:
    """`count` items got their final `status` in this transaction."""
    if count > 0:
        after_commit(connection, partial(ITEMS_FINISHED.labels(status=status).inc, count))


def count_credits_moved(connection: AsyncConnection, kind: str, amount: int) -> None:
    """A ledger movement of `amount` credits (signed) was written in this transaction."""
    if amount:
        after_commit(connection, partial(CREDITS_MOVED.labels(kind=kind).inc, abs(amount)))

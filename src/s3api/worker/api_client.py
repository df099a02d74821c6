"""The worker's HTTP calls: pull/ack, per-item callbacks and pre-signed storage URLs.

Connection errors, timeouts, 5xx and 429 answers are transient and retried with exponential
backoff (tenacity, a bounded number of attempts); any other 4xx answer is a rejection that
no retry would change. Only the API calls carry the shared secret, never the storage URLs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from s3api.worker.settings import WorkerSettings

logger = logging.getLogger("s3api.worker.api")


class ApiCallError(Exception):
    """A call the worker could not complete; the message is short and safe to log."""


class TransientApiError(ApiCallError):
    """Failed for a reason that may pass (connection, timeout, 5xx, 429), after all retries."""


class RejectedApiError(ApiCallError):
    """Answered with a 4xx other than 429: sending the same request again would not help."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently transient failures are retried."""

    attempts: int = 5
    backoff_seconds: float = 0.5
    backoff_max_seconds: float = 10.0


@dataclass(frozen=True)
class PulledMessage:
    """One leased queue message as the pull API hands it out."""

    id: str
    lease_id: str
    attempts: int
    body: dict[str, Any]


@dataclass(frozen=True)
class ItemReport:
    """The body of one `POST /jobs/{id}/callback`."""

    idx: int
    status: Literal["done", "failed"]
    idempotency_key: str
    output_key: str | None = None
    preview_key: str | None = None
    error: str | None = None
    segmentation: dict[str, Any] | None = None
    """For `done`: the label maps this edit stored (`{width, height, masks, instances_key,
    instances}`)."""

    def as_json(self) -> dict[str, Any]:
        """The callback body, without the fields that do not apply."""
        body: dict[str, Any] = {
            "idx": self.idx,
            "status": self.status,
            "idempotency_key": self.idempotency_key,
        }
        for name in ("output_key", "preview_key", "error", "segmentation"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body


@dataclass(frozen=True)
class AnalysisReport:
    """The body of one `POST /jobs/{id}/analysis/callback`."""

    analysis_id: str
    idx: int
    status: Literal["done", "failed"]
    idempotency_key: str
    error: str | None = None
    stored: dict[str, Any] | None = None
    """For `done`: `{width, height, masks, instances_key, overlay_key, instances}`."""

    def as_json(self) -> dict[str, Any]:
        """The callback body, without the fields that do not apply."""
        body: dict[str, Any] = {
            "analysis_id": self.analysis_id,
            "idx": self.idx,
            "status": self.status,
            "idempotency_key": self.idempotency_key,
        }
        if self.error is not None:
            body["error"] = self.error
        body.update(self.stored or {})
        return body


@dataclass(frozen=True)
class CallbackAnswer:
    """What the API did with a report; duplicates and late results count as reported."""

    processed: bool
    duplicate: bool
    job_status: str
    """The job's status; for an analysis report, the analysis run's."""


def _without_query(url: str) -> str:
    """The URL for log lines: a pre-signed query string is a credential."""
    return str(httpx.URL(url).copy_with(query=None))


class WorkerApiClient:
    """httpx client for everything the worker sends; use it as an async context manager."""

    def __init__(
        self,
        base_url: str,
        secret: str,
        policy: RetryPolicy | None = None,
        timeout_seconds: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.policy = policy or RetryPolicy()
        self._secret_headers = {"X-Callback-Secret": secret}
        self._http = httpx.AsyncClient(timeout=timeout_seconds, transport=transport)

    @classmethod
    def from_settings(
        cls, settings: WorkerSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> WorkerApiClient:
        """A client for the configured API, secret, timeout and retry budget."""
        return cls(
            settings.api_base_url,
            settings.resolved_callback_secret(),
            RetryPolicy(
                attempts=settings.worker_http_attempts,
                backoff_seconds=settings.worker_http_backoff_seconds,
                backoff_max_seconds=settings.worker_http_backoff_max_seconds,
            ),
            settings.worker_http_timeout_seconds,
            transport,
        )

    async def __aenter__(self) -> WorkerApiClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def pull(self, batch_size: int, visibility_timeout_seconds: int) -> list[PulledMessage]:
        """Lease up to `batch_size` messages for `visibility_timeout_seconds`."""
        body = {"batch_size": batch_size, "visibility_timeout_seconds": visibility_timeout_seconds}
        data = await self._api_call(f"{self.base_url}/queues/gpu-jobs/pull", body)
        return [
            PulledMessage(
                id=entry["id"],
                lease_id=entry["lease_id"],
                attempts=int(entry["attempts"]),
                body=entry["body"],
            )
            for entry in data["messages"]
        ]

    async def acknowledge(self, lease_id: str, *, patient: bool = True) -> bool:
        """Remove a finished message for good; False when the lease had already expired."""
        data = await self._api_call(
            f"{self.base_url}/queues/gpu-jobs/ack",
            {"acks": [{"lease_id": lease_id}]},
            attempts=None if patient else 1,
        )
        return bool(data["acked"])

    async def retry_later(
        self, lease_id: str, delay_seconds: int, error: str, *, patient: bool = True
    ) -> bool:
        """Hand a message back for redelivery after a delay; `patient=False` tries once."""
        body = {"retries": [{"lease_id": lease_id, "delay_seconds": delay_seconds, "error": error}]}
        url = f"{self.base_url}/queues/gpu-jobs/ack"
        data = await self._api_call(url, body, attempts=None if patient else 1)
        return bool(data["retried"])

    async def report_item(self, callback_url: str, report: ItemReport) -> CallbackAnswer:
        """`POST` one item's result to the job's callback URL."""
        data = await self._api_call(callback_url, report.as_json())
        return CallbackAnswer(
            processed=bool(data["processed"]),
            duplicate=bool(data["duplicate"]),
            job_status=str(data["job_status"]),
        )

    async def report_analysis(self, callback_url: str, report: AnalysisReport) -> CallbackAnswer:
        """`POST` one analysed photo's result to the job's analysis callback URL."""
        data = await self._api_call(callback_url, report.as_json())
        return CallbackAnswer(
            processed=bool(data["processed"]),
            duplicate=bool(data["duplicate"]),
            job_status=str(data["analysis_status"]),
        )

    async def report_output_set(self, callback_url: str, body: dict[str, Any]) -> dict[str, Any]:
        """`POST` an output set's answer to its callback URL; the envelope's data back."""
        return await self._api_call(callback_url, body)

    async def download(self, url: str) -> bytes:
        """`GET` a pre-signed URL."""
        response = await self._retrying("GET", url)
        return response.content

    async def upload(self, url: str, data: bytes, content_type: str) -> None:
        """`PUT` bytes to a pre-signed URL."""
        headers = {"Content-Type": content_type}
        await self._retrying("PUT", url, content=data, headers=headers)

    async def _api_call(
        self, url: str, body: dict[str, Any], attempts: int | None = None
    ) -> dict[str, Any]:
        """POST JSON with the secret and unwrap the envelope's `data`."""
        response = await self._retrying(
            "POST", url, attempts=attempts, json=body, headers=self._secret_headers
        )
        try:
            data = response.json()["data"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiCallError(f"POST {_without_query(url)}: answer is not an envelope") from exc
        if not isinstance(data, dict):
            raise ApiCallError(f"POST {_without_query(url)}: envelope has no data object")
        return data

    async def _retrying(
        self, method: str, url: str, *, attempts: int | None = None, **options: Any
    ) -> httpx.Response:
        """Send one request, retrying transient failures with exponential backoff."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientApiError),
            stop=stop_after_attempt(attempts or self.policy.attempts),
            wait=wait_exponential(
                multiplier=self.policy.backoff_seconds, max=self.policy.backoff_max_seconds
            ),
            # A retry that then succeeds is routine; the caller logs a final failure.
            before_sleep=before_sleep_log(logger, logging.INFO),
            reraise=True,
        )
        return await retrying(self._send, method, url, **options)

    async def _send(self, method: str, url: str, **options: Any) -> httpx.Response:
        """One request; classify the failure so only transient ones are retried."""
        where = f"{method} {_without_query(url)}"
        try:
            response = await self._http.request(method, url, **options)
        except httpx.TransportError as exc:
            raise TransientApiError(f"{where}: {type(exc).__name__}") from exc
        status = response.status_code
        if status == httpx.codes.TOO_MANY_REQUESTS or status >= 500:
            raise TransientApiError(f"{where}: answered {status}")
        if status >= 400:
            raise RejectedApiError(f"{where}: answered {status}", status)
        return response

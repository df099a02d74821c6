"""A typed, synchronous httpx wrapper over the parts of the HTTP API the demo uses."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any, TypeVar

import httpx
from httpx_sse import ServerSentEvent, connect_sse
from pydantic import BaseModel, ValidationError

from s3api.account.schemas import AccountState
from s3api.auth.schemas import AnonSession
from s3api.jobs.schemas import JobCreated, JobDetail, JobEnvelope
from s3api.presets.schemas import PresetDetail
from s3api.rules.schemas import RuleEnvelope, RuleList, RulePublic

REQUEST_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# A stream is quiet between events (pings keep it open): no read timeout.
STREAM_TIMEOUT = httpx.Timeout(30.0, connect=10.0, read=None)
UPLOAD_HEADERS = {"Content-Type": "application/octet-stream"}
JSON_HEADERS = {"Content-Type": "application/json"}

ModelT = TypeVar("ModelT", bound=BaseModel)


class DemoError(Exception):
    """Something the demo cannot get past, told as the API's error code and message."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details or {}


def _envelope_error(response: httpx.Response) -> DemoError:
    """The error an unsuccessful response stands for, from its envelope when it has one."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        details = error.get("details")
        return DemoError(
            error["code"],
            str(error.get("message", "")),
            details if isinstance(details, dict) else None,
        )
    return DemoError(
        f"HTTP_{response.status_code}",
        f"{response.request.method} {response.request.url.path} answered "
        f"{response.status_code} {response.reason_phrase}",
    )


class ApiClient:
    """One server, one signed-in user; every call returns a record or raises `DemoError`."""

    def __init__(self, base_url: str, http: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http or httpx.Client(timeout=REQUEST_TIMEOUT)
        self._token: str | None = None

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._http.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send one request, turning transport failures into `SERVER_UNREACHABLE`."""
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            where = httpx.URL(url).copy_with(query=None, fragment=None)
            raise DemoError(
                "SERVER_UNREACHABLE", f"cannot reach {where} ({type(exc).__name__}: {exc})"
            ) from exc

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call a JSON route and return the envelope's `data`."""
        headers = dict(JSON_HEADERS)
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        response = self._send(method, f"{self.base_url}{path}", json=body, headers=headers)
        if response.is_error:
            raise _envelope_error(response)
        try:
            return response.json()["data"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DemoError(
                "BAD_RESPONSE", f"{method} {path} did not answer with the API envelope"
            ) from exc

    @staticmethod
    def _parsed(model: type[ModelT], data: Any, what: str) -> ModelT:
        """Read `data` with the API's own schema; a contract breach is `BAD_RESPONSE`."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise DemoError("BAD_RESPONSE", f"{what}: unexpected response shape") from exc

    def check_health(self) -> None:
        """`GET /health`; raises unless the server is up."""
        self._call("GET", "/health")

    def sign_in(self, device_hash: str | None) -> AnonSession:
        """`POST /auth/anon`; later calls use the new token."""
        body = {"device_hash": device_hash} if device_hash else None
        session = self._parsed(AnonSession, self._call("POST", "/auth/anon", body), "sign-in")
        self._token = session.token
        return session

    def account(self) -> AccountState:
        """`GET /me`."""
        return self._parsed(AccountState, self._call("GET", "/me"), "/me")

    def preset(self, preset_id: str) -> PresetDetail:
        """`GET /presets/{id}`."""
        return self._parsed(PresetDetail, self._call("GET", f"/presets/{preset_id}"), "preset")

    def rules(self) -> list[RulePublic]:
        """`GET /rules`, newest first."""
        return self._parsed(RuleList, self._call("GET", "/rules"), "rules").rules

    def create_rule(
        self,
        name: str,
        preset_id: str,
        concepts: dict[str, dict[str, str]],
        protect: list[str],
    ) -> RulePublic:
        """`POST /rules`."""
        body = {"name": name, "preset_id": preset_id, "concepts": concepts, "protect": protect}
        return self._parsed(RuleEnvelope, self._call("POST", "/rules", body), "rule").rule

    def create_job(self, preset_id: str, item_count: int) -> JobCreated:
        """`POST /jobs`: reserves the credits and hands out one upload URL per item."""
        data = self._call("POST", "/jobs", {"preset": preset_id, "item_count": item_count})
        return self._parsed(JobCreated, data, "job creation")

    def upload(self, url: str, content: bytes) -> None:
        """`PUT` the bytes of one input to its pre-signed URL."""
        response = self._send("PUT", url, content=content, headers=UPLOAD_HEADERS)
        if response.is_error:
            raise _envelope_error(response)

    def confirm_upload(self, job_id: str) -> None:
        """`POST /jobs/{id}/confirm-upload`."""
        self._call("POST", f"/jobs/{job_id}/confirm-upload")

    def execute(
        self,
        job_id: str,
        rule_id: str,
        template: str | None = None,
        options: list[str] | None = None,
    ) -> None:
        """`POST /jobs/{id}/execute` with a saved rule (and an output template, and the
        colours of `옵션보드`)."""
        body: dict[str, Any] = {"rule_id": rule_id}
        if template is not None:
            body["output_template"] = template
        if options is not None:
            body["options"] = options
        self._call("POST", f"/jobs/{job_id}/execute", body)

    def job(self, job_id: str) -> JobDetail:
        """`GET /jobs/{id}`."""
        return self._parsed(JobEnvelope, self._call("GET", f"/jobs/{job_id}"), "job").job

    def job_events(self, job_id: str) -> Iterator[ServerSentEvent]:
        """`GET /jobs/{id}/events`: the job's server-sent events until the server closes."""
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        url = f"{self.base_url}/jobs/{job_id}/events"
        try:
            with connect_sse(
                self._http, "GET", url, headers=headers, timeout=STREAM_TIMEOUT
            ) as source:
                if source.response.is_error:
                    source.response.read()
                    raise _envelope_error(source.response)
                yield from source.iter_sse()
        except httpx.TransportError as exc:
            raise DemoError(
                "SERVER_UNREACHABLE", f"lost the event stream of job {job_id} ({exc})"
            ) from exc

    def cancel(self, job_id: str) -> None:
        """`POST /jobs/{id}/cancel`."""
        self._call("POST", f"/jobs/{job_id}/cancel")

    def download(self, url: str) -> bytes:
        """`GET` an object from its pre-signed URL."""
        response = self._send("GET", url)
        if response.is_error:
            raise _envelope_error(response)
        return response.content

"""`LOG_FORMAT=json`: one object a line, carrying the request, user, job and item ids."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from s3api.logging_setup import build_formatter
from s3api.observability.log_context import LogContextFilter
from s3api.settings import LogFormat, Settings
from s3api.worker.messages import WorkMessage
from tests.support.factories import ApiClient
from tests.support.processing import FakeApi, message, processor
from tests.support.worker import CORRUPT_JPEG


class JsonLines:
    """What a JSON-formatted handler on the `s3api` loggers wrote."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def records(self) -> list[dict[str, Any]]:
        lines = self.stream.getvalue().splitlines()
        return [json.loads(line) for line in lines]

    def from_logger(self, name: str) -> list[dict[str, Any]]:
        return [record for record in self.records() if record["logger"] == name]


@pytest.fixture
def json_lines() -> Iterator[JsonLines]:
    """A JSON handler, as `configure_logging` builds it, on the service's loggers."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(build_formatter(LogFormat.JSON))
    handler.addFilter(LogContextFilter())
    service_logger = logging.getLogger("s3api")
    previous_level = service_logger.level
    service_logger.addHandler(handler)
    service_logger.setLevel(logging.INFO)
    yield JsonLines(stream)
    service_logger.removeHandler(handler)
    service_logger.setLevel(previous_level)


async def test_access_lines_carry_request_user_and_job_ids(
    api: ApiClient, json_lines: JsonLines
) -> None:
    user = await api.sign_in()
    job_id = (await api.create_job(user, item_count=1))["job_id"]
    response = await api.http.get(f"/jobs/{job_id}", headers=user.headers)
    assert response.status_code == 200
    [line] = [
        record
        for record in json_lines.from_logger("s3api.access")
        if record["request_id"] == response.headers["x-request-id"]
    ]
    assert (line["user_id"], line["job_id"], line["level"]) == (user.user_id, job_id, "INFO")
    assert (line["method"], line["path"], line["status"]) == ("GET", f"/jobs/{job_id}", 200)
    assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)
    assert "idx" not in line
    assert user.token not in json_lines.stream.getvalue()


async def test_ids_of_one_request_do_not_leak_into_the_next(
    api: ApiClient, json_lines: JsonLines
) -> None:
    user = await api.sign_in()
    await api.me(user)
    response = await api.http.get("/health")
    [line] = [
        record
        for record in json_lines.from_logger("s3api.access")
        if record["request_id"] == response.headers["x-request-id"]
    ]
    assert "user_id" not in line
    assert "job_id" not in line


async def test_callback_lines_carry_the_item(api: ApiClient, json_lines: JsonLines) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, item_count=2))["job_id"]
    response = await api.callback(job_id, user.user_id, 1)
    assert response.status_code == 200
    [line] = [
        record
        for record in json_lines.from_logger("s3api.access")
        if record["request_id"] == response.headers["x-request-id"]
    ]
    assert (line["job_id"], line["idx"]) == (job_id, 1)


async def test_worker_lines_carry_the_job_and_item(json_lines: JsonLines) -> None:
    fake = FakeApi(inputs={0: CORRUPT_JPEG})
    work: WorkMessage = message(1)
    await processor(fake).process(work, attempt=1)
    [failed] = [
        record
        for record in json_lines.from_logger("s3api.worker.processing")
        if "failed" in record["message"] and "idx" in record
    ]
    assert (failed["job_id"], failed["idx"]) == ("job-1", 0)
    assert "request_id" not in failed


def test_text_stays_the_default_format() -> None:
    record = logging.LogRecord("s3api.test", logging.INFO, __file__, 1, "hello", None, None)
    line = build_formatter(LogFormat.TEXT).format(record)
    assert line.endswith("INFO s3api.test hello")
    assert Settings(_env_file=None).log_format is LogFormat.TEXT

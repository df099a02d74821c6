"""Ids that JSON log lines carry: set where they become known, read by a logging filter.

Context variables follow the request or worker task that set them, so concurrent requests
and items never see each other's ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("s3api_request_id", default=None)
_user_id: ContextVar[str | None] = ContextVar("s3api_user_id", default=None)
_job_id: ContextVar[str | None] = ContextVar("s3api_job_id", default=None)
_idx: ContextVar[int | None] = ContextVar("s3api_idx", default=None)

_FIELDS = (("request_id", _request_id), ("user_id", _user_id), ("job_id", _job_id))


@contextmanager
def request_log_context(request_id: str) -> Iterator[None]:
    """Log records within carry `request_id`; ids bound during the request end with it."""
    tokens = (
        _request_id.set(request_id),
        _user_id.set(None),
        _job_id.set(None),
        _idx.set(None),
    )
    try:
        yield
    finally:
        _idx.reset(tokens[3])
        _job_id.reset(tokens[2])
        _user_id.reset(tokens[1])
        _request_id.reset(tokens[0])


def bind_user_id(user_id: str) -> None:
    """The authenticated user of the current request."""
    _user_id.set(user_id)


def bind_job_id(job_id: str | None) -> None:
    """The job the current request or worker task is about."""
    _job_id.set(job_id)


def bind_item(job_id: str, idx: int) -> None:
    """The item the current request or worker task is about."""
    _job_id.set(job_id)
    _idx.set(idx)


class LogContextFilter(logging.Filter):
    """Copies the known ids onto each record, leaving out the ones not known."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, variable in _FIELDS:
            value = variable.get()
            if value is not None:
                setattr(record, name, value)
        idx = _idx.get()
        if idx is not None:
            record.idx = idx
        return True

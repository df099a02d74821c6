"""UTC clock and the API's timestamp format."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated

from pydantic import PlainSerializer


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def now_ms() -> int:
    """The current time in epoch milliseconds (queue timings)."""
    return time.time_ns() // 1_000_000


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z` suffix, as the client parses it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elif moment.utcoffset():
        moment = moment.astimezone(UTC)
    return f"{moment.replace(tzinfo=None).isoformat(timespec='milliseconds')}Z"


def timestamp_now() -> str:
    """`format_timestamp(utcnow())`, the stamp of every answer's meta block."""
    return timestamp_of_ns(time.time_ns())


def timestamp_of_ns(epoch_ns: int) -> str:
    """`format_timestamp` of an epoch time in nanoseconds. The text up to the seconds is kept
    for the second it names, so most answers only format their milliseconds."""
    second, rest_ns = divmod(epoch_ns, 1_000_000_000)
    return f"{_text_of_second(second)}.{rest_ns // 1_000_000:03d}Z"


@lru_cache(maxsize=1)
def _text_of_second(second: int) -> str:
    moment = datetime.fromtimestamp(second, UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


Timestamp = Annotated[datetime, PlainSerializer(format_timestamp, return_type=str)]

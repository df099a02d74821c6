"""The API's timestamp format: UTC, milliseconds, a `Z`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from s3api.timeutil import format_timestamp, timestamp_now, timestamp_of_ns, utcnow

SECOND_NS = 1_000_000_000


def test_format_timestamp_writes_utc_with_milliseconds() -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    assert format_timestamp(moment) == "2026-03-04T05:06:07.890Z"
    assert format_timestamp(moment.replace(tzinfo=None)) == "2026-03-04T05:06:07.890Z"
    plus_two = moment.astimezone(timezone(timedelta(hours=2)))
    assert format_timestamp(plus_two) == "2026-03-04T05:06:07.890Z"


def test_timestamps_of_epoch_nanoseconds_agree_across_seconds_in_any_order() -> None:
    start = int(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()) * SECOND_NS
    moments = [
        start + 5_000_000,
        start + SECOND_NS + 999_999_999,
        start + 42,
        start + 3 * SECOND_NS,
    ]
    for epoch_ns in moments:
        expected = format_timestamp(datetime.fromtimestamp(epoch_ns // 1000 / 1e6, UTC))
        assert timestamp_of_ns(epoch_ns) == expected
    assert timestamp_of_ns(start + SECOND_NS + 999_999_999) == "2027-01-01T00:00:00.999Z"
    assert timestamp_of_ns(start + 42) == "2026-12-31T23:59:59.000Z"


def test_timestamp_now_lies_between_two_readings_of_the_clock() -> None:
    before = format_timestamp(utcnow())
    stamp = timestamp_now()
    after = format_timestamp(utcnow())
    assert before <= stamp <= after

"""A clock that moves only when a test says so."""

from __future__ import annotations

from s3api.context import AppContext


class FakeClock:
    """A millisecond clock for the queue; `advance` moves it, nothing else does."""

    def __init__(self, start_ms: int) -> None:
        self.now = start_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


def freeze_queue_clock(context: AppContext) -> FakeClock:
    """Replace the queue's clock by one that moves only with `advance`."""
    clock = FakeClock(context.queue.clock_ms())
    context.queue.clock_ms = clock
    return clock

"""A clock that moves only when a test says so."""

from __future__ import annotations


class FakeClock:
    """A millisecond clock for the queue; `advance` moves it, nothing else does."""

    def __init__(self, start_ms: int) -> None:
        self.now = start_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)

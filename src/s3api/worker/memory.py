"""Bounding the worker's memory: a pixel budget shared by its items, and giving memory back.

An item's decode and edit need memory in proportion to its pixels, so concurrent items
draw on one budget of pixels: several phone photos run side by side, while large photos
queue instead of multiplying the peak.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

logger = logging.getLogger("s3api.worker.memory")

LARGE_ITEM_PIXELS = 24_000_000
"""After an item this large the worker hands freed memory back to the operating system."""


class PixelBudget:
    """A weighted semaphore counted in pixels; first come, first served."""

    def __init__(self, total_pixels: int) -> None:
        if total_pixels < 1:
            raise ValueError("the pixel budget must be positive")
        self.total_pixels = total_pixels
        self.available_pixels = total_pixels
        self._turns = asyncio.Condition()
        self._queue: list[object] = []

    @asynccontextmanager
    async def reserve(self, pixels: int) -> AsyncIterator[int]:
        """Hold `pixels` (at most the whole budget) while the block runs; yields the charge."""
        charge = max(1, min(pixels, self.total_pixels))
        turn = object()
        async with self._turns:
            self._queue.append(turn)
            try:
                # in arrival order, so a large item is not starved by a stream of small ones
                await self._turns.wait_for(
                    lambda: self._queue[0] is turn and self.available_pixels >= charge
                )
            finally:
                self._queue.remove(turn)
                self._turns.notify_all()
            self.available_pixels -= charge
        try:
            yield charge
        finally:
            async with self._turns:
                self.available_pixels += charge
                self._turns.notify_all()


def release_memory() -> None:
    """Collect garbage and return the allocator's free pages to the operating system.

    Large arrays are mapped and unmapped directly, but Pillow's 16 MiB blocks and the
    per-thread malloc arenas of the engine threads keep freed memory otherwise.
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None on other C libraries."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim

"""What became of one item, and the failure a bad item is reported with."""

from __future__ import annotations

from enum import Enum

MAX_REASON_LENGTH = 200
CUSTOM_CONCEPTS_NEED_MODEL = "custom concepts need a model engine"


class ItemOutcome(Enum):
    """What became of one item in this delivery."""

    DONE = "done"  # processed and reported as done (or the API already had a result)
    FAILED = "failed"  # reported as failed with a reason
    UNREPORTED = "unreported"  # the API never took a report: the message must come back
    NOT_STARTED = "not_started"  # the worker was stopping before the item began
    SKIPPED = "skipped"  # the job had ended meanwhile (e.g. canceled): nothing left to do


class ItemFailedError(Exception):
    """A bad item: it is reported `failed` with this short reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def short_reason(error: Exception) -> str:
    """A one-line reason for a failed item, short enough for the item's `error`."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:MAX_REASON_LENGTH]

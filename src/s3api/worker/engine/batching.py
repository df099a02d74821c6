"""A micro-batcher: requests from many item threads share one model forward pass.

Each item thread calls `submit` and blocks; one runner thread takes the first waiting
request, gathers more until it has `max_batch` of them or `max_wait_seconds` have passed,
runs them as one batch and hands every caller its own answer (or the batch's exception).
CPU work of other items (decode, apply, encode, upload) goes on in their threads meanwhile.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

RequestT = TypeVar("RequestT")
AnswerT = TypeVar("AnswerT")

DEFAULT_MAX_WAIT_SECONDS = 0.005


@dataclass
class _Pending(Generic[RequestT, AnswerT]):
    request: RequestT
    answer: Future[AnswerT] = field(default_factory=Future)


class BatcherClosedError(RuntimeError):
    """The batcher was closed before it could run the request."""


class MicroBatcher(Generic[RequestT, AnswerT]):
    """Runs `run_batch` on up to `max_batch` requests at once, in one runner thread.

    `run_batch` gets the requests in arrival order and must return one answer per request,
    in the same order. Thread-safe; `close` ends the runner after the batch in progress.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[RequestT]], Sequence[AnswerT]],
        max_batch: int,
        max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
        name: str = "micro-batcher",
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait_seconds = max_wait_seconds
        self._inbox: queue.Queue[_Pending[RequestT, AnswerT] | None] = queue.Queue()
        self._closed = threading.Event()
        self._runner = threading.Thread(target=self._run, name=name, daemon=True)
        self._runner.start()

    def submit(self, request: RequestT) -> AnswerT:
        """Run `request` in the next batch and return its answer (blocks the caller)."""
        if self._closed.is_set():
            raise BatcherClosedError("the batcher is closed")
        pending: _Pending[RequestT, AnswerT] = _Pending(request)
        self._inbox.put(pending)
        return pending.answer.result()

    def close(self) -> None:
        """Stop the runner; requests still waiting fail with BatcherClosedError."""
        self._closed.set()
        self._inbox.put(None)
        self._runner.join()

    def _collect(self, first: _Pending[RequestT, AnswerT]) -> list[_Pending[RequestT, AnswerT]]:
        batch = [first]
        deadline = time.monotonic() + self.max_wait_seconds
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                pending = (
                    self._inbox.get(timeout=remaining)
                    if remaining > 0
                    else self._inbox.get_nowait()
                )
            except queue.Empty:
                break
            if pending is None:
                self._inbox.put(None)  # seen again by the loop, after this batch
                break
            batch.append(pending)
        return batch

    def _run(self) -> None:
        while True:
            first = self._inbox.get()
            if first is None:
                break
            batch = self._collect(first)
            try:
                answers = self._run_batch([pending.request for pending in batch])
                if len(answers) != len(batch):
                    raise RuntimeError(f"{len(answers)} answers for {len(batch)} requests")
            except BaseException as exc:
                for pending in batch:
                    pending.answer.set_exception(exc)
                continue
            for pending, answer in zip(batch, answers, strict=True):
                pending.answer.set_result(answer)
        while True:
            try:
                left = self._inbox.get_nowait()
            except queue.Empty:
                return
            if left is not None:
                left.answer.set_exception(BatcherClosedError("the batcher is closed"))

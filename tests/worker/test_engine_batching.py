"""The micro-batcher: requests from many threads share batches; answers go to their callers."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from s3api.worker.engine.batching import BatcherClosedError, MicroBatcher

LONG_WAIT = 30.0
"""Longer than any test: a batch closes because it is full, never because time ran out."""


class Recorder:
    """Doubles each request and records the batches it was given."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __call__(self, requests: Sequence[int]) -> list[int]:
        self.batches.append(list(requests))
        return [2 * request for request in requests]


def submit_from_threads(batcher: MicroBatcher[int, int], requests: list[int]) -> dict[int, int]:
    answers: dict[int, int] = {}
    lock = threading.Lock()

    def call(request: int) -> None:
        answer = batcher.submit(request)
        with lock:
            answers[request] = answer

    threads = [threading.Thread(target=call, args=(request,)) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_concurrent_requests_share_one_batch_and_each_gets_its_own_answer() -> None:
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch=6, max_wait_seconds=LONG_WAIT)
    try:
        answers = submit_from_threads(batcher, list(range(6)))
    finally:
        batcher.close()
    assert answers == {request: 2 * request for request in range(6)}
    assert len(recorder.batches) == 1
    assert sorted(recorder.batches[0]) == list(range(6))


def test_batches_never_exceed_max_batch() -> None:
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch=3, max_wait_seconds=LONG_WAIT)
    try:
        answers = submit_from_threads(batcher, list(range(9)))
    finally:
        batcher.close()
    assert answers == {request: 2 * request for request in range(9)}
    assert [len(batch) for batch in recorder.batches] == [3, 3, 3]


def test_a_lone_request_runs_without_waiting_for_company() -> None:
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch=8, max_wait_seconds=0)
    try:
        assert batcher.submit(21) == 42
    finally:
        batcher.close()
    assert recorder.batches == [[21]]


def test_a_failing_batch_raises_in_every_caller_and_the_batcher_goes_on() -> None:
    calls: list[Sequence[int]] = []

    def run(requests: Sequence[int]) -> list[int]:
        calls.append(requests)
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return list(requests)

    batcher = MicroBatcher(run, max_batch=1)
    try:
        with pytest.raises(RuntimeError, match="out of memory"):
            batcher.submit(1)
        assert batcher.submit(2) == 2
    finally:
        batcher.close()


def test_a_closed_batcher_refuses_requests() -> None:
    batcher = MicroBatcher(Recorder(), max_batch=2)
    batcher.close()
    with pytest.raises(BatcherClosedError):
        batcher.submit(1)


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(Recorder(), max_batch=0)

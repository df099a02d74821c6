"""One message → items: bounded concurrency, bad items reported as failed, unreported items."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from s3api.worker.engine import Engine, ImageDecodeError, decode_image
from tests.support.factories import jpeg_bytes
from tests.support.processing import FAST, FakeApi, RendezvousEngine, message, processor
from tests.support.worker import CORRUPT_JPEG, room_jpegs


async def test_items_run_in_parallel_up_to_the_message_batch_concurrency() -> None:
    engine = RendezvousEngine(parties=2)
    fake = FakeApi(inputs=dict.fromkeys(range(6), b"jpeg"))
    summary = await processor(fake, engine, max_concurrency=4).process(message(6, 2), attempt=1)
    assert (summary.done, summary.failed, summary.unfinished) == (6, 0, 0)
    assert engine.most_running == 2


async def test_items_in_flight_are_not_capped_by_the_default_thread_pool() -> None:
    parties = (os.cpu_count() or 1) + 8  # more than asyncio's default executor holds
    engine = RendezvousEngine(parties=parties)
    fake = FakeApi(inputs=dict.fromkeys(range(parties), b"jpeg"))
    batch = message(parties, parties)
    summary = await processor(fake, engine, max_concurrency=parties).process(batch, attempt=1)
    assert (summary.done, summary.unfinished) == (parties, 0)
    assert engine.most_running == parties


async def test_worker_concurrency_caps_a_larger_message_batch_concurrency() -> None:
    engine = RendezvousEngine(parties=1)
    fake = FakeApi(inputs=dict.fromkeys(range(3), b"jpeg"))
    summary = await processor(fake, engine, max_concurrency=1).process(message(3, 8), attempt=1)
    assert summary.is_complete
    assert engine.most_running == 1


async def test_done_items_upload_png_and_preview_and_report_their_keys() -> None:
    [photo] = room_jpegs(1)
    fake = FakeApi(inputs={0: photo})
    summary = await processor(fake).process(message(1), attempt=3)
    assert summary.done == 1
    assert fake.uploads["/out/0"].startswith(b"\x89PNG\r\n\x1a\n")
    assert fake.uploads["/prev/0"].startswith(b"\xff\xd8\xff")
    assert fake.callbacks == [
        {
            "idx": 0,
            "status": "done",
            "idempotency_key": "job-1:0:3",
            "output_key": "outputs/u/job-1/0_result.png",
            "preview_key": "previews/u/job-1/0_thumb.jpg",
        }
    ]


async def test_undecodable_input_is_reported_failed_and_the_others_done() -> None:
    photos = room_jpegs(2)
    fake = FakeApi(inputs={0: photos[0], 1: CORRUPT_JPEG, 2: photos[1]})
    summary = await processor(fake).process(message(3), attempt=1)
    assert (summary.done, summary.failed, summary.is_complete) == (2, 1, True)
    [failed] = [c for c in fake.callbacks if c["status"] == "failed"]
    assert failed["idx"] == 1
    with pytest.raises(ImageDecodeError) as decoding:
        decode_image(CORRUPT_JPEG)
    assert failed["error"] == str(decoding.value)
    assert "/out/1" not in fake.uploads


async def test_bad_rule_value_fails_the_item_with_the_reason() -> None:
    [photo] = room_jpegs(1)
    fake = FakeApi(inputs={0: photo})
    bad_rule = {"Floor": {"action": "recolor", "value": "no_such_colour"}}
    summary = await processor(fake).process(message(1, concepts=bad_rule), attempt=1)
    assert summary.failed == 1
    assert "unknown colour" in fake.callbacks[0]["error"]


async def test_missing_input_object_fails_the_item() -> None:
    fake = FakeApi(inputs={}, download_status=404)
    summary = await processor(fake).process(message(1), attempt=1)
    assert summary.failed == 1
    assert fake.callbacks[0]["error"] == "input image is missing from storage"


async def test_result_refused_as_too_large_fails_the_item() -> None:
    [photo] = room_jpegs(1)
    fake = FakeApi(inputs={0: photo}, upload_status=413)
    summary = await processor(fake).process(message(1), attempt=1)
    assert summary.failed == 1
    assert "larger than the storage accepts" in fake.callbacks[0]["error"]


async def test_an_item_whose_report_keeps_failing_leaves_the_message_incomplete() -> None:
    [photo] = room_jpegs(1)
    fake = FakeApi(inputs={0: photo}, callback_status=503)
    summary = await processor(fake).process(message(1), attempt=1)
    assert not summary.is_complete
    assert summary.unfinished == 1
    assert len(fake.callbacks) == FAST.attempts


async def test_a_duplicate_answer_counts_as_reported() -> None:
    [photo] = room_jpegs(1)
    fake = FakeApi(inputs={0: photo})
    fake.callback_answer = {"processed": False, "duplicate": True, "job_status": "running"}
    summary = await processor(fake).process(message(1), attempt=2)
    assert summary.is_complete


async def test_items_left_when_the_job_has_ended_are_skipped() -> None:
    engine = RendezvousEngine(parties=1)
    fake = FakeApi(inputs=dict.fromkeys(range(3), b"jpeg"))
    fake.callback_answer = {"processed": False, "duplicate": False, "job_status": "canceled"}
    summary = await processor(fake, engine, max_concurrency=1).process(message(3), attempt=1)
    assert summary.is_complete
    assert len(fake.callbacks) == 1


CUSTOM_RULES: dict[str, Any] = {
    "preset": "custom",
    "concepts": {"the red sofa": {"action": "recolor", "value": "#203040"}},
    "protect": ["the wooden floor"],
}


async def test_custom_concepts_fail_on_the_heuristic_engine_without_downloading() -> None:
    fake = FakeApi(inputs={}, download_status=500)
    summary = await processor(fake).process(message(2, **CUSTOM_RULES), attempt=1)
    assert (summary.done, summary.failed, summary.is_complete) == (0, 2, True)
    assert [c["error"] for c in fake.callbacks] == ["custom concepts need a model engine"] * 2
    assert fake.uploads == {}


async def test_custom_concepts_are_served_by_a_model_engine() -> None:
    [photo] = room_jpegs(1)
    fake = FakeApi(inputs={0: photo})
    engine = Engine(serves_custom_concepts=True)
    summary = await processor(fake, engine).process(message(1, **CUSTOM_RULES), attempt=1)
    assert summary.done == 1
    assert fake.uploads["/out/0"].startswith(b"\x89PNG\r\n\x1a\n")


class _HalvesSegmenter:
    """`Wall` is the whole image, `Grout` its left half: a Wall edit covers the grout."""

    def segment(self, image: Any, concepts: Any) -> dict[str, Any]:
        height, width = image.shape[:2]
        grout = np.zeros((height, width), dtype=np.bool_)
        grout[:, : width // 2] = True
        whole = np.ones((height, width), dtype=np.bool_)
        return {name: grout if name == "Grout" else whole for name in concepts}


async def _grout_half_of_the_result(protect: list[str]) -> Any:
    photo = jpeg_bytes(32, 24, (120, 120, 120))
    fake = FakeApi(inputs={0: photo})
    wall = {"Wall": {"action": "recolor", "value": "#FF0000"}}
    work = message(1, preset="interior", concepts=wall, protect=protect)
    summary = await processor(fake, Engine(segmenter=_HalvesSegmenter())).process(work, 1)
    assert summary.done == 1
    source = decode_image(photo)[:, :16].astype(np.int16)
    result = decode_image(fake.uploads["/out/0"])[:, :16].astype(np.int16)
    return np.abs(result - source).max()


async def test_an_empty_protect_list_lets_an_edit_change_grout_pixels() -> None:
    assert await _grout_half_of_the_result([]) > 50
    assert await _grout_half_of_the_result(["Grout"]) == 0


@pytest.mark.parametrize(
    ("output_format", "magic", "content_type"),
    [
        ("png", b"\x89PNG\r\n\x1a\n", "image/png"),
        ("jpeg", b"\xff\xd8\xff", "image/jpeg"),
        ("webp", b"RIFF", "image/webp"),
    ],
)
async def test_results_are_encoded_and_uploaded_in_the_messages_format(
    output_format: str, magic: bytes, content_type: str
) -> None:
    [photo] = room_jpegs(1)
    fake = FakeApi(inputs={0: photo})
    summary = await processor(fake).process(message(1, output_format=output_format), attempt=1)
    assert summary.done == 1
    assert fake.uploads["/out/0"].startswith(magic)
    assert fake.upload_types["/out/0"] == content_type
    assert fake.upload_types["/prev/0"] == "image/jpeg"

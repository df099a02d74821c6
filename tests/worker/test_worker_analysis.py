"""Analysis messages and stored segmentations through the worker's message processor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client import REGISTRY

from s3api.worker.dispatch import MalformedMessageError, parse_message
from s3api.worker.engine import decode_image
from s3api.worker.engine.instances import decode_label_map
from s3api.worker.handler import handle_event
from s3api.worker.messages import AnalysisMessage, WorkMessage
from s3api.worker.settings import WorkerSettings
from tests.support.drawn_windows import room_with_windows_png
from tests.support.processing import FakeApi, RendezvousEngine, message, processor

ANALYSED = {"processed": True, "duplicate": False, "analysis_status": "running"}
BLUE_WINDOWS = {"Window": {"action": "recolor", "value": "#3060A0"}}


def analysis_body(concepts: list[str], **item_changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "idx": 0,
        "input_key": "inputs/u/job-1/0.png",
        "input_url": "http://storage/in/0",
        "concepts": concepts,
        "masks": {
            c: {"key": f"masks/u/job-1/0_{c}.png", "url": f"http://storage/masks/0_{c}.png"}
            for c in concepts
        },
        "known_masks": {},
        "known_instances": {},
        "instances_key": "masks/u/job-1/0_instances.json",
        "instances_url": "http://storage/masks/0_instances.json",
        "overlay_key": "masks/u/job-1/0.overlay.png",
        "overlay_url": "http://storage/masks/0.overlay.png",
    }
    item.update(item_changes)
    return {
        "kind": "analysis",
        "analysis_id": "run-1",
        "job_id": "job-1",
        "user_id": "u",
        "preset": "interior",
        "concepts": concepts,
        "items": [item],
        "callback_url": "http://api/jobs/job-1/analysis/callback",
        "idempotency_prefix": "run-1",
        "batch_concurrency": 4,
    }


def segmentations(source: str) -> float:
    value = REGISTRY.get_sample_value("s3api_worker_segmentations_total", {"source": source})
    return value or 0.0


def test_messages_are_read_by_their_kind() -> None:
    assert isinstance(parse_message(analysis_body(["Window"])), AnalysisMessage)
    assert isinstance(parse_message(message(1).model_dump()), WorkMessage)
    with pytest.raises(MalformedMessageError, match="unknown message kind"):
        parse_message({**message(1).model_dump(), "kind": "something_else"})
    with pytest.raises(MalformedMessageError, match="malformed analysis message"):
        parse_message({**analysis_body(["Window"]), "items": "none"})


async def test_an_analysed_photo_stores_maps_instances_file_and_overlay_then_reports() -> None:
    fake = FakeApi(inputs={0: room_with_windows_png()}, callback_answer=ANALYSED)
    computed = segmentations("computed")
    body = parse_message(analysis_body(["Window", "Wall"]))
    summary = await processor(fake).process(body, attempt=2)
    assert (summary.done, summary.failed, summary.unfinished) == (1, 0, 0)
    assert segmentations("computed") == computed + 2
    [report] = fake.callbacks
    assert report["idempotency_key"] == "run-1:0:2"
    assert (report["analysis_id"], report["idx"], report["status"]) == ("run-1", 0, "done")
    assert (report["width"], report["height"]) == (1600, 1200)
    assert report["masks"] == {c: f"masks/u/job-1/0_{c}.png" for c in ("Window", "Wall")}
    assert report["instances_key"] == "masks/u/job-1/0_instances.json"
    assert report["overlay_key"] == "masks/u/job-1/0.overlay.png"
    assert [s["id"] for s in report["instances"]["Window"]] == [1, 2, 3]
    document = json.loads(fake.uploads["/masks/0_instances.json"])
    assert document == {"width": 1600, "height": 1200, "concepts": report["instances"]}
    assert fake.upload_types["/masks/0_instances.json"] == "application/json"
    labels = decode_label_map(fake.uploads["/masks/0_Window.png"], 1200, 1600)
    assert sorted(int(v) for v in np.unique(labels)) == [0, 1, 2, 3]
    assert fake.uploads["/masks/0.overlay.png"].startswith(b"\x89PNG")


async def test_the_instances_file_merges_the_concepts_already_stored() -> None:
    photo = room_with_windows_png()
    first = FakeApi(inputs={0: photo}, callback_answer=ANALYSED)
    await processor(first).process(parse_message(analysis_body(["Window"])), attempt=1)
    known = first.callbacks[0]["instances"]
    fake = FakeApi(
        inputs={0: photo},
        callback_answer=ANALYSED,
        stored={"0_Window.png": first.uploads["/masks/0_Window.png"]},
    )
    body = analysis_body(
        ["Floor"],
        known_masks={"Window": {"key": "k", "url": "http://storage/stored/0_Window.png"}},
        known_instances=known,
    )
    await processor(fake).process(parse_message(body), attempt=1)
    document = json.loads(fake.uploads["/masks/0_instances.json"])
    assert set(document["concepts"]) == {"Window", "Floor"}
    assert document["concepts"]["Window"] == known["Window"]
    assert set(fake.callbacks[0]["instances"]) == {"Floor"}


async def test_a_photo_that_cannot_be_analysed_is_reported_failed_with_a_reason() -> None:
    fake = FakeApi(inputs={0: b"not an image"}, callback_answer=ANALYSED)
    summary = await processor(fake).process(parse_message(analysis_body(["Window"])), attempt=1)
    assert (summary.done, summary.failed) == (0, 1)
    [report] = fake.callbacks
    assert report["status"] == "failed"
    assert report["error"]
    assert "masks" not in report
    assert fake.uploads == {}


async def test_an_engine_that_cannot_analyse_fails_the_photo() -> None:
    fake = FakeApi(inputs={0: b"jpeg"}, callback_answer=ANALYSED)
    engine = RendezvousEngine(parties=1)
    summary = await processor(fake, engine).process(
        parse_message(analysis_body(["Window"])), attempt=1
    )
    assert summary.failed == 1
    assert engine.calls == 0
    assert fake.callbacks[0]["error"] == "this worker's engine does not analyse photos"


async def test_an_unreported_analysis_leaves_the_message_for_redelivery() -> None:
    fake = FakeApi(inputs={0: room_with_windows_png()}, callback_status=503)
    summary = await processor(fake).process(parse_message(analysis_body(["Window"])), attempt=1)
    assert (summary.done, summary.unfinished) == (0, 1)
    assert not summary.is_complete


def edit_item(segmentation: dict[str, Any], instances: dict[str, Any]) -> dict[str, Any]:
    return {
        "idx": 0,
        "input_url": "http://storage/in/0",
        "output_url": "http://storage/out/0",
        "preview_url": "http://storage/prev/0",
        "output_key": "outputs/u/job-2/0_result.png",
        "preview_key": "previews/u/job-2/0_thumb.jpg",
        "segmentation": segmentation,
        "instances": instances,
    }


FLOOR_SUMMARIES = [{"id": 1, "bbox": [0, 700, 1600, 500], "area": 800000, "score": 1.0}]


async def test_an_edit_applies_the_stored_map_and_stores_the_missing_one() -> None:
    photo = room_with_windows_png()
    analysed = FakeApi(inputs={0: photo}, callback_answer=ANALYSED)
    await processor(analysed).process(parse_message(analysis_body(["Window"])), attempt=1)
    window_map = analysed.uploads["/masks/0_Window.png"]
    known = analysed.callbacks[0]["instances"]
    segmentation = {
        "masks": {
            "Window": {
                "key": "masks/u/job-1/0_Window.png",
                "stored": True,
                "url": "http://storage/stored/0_Window.png",
            },
            "Glass_highlight": {
                "key": "masks/u/job-2/0_Glass_highlight.png",
                "stored": False,
                "url": "http://storage/masks/0_Glass_highlight.png",
            },
        },
        # Floor was analysed too, but this edit does not use it: the file must keep it
        "known_instances": {**known, "Floor": FLOOR_SUMMARIES},
        "instances_key": "masks/u/job-2/0_instances.json",
        "instances_url": "http://storage/masks/0_instances.json",
    }
    selection = {"Window": {"exclude": [1], "lock": [3]}}
    fake = FakeApi(inputs={0: photo}, stored={"0_Window.png": window_map})
    computed, reused = segmentations("computed"), segmentations("reused")
    batch = message(
        0,
        concepts=BLUE_WINDOWS,
        protect=["Glass_highlight"],
        items=[edit_item(segmentation, selection)],
    )
    summary = await processor(fake).process(batch, attempt=1)
    assert summary.done == 1
    assert (segmentations("computed"), segmentations("reused")) == (computed + 1, reused + 1)
    source, edited = decode_image(photo), decode_image(fake.uploads["/out/0"])
    labels = decode_label_map(window_map, 1200, 1600)
    assert np.array_equal(edited[labels == 1], source[labels == 1])
    assert np.array_equal(edited[labels == 3], source[labels == 3])
    assert np.all(np.any(edited[labels == 2] != source[labels == 2], axis=1))
    [report] = fake.callbacks
    assert report["segmentation"] == {
        "width": 1600,
        "height": 1200,
        "masks": {"Glass_highlight": "masks/u/job-2/0_Glass_highlight.png"},
        "instances_key": "masks/u/job-2/0_instances.json",
        "instances": {"Glass_highlight": []},
    }
    assert "/masks/0_Glass_highlight.png" in fake.uploads
    document = json.loads(fake.uploads["/masks/0_instances.json"])
    assert document["concepts"] == {**known, "Floor": FLOOR_SUMMARIES, "Glass_highlight": []}


async def test_an_edit_whose_maps_are_all_stored_segments_nothing_and_reports_none() -> None:
    photo = room_with_windows_png()
    analysed = FakeApi(inputs={0: photo}, callback_answer=ANALYSED)
    await processor(analysed).process(parse_message(analysis_body(["Window"])), attempt=1)
    segmentation = {
        "masks": {
            "Window": {"key": "k", "stored": True, "url": "http://storage/stored/0_Window.png"}
        },
        "known_instances": analysed.callbacks[0]["instances"],
    }
    fake = FakeApi(
        inputs={0: photo}, stored={"0_Window.png": analysed.uploads["/masks/0_Window.png"]}
    )
    computed = segmentations("computed")
    batch = message(0, concepts=BLUE_WINDOWS, protect=[], items=[edit_item(segmentation, {})])
    assert (await processor(fake).process(batch, attempt=1)).done == 1
    assert segmentations("computed") == computed
    assert "segmentation" not in fake.callbacks[0]
    assert set(fake.uploads) == {"/out/0", "/prev/0"}


async def test_a_selection_naming_an_unknown_instance_fails_the_item() -> None:
    photo = room_with_windows_png()
    analysed = FakeApi(inputs={0: photo}, callback_answer=ANALYSED)
    await processor(analysed).process(parse_message(analysis_body(["Window"])), attempt=1)
    segmentation = {
        "masks": {
            "Window": {"key": "k", "stored": True, "url": "http://storage/stored/0_Window.png"}
        }
    }
    fake = FakeApi(
        inputs={0: photo}, stored={"0_Window.png": analysed.uploads["/masks/0_Window.png"]}
    )
    items = [edit_item(segmentation, {"Window": {"only": [9]}})]
    batch = message(0, concepts=BLUE_WINDOWS, protect=[], items=items)
    assert (await processor(fake).process(batch, attempt=1)).failed == 1
    assert fake.callbacks[0]["error"] == "instances: Window has no instance 9"
    assert fake.uploads == {}


async def test_the_serverless_handler_processes_an_analysis_message(tmp_path: Path) -> None:
    fake = FakeApi(inputs={0: room_with_windows_png()}, callback_answer=ANALYSED)
    settings = WorkerSettings(
        _env_file=None,
        s3api_data_dir=tmp_path,
        gpu_callback_secret="secret",
        worker_api_base_url="http://api",
    )
    event = {"input": {**analysis_body(["Window"]), "attempts": 2}}
    answer = await handle_event(event, settings, transport=httpx.MockTransport(fake))
    assert answer == {"job_id": "job-1", "done": 1, "failed": 0}
    assert fake.callbacks[0]["idempotency_key"] == "run-1:0:2"
    assert "/masks/0_Window.png" in fake.uploads

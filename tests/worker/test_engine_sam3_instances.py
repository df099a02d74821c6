"""SAM 3 instances: the query post-processing on synthetic maps, then the tiny checkpoint."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest

from s3api.worker.engine.instances import Instance, union_mask
from s3api.worker.engine.sam3_instances import (
    CLAIM_PROBABILITY,
    QueryMasks,
    claim_labels,
    concept_instances,
    is_stuff,
    non_max_suppression,
)
from s3api.worker.engine.samples import room_image
from s3api.worker.settings import WorkerSettings

CELLS = 32
"""Side of the synthetic low-resolution query maps."""


def box_map(top: int, left: int, bottom: int, right: int, value: float = 0.95) -> np.ndarray:
    """A query's low-resolution mask probabilities: `value` inside the cell box, 0.02 outside."""
    probabilities = np.full((CELLS, CELLS), 0.02, dtype=np.float32)
    probabilities[top:bottom, left:right] = value
    return probabilities


def queries(*maps: np.ndarray, scores: list[float], presence: float = 0.9) -> QueryMasks:
    return QueryMasks(
        np.stack(maps).astype(np.float32), np.array(scores, dtype=np.float32), presence
    )


def full_size(probabilities: np.ndarray, height: int, width: int) -> np.ndarray:
    return cv2.resize(probabilities, (width, height), interpolation=cv2.INTER_LINEAR) > 0.5


def assert_partition(instances: list[Instance], concept_mask: np.ndarray) -> None:
    """Each pixel of the concept in exactly one instance, none outside it."""
    count = np.zeros(concept_mask.shape, dtype=np.int32)
    for instance in instances:
        count += instance.mask
    assert count.max() <= 1
    assert np.array_equal(count == 1, concept_mask)
    assert np.array_equal(union_mask(instances, *concept_mask.shape), concept_mask)


# --- post-processing on synthetic queries -----------------------------------------------------


def test_nms_drops_a_duplicate_and_keeps_distinct_masks_best_first() -> None:
    first = box_map(2, 2, 12, 12) > 0.5
    duplicate = box_map(2, 3, 12, 12) > 0.5  # IoU 0.9 with `first`
    distinct = box_map(20, 20, 28, 28) > 0.5
    touching = box_map(2, 12, 12, 20) > 0.5  # shares no cell with `first`
    empty = np.zeros((CELLS, CELLS), dtype=bool)
    masks = np.stack([duplicate, distinct, first, touching, empty])
    scores = np.array([0.8, 0.7, 0.9, 0.6, 0.99], dtype=np.float32)
    assert non_max_suppression(masks, scores) == [2, 1, 3]
    # A stricter threshold keeps overlapping masks whose IoU is below it.
    assert non_max_suppression(masks, scores, iou_threshold=0.95) == [2, 0, 1, 3]
    assert non_max_suppression(np.zeros((0, CELLS, CELLS), dtype=bool), scores[:0]) == []


def test_claims_match_a_full_size_enlargement_without_building_one() -> None:
    height, width = 301, 407
    rng = np.random.default_rng(3)
    maps = [box_map(3, 4, 15, 13, 0.7), box_map(10, 10, 25, 30, 0.9), box_map(0, 0, 1, 1, 0.01)]
    maps[0][5:9, 6:9] = rng.random((4, 3)).astype(np.float32)
    probabilities = np.stack(maps)
    concept_mask = rng.random((height, width)) > 0.2
    labels = claim_labels(concept_mask, probabilities)
    enlarged = np.stack(
        [cv2.resize(p, (width, height), interpolation=cv2.INTER_LINEAR) for p in probabilities]
    )
    best = enlarged.argmax(axis=0)
    expected = np.where(
        concept_mask & (enlarged.max(axis=0) >= CLAIM_PROBABILITY), best + 1, 0
    ).astype(np.int32)
    assert np.array_equal(labels, expected)
    assert set(np.unique(labels)) == {0, 1, 2}


def test_instances_divide_the_concept_mask_without_overlap() -> None:
    height, width = 200, 240
    left = box_map(4, 4, 20, 14)
    right = box_map(4, 12, 20, 24, 0.9)  # overlaps `left` on two cell columns
    far = box_map(24, 2, 30, 8)
    concept_mask = full_size(left, height, width) | full_size(right, height, width)
    concept_mask |= full_size(far, height, width)
    found = concept_instances(concept_mask, queries(left, right, far, scores=[0.8, 0.7, 0.6]))
    assert len(found) == 3
    assert_partition(found, concept_mask)
    first, second, third = found
    assert (first.score, second.score, third.score) == pytest.approx((0.8, 0.7, 0.6))
    # Contested pixels go to the query more probable there (a tie to the better score).
    contested = full_size(left, height, width) & full_size(right, height, width)
    on_left, on_right = (
        cv2.resize(p, (width, height), interpolation=cv2.INTER_LINEAR) for p in (left, right)
    )
    assert (contested & (on_left >= on_right)).any()
    assert (contested & (on_right > on_left)).any()
    assert first.mask[contested & (on_left >= on_right)].all()
    assert second.mask[contested & (on_right > on_left)].all()
    assert first.bbox[0] < second.bbox[0]
    assert third.bbox[1] > first.bbox[1]


def test_ids_follow_reading_order_whatever_the_query_order() -> None:
    height, width = 160, 160
    maps = [box_map(20, 20, 28, 28), box_map(2, 20, 10, 30), box_map(2, 2, 10, 10)]
    scores = [0.9, 0.8, 0.7]
    concept_mask = np.zeros((height, width), dtype=bool)
    for probabilities in maps:
        concept_mask |= full_size(probabilities, height, width)
    forward = concept_instances(concept_mask, queries(*maps, scores=scores))
    backward = concept_instances(concept_mask, queries(*maps[::-1], scores=scores[::-1]))
    again = concept_instances(concept_mask, queries(*maps, scores=scores))
    in_reading_order = [maps[2], maps[1], maps[0]]  # by top, then left
    for instance, probabilities in zip(forward, in_reading_order, strict=True):
        assert np.array_equal(instance.mask, full_size(probabilities, height, width))
    for other in (backward, again):
        assert len(other) == len(forward)
        assert all(np.array_equal(a.mask, b.mask) for a, b in zip(forward, other, strict=True))
    assert [instance.score for instance in forward] == pytest.approx([0.7, 0.8, 0.9])


def test_what_no_query_claims_becomes_instances_and_specks_join_the_nearest() -> None:
    height, width = 128, 128  # one model cell is 4 x 4 = 16 pixels
    claimed = box_map(2, 2, 10, 10)
    concept_mask = full_size(claimed, height, width)
    concept_mask[80:100, 80:110] = True  # a region no query covers: its own instance
    concept_mask[60:62, 60:62] = True  # a 4-pixel speck nearer the claimed box
    concept_mask[41:43, 20:22] = True  # a speck just below the claimed box
    found = concept_instances(concept_mask, queries(claimed, scores=[0.8], presence=0.6))
    assert_partition(found, concept_mask)
    assert len(found) == 2
    box, region = found
    assert box.score == pytest.approx(0.8)
    assert region.score == pytest.approx(0.6)
    assert box.mask[41:43, 20:22].all()  # 2 px below the box
    assert region.mask[60:62, 60:62].all()  # about 27 px from the region, 30 from the box
    assert region.bbox == (60, 60, 50, 40)  # tight around its pixels, the speck's too


def test_without_any_query_the_mask_is_its_regions_and_specks_stay_covered() -> None:
    height, width = 64, 64
    concept_mask = np.zeros((height, width), dtype=bool)
    concept_mask[5:20, 5:30] = True
    concept_mask[40:60, 30:50] = True
    found = concept_instances(concept_mask, QueryMasks.none(0.4, (CELLS, CELLS)))
    assert [instance.bbox for instance in found] == [(5, 5, 25, 15), (30, 40, 20, 20)]
    assert all(instance.score == pytest.approx(0.4) for instance in found)
    specks = np.zeros((height, width), dtype=bool)
    specks[3, 3] = specks[50, 50] = True
    [alone] = concept_instances(specks, QueryMasks.none(0.4, (CELLS, CELLS)))
    assert np.array_equal(alone.mask, specks)
    assert concept_instances(np.zeros((8, 8), dtype=bool), QueryMasks.none()) == []


def test_stuff_concepts_stay_one_instance() -> None:
    height, width = 96, 96
    halves = (box_map(0, 0, CELLS, 16), box_map(0, 16, CELLS, CELLS))
    concept_mask = np.ones((height, width), dtype=bool)
    [floor] = concept_instances(concept_mask, queries(*halves, scores=[0.6, 0.7]), stuff=True)
    assert np.array_equal(floor.mask, concept_mask)
    assert floor.score == pytest.approx(0.7)
    split = concept_instances(concept_mask, queries(*halves, scores=[0.6, 0.7]))
    assert len(split) == 2
    assert all(is_stuff(name) for name in ("Wall", "Floor", "Ceiling", " floor"))
    assert not any(is_stuff(name) for name in ("Window", "Cabinet", "the floor lamp"))


# --- the tiny random checkpoint -----------------------------------------------------------------

pytest.importorskip("transformers", reason="the sam3 extra is not installed")

from s3api.worker.engine.sam3 import Sam3Segmenter, load_sam3_segmenter  # noqa: E402

LONG_WAIT = 30.0


def sam3_settings(tmp_path: Path, model: Path, threshold: float) -> WorkerSettings:
    return WorkerSettings(
        _env_file=None,
        s3api_data_dir=tmp_path,
        worker_engine="sam3",
        sam3_model=str(model),
        worker_device="cpu",
        sam3_instance_threshold=threshold,
    )


@pytest.fixture(scope="module")
def segmenter(tiny_sam3_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Sam3Segmenter:
    # Random weights score every query near 0.25: a zero threshold keeps them all.
    settings = sam3_settings(tmp_path_factory.mktemp("data"), tiny_sam3_model, 0.0)
    return load_sam3_segmenter(settings)


def twin(segmenter: Sam3Segmenter, max_batch: int, threshold: float) -> Sam3Segmenter:
    return Sam3Segmenter(
        segmenter._model,
        segmenter._tokenizer,
        segmenter._device,
        segmenter._dtype,
        image_size=segmenter.image_size,
        max_batch=max_batch,
        max_wait_seconds=LONG_WAIT if max_batch > 1 else 0.0,
        instance_threshold=threshold,
    )


def test_the_setting_reaches_the_segmenter(segmenter: Sam3Segmenter) -> None:
    assert segmenter.instance_threshold == 0.0
    assert WorkerSettings(_env_file=None).sam3_instance_threshold == 0.5


def test_instances_partition_the_mask_segment_returns(segmenter: Sam3Segmenter) -> None:
    photo = room_image(180, 120, seed=2)
    concepts = ["Window", "the red sofa", "Floor"]
    found = segmenter.segment_instances(photo, concepts)
    masks = segmenter.segment(photo, concepts)
    assert list(found) == concepts
    for name in concepts:
        assert all(isinstance(instance, Instance) for instance in found[name])
        assert all(0.0 < instance.score < 1.0 for instance in found[name])
        assert_partition(found[name], masks[name])
    assert len(found["Floor"]) == (1 if masks["Floor"].any() else 0)
    repeated = segmenter.segment_instances(photo, concepts)
    for name in concepts:
        assert [i.bbox for i in repeated[name]] == [i.bbox for i in found[name]]
        assert all(
            np.array_equal(one.mask, other.mask)
            for one, other in zip(repeated[name], found[name], strict=True)
        )


def test_only_queries_above_the_threshold_leave_the_model(segmenter: Sam3Segmenter) -> None:
    photo = room_image(96, 96, seed=4)
    everything = segmenter.outputs(photo, ["window"], instances=True)["window"].queries
    assert everything is not None
    scores = everything.scores
    assert everything.probabilities.shape[0] == scores.size == 8  # the checkpoint's queries
    assert list(scores) == sorted(scores, reverse=True)
    middle = float(np.median(scores))
    strict = twin(segmenter, max_batch=1, threshold=middle)
    try:
        kept = strict.outputs(photo, ["window"], instances=True)["window"].queries
        plain = strict.outputs(photo, ["window"])["window"]
    finally:
        strict.close()
    assert kept is not None
    assert np.array_equal(kept.scores, scores[scores > middle])
    assert np.array_equal(kept.probabilities, everything.probabilities[scores > middle])
    assert plain.queries is None


def test_scores_are_the_query_times_the_presence_probability() -> None:
    torch = pytest.importorskip("torch")
    logits = torch.tensor([[0.0, 2.0, -1.0], [1.0, 1.0, 3.0]])
    presence = torch.tensor([[0.0], [1.0]])
    masks = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 2, 2) - 10
    outputs = SimpleNamespace(pred_logits=logits, presence_logits=presence, pred_masks=masks)
    bare = Sam3Segmenter(
        None, None, torch.device("cpu"), torch.float32, image_size=8, max_batch=1,
        instance_threshold=0.4,
    )  # fmt: skip
    try:
        first, second, third = bare._queries(outputs, [True, True, False])
    finally:
        bare.close()
    assert third is None
    assert first is not None
    assert second is not None
    sigmoid = torch.sigmoid
    assert first.presence == pytest.approx(0.5)
    assert list(first.scores) == pytest.approx([float(sigmoid(torch.tensor(2.0))) * 0.5])
    assert np.allclose(first.probabilities, sigmoid(masks[0, 1:2]).numpy())
    p = float(sigmoid(torch.tensor(1.0)))
    best = float(sigmoid(torch.tensor(3.0))) * p
    assert list(second.scores) == pytest.approx([best, p * p, p * p])  # ties keep query order
    assert np.allclose(second.probabilities, sigmoid(masks[1, [2, 0, 1]]).numpy())


def test_instances_share_the_forward_pass_and_the_text_cache(
    segmenter: Sam3Segmenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = segmenter._model
    encoded: list[int] = []
    original = model.get_text_features

    def counting(**kwargs: Any) -> Any:
        encoded.append(int(kwargs["input_ids"].shape[0]))
        return original(**kwargs)

    monkeypatch.setattr(model, "get_text_features", counting)
    shared = twin(segmenter, max_batch=2, threshold=0.0)
    photos = [room_image(140, 100, seed=7), room_image(120, 160, seed=8)]
    concepts = ["a tall cabinet", "Light"]
    results: dict[str, Any] = {}

    def masks() -> None:
        results["masks"] = shared.segment(photos[0], concepts)

    def instances() -> None:
        results["instances"] = shared.segment_instances(photos[1], concepts)

    rounds = []
    try:
        for _ in range(2):
            threads = [threading.Thread(target=masks), threading.Thread(target=instances)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            rounds.append(results["instances"])
    finally:
        shared.close()
    assert shared.batch_sizes == [2, 2]  # masks and instances share each forward pass
    assert encoded == [2]  # each prompt encoded once: the second round hit the text cache
    alone = segmenter.segment(photos[1], concepts)
    for name in concepts:
        assert_partition(rounds[0][name], alone[name])
        assert [i.bbox for i in rounds[1][name]] == [i.bbox for i in rounds[0][name]]
    light = segmenter.segment(photos[0], ["Light"])["Light"]
    assert np.array_equal(results["masks"]["Light"], light)

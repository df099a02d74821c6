"""Heuristic segmentation: shape, determinism and plausibility on synthetic scenes."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from s3api.worker.engine import (
    INTERIOR_CONCEPTS,
    PROTECT_ONLY_CONCEPTS,
    SELLER_CONCEPTS,
    HeuristicSegmenter,
    Mask,
    RGBImage,
    decode_image,
)
from s3api.worker.engine.samples import (
    ROOM_CEILING_END,
    ROOM_FLOOR_START,
    jpeg_bytes,
    product_image,
    room_image,
)

ALL_CONCEPTS = (*INTERIOR_CONCEPTS, *PROTECT_ONLY_CONCEPTS, *SELLER_CONCEPTS)


@pytest.fixture(scope="module")
def room() -> RGBImage:
    return decode_image(jpeg_bytes(room_image(800, 600)))


@pytest.fixture(scope="module")
def product() -> RGBImage:
    return decode_image(jpeg_bytes(product_image(640)))


def _rows_mask(height: int, width: int, start: float, stop: float) -> Mask:
    mask = np.zeros((height, width), dtype=np.bool_)
    mask[round(height * start) : round(height * stop)] = True
    return mask


def _iou(a: Mask, b: Mask) -> float:
    return float((a & b).sum()) / max(1, int((a | b).sum()))


def _box(height: int, width: int, box: tuple[float, float, float, float]) -> Mask:
    x0, y0, x1, y1 = box
    mask = np.zeros((height, width), dtype=np.bool_)
    mask[round(y0 * height) : round(y1 * height), round(x0 * width) : round(x1 * width)] = True
    return mask


def test_every_concept_gets_a_full_size_bool_mask(room: RGBImage) -> None:
    masks = HeuristicSegmenter().segment(room, ALL_CONCEPTS)
    assert list(masks) == list(ALL_CONCEPTS)
    for mask in masks.values():
        assert mask.shape == room.shape[:2]
        assert mask.dtype == np.bool_


def test_segmentation_is_deterministic_across_instances(room: RGBImage) -> None:
    first = HeuristicSegmenter().segment(room, ALL_CONCEPTS)
    second = HeuristicSegmenter().segment(room.copy(), ALL_CONCEPTS)
    for name in ALL_CONCEPTS:
        assert np.array_equal(first[name], second[name]), name


def test_mask_does_not_depend_on_what_else_is_requested(room: RGBImage) -> None:
    together = HeuristicSegmenter().segment(room, ALL_CONCEPTS)
    for name in ("Wall", "Tile", "Countertop", "Frame_Molding"):
        alone = HeuristicSegmenter().segment(room, [name])[name]
        assert np.array_equal(alone, together[name]), name


def test_room_bands_match_the_drawn_layout(room: RGBImage) -> None:
    height, width = room.shape[:2]
    masks = HeuristicSegmenter().segment(room, ["Floor", "Wall", "Ceiling"])
    assert all(masks[name].any() for name in masks)
    floor_truth = _rows_mask(height, width, ROOM_FLOOR_START, 1.0)
    ceiling_truth = _rows_mask(height, width, 0.0, ROOM_CEILING_END)
    wall_band = _rows_mask(height, width, ROOM_CEILING_END, ROOM_FLOOR_START)
    assert _iou(masks["Floor"], floor_truth) > 0.9
    assert _iou(masks["Ceiling"], ceiling_truth) > 0.85
    assert (masks["Wall"] & wall_band).sum() > 0.9 * masks["Wall"].sum()
    assert masks["Wall"].sum() > 0.4 * wall_band.sum()


def test_room_objects_are_found_where_they_were_drawn(room: RGBImage) -> None:
    height, width = room.shape[:2]
    masks = HeuristicSegmenter().segment(room, ["Window", "Door", "Cabinet", "Grout", "Light"])
    window_truth = _box(height, width, (0.55, 0.25, 0.80, 0.50))
    door_truth = _box(height, width, (0.10, 0.26, 0.24, ROOM_FLOOR_START))
    cabinet_truth = _box(height, width, (0.30, 0.44, 0.48, ROOM_FLOOR_START))
    assert _iou(masks["Window"], window_truth) > 0.7
    assert _iou(masks["Door"], door_truth) > 0.7
    assert _iou(masks["Cabinet"], cabinet_truth) > 0.7
    assert masks["Light"].any()
    assert masks["Light"][: round(height * ROOM_CEILING_END)].sum() == masks["Light"].sum()
    grout = masks["Grout"]
    assert grout.any()
    assert grout[: round(height * ROOM_FLOOR_START)].sum() < 0.05 * grout.sum()
    luma: NDArray[np.float32] = room.astype(np.float32).mean(axis=2)
    floor_rows = slice(round(height * ROOM_FLOOR_START), height)
    assert luma[grout].mean() < luma[floor_rows][~grout[floor_rows]].mean() - 30


def test_product_body_and_accessory(product: RGBImage) -> None:
    size = product.shape[0]
    masks = HeuristicSegmenter().segment(product, list(SELLER_CONCEPTS))
    bottle = _box(size, size, (0.35, 0.18, 0.65, 0.90))
    accessory = _box(size, size, (0.76, 0.76, 0.90, 0.90))
    assert _iou(masks["Body"], bottle) > 0.85
    assert _iou(masks["Accessories"], accessory) > 0.8
    logo_centre = (round(size * 0.42), size // 2)
    assert masks["Logo"][logo_centre]
    assert (masks["Label_Text"] & ~masks["Body"]).sum() == 0
    assert masks["Label_Text"].any()
    assert masks["Gloss"].any()


def test_unknown_concepts_get_empty_masks(room: RGBImage) -> None:
    masks = HeuristicSegmenter().segment(room, ["Sofa", "", "Floor"])
    assert not masks["Sofa"].any()
    assert not masks[""].any()
    assert masks["Sofa"].shape == room.shape[:2]
    assert masks["Floor"].any()


def test_concept_names_are_matched_case_insensitively(room: RGBImage) -> None:
    masks = HeuristicSegmenter().segment(room, ["floor", "Floor"])
    assert masks["floor"].any()
    assert np.array_equal(masks["floor"], masks["Floor"])


def test_large_images_are_segmented_at_reduced_resolution_then_upscaled() -> None:
    large = room_image(1600, 1200)
    masks = HeuristicSegmenter().segment(large, ["Floor", "Ceiling"])
    assert masks["Floor"].shape == (1200, 1600)
    truth = _rows_mask(1200, 1600, ROOM_FLOOR_START, 1.0)
    assert _iou(masks["Floor"], truth) > 0.9


@pytest.mark.parametrize(
    ("width", "height", "seed"), [(800, 600, 7), (1200, 900, 3), (900, 1200, 5)]
)
def test_the_floors_grout_joints_are_no_molding_below_the_floor_line(
    width: int, height: int, seed: int
) -> None:
    """A skirting runs along the floor line; the tiles' vertical joints that meet it are
    grout, so protecting `Frame_Molding` must not keep blobs of old tile around them."""
    image = room_image(width, height, seed=seed)
    masks = HeuristicSegmenter().segment(
        image, ["Floor", "Grout", "Frame_Molding", "Door", "Window"]
    )
    top = int(np.flatnonzero(masks["Floor"].any(axis=1))[0])
    band = np.zeros_like(masks["Floor"])
    band[top + 8 : top + 40] = True
    band[:, (masks["Door"] | masks["Window"]).any(axis=0)] = False  # frames of the openings
    joints = int((masks["Grout"] & band).sum())
    assert joints > 0
    assert int((masks["Frame_Molding"] & band).sum()) <= 0.05 * joints

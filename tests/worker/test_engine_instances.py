"""Instances on the engine: the default engine's regions, label maps, selections, overlay."""

from __future__ import annotations

import io
from collections.abc import Sequence

import cv2
import numpy as np
import pytest
from PIL import Image

from s3api.worker.engine import Engine, decode_image
from s3api.worker.engine.arrays import Mask, RGBImage
from s3api.worker.engine.instances import (
    connected_instances,
    decode_label_map,
    encode_label_map,
    from_label_map,
    to_label_map,
)
from s3api.worker.engine.overlay import label_point
from s3api.worker.engine.segment import HeuristicSegmenter
from s3api.worker.engine.selection import InstanceSelection
from tests.support.drawn_windows import WINDOW_BOXES, room_with_windows, room_with_windows_png

BLUE_WINDOWS = {"Window": {"action": "recolor", "value": "#3060A0"}}


class CountingSegmenter:
    """Masks only (no `segment_instances`), counting the concepts it is asked for."""

    def __init__(self) -> None:
        self.inner = HeuristicSegmenter()
        self.asked: list[str] = []

    def segment(self, image: RGBImage, concepts: Sequence[str]) -> dict[str, Mask]:
        self.asked.extend(concepts)
        return self.inner.segment(image, concepts)


@pytest.fixture(scope="module")
def room_png() -> bytes:
    return room_with_windows_png()


@pytest.fixture(scope="module")
def window_map(room_png: bytes) -> bytes:
    return Engine().analyze(room_png, ["Window"]).label_maps["Window"].png


def test_default_engine_finds_each_window_as_an_instance_in_reading_order() -> None:
    found = HeuristicSegmenter().segment_instances(room_with_windows(), ["Window"])["Window"]
    assert len(found) == len(WINDOW_BOXES)
    for instance, (left, top, width, height) in zip(found, WINDOW_BOXES, strict=True):
        x, y, w, h = instance.bbox
        assert (x, w) == (left, width)
        assert top <= y
        assert y + h == top + height
        assert instance.area == int(np.count_nonzero(instance.mask))


def test_regions_below_the_minimum_area_are_neither_instances_nor_edited(
    room_png: bytes,
) -> None:
    strict = HeuristicSegmenter(min_area_fraction=0.03)  # 57,600 px; each pane has 46,080
    assert strict.segment_instances(room_with_windows(), ["Window"]) == {"Window": []}
    edited = Engine(strict).process(room_png, BLUE_WINDOWS, []).result_image
    assert np.array_equal(decode_image(edited), decode_image(room_png))


def test_connected_regions_under_the_minimum_area_are_dropped() -> None:
    mask = np.zeros((20, 20), dtype=np.bool_)
    mask[0:5, 0:5] = True  # 25 px
    mask[10:12, 10:12] = True  # 4 px
    assert [i.area for i in connected_instances(mask, min_area=5)] == [25]
    assert [i.area for i in connected_instances(mask, min_area=1)] == [25, 4]


def test_the_same_photo_always_gets_the_same_label_maps(room_png: bytes) -> None:
    first = Engine().analyze(room_png, ["Window", "Wall"])
    second = Engine().analyze(room_png, ["Window", "Wall"])
    assert first.label_maps["Window"].png == second.label_maps["Window"].png
    assert first.label_maps["Window"].instances == second.label_maps["Window"].instances


def test_listed_instances_match_their_label_map(room_png: bytes) -> None:
    result = Engine().analyze(room_png, ["Window", "Wall", "Floor"])
    for label_map in result.label_maps.values():
        labels = decode_label_map(label_map.png, result.height, result.width)
        assert sorted(int(v) for v in np.unique(labels) if v) == [
            s["id"] for s in label_map.instances
        ]
        for summary in label_map.instances:
            pixels = labels == summary["id"]
            rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
            assert summary["area"] == int(np.count_nonzero(pixels))
            assert summary["bbox"] == [
                int(cols[0]),
                int(rows[0]),
                int(cols[-1] - cols[0] + 1),
                int(rows[-1] - rows[0] + 1),
            ]


def test_label_maps_round_trip_in_8_and_16_bits() -> None:
    few = np.zeros((6, 9), dtype=np.bool_)
    few[1:3, 1:3] = few[4:6, 5:8] = True
    instances = connected_instances(few, min_area=1)
    labels = to_label_map(instances, 6, 9)
    decoded = decode_label_map(encode_label_map(labels), 6, 9)
    assert decoded.dtype == np.uint8
    assert np.array_equal(decoded, labels)
    assert [i.bbox for i in from_label_map(decoded)] == [(1, 1, 2, 2), (5, 4, 3, 2)]
    grid = np.zeros((40, 40), dtype=np.bool_)
    grid[::2, ::2] = True  # 400 isolated pixels
    many = to_label_map(connected_instances(grid, min_area=1), 40, 40)
    assert many.dtype == np.uint16
    assert int(many.max()) == 400
    assert np.array_equal(decode_label_map(encode_label_map(many), 40, 40), many)


def test_a_stored_map_that_is_not_a_png_of_the_photos_size_is_refused(
    room_png: bytes, window_map: bytes
) -> None:
    small = encode_label_map(np.zeros((10, 10), dtype=np.uint8))
    for bad in (b"GIF89a not a map", small):
        with pytest.raises(ValueError, match="label map"):
            Engine().process(room_png, BLUE_WINDOWS, [], stored_maps={"Window": bad})
    assert window_map.startswith(b"\x89PNG")


def test_exclude_and_lock_keep_those_windows_byte_identical_and_edit_the_other(
    room_png: bytes, window_map: bytes
) -> None:
    segmenter = CountingSegmenter()
    result = Engine(segmenter).process(
        room_png,
        BLUE_WINDOWS,
        [],
        stored_maps={"Window": window_map},
        selection={"Window": InstanceSelection(exclude=(1,), lock=(3,))},
    )
    assert segmenter.asked == []  # the stored map was applied, nothing segmented
    assert (result.reused, result.segmented, result.label_maps) == (("Window",), (), {})
    source, edited = decode_image(room_png), decode_image(result.result_image)
    labels = decode_label_map(window_map, *source.shape[:2])
    assert np.array_equal(edited[labels == 1], source[labels == 1])
    assert np.array_equal(edited[labels == 3], source[labels == 3])
    assert np.all(np.any(edited[labels == 2] != source[labels == 2], axis=1))


def test_a_lock_wins_over_another_concepts_edit(room_png: bytes, window_map: bytes) -> None:
    result = Engine().process(
        room_png,
        {"Light": {"action": "tone", "value": "dark"}},  # bright panes count as lights too
        [],
        stored_maps={"Window": window_map},
        selection={"Window": InstanceSelection(lock=(2,))},
    )
    source, edited = decode_image(room_png), decode_image(result.result_image)
    labels = decode_label_map(window_map, *source.shape[:2])
    assert np.array_equal(edited[labels == 2], source[labels == 2])
    assert np.any(edited[labels == 1] != source[labels == 1])
    assert result.segmented == ("Light",)
    assert set(result.label_maps) == {"Light"}


def test_only_edits_just_the_named_instances(room_png: bytes, window_map: bytes) -> None:
    result = Engine().process(
        room_png,
        BLUE_WINDOWS,
        [],
        stored_maps={"Window": window_map},
        selection={"Window": InstanceSelection(only=(2,))},
    )
    source, edited = decode_image(room_png), decode_image(result.result_image)
    labels = decode_label_map(window_map, *source.shape[:2])
    assert np.array_equal(edited[labels != 2], source[labels != 2])
    assert np.any(edited[labels == 2] != source[labels == 2])


def test_a_selection_naming_an_unknown_instance_is_refused(
    room_png: bytes, window_map: bytes
) -> None:
    with pytest.raises(ValueError, match="no instance 7"):
        Engine().process(
            room_png,
            BLUE_WINDOWS,
            [],
            stored_maps={"Window": window_map},
            selection={"Window": InstanceSelection(exclude=(7,))},
        )


def test_a_mask_only_segmenter_gets_connected_regions_as_instances(room_png: bytes) -> None:
    segmenter = CountingSegmenter()
    result = Engine(segmenter).analyze(room_png, ["Window"])
    assert segmenter.asked == ["Window"]
    assert [s["id"] for s in result.label_maps["Window"].instances] == [1, 2, 3]


def test_the_overlay_is_a_small_png_showing_known_and_new_concepts(
    room_png: bytes, window_map: bytes
) -> None:
    with_known = Engine().analyze(room_png, ["Floor"], known_maps={"Window": window_map})
    alone = Engine().analyze(room_png, ["Floor"])
    overlay = Image.open(io.BytesIO(with_known.overlay_png))
    assert overlay.format == "PNG"
    assert max(overlay.size) == 512
    assert overlay.size == (512, 384)
    assert set(with_known.label_maps) == {"Floor"}
    assert with_known.overlay_png != alone.overlay_png  # the known windows are drawn too


def test_two_concepts_on_one_region_get_their_numbers_apart() -> None:
    """Two concepts that find the same region (bright windows taken for lights) must not
    stack their discs on one spot, where the first number cannot be read."""
    region = np.zeros((200, 300), dtype=np.uint8)
    region[40:160, 60:240] = 1
    near_discs = np.zeros_like(region)
    first = label_point(region, near_discs)
    cv2.circle(near_discs, first, 24, 1, -1)
    second = label_point(region, near_discs)
    assert region[second[1], second[0]] == 1
    assert (first[0] - second[0]) ** 2 + (first[1] - second[1]) ** 2 >= 24**2


def test_a_region_too_small_to_move_keeps_its_own_centre() -> None:
    region = np.zeros((100, 100), dtype=np.uint8)
    region[48:53, 48:53] = 1
    near_discs = np.zeros_like(region)
    cv2.circle(near_discs, (50, 50), 24, 1, -1)
    assert label_point(region, near_discs) == (50, 50)

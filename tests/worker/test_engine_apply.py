"""Edit rules and their pixel effects: only inside the mask, in order, protect restored."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from s3api.worker.engine import (
    PALETTE,
    ConceptEdit,
    HeuristicSegmenter,
    Mask,
    RGBImage,
    apply_edits,
    decode_image,
    parse_edits,
)
from s3api.worker.engine.samples import jpeg_bytes, product_image, room_image


@pytest.fixture(scope="module")
def room() -> RGBImage:
    return decode_image(jpeg_bytes(room_image(640, 480)))


@pytest.fixture(scope="module")
def room_masks(room: RGBImage) -> dict[str, Mask]:
    return HeuristicSegmenter().segment(room, ["Floor", "Wall", "Grout", "Door"])


def _lab(image: RGBImage) -> NDArray[np.float32]:
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2LAB), dtype=np.float32)


def _mean_rgb(image: RGBImage, mask: Mask) -> NDArray[np.float64]:
    return np.asarray(image[mask].mean(axis=0, dtype=np.float64), dtype=np.float64)


def _edit(image: RGBImage, mask: Mask, action: str, value: str | None) -> RGBImage:
    edits = parse_edits({"Region": {"action": action, "value": value}})
    return apply_edits(image, {"Region": mask}, edits, None)


def _assert_only_inside_changed(before: RGBImage, after: RGBImage, mask: Mask) -> None:
    assert np.array_equal(before[~mask], after[~mask])
    changed = np.any(before != after, axis=2)
    assert changed[mask].mean() > 0.5


@pytest.mark.parametrize("value", ["#2040C0", "oak_a", "sage_green", "black_matte"])
def test_recolor_moves_region_toward_target_and_leaves_outside_alone(
    room: RGBImage, room_masks: dict[str, Mask], value: str
) -> None:
    floor = room_masks["Floor"]
    result = _edit(room, floor, "recolor", value)
    _assert_only_inside_changed(room, result, floor)
    target = np.array(PALETTE.get(value) or [0x20, 0x40, 0xC0], dtype=np.float64)
    distance_before = np.linalg.norm(_mean_rgb(room, floor) - target)
    distance_after = np.linalg.norm(_mean_rgb(result, floor) - target)
    assert distance_after < 0.5 * distance_before


@pytest.mark.parametrize(
    ("value", "kept_variation"),
    # Near-white/black targets have little headroom, so their shading is compressed.
    [("#2040C0", 0.6), ("oak_a", 0.6), ("white_gloss", 0.3)],
)
def test_recolor_keeps_shading(
    room: RGBImage, room_masks: dict[str, Mask], value: str, kept_variation: float
) -> None:
    floor = room_masks["Floor"]
    result = _edit(room, floor, "recolor", value)
    lightness_before = _lab(room)[..., 0][floor]
    lightness_after = _lab(result)[..., 0][floor]
    assert np.corrcoef(lightness_before, lightness_after)[0, 1] > 0.8
    # Correlation ignores scale, so also require that the variation itself survives.
    assert lightness_after.std() > kept_variation * lightness_before.std()


def test_protected_pixels_are_restored_exactly(room: RGBImage, room_masks: dict[str, Mask]) -> None:
    floor, grout = room_masks["Floor"], room_masks["Grout"]
    assert (floor & grout).any()
    edits = parse_edits({"Floor": {"action": "recolor", "value": "navy"}})
    result = apply_edits(room, room_masks, edits, grout)
    assert np.array_equal(result[grout], room[grout])
    assert np.array_equal(result[~floor], room[~floor])
    assert np.any(result[floor & ~grout] != room[floor & ~grout])


@pytest.mark.parametrize(
    ("value", "channel", "direction"),
    [
        ("warm", 2, 1),
        ("cool", 2, -1),
        ("bright", 0, 1),
        ("dark", 0, -1),
    ],
)
def test_tone_shifts_the_expected_lab_channel(
    room: RGBImage, room_masks: dict[str, Mask], value: str, channel: int, direction: int
) -> None:
    wall = room_masks["Wall"]
    result = _edit(room, wall, "tone", value)
    _assert_only_inside_changed(room, result, wall)
    shift = _lab(result)[..., channel][wall].mean() - _lab(room)[..., channel][wall].mean()
    assert shift * direction > 5


@pytest.mark.parametrize(("value", "more_colourful"), [("vivid", True), ("muted", False)])
def test_vivid_and_muted_change_chroma(
    room: RGBImage, room_masks: dict[str, Mask], value: str, more_colourful: bool
) -> None:
    floor = room_masks["Floor"]
    result = _edit(room, floor, "tone", value)
    _assert_only_inside_changed(room, result, floor)

    def chroma(image: RGBImage) -> float:
        ab = _lab(image)[..., 1:][floor] - 128.0
        return float(np.hypot(ab[:, 0], ab[:, 1]).mean())

    assert (chroma(result) > chroma(room) * 1.2) == more_colourful
    assert (chroma(result) < chroma(room) * 0.8) != more_colourful


@pytest.mark.parametrize("value", ["wood", "marble", "concrete", "linen", "walnut_a", "navy"])
def test_texture_covers_region_deterministically(
    room: RGBImage, room_masks: dict[str, Mask], value: str
) -> None:
    wall = room_masks["Wall"]
    result = _edit(room, wall, "texture", value)
    _assert_only_inside_changed(room, result, wall)
    assert np.array_equal(result, _edit(room, wall, "texture", value))
    # A pattern adds local structure a plain wall does not have.
    detail_before = cv2.Laplacian(_lab(room)[..., 0], cv2.CV_32F)[wall].std()
    detail_after = cv2.Laplacian(_lab(result)[..., 0], cv2.CV_32F)[wall].std()
    assert detail_after != pytest.approx(detail_before, rel=0.05)


def test_different_materials_give_different_results(
    room: RGBImage, room_masks: dict[str, Mask]
) -> None:
    wall = room_masks["Wall"]
    results = [_edit(room, wall, "texture", v) for v in ("wood", "marble", "concrete", "linen")]
    for index, first in enumerate(results):
        for second in results[index + 1 :]:
            assert not np.array_equal(first, second)


def test_remove_fills_an_object_with_its_background() -> None:
    product = decode_image(jpeg_bytes(product_image(480)))
    accessory = HeuristicSegmenter().segment(product, ["Accessories"])["Accessories"]
    assert accessory.any()
    result = _edit(product, accessory, "remove", None)
    _assert_only_inside_changed(product, result, accessory)
    ring = cv2.dilate(accessory.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    background = _mean_rgb(product, ring & ~accessory)
    assert np.abs(_mean_rgb(result, accessory) - background).max() < 12
    assert np.abs(_mean_rgb(product, accessory) - background).max() > 60


def test_empty_mask_is_a_no_op(room: RGBImage) -> None:
    empty = np.zeros(room.shape[:2], dtype=np.bool_)
    for action, value in (("recolor", "navy"), ("tone", "warm"), ("texture", "wood")):
        assert np.array_equal(_edit(room, empty, action, value), room)
    assert np.array_equal(_edit(room, empty, "remove", None), room)


def test_edits_apply_in_order_so_the_last_wins_on_overlap(room: RGBImage) -> None:
    height, width = room.shape[:2]
    left = np.zeros((height, width), dtype=np.bool_)
    left[:, : width * 2 // 3] = True
    right = np.zeros((height, width), dtype=np.bool_)
    right[:, width // 3 :] = True
    overlap = left & right
    overlap[:, : width // 3 + 4] = False  # skip the feathered seam
    masks = {"A": left, "B": right}
    red_then_blue = parse_edits(
        {
            "A": {"action": "recolor", "value": "#D02020"},
            "B": {"action": "recolor", "value": "#2020D0"},
        }
    )
    blue_then_red = parse_edits(
        {
            "B": {"action": "recolor", "value": "#2020D0"},
            "A": {"action": "recolor", "value": "#D02020"},
        }
    )
    blue_wins = _mean_rgb(apply_edits(room, masks, red_then_blue, None), overlap)
    red_wins = _mean_rgb(apply_edits(room, masks, blue_then_red, None), overlap)
    assert blue_wins[2] > blue_wins[0] + 50
    assert red_wins[0] > red_wins[2] + 50


def test_apply_does_not_modify_its_input(room: RGBImage, room_masks: dict[str, Mask]) -> None:
    before = room.copy()
    apply_edits(
        room, room_masks, parse_edits({"Floor": {"action": "texture", "value": "wood"}}), None
    )
    assert np.array_equal(room, before)


def test_missing_or_misshapen_mask_is_rejected(room: RGBImage) -> None:
    edits = {"Floor": ConceptEdit("recolor", "navy")}
    with pytest.raises(ValueError, match="no mask"):
        apply_edits(room, {}, edits, None)
    with pytest.raises(ValueError, match="shape"):
        apply_edits(room, {"Floor": np.ones((3, 3), dtype=np.bool_)}, edits, None)


@pytest.mark.parametrize(
    ("action", "value", "reason"),
    [
        ("paint", "navy", "unknown action"),
        ("recolor", None, "needs a value"),
        ("recolor", "#12345", "unknown colour"),
        ("recolor", "#GGGGGG", "unknown colour"),
        ("recolor", "mauve_z", "unknown colour"),
        ("tone", "sepia", "unknown tone"),
        ("tone", "", "needs a value"),
        ("texture", "velvet", "unknown texture"),
    ],
)
def test_bad_rules_raise_value_error(action: str, value: str | None, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_edits({"Floor": {"action": action, "value": value}})


def test_rule_errors_name_the_concept() -> None:
    with pytest.raises(ValueError, match=r"^Wall: missing action"):
        parse_edits({"Wall": {"value": "navy"}})
    with pytest.raises(ValueError, match=r"^Wall: unknown action 'paint'"):
        parse_edits({"Wall": {"action": "paint"}})


def test_good_rules_parse() -> None:
    edits = parse_edits(
        {
            "Floor": {"action": "recolor", "value": "#A0b0C0"},
            "Wall": {"action": "tone", "value": "Warm"},
            "Door": {"action": "remove"},
            "Tile": {"action": "texture", "value": "marble_white"},
        }
    )
    assert edits["Door"] == ConceptEdit("remove", None)
    assert [edit.action for edit in edits.values()] == ["recolor", "tone", "remove", "texture"]

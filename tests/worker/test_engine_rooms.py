"""The drawn rooms of a first trial: a floor recolour reaches the wall line and every grout
line, keeps grout byte-identical and leaves the sofa standing on the floor alone."""

from __future__ import annotations

import io

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from s3api.worker.engine import Engine, HeuristicSegmenter, decode_image
from tests.support.drawn_rooms import DrawnRoom, drawn_room, widest_unchanged_strip

MAX_STRIP_PX = 2.0
"""The widest strip of old floor an edit may leave along any edge of the floor."""
MAX_SOFA_SHARE = 0.005
"""Share of the sofa's pixels an edit may touch: a one-pixel seam along its base and sides
is about 0.5 % of it (its outline below the wall line is ~850 px of 184,000)."""

RECOLOUR_FLOOR = {"Floor": {"action": "recolor", "value": "navy"}}


def _png(image: NDArray[np.uint8]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _changed(room: DrawnRoom, edited: NDArray[np.uint8]) -> NDArray[np.bool_]:
    changed: NDArray[np.bool_] = np.any(edited != room.image, axis=2)
    return changed


@pytest.fixture(scope="module")
def flat_room() -> DrawnRoom:
    return drawn_room(tiled=False)


@pytest.fixture(scope="module")
def tiled_room() -> DrawnRoom:
    return drawn_room(tiled=True)


@pytest.fixture(scope="module")
def flat_edited(flat_room: DrawnRoom) -> NDArray[np.uint8]:
    result = Engine().process(_png(flat_room.image), RECOLOUR_FLOOR, [])
    return decode_image(result.result_image)


@pytest.fixture(scope="module")
def tiled_edited(tiled_room: DrawnRoom) -> NDArray[np.uint8]:
    result = Engine().process(_png(tiled_room.image), RECOLOUR_FLOOR, ["Grout"])
    return decode_image(result.result_image)


def test_flat_floor_is_recoloured_up_to_the_wall_line(
    flat_room: DrawnRoom, flat_edited: NDArray[np.uint8]
) -> None:
    strip = widest_unchanged_strip(flat_room.image, flat_edited, flat_room.floor)
    assert strip <= MAX_STRIP_PX
    assert not _changed(flat_room, flat_edited)[flat_room.wall].any()


def test_sofa_standing_on_the_flat_floor_is_left_alone(
    flat_room: DrawnRoom, flat_edited: NDArray[np.uint8]
) -> None:
    touched = int(_changed(flat_room, flat_edited)[flat_room.sofa].sum())
    assert touched <= MAX_SOFA_SHARE * int(flat_room.sofa.sum())


def test_tiled_floor_is_recoloured_up_to_the_wall_and_every_grout_line(
    tiled_room: DrawnRoom, tiled_edited: NDArray[np.uint8]
) -> None:
    strip = widest_unchanged_strip(tiled_room.image, tiled_edited, tiled_room.floor)
    assert strip <= MAX_STRIP_PX
    changed = _changed(tiled_room, tiled_edited)
    assert not changed[tiled_room.wall].any()
    assert int(changed[tiled_room.sofa].sum()) <= MAX_SOFA_SHARE * int(tiled_room.sofa.sum())


def test_protected_grout_stays_byte_identical(
    tiled_room: DrawnRoom, tiled_edited: NDArray[np.uint8]
) -> None:
    assert np.array_equal(tiled_edited[tiled_room.grout], tiled_room.image[tiled_room.grout])


def test_grout_mask_covers_exactly_the_joints_on_the_floor(tiled_room: DrawnRoom) -> None:
    grout = HeuristicSegmenter().segment(tiled_room.image, ["Grout"])["Grout"]
    assert not (tiled_room.grout & ~grout).any()
    assert not (grout & tiled_room.floor).any()


def test_strip_measure_counts_the_width_of_a_missed_band(flat_room: DrawnRoom) -> None:
    edited = flat_room.image.copy()
    edited[flat_room.floor] = 0
    assert widest_unchanged_strip(flat_room.image, edited, flat_room.floor) == 0.0
    rows = np.flatnonzero(flat_room.floor.any(axis=1))
    edited[rows[0] : rows[0] + 3] = flat_room.image[rows[0] : rows[0] + 3]
    assert widest_unchanged_strip(flat_room.image, edited, flat_room.floor) == pytest.approx(3.0)

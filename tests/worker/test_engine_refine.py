"""refine_mask: edges land on the photo's edge, certain maps stay as they were."""

from __future__ import annotations

import cv2
import numpy as np

from s3api.worker.engine.arrays import as_f32, as_u8
from s3api.worker.engine.refine import bilinear_mask, refine_mask

TRUE_EDGE = 301  # first column of the object


def _photo() -> np.ndarray:
    image = np.full((240, 480, 3), (200, 190, 170), dtype=np.uint8)
    image[:, TRUE_EDGE:] = (60, 90, 140)
    noise = np.random.default_rng(3).normal(0, 2, image.shape)
    return as_u8(cv2.GaussianBlur(as_u8(np.clip(image + noise, 0, 255)), (0, 0), 0.8))


def _displaced_map() -> np.ndarray:
    """The object's map at 1/8 size, its edge one cell (8 px) too far left, blurred."""
    cells = np.zeros((30, 60), dtype=np.float32)
    cells[:, TRUE_EDGE // 8 - 1 :] = 1.0
    return as_f32(cv2.GaussianBlur(cells, (0, 0), 0.9))


def _edge_columns(mask: np.ndarray) -> np.ndarray:
    columns: np.ndarray = np.argmax(mask, axis=1)
    return columns


def test_refined_edge_lies_on_the_photo_edge_where_bilinear_misses_it() -> None:
    photo, probabilities = _photo(), _displaced_map()
    refined = refine_mask(photo, probabilities)
    plain = bilinear_mask(probabilities, 240, 480)
    assert np.abs(_edge_columns(refined) - TRUE_EDGE).max() <= 2
    assert np.abs(_edge_columns(plain) - TRUE_EDGE).min() > 4


def test_result_is_a_full_size_bool_mask() -> None:
    refined = refine_mask(_photo(), _displaced_map())
    assert refined.shape == (240, 480)
    assert refined.dtype == np.bool_


def test_certain_map_comes_back_unchanged_away_from_its_edges() -> None:
    photo = np.random.default_rng(5).integers(0, 256, (240, 480, 3), dtype=np.uint8)
    cells = np.zeros((30, 60), dtype=np.float32)
    cells[10:20, 20:40] = 1.0
    refined = refine_mask(photo, cells)
    plain = bilinear_mask(cells, 240, 480)
    far = np.ones((240, 480), dtype=np.bool_)
    far[80 - 24 : 160 + 24, 160 - 24 : 320 + 24] = False  # three cells around the square
    assert np.array_equal(refined[far], plain[far])
    assert not refined[far].any()
    assert refined[100:140, 200:280].all()


def test_empty_and_full_maps_stay_empty_and_full() -> None:
    photo = _photo()
    assert not refine_mask(photo, np.zeros((30, 60), np.float32)).any()
    assert refine_mask(photo, np.ones((30, 60), np.float32)).all()

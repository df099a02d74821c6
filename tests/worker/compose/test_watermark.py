"""The watermark changes its box and nothing else."""

from __future__ import annotations

import numpy as np

from s3api.worker.compose.watermark import Watermark, apply_watermark, box_pixels

MARK = Watermark("Made with S3 API", (0.58, 0.9, 0.4, 0.07), 0.6)


def photo(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)


def test_only_pixels_inside_the_box_change(rng: np.random.Generator) -> None:
    image = photo(rng)
    marked = apply_watermark(image, MARK)
    left, top, right, bottom = box_pixels(640, 480, MARK.box)
    inside = np.zeros((480, 640), dtype=np.bool_)
    inside[top:bottom, left:right] = True
    changed = np.any(marked != image, axis=2)
    assert not changed[~inside].any()
    assert changed[inside].mean() > 0.9


def test_the_box_is_rounded_outwards_and_clipped() -> None:
    assert box_pixels(640, 480, (0.58, 0.9, 0.4, 0.07)) == (371, 432, 628, 466)
    assert box_pixels(10, 10, (0.95, 0.95, 0.05, 0.05)) == (9, 9, 10, 10)


def test_the_text_is_lighter_than_the_band() -> None:
    image = np.full((480, 640, 3), 128, dtype=np.uint8)
    marked = apply_watermark(image, MARK)
    left, top, right, bottom = box_pixels(640, 480, MARK.box)
    box = marked[top:bottom, left:right].astype(int).sum(axis=2)
    assert box.min() < 3 * 128
    assert box.max() > 3 * 180


def test_a_stronger_opacity_darkens_the_band_more_and_output_is_deterministic() -> None:
    image = np.full((200, 200, 3), 200, dtype=np.uint8)
    faint = apply_watermark(image, Watermark("x", (0.0, 0.0, 0.5, 0.5), 0.2))
    strong = apply_watermark(image, Watermark("x", (0.0, 0.0, 0.5, 0.5), 0.9))
    assert strong[2, 2, 0] < faint[2, 2, 0] < 200
    assert np.array_equal(faint, apply_watermark(image, Watermark("x", (0.0, 0.0, 0.5, 0.5), 0.2)))

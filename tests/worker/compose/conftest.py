"""Synthetic photos for the composition tests: flat colours with a drawn product."""

from __future__ import annotations

import numpy as np
import pytest

from s3api.worker.engine.arrays import Mask, RGBImage

BACKDROP = (236, 238, 240)
PRODUCT = (200, 30, 40)


def flat(width: int, height: int, colour: tuple[int, int, int]) -> RGBImage:
    """A photo of one colour."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = colour
    return image


def product_photo(width: int, height: int, box: tuple[int, int, int, int]) -> tuple[RGBImage, Mask]:
    """A backdrop with a red product filling `box` (left, top, right, bottom) and its mask."""
    image = flat(width, height, BACKDROP)
    left, top, right, bottom = box
    image[top:bottom, left:right] = PRODUCT
    mask = np.zeros((height, width), dtype=np.bool_)
    mask[top:bottom, left:right] = True
    return image, mask


def product_bbox(image: RGBImage) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the clearly red pixels of a composed image."""
    red = (image[..., 0] > 150) & (image[..., 1] < 90) & (image[..., 2] < 100)
    rows, cols = np.flatnonzero(red.any(axis=1)), np.flatnonzero(red.any(axis=0))
    assert rows.size, "no product in the image"
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(5)

"""Crops around a product mask: the window always holds the product, padding only where
the photo ends."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3api.worker.compose.layout import (
    border_colour,
    crop_around_product,
    mask_bbox,
    product_window,
)
from tests.worker.compose.conftest import BACKDROP, product_photo


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(20, 400),
    height=st.integers(20, 400),
    data=st.data(),
    aspect=st.sampled_from([1.0, 0.8, 0.5625, 2 / 3, 1.91]),
    fill=st.sampled_from([0.7, 0.75, 0.8, 0.9]),
    centred=st.booleans(),
)
def test_the_window_holds_the_masks_bbox_at_the_asked_aspect(
    width: int,
    height: int,
    data: st.DataObject,
    aspect: float,
    fill: float,
    centred: bool,
) -> None:
    left = data.draw(st.integers(0, width - 1))
    top = data.draw(st.integers(0, height - 1))
    right = data.draw(st.integers(left + 1, width))
    bottom = data.draw(st.integers(top + 1, height))
    _, mask = product_photo(width, height, (left, top, right, bottom))
    window = product_window((width, height), mask, aspect, fill, centred=centred)
    assert window.left <= left
    assert window.top <= top
    assert window.right >= right
    assert window.bottom >= bottom
    assert abs(window.width / window.height - aspect) < 2 / min(window.width, window.height) + 1e-9
    if centred:
        assert abs((window.left + window.right) - (left + right)) <= 2
        assert abs((window.top + window.bottom) - (top + bottom)) <= 2


def test_an_empty_mask_takes_the_largest_centred_window_that_fits() -> None:
    window = product_window((400, 300), np.zeros((300, 400), np.bool_), 1.0, 0.8, centred=False)
    assert (window.left, window.top, window.width, window.height) == (50, 0, 300, 300)


def test_padding_takes_the_photos_border_colour() -> None:
    image, mask = product_photo(300, 200, (0, 60, 40, 140))
    assert border_colour(image) == BACKDROP
    crop = crop_around_product(image, mask, (200, 200), centred=True)
    assert tuple(crop[100, 2]) == BACKDROP  # left of the photo's edge: padded


def test_a_mask_of_another_size_is_refused() -> None:
    image, _ = product_photo(100, 80, (10, 10, 20, 20))
    with pytest.raises(ValueError, match="height and width"):
        crop_around_product(image, np.ones((10, 10), np.bool_), (50, 50))


def test_mask_bbox_is_exclusive_on_the_right_and_bottom() -> None:
    _, mask = product_photo(50, 40, (5, 6, 15, 20))
    box = mask_bbox(mask)
    assert box is not None
    assert (box.left, box.top, box.right, box.bottom) == (5, 6, 15, 20)

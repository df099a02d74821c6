"""`썸네일8종`: eight named sizes, each cropped around the product, padded when needed."""

from __future__ import annotations

import numpy as np

from s3api.worker.compose.thumbnails import THUMBNAIL_SIZES, thumbnails
from tests.worker.compose.conftest import BACKDROP, product_bbox, product_photo

SIZES = {
    "square_1000": (1000, 1000),
    "square_600": (600, 600),
    "square_2000": (2000, 2000),
    "feed_square": (1080, 1080),
    "feed_portrait": (1080, 1350),
    "story": (1080, 1920),
    "pin": (1000, 1500),
    "link_banner": (1200, 628),
}


def test_eight_named_sizes_each_exact() -> None:
    image, mask = product_photo(1200, 900, (500, 300, 700, 600))
    rendered = thumbnails(image, mask)
    assert [size.name for size in THUMBNAIL_SIZES] == list(SIZES)
    assert {name: (t.shape[1], t.shape[0]) for name, t in rendered.items()} == SIZES


def test_each_thumbnail_holds_the_whole_product_away_from_its_edges() -> None:
    # a product in the photo's top right corner, where a centre crop would miss it
    image, mask = product_photo(1600, 1000, (1300, 40, 1560, 300))
    for name, thumbnail in thumbnails(image, mask).items():
        left, top, right, bottom = product_bbox(thumbnail)
        height, width = thumbnail.shape[:2]
        assert (left > 0, top > 0, right < width, bottom < height) == (True,) * 4, name
        product_px = np.all(thumbnail == (200, 30, 40), axis=2).sum()
        scale = (right - left) / 260
        assert product_px >= 0.9 * (260 * scale) ** 2, name


def test_a_window_past_the_photo_is_padded_with_its_border_colour() -> None:
    # a tall product in a wide photo cannot fit a 1.91:1 banner without padding
    image, mask = product_photo(400, 1000, (150, 50, 250, 950))
    banner = thumbnails(image, mask)["link_banner"]
    assert tuple(banner[314, 3]) == BACKDROP
    assert tuple(banner[314, 1196]) == BACKDROP


def test_thumbnails_are_deterministic() -> None:
    image, mask = product_photo(800, 600, (300, 200, 500, 500))
    first, second = thumbnails(image, mask), thumbnails(image, mask)
    assert all(np.array_equal(first[name], second[name]) for name in SIZES)

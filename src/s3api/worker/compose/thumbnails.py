"""`썸네일8종`: eight thumbnails of one photo at the sizes marketplaces ask for."""

from __future__ import annotations

from dataclasses import dataclass

from s3api.worker.compose.layout import crop_around_product
from s3api.worker.engine.arrays import Mask, RGBImage


@dataclass(frozen=True)
class ThumbnailSize:
    """A named output size and where it is used."""

    name: str
    width: int
    height: int
    used_for: str


THUMBNAIL_SIZES: tuple[ThumbnailSize, ...] = (
    ThumbnailSize("square_1000", 1000, 1000, "main image of Naver Smart Store, Coupang, 11st"),
    ThumbnailSize("square_600", 600, 600, "listing image of Gmarket and Auction"),
    ThumbnailSize("square_2000", 2000, 2000, "zoomable main image of Amazon and Etsy"),
    ThumbnailSize("feed_square", 1080, 1080, "Instagram and Kakao shopping feed, 1:1"),
    ThumbnailSize("feed_portrait", 1080, 1350, "Instagram shopping feed, 4:5"),
    ThumbnailSize("story", 1080, 1920, "stories and short-form video covers, 9:16"),
    ThumbnailSize("pin", 1000, 1500, "Pinterest product pin, 2:3"),
    ThumbnailSize("link_banner", 1200, 628, "link previews and shopping ads, 1.91:1"),
)
"""The eight sizes, in the order of the set's file names."""
PRODUCT_FILL = 0.75
"""Share of the thumbnail's tighter side the product's bbox takes."""


def thumbnails(image: RGBImage, product: Mask) -> dict[str, RGBImage]:
    """Every size of `THUMBNAIL_SIZES`, each cropped around the product's mask (shifted to
    stay inside the photo, padded with its border colour where it cannot)."""
    return {
        size.name: crop_around_product(image, product, (size.width, size.height), fill=PRODUCT_FILL)
        for size in THUMBNAIL_SIZES
    }

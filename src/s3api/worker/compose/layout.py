"""Shared geometry of the layouts: scaling, letterboxing and crops around a mask."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from s3api.presets.vocabulary import RGB
from s3api.worker.engine.arrays import Mask, RGBImage, as_u8

PAPER: RGB = (250, 250, 248)
"""Background of boards and cards."""
MAT: RGB = (238, 238, 235)
"""Background of the cell an image is letterboxed into."""
RULE: RGB = (222, 222, 218)
"""Thin separator lines."""


def resized(image: RGBImage, width: int, height: int) -> RGBImage:
    """`image` scaled to exactly `width` x `height` (area filter down, cubic up)."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    shrinking = width * height < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return as_u8(cv2.resize(image, (width, height), interpolation=interpolation))


def scaled_to_height(image: RGBImage, height: int) -> RGBImage:
    """`image` at `height` px tall, its aspect ratio kept."""
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    return resized(image, width, height)


def contained(image: RGBImage, width: int, height: int, background: RGB = MAT) -> RGBImage:
    """`image` fitted whole inside `width` x `height`, centred on `background`."""
    factor = min(width / image.shape[1], height / image.shape[0])
    inner_w = max(1, min(width, round(image.shape[1] * factor)))
    inner_h = max(1, min(height, round(image.shape[0] * factor)))
    cell = np.empty((height, width, 3), dtype=np.uint8)
    cell[:] = background
    top, left = (height - inner_h) // 2, (width - inner_w) // 2
    cell[top : top + inner_h, left : left + inner_w] = resized(image, inner_w, inner_h)
    return cell


def canvas(width: int, height: int, background: RGB = PAPER) -> Image.Image:
    """A blank RGB Pillow canvas."""
    return Image.new("RGB", (width, height), background)


def paste(target: Image.Image, image: RGBImage, left: int, top: int) -> None:
    """Paste an array onto a Pillow canvas."""
    target.paste(Image.fromarray(image), (left, top))


def as_array(image: Image.Image) -> RGBImage:
    """A Pillow canvas as an HxWx3 uint8 array."""
    return as_u8(np.asarray(image.convert("RGB")))


@dataclass(frozen=True)
class Window:
    """A crop window in source pixels; it may reach past the image (then it is padded)."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        """Exclusive right edge."""
        return self.left + self.width

    @property
    def bottom(self) -> int:
        """Exclusive bottom edge."""
        return self.top + self.height


def mask_bbox(mask: Mask) -> Window | None:
    """The smallest window holding every True pixel, or None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    top, left = int(rows[0]), int(cols[0])
    return Window(left, top, int(cols[-1]) + 1 - left, int(rows[-1]) + 1 - top)


def product_window(
    image_size: tuple[int, int], mask: Mask, aspect: float, fill: float, *, centred: bool
) -> Window:
    """A window of ratio `aspect` (width / height) holding the mask's bbox at `fill` of
    the window's tighter side, centred on the bbox.

    Not `centred`: the window is then shifted to stay inside the image where it fits (less
    padding, product off-centre). An empty mask gives the largest centred window that fits.
    """
    width, height = image_size
    box = mask_bbox(mask)
    if box is None:
        window_w = min(width, round(height * aspect))
        window_h = min(height, round(window_w / aspect))
        return Window((width - window_w) // 2, (height - window_h) // 2, window_w, window_h)
    need_w, need_h = box.width / fill, box.height / fill
    wanted_w = max(need_w, need_h * aspect)
    window_w_px, window_h_px = max(1, math.ceil(wanted_w)), max(1, math.ceil(wanted_w / aspect))
    centre_x, centre_y = box.left + box.width / 2, box.top + box.height / 2
    left = math.floor(centre_x - window_w_px / 2)
    top = math.floor(centre_y - window_h_px / 2)
    if not centred:
        left = _kept_inside(left, window_w_px, width)
        top = _kept_inside(top, window_h_px, height)
    return Window(left, top, window_w_px, window_h_px)


def _kept_inside(start: int, length: int, limit: int) -> int:
    """`start` moved so [start, start + length) stays in [0, limit) when it can."""
    if length >= limit:
        return (limit - length) // 2
    return min(max(start, 0), limit - length)


def border_colour(image: RGBImage) -> RGB:
    """The median colour of the image's outermost pixels: the padding that looks native."""
    edges = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    red, green, blue = (int(v) for v in np.median(edges, axis=0))
    return red, green, blue


def cropped(image: RGBImage, window: Window, padding: RGB) -> RGBImage:
    """The window's pixels, with `padding` where it reaches past the image."""
    height, width = image.shape[:2]
    out = np.empty((window.height, window.width, 3), dtype=np.uint8)
    out[:] = padding
    src_left, src_top = max(window.left, 0), max(window.top, 0)
    src_right, src_bottom = min(window.right, width), min(window.bottom, height)
    if src_right > src_left and src_bottom > src_top:
        out[
            src_top - window.top : src_bottom - window.top,
            src_left - window.left : src_right - window.left,
        ] = image[src_top:src_bottom, src_left:src_right]
    return out


def crop_around_product(
    image: RGBImage,
    mask: Mask,
    size: tuple[int, int],
    *,
    fill: float = 0.8,
    centred: bool = False,
) -> RGBImage:
    """`image` cropped around the mask's product to `size` (width, height), padded with
    the photo's border colour where the window leaves the photo."""
    if mask.shape != image.shape[:2]:
        raise ValueError("the mask must have the image's height and width")
    out_w, out_h = size
    window = product_window(
        (image.shape[1], image.shape[0]), mask, out_w / out_h, fill, centred=centred
    )
    return resized(cropped(image, window, border_colour(image)), out_w, out_h)

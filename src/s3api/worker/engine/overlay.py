"""The analysis overlay: a small PNG of the photo with every instance tinted and numbered.

A phone draws its #1…#N cards from this image and the instances file instead of decoding
full-size label maps. The photo is reduced so its longest side is at most 512 px; each
instance is tinted at 45 % in its own colour (a fixed hue per concept, lighter or darker
per instance), outlined in that colour 2 px wide, and labelled with its id in white on a
dark disc at the point inside it farthest from its edge, away from the discs already placed
(two concepts may find the same region). Later concepts draw over earlier ones.
"""

from __future__ import annotations

import colorsys
import io
from collections.abc import Mapping

import cv2
import numpy as np
from PIL import Image

from s3api.worker.engine.arrays import RGBImage, as_u8, downscale
from s3api.worker.engine.instances import LabelMap

OVERLAY_SIDE = 512
_TINT = 0.45
_OUTLINE_PX = 2
_GOLDEN = 0.618033988749895
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_LABEL_SPACING = 24
"""Least distance in overlay pixels between two discs' centres, where the region allows it."""


def instance_colour(concept_index: int, instance_id: int) -> tuple[int, int, int]:
    """RGB of one instance: the concept's hue, lightness varying with the id."""
    hue = (concept_index * _GOLDEN) % 1.0
    lightness = (0.42, 0.56, 0.34, 0.64)[(instance_id - 1) % 4]
    red, green, blue = colorsys.hls_to_rgb(hue, lightness, 0.85)
    return (round(red * 255), round(green * 255), round(blue * 255))


def render_overlay(image: RGBImage, maps: Mapping[str, LabelMap]) -> RGBImage:
    """The reduced photo with every instance of `maps` (in their order) drawn on it."""
    small = downscale(image, OVERLAY_SIDE).copy()
    height, width = small.shape[:2]
    labels_at: list[tuple[str, tuple[int, int], tuple[int, int, int]]] = []
    near_discs = np.zeros((height, width), dtype=np.uint8)
    for index, labels in enumerate(maps.values()):
        reduced = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
        for number in (int(label) for label in np.unique(reduced) if label):
            inside = as_u8(reduced == number)
            colour = instance_colour(index, number)
            tinted = small * (1 - _TINT) + np.array(colour, dtype=np.float32) * _TINT
            np.copyto(small, as_u8(np.rint(tinted)), where=inside[..., np.newaxis] > 0)
            contours, _ = cv2.findContours(inside, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(small, contours, -1, colour, _OUTLINE_PX)
            point = label_point(inside, near_discs)
            cv2.circle(near_discs, point, _LABEL_SPACING, 1, -1)
            labels_at.append((str(number), point, colour))
    for text, (x, y), colour in labels_at:
        _draw_label(small, text, x, y, colour)
    return small


def label_point(inside: np.ndarray, near_discs: np.ndarray | None = None) -> tuple[int, int]:
    """The pixel of the region farthest from its edge, where its number reads best, outside
    `near_discs` (non-zero within `_LABEL_SPACING` of a disc already placed) when the region
    has such pixels."""
    distance = cv2.distanceTransform(np.pad(inside, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    if near_discs is not None:
        away = np.where(near_discs == 0, distance, 0)
        if np.any(away > 0):
            distance = away
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(x), int(y)


def _draw_label(image: RGBImage, text: str, x: int, y: int, colour: tuple[int, int, int]) -> None:
    scale, thickness = 0.45, 1
    (text_w, text_h), _ = cv2.getTextSize(text, _FONT, scale, thickness)
    radius = max(text_w, text_h) // 2 + 4
    cv2.circle(image, (x, y), radius, (24, 24, 24), -1, cv2.LINE_AA)
    cv2.circle(image, (x, y), radius, colour, 1, cv2.LINE_AA)
    origin = (x - text_w // 2, y + text_h // 2)
    cv2.putText(image, text, origin, _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def encode_overlay(image: RGBImage, maps: Mapping[str, LabelMap]) -> bytes:
    """The overlay as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(render_overlay(image, maps)).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()

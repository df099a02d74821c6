"""Hand-written rules for the seller preset (product shots on a plain-ish background)."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from s3api.worker.engine.arrays import Mask, as_u8, ellipse, fill_holes, open_close, to_u8_mask
from s3api.worker.engine.features import MaskRule, SceneFeatures, components


def _border_colour(f: SceneFeatures) -> NDArray[np.float32]:
    """Median LAB colour of a thin frame along the image border (assumed background)."""
    frame = np.ones((f.height, f.width), dtype=np.bool_)
    inset = f.px(0.03)
    frame[inset:-inset, inset:-inset] = False
    return f.median_colour(frame)


def _salient_rule(f: SceneFeatures) -> Mask:
    """Pixels that differ clearly from the border colour (Otsu threshold, at least 18)."""
    distance = np.clip(f.colour_distance(_border_colour(f)), 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(distance, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    foreground = distance > max(18.0, float(otsu))
    return open_close(foreground, 3, f.px(0.02))


def _salient(f: SceneFeatures) -> Mask:
    return f.mask("salient", _salient_rule)


def body(f: SceneFeatures) -> Mask:
    """The largest salient blob, holes filled: the product itself."""
    salient = _salient(f)
    _, labels, stats = components(salient, lambda *_: True)
    if len(stats) <= 1:
        return np.zeros_like(salient)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return fill_holes(labels == largest)


def accessories(f: SceneFeatures) -> Mask:
    """Other salient blobs beside the main product (at least 0.3% of the frame)."""
    main = f.mask("Body", body)
    minimum = f.area * 0.003
    others, _, _ = components(_salient(f) & ~main, lambda x, y, w, h, area: area >= minimum)
    return fill_holes(others) & ~main


def gloss(f: SceneFeatures) -> Mask:
    """Specular highlights on the product and its accessories."""
    objects = to_u8_mask(f.mask("Body", body) | f.mask("Accessories", accessories))
    return f.specular & (as_u8(cv2.dilate(objects, ellipse(5))) > 0)


def _body_interior(f: SceneFeatures) -> Mask:
    return as_u8(cv2.erode(to_u8_mask(f.mask("Body", body)), ellipse(f.px(0.02)))) > 0


def _body_colour_outliers(f: SceneFeatures, threshold: float) -> Mask:
    """Body pixels far (LAB distance) from the body's median colour."""
    main = f.mask("Body", body)
    return main & (f.colour_distance(f.median_colour(main)) > threshold)


def label_text(f: SceneFeatures) -> Mask:
    """Dense clusters of small high-contrast strokes inside the body (printed text)."""
    gradient = as_u8(cv2.morphologyEx(f.gray, cv2.MORPH_GRADIENT, ellipse(3)))
    strokes = (gradient >= 40).view(np.uint8) * np.uint8(255)
    side = f.px(0.03) | 1
    density = as_u8(cv2.blur(strokes, (side, side)))
    highlights = as_u8(cv2.dilate(to_u8_mask(f.specular), ellipse(f.px(0.02)))) > 0
    text = (density >= 100) & _body_interior(f) & ~highlights
    text = open_close(text, 0, f.px(0.02))
    main_area = max(1, int(f.mask("Body", body).sum()))
    low, high = f.area * 0.0005, main_area * 0.25
    kept, _, _ = components(text, lambda x, y, w, h, area: low <= area <= high)
    return kept


def logo(f: SceneFeatures) -> Mask:
    """Compact, saturated blobs whose colour stands out from the body colour."""
    marks = _body_colour_outliers(f, 40.0) & (f.saturation >= 80) & _body_interior(f)
    marks = open_close(marks, 3, 3)
    main_area = max(1, int(f.mask("Body", body).sum()))
    low, high = f.area * 0.001, main_area * 0.15
    kept, _, _ = components(
        marks, lambda x, y, w, h, area: low <= area <= high and area >= 0.3 * w * h
    )
    return fill_holes(kept) & ~f.mask("Gloss", gloss)


def parts(f: SceneFeatures) -> Mask:
    """Large body regions of a different colour (caps, buttons, handles), minus print."""
    main_area = max(1, int(f.mask("Body", body).sum()))
    regions = open_close(_body_colour_outliers(f, 30.0), 3, 5)
    minimum = main_area * 0.03
    kept, _, _ = components(regions, lambda x, y, w, h, area: area >= minimum)
    return kept & ~f.mask("Label_Text", label_text) & ~f.mask("Logo", logo)


SELLER_RULES: dict[str, MaskRule] = {
    "Body": body,
    "Label_Text": label_text,
    "Logo": logo,
    "Gloss": gloss,
    "Parts": parts,
    "Accessories": accessories,
}
"""Seller concept name → rule computing its mask on the reduced-resolution image."""

"""Segmentation: concept names → boolean masks.

``HeuristicSegmenter`` is a model-free stand-in, NOT a learned model. It applies hand-written
colour, geometry and edge rules (bands for Ceiling/Wall/Floor, bright low-saturation blobs for
Window, black-hat lines for Grout, border-colour saliency for Body, ...) to a copy of the image
whose longest side is 512 px, then hands each mask, lightly smoothed, to `refine_mask` as
its probabilities, which places the enlarged edge on the photo's own edges. Grout joints,
thinner than a reduced pixel, are then redrawn on the full-size photo. It is deterministic
and downloads nothing, so the whole pipeline runs and can be tested
without weights; its masks are plausible on ordinary photos but far from model quality.
The learned model is SAM 3 (``sam3.py``, ``WORKER_ENGINE=sam3``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np

from s3api.worker.engine.arrays import Mask, RGBImage, as_f32, downscale, empty_mask
from s3api.worker.engine.features import MaskRule, SceneFeatures
from s3api.worker.engine.instances import (
    DEFAULT_MIN_AREA_FRACTION,
    Instance,
    connected_instances,
    min_area_pixels,
)
from s3api.worker.engine.interior import INTERIOR_RULES, grout_at_full_size
from s3api.worker.engine.refine import Probabilities, refine_masks
from s3api.worker.engine.seller import SELLER_RULES

INTERIOR_CONCEPTS: tuple[str, ...] = tuple(
    name for name in INTERIOR_RULES if name != "Glass_highlight"
)
"""Editable concepts of the interior preset."""
PROTECT_ONLY_CONCEPTS: tuple[str, ...] = ("Glass_highlight",)
"""Concepts that may only be protected, not edited, in the interior preset."""
SELLER_CONCEPTS: tuple[str, ...] = tuple(SELLER_RULES)
"""Concepts of the seller preset."""

_SMOOTHING_CELLS = 0.7
"""Blur (in reduced-image pixels) that turns a rule's hard mask into soft probabilities."""

_RULES: dict[str, MaskRule] = {**INTERIOR_RULES, **SELLER_RULES}
_RULES_BY_KEY: dict[str, tuple[str, MaskRule]] = {
    name.casefold(): (name, rule) for name, rule in _RULES.items()
}


class Segmenter(Protocol):
    """Anything that turns an RGB image plus concept names into one mask per name."""

    def segment(self, image: RGBImage, concepts: Sequence[str]) -> dict[str, Mask]:
        """Return an HxW bool mask for every requested concept name."""
        ...


def known_concept(name: str) -> str | None:
    """Canonical spelling of a preset concept name (case-insensitive), or None."""
    entry = _RULES_BY_KEY.get(name.strip().casefold())
    return entry[0] if entry else None


class HeuristicSegmenter:
    """Model-free, deterministic segmenter built from colour/geometry/edge rules.

    Its instances are the connected regions of each concept's mask that cover at least
    `min_area_fraction` of the photo; smaller specks are neither instances nor edited.
    """

    def __init__(self, min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION) -> None:
        self.min_area_fraction = min_area_fraction

    def segment(self, image: RGBImage, concepts: Sequence[str]) -> dict[str, Mask]:
        """Masks for preset concepts; unknown names get an empty mask."""
        height, width = image.shape[:2]
        features = SceneFeatures(downscale(image))
        maps: dict[str, Probabilities] = {}
        for name in concepts:
            entry = _RULES_BY_KEY.get(name.strip().casefold())
            if entry is not None:
                canonical, rule = entry
                maps[name] = _soft(features.mask(canonical, rule))
        refined = refine_masks(image, maps)
        for name in refined:
            if known_concept(name) == "Grout":
                refined[name] = grout_at_full_size(image, refined[name], features)
        return {name: refined.get(name, empty_mask(height, width)) for name in concepts}

    def segment_instances(
        self, image: RGBImage, concepts: Sequence[str]
    ) -> dict[str, list[Instance]]:
        """Each concept's connected regions of at least the minimum area, in reading order."""
        height, width = image.shape[:2]
        min_area = min_area_pixels(height, width, self.min_area_fraction)
        masks = self.segment(image, concepts)
        return {name: connected_instances(mask, min_area) for name, mask in masks.items()}


def _soft(mask: Mask) -> Probabilities:
    """A rule's hard mask as probabilities whose edge is a ramp, not a step."""
    return as_f32(cv2.GaussianBlur(mask.astype(np.float32), (0, 0), _SMOOTHING_CELLS))

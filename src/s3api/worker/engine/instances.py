"""Instances: one concept's segmentation on a photo as numbered regions (#1…#N).

An `Instance` is a full-size boolean mask with a score; its box and area are derived from
the mask, so a listed instance always matches its pixels. A concept's mask is the union of
its instances, and each pixel belongs to at most one instance of a concept
(`resolve_overlaps`), so excluding an instance means exactly its pixels.

Ids are positions in reading order (`in_reading_order`): by the box's top, then its left
edge, then the larger area first; the same masks always get the same ids. A label map
stores a concept's instances as one PNG (0 = none, k = instance k), 8-bit while a concept
has at most 255 instances and 16-bit beyond.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, TypedDict

import cv2
import numpy as np
from numpy.typing import NDArray

from s3api.worker.engine.arrays import Mask, RGBImage, empty_mask

LabelMap = NDArray[np.uint8] | NDArray[np.uint16]
"""HxW instance labels of one concept: 0 = none, k = instance k."""

MAX_INSTANCES_PER_CONCEPT = 1000
"""The most instances the API accepts for one concept on one photo."""

DEFAULT_MIN_AREA_FRACTION = 0.0005
"""Regions under this fraction of the photo's pixels are not instances (0.05 %: 600 px of a
1200x1000 photo). `WORKER_INSTANCE_MIN_AREA` sets it."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class InstanceSummary(TypedDict):
    """An instance as the instances file and the callbacks list it."""

    id: int
    bbox: list[int]
    area: int
    score: float


@dataclass(frozen=True, eq=False)
class Instance:
    """One region of a concept: a full-size mask and the segmenter's confidence in 0–1."""

    mask: Mask
    score: float = 1.0

    @cached_property
    def area(self) -> int:
        """Pixel count of the mask."""
        return int(np.count_nonzero(self.mask))

    @cached_property
    def bbox(self) -> tuple[int, int, int, int]:
        """Tight box `(x, y, w, h)` in pixels; `(0, 0, 0, 0)` for an empty mask."""
        rows = np.flatnonzero(self.mask.any(axis=1))
        if rows.size == 0:
            return (0, 0, 0, 0)
        cols = np.flatnonzero(self.mask.any(axis=0))
        top, bottom = int(rows[0]), int(rows[-1])
        left, right = int(cols[0]), int(cols[-1])
        return (left, top, right - left + 1, bottom - top + 1)


class InstanceSegmenter(Protocol):
    """A segmenter that also reports each concept's instances.

    `segment_instances` must agree with `segment`: a concept's mask is the union of its
    instances (a segmenter may drop regions it does not count as instances, e.g. specks
    below a minimum area, from both).
    """

    def segment(self, image: RGBImage, concepts: Sequence[str]) -> dict[str, Mask]:
        """An HxW bool mask for every requested concept name."""
        ...

    def segment_instances(
        self, image: RGBImage, concepts: Sequence[str]
    ) -> dict[str, list[Instance]]:
        """Every requested concept's instances in reading order, without overlaps."""
        ...


def in_reading_order(instances: Iterable[Instance]) -> list[Instance]:
    """Non-empty instances sorted by box top, then left, then larger area first."""
    kept = [instance for instance in instances if instance.area > 0]
    return sorted(kept, key=lambda item: (item.bbox[1], item.bbox[0], -item.area, -item.score))


def resolve_overlaps(instances: Sequence[Instance]) -> list[Instance]:
    """Give each contested pixel to the highest-scoring instance (ties: the larger one),
    drop instances left empty, and return the rest in reading order."""
    ranked = sorted(instances, key=lambda item: (-item.score, -item.area))
    if not ranked:
        return []
    taken = empty_mask(*ranked[0].mask.shape)
    resolved: list[Instance] = []
    for instance in ranked:
        own = instance.mask & ~taken
        taken |= own
        resolved.append(Instance(own, instance.score))
    return in_reading_order(resolved)


def union_mask(instances: Sequence[Instance], height: int, width: int) -> Mask:
    """The concept's mask: every pixel of any of its instances."""
    mask = empty_mask(height, width)
    for instance in instances:
        mask |= instance.mask
    return mask


def connected_instances(mask: Mask, min_area: int, score: float = 1.0) -> list[Instance]:
    """The 8-connected regions of `mask` with at least `min_area` pixels, in reading order."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    found = [
        Instance(labels == label, score)
        for label in range(1, count)
        if int(stats[label, cv2.CC_STAT_AREA]) >= min_area
    ]
    return in_reading_order(found)


def min_area_pixels(height: int, width: int, fraction: float) -> int:
    """The smallest instance, in pixels, of a photo of this size (at least one pixel)."""
    return max(1, round(height * width * fraction))


def to_label_map(instances: Sequence[Instance], height: int, width: int) -> LabelMap:
    """Label map of instances that do not overlap: instance k (1-based, in the given order)
    gets label k."""
    dtype = np.uint8 if len(instances) <= 255 else np.uint16
    labels = np.zeros((height, width), dtype=dtype)
    for number, instance in enumerate(instances, start=1):
        labels[instance.mask] = number
    return labels


def from_label_map(labels: LabelMap, scores: Mapping[int, float] | None = None) -> list[Instance]:
    """The instances a label map holds, id order kept; scores default to 1."""
    found = np.unique(labels)
    known = scores or {}
    return [Instance(labels == label, known.get(int(label), 1.0)) for label in found if label]


def encode_label_map(labels: LabelMap) -> bytes:
    """Lossless grey PNG (8- or 16-bit, as the array's dtype)."""
    ok, encoded = cv2.imencode(".png", labels)
    if not ok:  # pragma: no cover - OpenCV encodes any 2-D uint8/uint16 array
        raise ValueError("label map could not be encoded")
    return bytes(encoded.tobytes())


def decode_label_map(data: bytes, height: int, width: int) -> LabelMap:
    """A stored label map, checked to be a grey PNG of the photo's size.

    Raises ValueError for anything else, so a corrupt or foreign map is never applied.
    """
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("stored label map is not a PNG")
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.ndim != 2 or decoded.dtype not in (np.uint8, np.uint16):
        raise ValueError("stored label map is not a grey 8- or 16-bit PNG")
    if decoded.shape != (height, width):
        raise ValueError(
            f"stored label map is {decoded.shape[1]}x{decoded.shape[0]}, "
            f"the photo is {width}x{height}"
        )
    if decoded.dtype == np.uint16:
        return np.asarray(decoded, dtype=np.uint16)
    return np.asarray(decoded, dtype=np.uint8)


def summaries(instances: Sequence[Instance]) -> list[InstanceSummary]:
    """What the instances file lists for one concept: ids from 1 in the given order."""
    return [
        InstanceSummary(
            id=number,
            bbox=list(instance.bbox),
            area=instance.area,
            score=round(float(instance.score), 4),
        )
        for number, instance in enumerate(instances, start=1)
    ]

"""A concept's segmentation on one photo as the engine applies and stores it: a label map.

`ConceptMap` pairs a label map (0 = none, k = instance k) with its instance summaries. It
comes either from the segmenter (`compute_maps`, which turns every segmenter's output into
instances) or from storage (`stored_map`, validated), so an edit applies exactly the pixels
of the instances a user saw and chose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from s3api.worker.engine.arrays import Mask, RGBImage
from s3api.worker.engine.instances import (
    DEFAULT_MIN_AREA_FRACTION,
    Instance,
    InstanceSummary,
    LabelMap,
    connected_instances,
    decode_label_map,
    encode_label_map,
    min_area_pixels,
    resolve_overlaps,
    summaries,
    to_label_map,
)
from s3api.worker.engine.segment import Segmenter


@dataclass(frozen=True)
class EncodedLabelMap:
    """A computed label map ready to store: its PNG and the instances it holds."""

    png: bytes
    instances: list[InstanceSummary]


@dataclass(frozen=True, eq=False)
class ConceptMap:
    """One concept's instances on a photo, as a label map and its summaries."""

    labels: LabelMap
    instances: list[InstanceSummary]

    @cached_property
    def mask(self) -> Mask:
        """Every pixel of any instance: the concept's mask."""
        return np.asarray(self.labels > 0, dtype=np.bool_)

    @property
    def ids(self) -> frozenset[int]:
        """The instance ids the map holds."""
        return frozenset(summary["id"] for summary in self.instances)

    def pixels_of(self, ids: Sequence[int]) -> Mask:
        """The pixels of these instances."""
        return np.asarray(np.isin(self.labels, list(ids)), dtype=np.bool_)

    def encoded(self) -> EncodedLabelMap:
        """The PNG to store and the summaries to list."""
        return EncodedLabelMap(encode_label_map(self.labels), self.instances)


def _from_instances(instances: Sequence[Instance], height: int, width: int) -> ConceptMap:
    return ConceptMap(to_label_map(instances, height, width), summaries(instances))


def compute_maps(
    segmenter: Segmenter,
    image: RGBImage,
    concepts: Sequence[str],
    min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION,
) -> dict[str, ConceptMap]:
    """Segment `concepts` into label maps.

    A segmenter with `segment_instances` gives its own instances (overlaps resolved, ids in
    reading order); one with `segment` only gives masks, whose connected regions of at least
    the minimum area become the instances.
    """
    if not concepts:
        return {}
    height, width = image.shape[:2]
    segment_instances = getattr(segmenter, "segment_instances", None)
    if callable(segment_instances):
        found: Mapping[str, Sequence[Instance]] = segment_instances(image, list(concepts))
        return {
            name: _from_instances(resolve_overlaps(found[name]), height, width) for name in concepts
        }
    min_area = min_area_pixels(height, width, min_area_fraction)
    masks = segmenter.segment(image, list(concepts))
    return {
        name: _from_instances(connected_instances(masks[name], min_area), height, width)
        for name in concepts
    }


def stored_map(
    data: bytes,
    height: int,
    width: int,
    known: Sequence[InstanceSummary] | None = None,
) -> ConceptMap:
    """A stored label map, checked to be a PNG of the photo's size.

    Its summaries are those the server listed when they match the map's labels, else they
    are measured from the map (score 1), so a selection is always judged against the pixels.
    Raises ValueError for a corrupt or foreign map.
    """
    labels = decode_label_map(data, height, width)
    present = sorted(int(label) for label in np.unique(labels) if label)
    listed = {summary["id"]: summary for summary in known or ()}
    if sorted(listed) == present:
        return ConceptMap(labels, [listed[number] for number in present])
    scores = {number: summary["score"] for number, summary in listed.items()}
    measured: list[InstanceSummary] = []
    for number in present:
        instance = Instance(labels == number, scores.get(number, 1.0))
        measured.append(
            InstanceSummary(
                id=number,
                bbox=list(instance.bbox),
                area=instance.area,
                score=round(float(instance.score), 4),
            )
        )
    return ConceptMap(labels, measured)

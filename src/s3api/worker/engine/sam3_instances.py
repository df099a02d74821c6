"""SAM 3's instance head turned into a concept's instances (#1…#N), without torch.

The model answers each (photo, prompt) pair with a semantic map and, per DETR query, a
low-resolution mask and a score (sigmoid of the query's logit times sigmoid of the
presence logit, as the model's own post-processing combines them). The concept's mask is
the refined semantic map (`refine_masks`), the one edits use; the queries only divide it:

- queries scoring at most ``SAM3_INSTANCE_THRESHOLD`` were dropped on the device;
- duplicates go by mask non-maximum suppression (`NMS_IOU`): SAM 3 has none built in;
- each pixel of the concept's mask joins the kept query whose bilinearly enlarged mask
  probability is highest there, if that is at least `CLAIM_PROBABILITY` (computed only in
  each query's own window, so a 12 MP photo never holds a full-size map per query);
- parts of the mask that no query claims become instances of their own (8-connected,
  scored with the presence score) when they span at least one model cell, and smaller
  specks join the nearest instance.

So the instances partition the concept's mask exactly: their union is what `segment`
returns, and excluding one means exactly its pixels. Overlaps between queries are resolved
per pixel by their own probabilities (finer than `resolve_overlaps`' whole-instance score
order, which the result needs no more: every pixel has one label). "Stuff" concepts (`STUFF_CONCEPTS`:
Wall, Floor, Ceiling) stay one instance: queries split a surface at arbitrary seams
(furniture, occlusions), and a floor is edited as one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from s3api.worker.engine.arrays import Mask, as_f32
from s3api.worker.engine.instances import (
    Instance,
    connected_instances,
    in_reading_order,
    union_mask,
)
from s3api.worker.engine.refine import MASK_THRESHOLD

NMS_IOU = 0.6
"""Of two kept queries whose binarised low-resolution masks overlap by more than this
intersection-over-union, only the higher-scoring one stays."""
CLAIM_PROBABILITY = 0.2
"""The least enlarged mask probability with which a query claims a pixel of the concept's
mask: low enough that the refined edge (within two cells of the map's contour) stays with
the object it belongs to, high enough that far-off parts do not."""
STUFF_CONCEPTS = frozenset({"wall", "floor", "ceiling"})
"""Preset concepts (case-folded) that stay one instance: surfaces, not countable things."""

_WINDOW_MARGIN_CELLS = 3


@dataclass(frozen=True)
class QueryMasks:
    """The queries of one (photo, prompt) pair above the score threshold, best first."""

    probabilities: NDArray[np.float32]
    """K x h x w mask probabilities (sigmoid of the mask logits) at the model's resolution."""
    scores: NDArray[np.float32]
    """K scores in 0–1: sigmoid(query logit) x sigmoid(presence logit)."""
    presence: float
    """sigmoid(presence logit): the model's belief that the concept is in the photo at all."""

    @classmethod
    def none(cls, presence: float = 1.0, shape: tuple[int, int] = (1, 1)) -> QueryMasks:
        """No query kept (the concept may still have a mask from the semantic map)."""
        empty = np.zeros((0, *shape), dtype=np.float32)
        return cls(empty, np.zeros(0, dtype=np.float32), presence)


def is_stuff(concept: str) -> bool:
    """Whether a concept stays one instance (see `STUFF_CONCEPTS`)."""
    return concept.strip().casefold() in STUFF_CONCEPTS


def non_max_suppression(
    masks: NDArray[np.bool_], scores: NDArray[np.float32], iou_threshold: float = NMS_IOU
) -> list[int]:
    """Indices of the masks kept, best score first (ties: lower index); empty masks go."""
    count = masks.shape[0]
    if count == 0:
        return []
    flat = masks.reshape(count, -1).astype(np.float32)
    intersection = flat @ flat.T
    areas = np.diag(intersection)
    union = areas[:, None] + areas[None, :] - intersection
    iou = np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)
    order = sorted(range(count), key=lambda index: (-float(scores[index]), index))
    kept: list[int] = []
    for index in order:
        if areas[index] == 0:
            continue
        if all(iou[index, other] <= iou_threshold for other in kept):
            kept.append(index)
    return kept


def claim_labels(
    concept_mask: Mask, probabilities: NDArray[np.float32], floor: float = CLAIM_PROBABILITY
) -> NDArray[np.int32]:
    """HxW labels: k + 1 where query k has the highest enlarged probability (at least
    `floor`) on a pixel of the concept's mask, 0 where none does. Ties go to the earlier
    query, so queries should come best first."""
    height, width = concept_mask.shape
    labels = np.zeros((height, width), dtype=np.int32)
    best = np.zeros((height, width), dtype=np.float32)
    for index, probability in enumerate(probabilities):
        window = _pixel_window(probability >= floor, height, width)
        if window is None:
            continue
        rows, cols = window
        enlarged = _enlarged(probability, height, width, rows, cols)
        best_here = best[rows, cols]
        claimed = concept_mask[rows, cols] & (enlarged >= floor) & (enlarged > best_here)
        best_here[claimed] = enlarged[claimed]
        labels[rows, cols][claimed] = index + 1
    return labels


def concept_instances(
    concept_mask: Mask,
    queries: QueryMasks,
    *,
    stuff: bool = False,
    iou_threshold: float = NMS_IOU,
) -> list[Instance]:
    """The concept's instances in reading order; their union is exactly `concept_mask`."""
    if not concept_mask.any():
        return []
    height, width = concept_mask.shape
    if stuff:
        score = float(queries.scores.max()) if queries.scores.size else queries.presence
        return [Instance(concept_mask, score)]
    kept = non_max_suppression(
        queries.probabilities > MASK_THRESHOLD, queries.scores, iou_threshold
    )
    labels = claim_labels(concept_mask, queries.probabilities[kept])
    claimed = [
        Instance(labels == number, float(queries.scores[index]))
        for number, index in enumerate(kept, start=1)
    ]
    claimed = [instance for instance in claimed if instance.area > 0]
    unclaimed = concept_mask & (labels == 0)
    cell_h, cell_w = queries.probabilities.shape[1:]
    min_area = max(1, math.ceil(height * width / (cell_h * cell_w)))
    regions = connected_instances(unclaimed, min_area, queries.presence) if unclaimed.any() else []
    found = claimed + regions
    specks = unclaimed & ~union_mask(regions, height, width)
    if specks.any():
        if found:
            found = _with_specks_attached(found, specks)
        else:
            found = [Instance(specks, queries.presence)]
    return in_reading_order(found)  # disjoint by construction: one label per pixel


def _with_specks_attached(instances: Sequence[Instance], specks: Mask) -> list[Instance]:
    """Each speck pixel joins the instance with the nearest pixel."""
    labels = np.zeros(specks.shape, dtype=np.int32)
    for number, instance in enumerate(instances, start=1):
        labels[instance.mask] = number
    unlabelled = (labels == 0).astype(np.uint8)
    _, nearest = cv2.distanceTransformWithLabels(
        unlabelled, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    labelled = unlabelled == 0
    lookup = np.zeros(int(nearest.max()) + 1, dtype=np.int32)
    lookup[nearest[labelled]] = labels[labelled]
    speck_labels = np.zeros_like(labels)
    speck_labels[specks] = lookup[nearest[specks]]
    return [
        Instance(instance.mask | (speck_labels == number), instance.score)
        for number, instance in enumerate(instances, start=1)
    ]


def _pixel_window(cells: NDArray[np.bool_], height: int, width: int) -> tuple[slice, slice] | None:
    """The photo's rows and columns whose enlarged value can come from `cells`."""
    rows = np.flatnonzero(cells.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(cells.any(axis=0))
    return (
        _pixel_span(int(rows[0]), int(rows[-1]), cells.shape[0], height),
        _pixel_span(int(cols[0]), int(cols[-1]), cells.shape[1], width),
    )


def _pixel_span(first: int, last: int, cells: int, pixels: int) -> slice:
    per_cell = pixels / cells
    start = max(0, math.floor((first - 1) * per_cell) - 1)
    stop = min(pixels, math.ceil((last + 2) * per_cell) + 1)
    return slice(start, stop)


def _enlarged(
    probability: NDArray[np.float32], height: int, width: int, rows: slice, cols: slice
) -> NDArray[np.float32]:
    """The bilinear enlargement of `probability` to height x width, only in the window:
    the same sampling as a full `cv2.resize`, without the full-size map."""
    scale_y, scale_x = probability.shape[0] / height, probability.shape[1] / width
    margin = _WINDOW_MARGIN_CELLS + math.ceil(max(scale_x, scale_y))
    top = max(0, math.floor((rows.start + 0.5) * scale_y - 0.5) - margin)
    left = max(0, math.floor((cols.start + 0.5) * scale_x - 0.5) - margin)
    bottom = min(probability.shape[0], math.ceil((rows.stop + 0.5) * scale_y) + margin)
    right = min(probability.shape[1], math.ceil((cols.stop + 0.5) * scale_x) + margin)
    source = np.ascontiguousarray(probability[top:bottom, left:right], dtype=np.float32)
    to_source = np.array(
        [
            [scale_x, 0.0, (cols.start + 0.5) * scale_x - 0.5 - left],
            [0.0, scale_y, (rows.start + 0.5) * scale_y - 0.5 - top],
        ],
        dtype=np.float64,
    )
    size = (cols.stop - cols.start, rows.stop - rows.start)
    enlarged = cv2.warpAffine(
        source,
        to_source,
        size,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return as_f32(enlarged)

"""Edge-true masks: a low-resolution probability map placed on the photo's own edges.

Every segmenter sees the photo smaller than it is (the heuristic stand-in at 512 px, SAM 3 at
288x288), so an enlarged mask puts its edge where a coarse cell boundary was: a strip of old
floor along the wall, a halo on protected grout. `refine_mask` decides again, with the photo,
only the pixels in the uncertain band around the map's 0.5 contour (within `BAND_CELLS`
map cells of it, or where the map is neither confident in nor out):

- each band pixel is compared with the colours of the confident inside and outside pixels
  near it (a Gaussian per side, mean and variance from box filters over a window a few
  cells wide), which follows shading and tells textures by their spread;
- that colour evidence is added to the map's own log-odds, lightly smoothed, and its sign
  is the answer.

Outside the band the result is today's bilinear-and-threshold, so certain inputs come back
unchanged away from their edges and no region appears that the map did not have. Photos
larger than `REFINE_SIDE` are refined on an area-reduced copy and the decision is resized
bilinearly, so the edge keeps sub-pixel placement while the cost stays bounded.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np
from numpy.typing import NDArray

from s3api.worker.engine.arrays import Mask, RGBImage, as_f32, downscale, mask_bbox

Probabilities = NDArray[np.float32]
"""A concept's map in [0, 1], at the segmenter's resolution."""

MASK_THRESHOLD = 0.5
"""Probability above which a pixel belongs to the concept."""
BAND_CELLS = 2.0
"""Half-width of the refined band around the 0.5 contour, in map cells: a model's edge is
off by about one cell, so two leave room for that and the map's blur."""
CONFIDENT = 0.9
"""Probability beyond which (or below 1 - this) a pixel is a colour sample of its side."""
REFINE_SIDE = 2048
"""Longest side of the copy the band is decided on (larger photos are reduced to this)."""

_WINDOW_CELLS = 3.5  # colour samples come from this many cells around a band pixel
_MIN_SAMPLES = 0.02  # share of the window that must be samples of a side to trust its colour
_NOISE_VARIANCE = 9.0  # per-channel variance floor: sensor noise and JPEG ringing
_EVIDENCE_LIMIT = 12.0  # the most log-likelihood one pixel's colour may contribute
_PRIOR_CLIP = 1e-4


def bilinear_mask(probabilities: Probabilities, height: int, width: int) -> Mask:
    """The map resized bilinearly to ``height`` x ``width`` and thresholded (no photo used)."""
    full = as_f32(
        cv2.resize(_checked(probabilities), (width, height), interpolation=cv2.INTER_LINEAR)
    )
    mask: Mask = full > MASK_THRESHOLD
    return mask


def refine_mask(image: RGBImage, probabilities: Probabilities) -> Mask:
    """An HxW mask of ``image`` whose uncertain edges follow the photo's edges."""
    return refine_masks(image, {"": probabilities})[""]


def refine_masks(image: RGBImage, maps: Mapping[str, Probabilities]) -> dict[str, Mask]:
    """`refine_mask` for several maps of one photo, reducing the photo once for all."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be HxWx3 uint8, not {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    work: NDArray[np.float32] | None = None
    masks: dict[str, Mask] = {}
    for name, probabilities in maps.items():
        checked = _checked(probabilities)
        band_cells = _band_cells(checked)
        if not band_cells.any():
            masks[name] = bilinear_mask(checked, height, width)
            continue
        if work is None:
            work = as_f32(downscale(image, REFINE_SIDE)).astype(np.float32)
        score = _refined_score(work, checked)
        if score.shape != (height, width):
            score = as_f32(cv2.resize(score, (width, height), interpolation=cv2.INTER_LINEAR))
        masks[name] = score > 0
    return masks


def _checked(probabilities: Probabilities) -> Probabilities:
    array = np.asarray(probabilities)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"probabilities must be a non-empty 2-D map, not {array.shape}")
    return as_f32(np.clip(array, 0.0, 1.0)).astype(np.float32, copy=False)


def _band_cells(probabilities: Probabilities) -> Mask:
    """Map cells within `BAND_CELLS` of the 0.5 contour, or not confidently either side."""
    distance = _contour_distance(probabilities > MASK_THRESHOLD)
    unsure = (probabilities > 1.0 - CONFIDENT) & (probabilities < CONFIDENT)
    band: Mask = (distance <= BAND_CELLS + 1.0) | unsure
    return band


def _contour_distance(inside: Mask) -> NDArray[np.float32]:
    """Distance in cells from each cell's centre to the nearest cell of the other side."""
    if inside.all() or not inside.any():
        return np.full(inside.shape, np.inf, dtype=np.float32)
    cells = inside.view(np.uint8)
    to_outside = as_f32(cv2.distanceTransform(cells, cv2.DIST_L2, cv2.DIST_MASK_PRECISE))
    to_inside = as_f32(cv2.distanceTransform(1 - cells, cv2.DIST_L2, cv2.DIST_MASK_PRECISE))
    return np.where(inside, to_outside, to_inside)


def _refined_score(work: NDArray[np.float32], probabilities: Probabilities) -> NDArray[np.float32]:
    """Signed decision on the work copy: > 0 inside. Outside the band, the map's log-odds."""
    height, width = work.shape[:2]
    cell_x, cell_y = width / probabilities.shape[1], height / probabilities.shape[0]
    p = np.clip(
        as_f32(cv2.resize(probabilities, (width, height), interpolation=cv2.INTER_LINEAR)),
        _PRIOR_CLIP,
        1.0 - _PRIOR_CLIP,
    )
    score = as_f32(np.log(p / (1.0 - p)))
    distance = _contour_distance(probabilities > MASK_THRESHOLD)
    distance = np.minimum(distance, 1e6, dtype=np.float32)
    near = as_f32(cv2.resize(distance, (width, height), interpolation=cv2.INTER_LINEAR))
    band = (near <= BAND_CELLS + 0.5) | ((p > 1.0 - CONFIDENT) & (p < CONFIDENT))
    radius_x = max(1, round(_WINDOW_CELLS * cell_x))
    radius_y = max(1, round(_WINDOW_CELLS * cell_y))
    bbox = mask_bbox(band, margin=max(radius_x, radius_y))
    if bbox is None:
        return score
    crop_band = band[bbox]
    evidence = _colour_evidence(work[bbox], p[bbox], crop_band, (radius_x, radius_y))
    sigma = max(0.7, min(cell_x, cell_y) / 8)
    evidence = as_f32(cv2.GaussianBlur(evidence, (0, 0), sigma))
    crop_score = score[bbox]
    crop_score[crop_band] += evidence[crop_band]
    return score


def _colour_evidence(
    colours: NDArray[np.float32],
    p: NDArray[np.float32],
    band: Mask,
    radius: tuple[int, int],
) -> NDArray[np.float32]:
    """Log-likelihood ratio (inside vs outside) of each band pixel's colour, 0 elsewhere."""
    kernel = (2 * radius[0] + 1, 2 * radius[1] + 1)
    sides = []
    for samples in (p >= CONFIDENT, p <= 1.0 - CONFIDENT):
        weight = samples.astype(np.float32)
        stacked = np.concatenate(
            [weight[..., None], colours * weight[..., None], colours * colours * weight[..., None]],
            axis=2,
        )
        sums = as_f32(cv2.blur(stacked, kernel))[band]
        count = sums[:, 0]
        safe = np.maximum(count, 1e-6)[:, None]
        mean = sums[:, 1:4] / safe
        variance = np.maximum(sums[:, 4:7] / safe - mean * mean, 0.0) + _NOISE_VARIANCE
        sides.append((count, mean, variance))
    pixels = colours[band]
    (count_in, mean_in, var_in), (count_out, mean_out, var_out) = sides
    log_in = -0.5 * (((pixels - mean_in) ** 2) / var_in + np.log(var_in)).sum(axis=1)
    log_out = -0.5 * (((pixels - mean_out) ** 2) / var_out + np.log(var_out)).sum(axis=1)
    ratio = np.clip(log_in - log_out, -_EVIDENCE_LIMIT, _EVIDENCE_LIMIT)
    trusted = (count_in >= _MIN_SAMPLES) & (count_out >= _MIN_SAMPLES)
    evidence = np.zeros(band.shape, dtype=np.float32)
    evidence[band] = np.where(trusted, ratio, 0.0)
    return evidence

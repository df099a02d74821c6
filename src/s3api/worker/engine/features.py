"""Per-image low-level features (colour spaces, edges, bands) shared by the heuristics.

A ``SceneFeatures`` object belongs to one ``segment`` call on one reduced-resolution image;
it caches what it computes so composite concepts (e.g. Wall = band minus Window) reuse work.
It is never shared between calls or threads.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import cv2
import numpy as np
from numpy.typing import NDArray

from s3api.worker.engine.arrays import Mask, RGBImage, as_f32, as_u8, ellipse

MaskRule = Callable[["SceneFeatures"], Mask]
RowRule = Callable[["SceneFeatures"], int]


class SceneFeatures:
    """Lazily computed analysis of one small RGB image."""

    def __init__(self, rgb: RGBImage) -> None:
        self.rgb = rgb
        self.height: int = int(rgb.shape[0])
        self.width: int = int(rgb.shape[1])
        self._masks: dict[str, Mask] = {}
        self._rows: dict[str, int] = {}

    def mask(self, name: str, rule: MaskRule) -> Mask:
        """Compute ``rule`` once per name; later callers get the cached result."""
        if name not in self._masks:
            self._masks[name] = rule(self)
        return self._masks[name]

    def row(self, name: str, rule: RowRule) -> int:
        """Compute a boundary row once per name."""
        if name not in self._rows:
            self._rows[name] = rule(self)
        return self._rows[name]

    @property
    def area(self) -> int:
        """Pixel count of the analysed image."""
        return self.height * self.width

    def px(self, fraction: float) -> int:
        """A length expressed as a fraction of the shorter side, at least one pixel."""
        return max(1, round(min(self.height, self.width) * fraction))

    @cached_property
    def gray(self) -> NDArray[np.uint8]:
        """Luma."""
        return as_u8(cv2.cvtColor(self.rgb, cv2.COLOR_RGB2GRAY))

    @cached_property
    def hsv(self) -> NDArray[np.uint8]:
        """Hue/saturation/value (OpenCV 8-bit ranges)."""
        return as_u8(cv2.cvtColor(self.rgb, cv2.COLOR_RGB2HSV))

    @cached_property
    def lab(self) -> NDArray[np.float32]:
        """OpenCV 8-bit LAB as float32, for colour distances."""
        return as_f32(cv2.cvtColor(self.rgb, cv2.COLOR_RGB2LAB))

    @property
    def saturation(self) -> NDArray[np.uint8]:
        """HSV saturation channel."""
        return self.hsv[..., 1]

    @property
    def value(self) -> NDArray[np.uint8]:
        """HSV value channel (max of R, G, B)."""
        return self.hsv[..., 2]

    @cached_property
    def edges(self) -> NDArray[np.uint8]:
        """Canny edges (0/255) of the lightly blurred luma."""
        blurred = cv2.GaussianBlur(self.gray, (3, 3), 0)
        return as_u8(cv2.Canny(blurred, 50, 150))

    @cached_property
    def specular(self) -> Mask:
        """Near-white pixels that are brighter than their neighbourhood."""
        tophat = as_u8(cv2.morphologyEx(self.value, cv2.MORPH_TOPHAT, ellipse(self.px(0.05))))
        return (self.value >= 240) & (self.saturation <= 40) & (tophat >= 12)

    def colour_distance(self, reference: NDArray[np.float32]) -> NDArray[np.float32]:
        """Euclidean LAB distance of every pixel from one reference colour."""
        diff = self.lab - reference.reshape(1, 1, 3)
        return as_f32(np.sqrt(np.einsum("ijk,ijk->ij", diff, diff)))

    def median_colour(self, region: Mask) -> NDArray[np.float32]:
        """Median LAB colour of a region (mid-grey for an empty region)."""
        pixels = self.lab[region]
        if pixels.size == 0:
            return np.array([128.0, 128.0, 128.0], dtype=np.float32)
        return as_f32(np.median(pixels, axis=0))

    def horizontal_step(self, low: float, high: float) -> tuple[int, float]:
        """Row in [low, high) x height with the strongest colour change above vs below it.

        Each row counts by its median colour, so furniture standing across the line (a sofa
        covering part of the row) does not move the line to the furniture's base.
        """
        profile = as_f32(np.median(self.lab, axis=1))
        window = max(2, round(self.height * 0.06))
        cumulative = np.vstack([np.zeros((1, 3), np.float32), np.cumsum(profile, axis=0)])
        best_row, best_step = round(self.height * (low + high) / 2), 0.0
        for row in range(max(window, round(self.height * low)), round(self.height * high)):
            if row + window > self.height:
                break
            above = (cumulative[row] - cumulative[row - window]) / window
            below = (cumulative[row + window] - cumulative[row]) / window
            step = float(np.linalg.norm(below - above))
            if step > best_step:
                best_row, best_step = row, step
        return best_row, best_step

    def rows_from(self, row: int) -> Mask:
        """Mask of every pixel at or below ``row``."""
        mask = np.zeros((self.height, self.width), dtype=np.bool_)
        mask[max(0, row) :] = True
        return mask

    def rows_until(self, row: int) -> Mask:
        """Mask of every pixel above ``row``."""
        mask = np.zeros((self.height, self.width), dtype=np.bool_)
        mask[: max(0, row)] = True
        return mask


def components(
    mask: Mask, keep: Callable[[int, int, int, int, int], bool]
) -> tuple[Mask, NDArray[np.int32], NDArray[np.int32]]:
    """Connected components of ``mask`` for which ``keep(x, y, w, h, area)`` holds.

    Returns the union of kept components, the label image and the stats table.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    labels_arr = np.asarray(labels, dtype=np.int32)
    stats_arr = np.asarray(stats, dtype=np.int32)
    kept = np.zeros(count, dtype=np.bool_)
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats_arr[label])
        kept[label] = keep(x, y, w, h, area)
    return kept[labels_arr], labels_arr, stats_arr

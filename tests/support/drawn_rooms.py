"""Drawn rooms with exact masks: a wall over a floor (flat or tiled) and a sofa standing on it.

They reproduce the photos of a first trial of the engine: flat colours, a straight wall line,
thin grey grout on light tiles, a green sofa whose base stands below the wall line. Every
surface's mask is known to the pixel, so a test can measure how far an edit misses it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

WIDTH, HEIGHT = 1600, 1200
WALL_LINE = 697
"""First floor row (not on a 512-px analysis cell boundary, as in a real photo)."""
SOFA_BOX = (430, 505, 1130, 771)
"""left, top, right, bottom (exclusive) of the sofa's outline; its base is 74 rows below
the wall line."""
GROUT_WIDTH = 5
TILE_PITCH = 150
_WALL = (214, 200, 178)
_FLOOR = (150, 108, 74)
_TILE = (196, 200, 204)
_GROUT = (110, 110, 112)
_SOFA = (52, 128, 70)
_SOFA_SHADE = (40, 104, 56)


@dataclass(frozen=True)
class DrawnRoom:
    """An RGB room and the exact masks of what was drawn."""

    image: NDArray[np.uint8]
    floor: NDArray[np.bool_]
    """Floor pixels the edit must reach: below the wall line, not grout, not sofa."""
    grout: NDArray[np.bool_]
    sofa: NDArray[np.bool_]
    wall: NDArray[np.bool_]


def _sofa_mask() -> NDArray[np.bool_]:
    left, top, right, bottom = SOFA_BOX
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    # Back, seat and two arms, with rounded corners on the back.
    cv2.rectangle(mask, (left + 60, top), (right - 61, bottom - 1), 1, -1)
    cv2.rectangle(mask, (left, top + 90), (right - 1, bottom - 1), 1, -1)
    for x in (left + 60, right - 61):
        cv2.circle(mask, (x, top + 60), 60, 1, -1)
    return mask > 0


def _grout_mask() -> NDArray[np.bool_]:
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.bool_)
    for y in range(WALL_LINE + 40, HEIGHT, TILE_PITCH):
        mask[y : y + GROUT_WIDTH] = True
    for x in range(110, WIDTH, TILE_PITCH + 40):
        mask[WALL_LINE:, x : x + GROUT_WIDTH] = True
    return mask


def drawn_room(*, tiled: bool, seed: int = 5) -> DrawnRoom:
    """The flat-floor room (``tiled=False``) or the tiled one, with light sensor noise."""
    image = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    image[:WALL_LINE] = _WALL
    below = np.zeros((HEIGHT, WIDTH), dtype=np.bool_)
    below[WALL_LINE:] = True
    grout = _grout_mask() if tiled else np.zeros_like(below)
    image[below] = _TILE if tiled else _FLOOR
    image[grout] = _GROUT
    sofa = _sofa_mask()
    image[sofa] = _SOFA
    left, top, right, _ = SOFA_BOX
    seat = np.zeros_like(sofa)
    seat[top + 150 : top + 160, left + 60 : right - 60] = True
    image[seat & sofa] = _SOFA_SHADE
    noise = np.random.default_rng(seed).normal(0.0, 1.5, image.shape)
    noisy = np.clip(np.rint(image + noise), 0, 255).astype(np.uint8)
    return DrawnRoom(
        image=noisy,
        floor=below & ~grout & ~sofa,
        grout=grout & ~sofa,
        sofa=sofa,
        wall=~below & ~sofa,
    )


def widest_unchanged_strip(
    before: NDArray[np.uint8], after: NDArray[np.uint8], surface: NDArray[np.bool_]
) -> float:
    """How far (px) inside ``surface`` an unedited pixel lies from the surface's edge.

    Distance 1 is a pixel touching the edge; 0 means every surface pixel was edited. The
    image border does not count as an edge (an edit reaches it by construction).
    """
    unchanged = surface & np.all(before == after, axis=2)
    if not unchanged.any():
        return 0.0
    padded = np.pad(surface, 1, mode="edge").astype(np.uint8)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    return float(distance[unchanged].max())

"""A drawn room with three windows on its wall: one concept, three instances.

The flat room of `drawn_rooms` with three bright window panes side by side, so the default
engine finds Window #1, #2 and #3 (left to right) and a test can exclude or lock one.
"""

from __future__ import annotations

import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from tests.support.drawn_rooms import drawn_room

WINDOW_BOXES = ((150, 200, 220, 250), (690, 200, 220, 250), (1230, 200, 220, 250))
"""left, top, width, height of each pane, in reading order."""
_PANE = (245, 246, 248)


def room_with_windows(seed: int = 5) -> NDArray[np.uint8]:
    """The RGB room (1600x1200) with three window panes."""
    image = drawn_room(tiled=False, seed=seed).image.copy()
    for left, top, width, height in WINDOW_BOXES:
        image[top : top + height, left : left + width] = _PANE
    return image


def room_with_windows_png(seed: int = 5) -> bytes:
    """The room as a PNG upload (lossless, so unchanged pixels compare exactly)."""
    buffer = io.BytesIO()
    Image.fromarray(room_with_windows(seed)).save(buffer, format="PNG")
    return buffer.getvalue()

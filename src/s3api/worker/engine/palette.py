"""Colour conversions of the edit vocabulary (`s3api.presets.vocabulary`) for the engine."""

from __future__ import annotations

import cv2
import numpy as np

from s3api.presets.vocabulary import RGB
from s3api.worker.engine.arrays import as_u8


def rgb_to_lab(colour: RGB) -> tuple[int, int, int]:
    """OpenCV 8-bit LAB (L scaled to 0..255, a/b offset by 128) of one sRGB colour."""
    pixel = np.array([[colour]], dtype=np.uint8)
    lab = as_u8(cv2.cvtColor(pixel, cv2.COLOR_RGB2LAB))[0, 0]
    return int(lab[0]), int(lab[1]), int(lab[2])

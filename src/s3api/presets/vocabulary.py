"""The edit vocabulary: named colours, tones and texture materials.

One home for both sides: the API checks every edit value against it when a rule is saved
or a job executed, and the worker renders the same names, so no item fails for an edit the
API accepted. Pure Python, so the server imports it without the worker's image libraries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

RGB = tuple[int, int, int]

PALETTE: dict[str, RGB] = {
    "oak_a": (196, 154, 108),
    "oak_b": (170, 126, 82),
    "walnut_a": (94, 62, 40),
    "marble_white": (236, 234, 228),
    "concrete_gray": (140, 140, 136),
    "offwhite_a": (242, 238, 226),
    "offwhite_b": (232, 226, 210),
    "charcoal": (54, 56, 60),
    "navy": (30, 44, 84),
    "sage_green": (156, 175, 136),
    "terracotta": (196, 102, 70),
    "black_matte": (28, 28, 30),
    "white_gloss": (250, 250, 248),
}
"""Named recolor targets (sRGB)."""

TONES = frozenset({"warm", "cool", "bright", "dark", "vivid", "muted"})
"""Accepted values of the ``tone`` action."""

Pattern = Literal["wood", "marble", "concrete", "linen", "speckle"]


@dataclass(frozen=True)
class Material:
    """A procedural texture: a pattern blended between a dark and a light colour."""

    pattern: Pattern
    dark: RGB
    light: RGB


MATERIALS: dict[str, Material] = {
    "wood": Material("wood", (120, 80, 48), (196, 150, 100)),
    "marble": Material("marble", (128, 128, 134), (238, 236, 232)),
    "concrete": Material("concrete", (112, 112, 108), (170, 168, 162)),
    "linen": Material("linen", (196, 186, 164), (234, 228, 212)),
}
"""Named texture materials; palette names are accepted as materials too."""

_HEX_COLOR = re.compile(r"#([0-9a-fA-F]{6})")
_PALETTE_PATTERNS: dict[str, Pattern] = {
    "oak_a": "wood",
    "oak_b": "wood",
    "walnut_a": "wood",
    "marble_white": "marble",
    "concrete_gray": "concrete",
}


def _normalise(value: str) -> str:
    return value.strip().lower()


def _scaled(colour: RGB, factor: float, offset: int) -> RGB:
    red, green, blue = (min(255, max(0, round(c * factor + offset))) for c in colour)
    return red, green, blue


def parse_color(value: str) -> RGB:
    """Resolve a ``#RRGGBB`` string or a palette name to an RGB triple."""
    text = value.strip()
    match = _HEX_COLOR.fullmatch(text)
    if match:
        packed = int(match.group(1), 16)
        return (packed >> 16) & 0xFF, (packed >> 8) & 0xFF, packed & 0xFF
    colour = PALETTE.get(_normalise(text))
    if colour is None:
        raise ValueError(f"unknown colour {value!r} (use #RRGGBB or a palette name)")
    return colour


def parse_tone(value: str) -> str:
    """Validate a tone name and return its canonical spelling."""
    tone = _normalise(value)
    if tone not in TONES:
        raise ValueError(f"unknown tone {value!r} (expected one of {', '.join(sorted(TONES))})")
    return tone


def parse_material(value: str) -> Material:
    """Resolve a material name, or a palette colour rendered with a fitting pattern."""
    name = _normalise(value)
    if name in MATERIALS:
        return MATERIALS[name]
    if name in PALETTE:
        base = PALETTE[name]
        # Spread the palette colour into a dark/light pair so the pattern stays visible.
        pattern = _PALETTE_PATTERNS.get(name, "speckle")
        return Material(pattern, _scaled(base, 0.72, 0), _scaled(base, 1.08, 6))
    known = ", ".join(sorted(MATERIALS))
    raise ValueError(f"unknown texture {value!r} (expected {known} or a palette name)")


HEX_COLOUR_PATTERN = "^#[0-9A-Fa-f]{6}$"
COLOUR_NAMES: tuple[str, ...] = tuple(sorted(PALETTE))
TONE_NAMES: tuple[str, ...] = tuple(sorted(TONES))
TEXTURE_NAMES: tuple[str, ...] = tuple(sorted({*MATERIALS, *PALETTE}))


def check_edit_value(action: str, value: str | None) -> None:
    """Raise ValueError unless the worker can render `value` for `action` (as it parses it)."""
    if action == "remove":
        return
    if value is None or not value.strip():
        raise ValueError(f"'{action}' needs a value")
    if action == "recolor":
        parse_color(value)
    elif action == "tone":
        parse_tone(value)
    elif action == "texture":
        parse_material(value)
    else:
        raise ValueError(f"unknown action {action!r}")

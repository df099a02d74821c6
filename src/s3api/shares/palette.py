"""The palette summary of a shared job: each edit with a CSS swatch, and the protected names.

The swatches are drawn in CSS from the edit vocabulary itself, so the page needs no image
of the worker's: a flat colour for `recolor`, the material's two colours in a pattern of its
kind for `texture`, a base colour beside its toned version for `tone`, a cross for `remove`.
Every CSS value here is computed from the vocabulary, never copied from a stored string.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from s3api.presets.vocabulary import RGB, Material, parse_color, parse_material, parse_tone

TONE_BASE: RGB = (172, 140, 112)
"""The mid colour a tone swatch starts from (the card of `고객공유카드` starts from it too)."""
_MAT = "#f3f1ec"
_REMOVED_MARK = "#c8463c"
_UNKNOWN = "#b4b4b4"


@dataclass(frozen=True)
class PaletteEntry:
    """One edited concept: its name, action and value, and the CSS `background` of its swatch."""

    concept: str
    action: str
    value: str
    swatch_css: str


@dataclass(frozen=True)
class PaletteSummary:
    """What the page lists under the photos."""

    edits: tuple[PaletteEntry, ...]
    protected: tuple[str, ...]


def _hex(colour: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def _clamped(values: Iterable[float]) -> RGB:
    red, green, blue = (min(255, max(0, round(value))) for value in values)
    return red, green, blue


def toned(colour: RGB, tone: str) -> RGB:
    """An indication of what the engine's tone does to `colour`, for the swatch only."""
    red, green, blue = colour
    grey = (red + green + blue) / 3
    if tone == "warm":
        return _clamped((red + 22, green + 6, blue - 22))
    if tone == "cool":
        return _clamped((red - 22, green, blue + 22))
    if tone == "bright":
        return _clamped(c * 1.15 + 12 for c in colour)
    if tone == "dark":
        return _clamped(c * 0.72 for c in colour)
    factor = 1.6 if tone == "vivid" else 0.4  # vivid moves away from grey, muted toward it
    return _clamped(grey + (c - grey) * factor for c in colour)


def _material_css(material: Material) -> str:
    dark, light = _hex(material.dark), _hex(material.light)
    if material.pattern == "wood":
        return f"repeating-linear-gradient(100deg, {dark} 0 3px, {light} 3px 11px)"
    if material.pattern == "marble":
        return f"linear-gradient(135deg, {light} 0 38%, {dark} 46%, {light} 54% 100%)"
    if material.pattern == "linen":
        return (
            f"repeating-linear-gradient(0deg, {dark} 0 1px, transparent 1px 4px), "
            f"repeating-linear-gradient(90deg, {dark} 0 1px, {light} 1px 4px)"
        )
    # concrete and speckle: dots of the dark colour on the light one
    return f"radial-gradient({dark} 1px, transparent 1.6px) 0 0 / 6px 6px, {light}"


def swatch_css(action: str, value: str | None) -> str:
    """The CSS `background` of the swatch of one edit; grey for a value it cannot read."""
    try:
        if action == "recolor" and value is not None:
            return _hex(parse_color(value))
        if action == "texture" and value is not None:
            return _material_css(parse_material(value))
        if action == "tone" and value is not None:
            after = toned(TONE_BASE, parse_tone(value))
            return f"linear-gradient(90deg, {_hex(TONE_BASE)} 0 50%, {_hex(after)} 50% 100%)"
    except ValueError:
        return _UNKNOWN
    if action == "remove":
        mark = f"transparent 44%, {_REMOVED_MARK} 44% 56%, transparent 56%"
        return f"linear-gradient(45deg, {mark}), linear-gradient(-45deg, {mark}), {_MAT}"
    return _UNKNOWN


def palette_summary(
    concepts: Mapping[str, Any] | None, protect: Sequence[str] | None
) -> PaletteSummary:
    """The summary of a job's stored edits (`{concept: {action, value}}`) and protect list."""
    edits = []
    for concept, edit in (concepts or {}).items():
        action = str(edit.get("action", "")) if isinstance(edit, Mapping) else ""
        raw_value = edit.get("value") if isinstance(edit, Mapping) else None
        value = raw_value if isinstance(raw_value, str) else None
        edits.append(PaletteEntry(str(concept), action, value or "", swatch_css(action, value)))
    return PaletteSummary(tuple(edits), tuple(str(name) for name in protect or ()))

"""Labels drawn with the font that ships inside Pillow, so no system font is needed.

Pillow's bundled font covers Latin text only, which is why every label the templates draw
is Latin (concept names, actions and vocabulary values already are). Characters it cannot
draw come out as boxes rather than failing.
"""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from s3api.presets.vocabulary import RGB

INK: RGB = (34, 36, 40)
"""Colour of label text."""
MUTED_INK: RGB = (110, 114, 120)
"""Colour of secondary text."""


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled scalable font at `size` px (cached: fonts are immutable)."""
    return ImageFont.load_default(size)


def text_width(text: str, size: int) -> int:
    """Width in pixels of `text` at `size`."""
    left, _, right, _ = font(size).getbbox(text)
    return int(right - left)


def fitted_size(text: str, size: int, max_width: int, min_size: int = 10) -> int:
    """The largest size up to `size` at which `text` fits `max_width` (at least `min_size`)."""
    while size > min_size and text_width(text, size) > max_width:
        size -= 1
    return size


def shortened(text: str, size: int, max_width: int) -> str:
    """`text`, cut with an ellipsis where it would not fit `max_width` at `size`."""
    if text_width(text, size) <= max_width:
        return text
    while text and text_width(text + "…", size) > max_width:
        text = text[:-1]
    return text + "…"


def draw_text(
    canvas: Image.Image,
    position: tuple[int, int],
    text: str,
    size: int,
    colour: RGB = INK,
    *,
    anchor: str = "la",
    bold: bool = False,
) -> None:
    """Draw `text` at `position` (Pillow anchor, default left-ascender)."""
    draw = ImageDraw.Draw(canvas)
    stroke = max(1, size // 28) if bold else 0
    draw.text(
        position,
        text,
        fill=colour,
        font=font(size),
        anchor=anchor,
        stroke_width=stroke,
        stroke_fill=colour,
    )

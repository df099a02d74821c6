"""`고객공유카드`: one portrait card per job for a messenger, with the palette used.

Layout, top to bottom, on a `CARD_WIDTH` x `CARD_HEIGHT` card: a title, up to
`MAX_CARD_PAIRS` before/after rows, then the palette summary (one row per edited concept:
swatch, concept name, action and value) and the protected concepts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PIL import Image, ImageDraw

from s3api.worker.compose.layout import RULE, as_array, canvas, contained, paste
from s3api.worker.compose.swatches import swatch
from s3api.worker.compose.text import MUTED_INK, draw_text, fitted_size, shortened
from s3api.worker.engine.arrays import RGBImage
from s3api.worker.engine.edits import ConceptEdit, parse_edits

CARD_WIDTH = 1080
CARD_HEIGHT = 1920
"""A 9:16 portrait card: the full-screen size messengers show without cropping."""
MAX_CARD_PAIRS = 3
"""Before/after pairs the card holds; the first ones of the job, in item order."""
MARGIN = 48
TITLE_HEIGHT = 150
PAIR_GAP = 16
PAIR_LABEL = 34
SWATCH_SIDE = 44
PALETTE_ROW = 58
PALETTE_HEADER = 70
PROTECT_BLOCK = 84
MAX_PALETTE_ROWS = 12
"""Rows of the palette; with more edits the last row names the rest without swatches."""


def _palette_height(edit_count: int, has_protected: bool) -> int:
    rows = min(edit_count, MAX_PALETTE_ROWS)
    return PALETTE_HEADER + rows * PALETTE_ROW + (PROTECT_BLOCK if has_protected else 0)


def share_card(
    pairs: Sequence[tuple[RGBImage, RGBImage]],
    concepts: Mapping[str, Mapping[str, str | None]],
    protected: Sequence[str],
    *,
    title: str,
    subtitle: str = "",
) -> RGBImage:
    """The card: at most `MAX_CARD_PAIRS` of `pairs`, the edits of `concepts` with their
    swatches and the `protected` names. Raises ValueError for a bad edit or no pair."""
    if not pairs:
        raise ValueError("a share card needs at least one before/after pair")
    edits = parse_edits(concepts)
    shown = list(pairs[:MAX_CARD_PAIRS])
    card = canvas(CARD_WIDTH, CARD_HEIGHT)
    inner = CARD_WIDTH - 2 * MARGIN
    size = fitted_size(title, 56, inner)
    draw_text(card, (MARGIN, MARGIN), shortened(title, size, inner), size, bold=True)
    if subtitle:
        draw_text(card, (MARGIN, MARGIN + 70), shortened(subtitle, 28, inner), 28, MUTED_INK)
    palette_top = CARD_HEIGHT - MARGIN - _palette_height(len(edits), bool(protected))
    room = palette_top - TITLE_HEIGHT - MARGIN
    cell_w = (inner - PAIR_GAP) // 2
    # cells grow with the room left, up to squares
    cell_h = min(cell_w, room // len(shown) - PAIR_LABEL - PAIR_GAP)
    top = TITLE_HEIGHT + (room - len(shown) * (cell_h + PAIR_LABEL + PAIR_GAP)) // 2
    for before, after in shown:
        for column, (image, label) in enumerate(((before, "BEFORE"), (after, "AFTER"))):
            left = MARGIN + column * (cell_w + PAIR_GAP)
            paste(card, contained(image, cell_w, cell_h), left, top + PAIR_LABEL)
            draw_text(card, (left, top + 4), label, 22, MUTED_INK, bold=column == 1)
        top += cell_h + PAIR_LABEL + PAIR_GAP
    _draw_palette(card, palette_top, edits, protected)
    return as_array(card)


def _draw_palette(
    card: Image.Image, top: int, edits: Mapping[str, ConceptEdit], protected: Sequence[str]
) -> None:
    """The palette summary from `top` down: a header, one row per edit, the protected."""
    draw = ImageDraw.Draw(card)
    draw.line([(MARGIN, top), (CARD_WIDTH - MARGIN, top)], fill=RULE, width=2)
    draw_text(card, (MARGIN, top + 22), "PALETTE", 26, MUTED_INK, bold=True)
    row = top + PALETTE_HEADER
    text_left = MARGIN + SWATCH_SIDE + 20
    width = CARD_WIDTH - MARGIN - text_left
    listed = list(edits.items())
    rest: list[str] = []
    if len(listed) > MAX_PALETTE_ROWS:
        listed, rest = (
            listed[: MAX_PALETTE_ROWS - 1],
            [n for n, _ in listed[MAX_PALETTE_ROWS - 1 :]],
        )
    for name, edit in listed:
        paste(card, swatch(edit, SWATCH_SIDE), MARGIN, row)
        draw.rectangle([MARGIN, row, MARGIN + SWATCH_SIDE - 1, row + SWATCH_SIDE - 1], outline=RULE)
        centre = row + SWATCH_SIDE // 2
        draw_text(card, (text_left, centre), shortened(name, 30, width // 2), 30, anchor="lm")
        detail = edit.action if edit.value is None else f"{edit.action} · {edit.value}"
        draw_text(
            card,
            (CARD_WIDTH - MARGIN, centre),
            shortened(detail, 26, width // 2),
            26,
            MUTED_INK,
            anchor="rm",
        )
        row += PALETTE_ROW
    if rest:
        more = f"+{len(rest)} more: {', '.join(rest)}"
        inner = CARD_WIDTH - MARGIN - text_left
        draw_text(
            card,
            (text_left, row + SWATCH_SIDE // 2),
            shortened(more, 26, inner),
            26,
            MUTED_INK,
            anchor="lm",
        )
        row += PALETTE_ROW
    if protected:
        draw_text(card, (MARGIN, row + 14), "PROTECTED", 22, MUTED_INK, bold=True)
        names = ", ".join(dict.fromkeys(protected))
        inner = CARD_WIDTH - 2 * MARGIN
        draw_text(card, (MARGIN, row + 44), shortened(names, 26, inner), 26)

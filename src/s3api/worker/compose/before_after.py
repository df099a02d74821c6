"""`전후비교`: the photo before and after its edits, side by side at one height."""

from __future__ import annotations

from s3api.worker.compose.layout import as_array, canvas, paste, scaled_to_height
from s3api.worker.compose.text import MUTED_INK, draw_text
from s3api.worker.engine.arrays import RGBImage

PANEL_HEIGHT = 1080
"""Height of both panels, unless a panel would then be wider than `MAX_PANEL_WIDTH`."""
MAX_PANEL_WIDTH = 1440
"""Widest a panel may be; a panoramic photo brings both panels' height down instead."""
GUTTER = 24
"""Margin around and between the panels."""
LABEL_STRIP = 64
"""Height of the strip under the panels that holds the labels."""
LABEL_SIZE = 30
BEFORE_LABEL = "BEFORE"
AFTER_LABEL = "AFTER"


def panel_height(before: RGBImage, after: RGBImage) -> int:
    """The common panel height: `PANEL_HEIGHT`, or less for a very wide photo."""
    widest = max(before.shape[1] / before.shape[0], after.shape[1] / after.shape[0])
    return min(PANEL_HEIGHT, max(1, int(MAX_PANEL_WIDTH / widest)))


def before_after(before: RGBImage, after: RGBImage) -> RGBImage:
    """One image: `before` left, `after` right, both `panel_height` tall, labelled below.

    Size: width = 3 x GUTTER + both panels' widths, height = 2 x GUTTER + panel height +
    LABEL_STRIP.
    """
    height = panel_height(before, after)
    left_panel, right_panel = scaled_to_height(before, height), scaled_to_height(after, height)
    width = 3 * GUTTER + left_panel.shape[1] + right_panel.shape[1]
    board = canvas(width, 2 * GUTTER + height + LABEL_STRIP)
    paste(board, left_panel, GUTTER, GUTTER)
    right_left = 2 * GUTTER + left_panel.shape[1]
    paste(board, right_panel, right_left, GUTTER)
    label_y = GUTTER + height + LABEL_STRIP // 2
    draw_text(
        board,
        (GUTTER + left_panel.shape[1] // 2, label_y),
        BEFORE_LABEL,
        LABEL_SIZE,
        MUTED_INK,
        anchor="mm",
    )
    draw_text(
        board,
        (right_left + right_panel.shape[1] // 2, label_y),
        AFTER_LABEL,
        LABEL_SIZE,
        anchor="mm",
        bold=True,
    )
    return as_array(board)

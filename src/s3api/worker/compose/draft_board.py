"""`시안3안팩`: per photo, one board of the original and its three drafts."""

from __future__ import annotations

from collections.abc import Sequence

from s3api.worker.compose.layout import as_array, canvas, contained, paste
from s3api.worker.compose.text import MUTED_INK, draw_text
from s3api.worker.engine.arrays import RGBImage

BOARD_WIDTH = 1920
BOARD_HEIGHT = 1600
GUTTER = 40
LABEL_STRIP = 60
CELL_WIDTH = (BOARD_WIDTH - 3 * GUTTER) // 2
"""900 px: two cells and three gutters across."""
CELL_HEIGHT = (BOARD_HEIGHT - 3 * GUTTER - 2 * LABEL_STRIP) // 2
"""680 px: two rows of a label strip and a cell, three gutters."""
ORIGINAL_LABEL = "ORIGINAL"
DRAFT_COUNT = 3


def draft_board(original: RGBImage, drafts: Sequence[tuple[str, RGBImage]]) -> RGBImage:
    """A 2 x 2 board, `BOARD_WIDTH` x `BOARD_HEIGHT`: the original top left, then the three
    `(label, image)` drafts; every image letterboxed into its `CELL_WIDTH` x `CELL_HEIGHT`."""
    if len(drafts) != DRAFT_COUNT:
        raise ValueError(f"a draft board holds exactly {DRAFT_COUNT} drafts")
    board = canvas(BOARD_WIDTH, BOARD_HEIGHT)
    cells = [(ORIGINAL_LABEL, original), *((label.upper(), image) for label, image in drafts)]
    for index, (label, image) in enumerate(cells):
        column, row = index % 2, index // 2
        left = GUTTER + column * (CELL_WIDTH + GUTTER)
        top = GUTTER + row * (LABEL_STRIP + CELL_HEIGHT + GUTTER)
        colour = MUTED_INK if index == 0 else (34, 36, 40)
        draw_text(board, (left, top + LABEL_STRIP // 2), label, 32, colour, anchor="lm", bold=True)
        paste(board, contained(image, CELL_WIDTH, CELL_HEIGHT), left, top + LABEL_STRIP)
    return as_array(board)

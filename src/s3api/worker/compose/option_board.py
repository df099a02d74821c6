"""`옵션보드`: the product in every option colour on one labelled board."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import ImageDraw

from s3api.presets.vocabulary import parse_color
from s3api.worker.compose.layout import RULE, as_array, canvas, contained, paste
from s3api.worker.compose.text import draw_text, shortened
from s3api.worker.engine.arrays import RGBImage

MIN_OPTIONS = 2
MAX_OPTIONS = 8
CELL_SIDE = 600
GUTTER = 32
LABEL_STRIP = 72
_DOT = 28


def grid_shape(count: int) -> tuple[int, int]:
    """(columns, rows): one row up to 3 options, then two rows of up to 4."""
    if count <= 3:
        return count, 1
    return math.ceil(count / 2), 2


def board_size(count: int) -> tuple[int, int]:
    """(width, height) of a board of `count` options."""
    columns, rows = grid_shape(count)
    width = columns * CELL_SIDE + (columns + 1) * GUTTER
    return width, rows * (CELL_SIDE + LABEL_STRIP) + (rows + 1) * GUTTER


def option_board(renders: Sequence[tuple[str, RGBImage]]) -> RGBImage:
    """A board of `(option value, render)` pairs in request order: each render letterboxed
    into a `CELL_SIDE` square with its colour dot and value under it."""
    if not MIN_OPTIONS <= len(renders) <= MAX_OPTIONS:
        raise ValueError(f"an option board holds {MIN_OPTIONS} to {MAX_OPTIONS} options")
    columns, _ = grid_shape(len(renders))
    board = canvas(*board_size(len(renders)))
    draw = ImageDraw.Draw(board)
    for index, (value, image) in enumerate(renders):
        column, row = index % columns, index // columns
        left = GUTTER + column * (CELL_SIDE + GUTTER)
        top = GUTTER + row * (CELL_SIDE + LABEL_STRIP + GUTTER)
        paste(board, contained(image, CELL_SIDE, CELL_SIDE), left, top)
        centre_y = top + CELL_SIDE + LABEL_STRIP // 2
        dot = [left, centre_y - _DOT // 2, left + _DOT, centre_y + _DOT // 2]
        draw.ellipse(dot, fill=parse_color(value), outline=RULE, width=2)
        label = shortened(value, 30, CELL_SIDE - _DOT - 16)
        draw_text(board, (left + _DOT + 14, centre_y), label, 30, anchor="lm")
    return as_array(board)

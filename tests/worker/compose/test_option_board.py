"""`옵션보드`: 2 to 8 option renders on one board, each with its colour dot and value."""

from __future__ import annotations

import numpy as np
import pytest

from s3api.presets.vocabulary import PALETTE, parse_color
from s3api.worker.compose.layout import PAPER
from s3api.worker.compose.option_board import (
    CELL_SIDE,
    GUTTER,
    LABEL_STRIP,
    board_size,
    grid_shape,
    option_board,
)
from tests.worker.compose.conftest import flat

VALUES = [
    "navy",
    "terracotta",
    "sage_green",
    "charcoal",
    "#D9A441",
    "oak_a",
    "black_matte",
    "white_gloss",
]


def renders(count: int) -> list[tuple[str, np.ndarray]]:
    return [(value, flat(500, 500, parse_color(value))) for value in VALUES[:count]]


@pytest.mark.parametrize("count", range(2, 9))
def test_board_size_follows_the_grid(count: int) -> None:
    board = option_board(renders(count))
    columns, rows = grid_shape(count)
    assert (board.shape[1], board.shape[0]) == board_size(count)
    assert board_size(count) == (
        columns * CELL_SIDE + (columns + 1) * GUTTER,
        rows * (CELL_SIDE + LABEL_STRIP) + (rows + 1) * GUTTER,
    )


def test_each_cell_shows_its_render_and_a_dot_of_its_colour_with_a_label() -> None:
    board = option_board(renders(5))
    columns, _ = grid_shape(5)
    for index, (value, _) in enumerate(renders(5)):
        column, row = index % columns, index // columns
        left = GUTTER + column * (CELL_SIDE + GUTTER)
        top = GUTTER + row * (CELL_SIDE + LABEL_STRIP + GUTTER)
        colour = parse_color(value)
        assert tuple(board[top + CELL_SIDE // 2, left + CELL_SIDE // 2]) == colour
        strip = board[top + CELL_SIDE : top + CELL_SIDE + LABEL_STRIP, left : left + CELL_SIDE]
        assert np.all(strip == colour, axis=2).sum() > 200  # the dot
        text = strip[:, 60:]
        assert np.any(text != PAPER, axis=2).sum() > 150  # the value's label


def test_the_dot_of_a_palette_name_is_the_palettes_colour() -> None:
    board = option_board(renders(2))
    assert np.all(board == PALETTE["navy"], axis=2).sum() > CELL_SIDE**2


@pytest.mark.parametrize("count", [0, 1, 9])
def test_fewer_than_two_or_more_than_eight_options_are_refused(count: int) -> None:
    many = [(VALUES[i % len(VALUES)], flat(10, 10, (0, 0, 0))) for i in range(count)]
    with pytest.raises(ValueError, match="2 to 8"):
        option_board(many)

"""`시안3안팩`: the original and three labelled drafts on one 1920x1600 board."""

from __future__ import annotations

import numpy as np
import pytest

from s3api.worker.compose.draft_board import (
    BOARD_HEIGHT,
    BOARD_WIDTH,
    CELL_HEIGHT,
    CELL_WIDTH,
    GUTTER,
    LABEL_STRIP,
    draft_board,
)
from s3api.worker.compose.layout import PAPER
from tests.worker.compose.conftest import flat

COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)]


def board() -> np.ndarray:
    original, *drafts = (flat(800, 600, colour) for colour in COLOURS)
    named = list(zip(["modern", "natural", "hotel"], drafts, strict=True))
    return draft_board(original, named)


def test_board_size_and_each_cell_holds_its_image_in_order() -> None:
    image = board()
    assert image.shape == (BOARD_HEIGHT, BOARD_WIDTH, 3)
    for index, colour in enumerate(COLOURS):
        column, row = index % 2, index // 2
        left = GUTTER + column * (CELL_WIDTH + GUTTER)
        top = GUTTER + row * (LABEL_STRIP + CELL_HEIGHT + GUTTER) + LABEL_STRIP
        assert tuple(image[top + CELL_HEIGHT // 2, left + CELL_WIDTH // 2]) == colour
        label = image[top - LABEL_STRIP : top, left : left + CELL_WIDTH]
        assert np.any(label != PAPER, axis=2).sum() > 300


def test_board_is_deterministic() -> None:
    assert np.array_equal(board(), board())


def test_a_board_needs_exactly_three_drafts() -> None:
    with pytest.raises(ValueError, match="exactly 3"):
        draft_board(flat(10, 10, (0, 0, 0)), [("modern", flat(10, 10, (0, 0, 0)))])

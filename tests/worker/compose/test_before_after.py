"""`전후비교`: both panels at one height, labelled, at the documented size."""

from __future__ import annotations

import numpy as np

from s3api.worker.compose.before_after import (
    GUTTER,
    LABEL_STRIP,
    MAX_PANEL_WIDTH,
    PANEL_HEIGHT,
    before_after,
)
from s3api.worker.compose.layout import PAPER
from tests.worker.compose.conftest import flat


def test_panels_share_one_height_and_the_size_follows_the_documented_formula() -> None:
    before, after = flat(800, 600, (200, 10, 10)), flat(800, 600, (10, 10, 200))
    board = before_after(before, after)
    panel_width = round(800 * PANEL_HEIGHT / 600)
    assert board.shape == (2 * GUTTER + PANEL_HEIGHT + LABEL_STRIP, 3 * GUTTER + 2 * panel_width, 3)
    middle = GUTTER + PANEL_HEIGHT // 2
    assert tuple(board[middle, GUTTER + 5]) == (200, 10, 10)
    assert tuple(board[middle, 2 * GUTTER + panel_width + 5]) == (10, 10, 200)
    assert tuple(board[middle, GUTTER + panel_width + GUTTER // 2]) == PAPER


def test_a_panoramic_photo_brings_both_panels_down_to_the_widest_allowed() -> None:
    board = before_after(flat(4000, 1000, (90, 90, 90)), flat(4000, 1000, (90, 90, 90)))
    height = board.shape[0] - 2 * GUTTER - LABEL_STRIP
    assert height == MAX_PANEL_WIDTH // 4
    assert board.shape[1] == 3 * GUTTER + 2 * MAX_PANEL_WIDTH


def test_both_labels_are_drawn_in_the_strip_under_each_panel() -> None:
    board = before_after(flat(600, 600, (0, 0, 0)), flat(600, 600, (0, 0, 0)))
    strip = board[GUTTER + PANEL_HEIGHT :]
    inked = np.any(strip != PAPER, axis=2)
    half = board.shape[1] // 2
    assert inked[:, :half].sum() > 200
    assert inked[:, half:].sum() > 200


def test_the_same_photos_give_the_same_pixels() -> None:
    photos = flat(640, 480, (120, 60, 30)), flat(640, 480, (30, 60, 120))
    assert np.array_equal(before_after(*photos), before_after(*photos))

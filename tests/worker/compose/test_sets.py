"""Planned files → compositions for drafts and options: a variant's file is its render as
the engine made it, a board shows every render under its label, and only the boards take
the free plan's stamp here (the renders carry the engine's)."""

from __future__ import annotations

import numpy as np
import pytest

from s3api.worker.compose.draft_board import draft_board
from s3api.worker.compose.option_board import option_board
from s3api.worker.compose.sets import Photo, PlannedFile, SetContext, compose_files
from s3api.worker.compose.watermark import Watermark, apply_watermark
from s3api.worker.engine.arrays import Mask, RGBImage
from tests.worker.compose.conftest import flat

MARK = Watermark("Made with S3 API", (0.58, 0.9, 0.4, 0.07), 0.6)
STYLES = ["MODERN", "NATURAL", "HOTEL"]


def no_segment(image: RGBImage, concepts: object) -> dict[str, Mask]:
    raise AssertionError("drafts and options need no product mask")


def drafts_photo() -> Photo:
    return Photo(
        flat(320, 240, (90, 90, 90)),
        flat(320, 240, (200, 40, 40)),
        (flat(320, 240, (40, 200, 40)), flat(320, 240, (40, 40, 200))),
    )


def draft_files() -> list[PlannedFile]:
    return [
        *(PlannedFile(f"draft_0_{s.lower()}.jpg", "draft", 0, n) for n, s in enumerate(STYLES)),
        PlannedFile("draft_board_0.jpg", "draft_board", 0),
    ]


def context(labels: list[str]) -> SetContext:
    return SetContext("interior", {}, [], labels)


def test_each_draft_is_its_render_and_the_board_holds_them_in_order() -> None:
    photo = drafts_photo()
    images = compose_files(draft_files(), {0: photo}, context(STYLES), no_segment, None)
    renders = [photo.after, *photo.variants]
    for image, render in zip(images[:3], renders, strict=True):
        assert np.array_equal(image, render)
    expected = draft_board(photo.before, list(zip(STYLES, renders, strict=True)))
    assert np.array_equal(images[3], expected)


def test_the_watermark_goes_on_the_board_and_not_again_on_a_render() -> None:
    photo = drafts_photo()
    clean = compose_files(draft_files(), {0: photo}, context(STYLES), no_segment, None)
    marked = compose_files(draft_files(), {0: photo}, context(STYLES), no_segment, MARK)
    for first, second in zip(clean[:3], marked[:3], strict=True):
        assert np.array_equal(first, second)
    assert np.array_equal(marked[3], apply_watermark(clean[3], MARK))
    assert not np.array_equal(marked[3], clean[3])


def test_an_option_board_labels_each_render_with_its_colour() -> None:
    photo = drafts_photo()
    labels = ["navy", "#c0392b", "sage_green"]
    files = [
        *(PlannedFile(f"option_0_{n + 1}.jpg", "option", 0, n) for n in range(3)),
        PlannedFile("option_board_0.jpg", "option_board", 0),
    ]
    images = compose_files(files, {0: photo}, context(labels), no_segment, None)
    renders = [photo.after, *photo.variants]
    assert np.array_equal(images[3], option_board(list(zip(labels, renders, strict=True))))


@pytest.mark.parametrize(
    ("planned", "labels", "reason"),
    [
        (PlannedFile("draft_0_x.jpg", "draft", 0, 3), STYLES, "no render of variant 3"),
        (PlannedFile("draft_0_x.jpg", "draft", 0, None), STYLES, "names no variant"),
        (PlannedFile("draft_board_0.jpg", "draft_board", 0), STYLES[:2], "do not match"),
        (PlannedFile("draft_board_9.jpg", "draft_board", 9), STYLES, "names no photo"),
    ],
)
def test_a_file_the_renders_cannot_make_is_refused(
    planned: PlannedFile, labels: list[str], reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        compose_files([planned], {0: drafts_photo()}, context(labels), no_segment, None)

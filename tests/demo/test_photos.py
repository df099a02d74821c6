"""Choosing the demo's photos: which files of a folder qualify, and how many are sent."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3api.demo.client import DemoError
from s3api.demo.console import edited_concepts
from s3api.demo.flow import DemoOptions, choose_item_count
from s3api.demo.photos import PhotoFolder, find_photos, image_format, write_sample_photos
from s3api.rules.schemas import RulePublic
from tests.support.factories import jpeg_bytes


def _options(photo_folder: PhotoFolder | None, count: int | None) -> DemoOptions:
    return DemoOptions(
        preset_id="interior",
        photo_folder=photo_folder,
        count=count,
        out=None,
        timeout_seconds=1.0,
        device_hash=None,
    )


def test_image_format_reads_the_leading_bytes_like_the_server() -> None:
    assert image_format(jpeg_bytes()) == "jpeg"
    assert image_format(b"\x89PNG\r\n\x1a\n\0\0\0\0") == "png"
    assert image_format(b"RIFF\x10\0\0\0WEBPVP8 ") == "webp"
    assert image_format(b"RIFF\x10\0\0\0WAVEfmt ") is None
    assert image_format(b"GIF89a") is None


def test_find_photos_keeps_images_sorted_and_says_why_others_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "b.JPG").write_bytes(jpeg_bytes())
    (tmp_path / "a.jpeg").write_bytes(jpeg_bytes())
    (tmp_path / "fake.png").write_text("text")
    (tmp_path / "photo.gif").write_bytes(b"GIF89a")
    (tmp_path / ".hidden.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "c.jpg").write_bytes(jpeg_bytes())

    found = find_photos(tmp_path)

    assert [path.name for path in found.photos] == ["a.jpeg", "b.JPG"]
    assert {skipped.name: skipped.reason for skipped in found.skipped} == {
        "fake.png": "its content is not a JPEG, PNG or WebP image",
        "photo.gif": "not a .jpg, .jpeg, .png or .webp file",
    }


def test_find_photos_refuses_a_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing to see")

    with pytest.raises(DemoError) as raised:
        find_photos(tmp_path)

    assert raised.value.code == "NO_PHOTOS"


def test_default_count_stays_within_plan_and_credits(tmp_path: Path) -> None:
    folder = PhotoFolder(tmp_path, [tmp_path / f"{index}.jpg" for index in range(12)])

    assert choose_item_count(_options(folder, None), max_items=10, credits=20) == 10
    assert choose_item_count(_options(folder, None), max_items=10, credits=4) == 4
    assert choose_item_count(_options(None, None), max_items=10, credits=2) == 2
    assert choose_item_count(_options(None, None), max_items=10, credits=10) == 3


def test_explicit_count_is_sent_as_asked_but_never_beyond_the_folder(tmp_path: Path) -> None:
    folder = PhotoFolder(tmp_path, [tmp_path / "0.jpg", tmp_path / "1.jpg"])

    assert choose_item_count(_options(folder, 5), max_items=10, credits=10) == 2
    assert choose_item_count(_options(None, 12), max_items=10, credits=10) == 12


@pytest.mark.parametrize("preset_id", ["interior", "seller"])
def test_sample_photos_are_different_scenes_drawn_the_same_every_run(
    preset_id: str, tmp_path: Path
) -> None:
    paths = write_sample_photos(preset_id, 4, tmp_path / "first")
    again = write_sample_photos(preset_id, 4, tmp_path / "again")
    assert [path.read_bytes() for path in paths] == [path.read_bytes() for path in again]
    pictures = [np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) for path in paths]
    for first, second in itertools.combinations(pictures, 2):
        # mean absolute difference per channel, out of 255: noise alone gives about 2
        assert np.abs(first - second).mean() > 15


def test_the_summary_names_each_edit_and_what_the_rule_protects() -> None:
    rule = RulePublic.model_validate(
        {
            "id": "r",
            "user_id": "u",
            "name": "n",
            "preset_id": "interior",
            "concepts": {
                "Floor": {"action": "recolor", "value": "oak_a"},
                "Light": {"action": "remove"},
            },
            "protect": ["Grout"],
            "created_at": "2026-12-02T00:00:00Z",
            "updated_at": "2026-12-02T00:00:00Z",
        }
    )
    assert edited_concepts(rule) == "Floor: recolor oak_a, Light: remove"

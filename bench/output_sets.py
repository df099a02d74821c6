"""Draw one example picture per output template into `docs/output-sets/`.

`python -m bench.output_sets [--out DIR]`: synthetic room and product photos, edited by the
default engine with the catalogue's drafts and a few option colours, composed by
`s3api.worker.compose`, and saved as JPEG files scaled to at most 960 px a side (the
documented full sizes are in `docs/api.md`).
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from s3api.presets.catalog import INTERIOR_DRAFT_STYLES
from s3api.worker.compose.before_after import before_after
from s3api.worker.compose.draft_board import draft_board
from s3api.worker.compose.layout import as_array, canvas, paste, scaled_to_height
from s3api.worker.compose.option_board import option_board
from s3api.worker.compose.product_pack import pack_image, roles_for
from s3api.worker.compose.share_card import share_card
from s3api.worker.compose.text import MUTED_INK, draw_text
from s3api.worker.compose.thumbnails import THUMBNAIL_SIZES, thumbnails
from s3api.worker.compose.watermark import Watermark, apply_watermark
from s3api.worker.engine import Engine, RGBImage, decode_image
from s3api.worker.engine.samples import jpeg_bytes, product_image, room_image

DOCS_DIR = Path("docs/output-sets")
EXAMPLE_SIDE = 1280
ROOM_EDITS = {
    "Wall": {"action": "recolor", "value": "sage_green"},
    "Floor": {"action": "texture", "value": "oak_a"},
    "Cabinet": {"action": "recolor", "value": "navy"},
    "Light": {"action": "tone", "value": "warm"},
}
OPTION_COLOURS = ("navy", "terracotta", "sage_green", "charcoal", "#D9A441")
PROTECT = ["Grout", "Frame_Molding"]


def _edited(engine: Engine, photo: RGBImage, concepts: Mapping[str, Mapping[str, str]]) -> RGBImage:
    return _variants(engine, photo, [concepts])[0]


def _variants(
    engine: Engine, photo: RGBImage, variants: Sequence[Mapping[str, Mapping[str, str]]]
) -> list[RGBImage]:
    """Every variant of one photo from one engine call, as the worker renders drafts and
    options (one segmentation for them all)."""
    first, *others = variants
    result = engine.process(jpeg_bytes(photo), first, PROTECT, variants=others)
    return [decode_image(data) for data in (result.result_image, *result.variant_images)]


def _labelled_sheet(images: list[tuple[str, RGBImage]], height: int = 420) -> RGBImage:
    """Separate files of one set in two rows at one height, each named under it."""
    scaled = [(name, scaled_to_height(image, height)) for name, image in images]
    half = (len(scaled) + 1) // 2
    rows = [scaled[:half], scaled[half:]]
    gap, label = 24, 52
    row_widths = [sum(image.shape[1] + gap for _, image in row) + gap for row in rows]
    sheet = canvas(max(row_widths), 2 * (height + label) + gap)
    for number, row in enumerate(rows):
        left, top = gap, gap + number * (height + label)
        for name, image in row:
            paste(sheet, image, left, top)
            draw_text(sheet, (left, top + height + 12), name, 24, MUTED_INK)
            left += image.shape[1] + gap
    return as_array(sheet)


def _product_shots() -> list[RGBImage]:
    """Seven shots of one product, placed and framed differently, as a seller's set."""
    shots = []
    shade = np.linspace(246, 236, 900, dtype=np.float32).reshape(-1, 1, 1)
    for index in range(7):
        product = product_image(600 + 40 * index, seed=index)
        scene = np.clip(shade + np.zeros((1, 1400, 3), np.float32), 0, 255).astype(np.uint8)
        left = [80, 700, 400, 150, 620, 300, 520][index]
        top = (900 - product.shape[0]) // 2
        region = scene[top : top + product.shape[0], left : left + product.shape[1]]
        # only the drawn objects move onto the scene, not the photo's own backdrop
        drawn = (np.abs(product.astype(np.int16) - region.astype(np.int16)) > 24).any(axis=2)
        region[drawn] = product[drawn]
        shots.append(scene)
    return shots


def _save(image: RGBImage, path: Path) -> None:
    picture = Image.fromarray(image)
    picture.thumbnail((EXAMPLE_SIDE, EXAMPLE_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85, optimize=True)
    path.write_bytes(buffer.getvalue())
    print(f"{path}  ({image.shape[1]}x{image.shape[0]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS_DIR)
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    engine = Engine()
    rooms = [room_image(1200, 900, seed=3), room_image(900, 1200, seed=5)]
    afters = [_edited(engine, room, ROOM_EDITS) for room in rooms]
    _save(before_after(rooms[0], afters[0]), out / "before-after.jpg")
    card = share_card(
        list(zip(rooms, afters, strict=True)),
        ROOM_EDITS,
        ["Grout", "Frame_Molding", "Glass_highlight"],
        title="Living room refresh",
        subtitle="Interior - 2 photos",
    )
    _save(card, out / "share-card.jpg")
    styles = INTERIOR_DRAFT_STYLES
    drafts = _variants(engine, rooms[0], [style.concepts for style in styles])
    named = [(style.id, draft) for style, draft in zip(styles, drafts, strict=True)]
    _save(draft_board(rooms[0], named), out / "draft-board.jpg")

    shots = _product_shots()
    bodies = [engine.masks_for(shot, ["Body"])["Body"] for shot in shots]
    pack = [
        (f"{role.name} {role.width}x{role.height}", pack_image(role, shot, body))
        for role, shot, body in zip(roles_for(len(shots)), shots, bodies, strict=True)
    ]
    _save(_labelled_sheet([("photo 1", shots[0]), *pack]), out / "product-pack.jpg")
    options = [{"Body": {"action": "recolor", "value": value}} for value in OPTION_COLOURS]
    renders = _variants(engine, product_image(640), options)
    _save(option_board(list(zip(OPTION_COLOURS, renders, strict=True))), out / "option-board.jpg")
    sized = thumbnails(shots[1], bodies[1])
    sheet = [(size.name, sized[size.name]) for size in THUMBNAIL_SIZES]
    _save(_labelled_sheet([("photo", shots[1]), *sheet]), out / "thumbnails.jpg")
    mark = Watermark("Made with S3 API", (0.58, 0.9, 0.4, 0.07), 0.6)
    _save(apply_watermark(afters[0], mark), out / "watermark.jpg")


if __name__ == "__main__":
    main()

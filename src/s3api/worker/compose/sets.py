"""A template's files from a job's photos: which composition each planned file is.

Pure: decoded photos and the product's masks in, decoded compositions out. The server
names the files and their roles (`role` is a pack role, a thumbnail size, `before_after`,
`share_card`, a variant's render `draft` or `option`, or its board `draft_board` or
`option_board`); this module only draws them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from s3api.worker.compose.before_after import before_after
from s3api.worker.compose.draft_board import draft_board
from s3api.worker.compose.layout import crop_around_product
from s3api.worker.compose.option_board import option_board
from s3api.worker.compose.product_pack import PACK_ROLES, pack_image
from s3api.worker.compose.share_card import share_card
from s3api.worker.compose.thumbnails import PRODUCT_FILL, THUMBNAIL_SIZES
from s3api.worker.compose.watermark import Watermark, apply_watermark
from s3api.worker.engine.arrays import Mask, RGBImage

PRODUCT_CONCEPT = "Body"
"""The concept product crops are centred on."""
_PACK = {role.name: role for role in PACK_ROLES}
_THUMBNAILS = {size.name: size for size in THUMBNAIL_SIZES}
RENDER_ROLES = frozenset({"draft", "option"})
"""Roles whose file is a variant's render as the engine made it (watermarked already)."""

Segment = Callable[[RGBImage, Sequence[str]], dict[str, Mask]]


@dataclass(frozen=True)
class Photo:
    """One done photo of the job: its input, its result and its other variants, decoded."""

    before: RGBImage
    after: RGBImage
    variants: tuple[RGBImage, ...] = ()
    """The renders of variants 1..n-1; the result is variant 0."""

    def render(self, variant: int) -> RGBImage:
        """Variant `variant`'s render; ValueError when the photo has none such."""
        renders = (self.after, *self.variants)
        if not 0 <= variant < len(renders):
            raise ValueError(f"the photo has no render of variant {variant}")
        return renders[variant]


@dataclass(frozen=True)
class PlannedFile:
    """One file the server asked for."""

    name: str
    role: str
    idx: int | None
    variant: int | None = None


@dataclass(frozen=True)
class SetContext:
    """What the share card summarises, and the labels boards give the variants."""

    preset: str
    concepts: Mapping[str, Mapping[str, str | None]]
    protect: Sequence[str]
    variant_labels: Sequence[str] = ()


def compose_files(
    files: Sequence[PlannedFile],
    photos: Mapping[int, Photo],
    context: SetContext,
    segment: Segment,
    watermark: Watermark | None,
) -> list[RGBImage]:
    """Every planned file, in order, stamped with `watermark` when given (a variant's
    render carries the engine's stamp already, so it is not stamped twice).

    The product's mask is segmented once per photo, on the input (the result has the same
    geometry). Raises ValueError for a role it does not know or a photo it was not given.
    """
    masks: dict[int, Mask] = {}

    def product(idx: int) -> Mask:
        if idx not in masks:
            photo = photos[idx]
            source = photo.before if photo.before.shape == photo.after.shape else photo.after
            masks[idx] = segment(source, [PRODUCT_CONCEPT])[PRODUCT_CONCEPT]
        return masks[idx]

    composed = []
    for planned in files:
        image = _compose(planned, photos, context, product)
        if watermark is not None and planned.role not in RENDER_ROLES:
            image = apply_watermark(image, watermark)
        composed.append(image)
    return composed


def _compose(
    planned: PlannedFile,
    photos: Mapping[int, Photo],
    context: SetContext,
    product: Callable[[int], Mask],
) -> RGBImage:
    if planned.role == "share_card":
        pairs = [(photos[idx].before, photos[idx].after) for idx in sorted(photos)]
        count = len(pairs)
        return share_card(
            pairs,
            context.concepts,
            list(context.protect),
            title="Before and after",
            subtitle=f"{context.preset} - {count} photo{'s' if count != 1 else ''}",
        )
    if planned.idx is None or planned.idx not in photos:
        raise ValueError(f"file {planned.name} names no photo of the set")
    photo = photos[planned.idx]
    if planned.role == "before_after":
        return before_after(photo.before, photo.after)
    if planned.role in RENDER_ROLES:
        if planned.variant is None:
            raise ValueError(f"file {planned.name} names no variant")
        return photo.render(planned.variant)
    if planned.role == "draft_board":
        return draft_board(photo.before, _labelled(photo, context))
    if planned.role == "option_board":
        return option_board(_labelled(photo, context))
    if planned.role in _PACK:
        return pack_image(_PACK[planned.role], photo.after, product(planned.idx))
    if planned.role in _THUMBNAILS:
        size = _THUMBNAILS[planned.role]
        return crop_around_product(
            photo.after, product(planned.idx), (size.width, size.height), fill=PRODUCT_FILL
        )
    raise ValueError(f"file {planned.name} has a role this worker does not compose")


def _labelled(photo: Photo, context: SetContext) -> list[tuple[str, RGBImage]]:
    """Each variant's label with the photo's render of it, in variant order."""
    if len(context.variant_labels) != 1 + len(photo.variants):
        raise ValueError("the set's variants and the photo's renders do not match")
    return [(label, photo.render(n)) for n, label in enumerate(context.variant_labels)]

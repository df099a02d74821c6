"""`상품팩`: the job's photos in the roles of a product page, each at its marketplace size.

Roles go to photos by order (`PACK_ROLES`); photos past the seventh are not in the pack.
"""

from __future__ import annotations

from dataclasses import dataclass

from s3api.worker.compose.layout import crop_around_product
from s3api.worker.engine.arrays import Mask, RGBImage


@dataclass(frozen=True)
class PackRole:
    """One role of the pack: its name and its output size in pixels."""

    name: str
    width: int
    height: int
    product_fill: float
    """Share of the tighter side the product's bbox takes."""
    centred: bool
    """Whether the product sits exactly in the middle (padding rather than shifting)."""


MAIN = PackRole("main", 1000, 1000, 0.8, centred=True)
"""The listing's main image: square, product in the middle (Smart Store, Coupang, 11st)."""
PACK_ROLES: tuple[PackRole, ...] = (
    MAIN,
    *(PackRole(f"detail_{number}", 860, 860, 0.9, centred=False) for number in range(1, 5)),
    PackRole("worn", 1000, 1250, 0.7, centred=False),
    PackRole("package", 1000, 1000, 0.8, centred=False),
)
"""main 1000x1000, detail_1..4 860x860 (the width of a Korean detail page), worn 1000x1250
(4:5), package 1000x1000."""


def roles_for(photo_count: int) -> list[PackRole]:
    """The role of each photo, by order: as many as there are photos, at most seven."""
    return list(PACK_ROLES[:photo_count])


def pack_image(role: PackRole, image: RGBImage, product: Mask) -> RGBImage:
    """One photo rendered for its role: cropped around the product at the role's size."""
    return crop_around_product(
        image,
        product,
        (role.width, role.height),
        fill=role.product_fill,
        centred=role.centred,
    )

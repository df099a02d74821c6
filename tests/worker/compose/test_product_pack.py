"""`상품팩`: seven roles by photo order, each at its size, the main shot centred."""

from __future__ import annotations

import numpy as np

from s3api.worker.compose.product_pack import MAIN, PACK_ROLES, pack_image, roles_for
from tests.worker.compose.conftest import product_bbox, product_photo


def test_roles_go_to_photos_by_order_and_stop_at_seven() -> None:
    names = ["main", "detail_1", "detail_2", "detail_3", "detail_4", "worn", "package"]
    assert [role.name for role in roles_for(9)] == names
    assert [role.name for role in roles_for(2)] == names[:2]


def test_every_role_renders_at_its_documented_size() -> None:
    image, mask = product_photo(1200, 800, (100, 200, 400, 700))
    sizes = {role.name: pack_image(role, image, mask).shape[:2] for role in PACK_ROLES}
    assert sizes == {
        "main": (1000, 1000),
        "detail_1": (860, 860),
        "detail_2": (860, 860),
        "detail_3": (860, 860),
        "detail_4": (860, 860),
        "worn": (1250, 1000),
        "package": (1000, 1000),
    }


def test_the_main_shot_centres_an_off_centre_product() -> None:
    # the product sits at the photo's left edge: a centre crop would cut it off
    image, mask = product_photo(1600, 900, (20, 300, 320, 800))
    main = pack_image(MAIN, image, mask)
    left, top, right, bottom = product_bbox(main)
    assert abs((left + right) / 2 - 500) <= 3
    assert abs((top + bottom) / 2 - 500) <= 3
    assert abs(max(right - left, bottom - top) - 800) <= 4  # 80 % of the side
    assert np.array_equal(main, pack_image(MAIN, image, mask))

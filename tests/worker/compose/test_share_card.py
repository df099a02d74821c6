"""`고객공유카드`: a 1080x1920 card with up to three pairs and the palette's swatches."""

from __future__ import annotations

import numpy as np
import pytest

from s3api.presets.vocabulary import MATERIALS, PALETTE
from s3api.worker.compose.layout import PAPER
from s3api.worker.compose.share_card import (
    CARD_HEIGHT,
    CARD_WIDTH,
    MARGIN,
    MAX_CARD_PAIRS,
    MAX_PALETTE_ROWS,
    SWATCH_SIDE,
    share_card,
)
from s3api.worker.compose.swatches import material_swatch, tone_swatch
from tests.worker.compose.conftest import flat

EDITS = {
    "Wall": {"action": "recolor", "value": "sage_green"},
    "Cabinet": {"action": "recolor", "value": "#123456"},
    "Floor": {"action": "texture", "value": "wood"},
    "Light": {"action": "tone", "value": "warm"},
    "Door": {"action": "remove"},
}


def pair(colour: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    return flat(400, 300, colour), flat(400, 300, (colour[2], colour[1], colour[0]))


def count_of(image: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int(np.all(image == colour, axis=2).sum())


def test_card_is_portrait_at_the_documented_size_and_deterministic() -> None:
    pairs = [pair((200, 20, 20))]
    card = share_card(pairs, EDITS, ["Grout"], title="Living room")
    assert card.shape == (CARD_HEIGHT, CARD_WIDTH, 3)
    assert np.array_equal(card, share_card(pairs, EDITS, ["Grout"], title="Living room"))


def test_card_holds_the_first_pairs_only() -> None:
    colours = [(250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 0), (0, 250, 250)]
    pairs = [(flat(400, 300, colour), flat(400, 300, colour)) for colour in colours]
    card = share_card(pairs, EDITS, [], title="t")
    shown = [colour for colour in colours if count_of(card, colour) > 1000]
    assert shown == colours[:MAX_CARD_PAIRS]


def test_recolor_swatches_are_the_vocabularys_exact_colours() -> None:
    card = share_card([pair((90, 90, 90))], EDITS, ["Grout"], title="t")
    inner = (SWATCH_SIDE - 2) ** 2
    assert count_of(card, PALETTE["sage_green"]) >= inner
    assert count_of(card, (0x12, 0x34, 0x56)) >= inner


def test_the_texture_swatch_stays_between_the_materials_colours() -> None:
    swatch = material_swatch("wood", SWATCH_SIDE)
    wood = MATERIALS["wood"]
    low, high = np.array(wood.dark), np.array(wood.light)
    assert np.all(swatch >= np.minimum(low, high))
    assert np.all(swatch <= np.maximum(low, high))
    assert len(np.unique(swatch.reshape(-1, 3), axis=0)) > 10  # a pattern, not a flat fill


def test_the_tone_swatch_shows_the_base_and_the_toned_base() -> None:
    swatch = tone_swatch("warm", 40)
    left, right = swatch[20, 2].astype(int), swatch[20, 37].astype(int)
    assert right[0] - right[2] > left[0] - left[2]  # warmer: more red against blue


def test_the_palette_lists_a_row_per_edit_and_the_protected_names() -> None:
    bare = share_card([pair((90, 90, 90))], {"Wall": EDITS["Wall"]}, [], title="t")
    full = share_card([pair((90, 90, 90))], EDITS, ["Grout", "Logo"], title="t")
    # below the pairs: the palette rows and the protected line are ink on paper
    bottom = slice(CARD_HEIGHT - MARGIN - 400, CARD_HEIGHT - MARGIN)
    inked_bare = np.any(bare[bottom] != PAPER, axis=2).sum()
    inked_full = np.any(full[bottom] != PAPER, axis=2).sum()
    assert inked_full > inked_bare * 2.5


def test_many_edits_keep_the_pairs_on_the_card() -> None:
    many = {f"thing {number}": {"action": "recolor", "value": "navy"} for number in range(32)}
    card = share_card([pair((250, 0, 0))], many, ["the logo"], title="t")
    assert card.shape == (CARD_HEIGHT, CARD_WIDTH, 3)
    assert count_of(card, (250, 0, 0)) > 150 * 150
    assert count_of(card, PALETTE["navy"]) >= (MAX_PALETTE_ROWS - 1) * (SWATCH_SIDE - 2) ** 2


def test_no_pair_or_a_bad_edit_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        share_card([], EDITS, [], title="t")
    with pytest.raises(ValueError, match="unknown colour"):
        share_card(
            [pair((1, 2, 3))], {"Wall": {"action": "recolor", "value": "plaid"}}, [], title="t"
        )

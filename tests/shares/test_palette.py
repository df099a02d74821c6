"""The palette summary's swatches come from the edit vocabulary, never from stored text."""

from __future__ import annotations

import pytest

from s3api.presets.vocabulary import MATERIALS, PALETTE
from s3api.shares.palette import TONE_BASE, palette_summary, swatch_css, toned


def _hex(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def test_a_recolour_swatch_is_the_vocabulary_colour_or_the_hex_value() -> None:
    assert swatch_css("recolor", "sage_green") == _hex(PALETTE["sage_green"])
    assert swatch_css("recolor", "#1E2C54") == "#1e2c54"


@pytest.mark.parametrize("name", sorted(MATERIALS))
def test_a_texture_swatch_draws_the_materials_two_colours(name: str) -> None:
    css = swatch_css("texture", name)
    assert _hex(MATERIALS[name].dark) in css
    assert _hex(MATERIALS[name].light) in css


def test_a_palette_colour_as_texture_gets_a_pattern_of_its_kind() -> None:
    assert swatch_css("texture", "oak_a").startswith("repeating-linear-gradient(100deg")
    assert swatch_css("texture", "navy").startswith("radial-gradient(")


@pytest.mark.parametrize("tone", ["warm", "cool", "bright", "dark", "vivid", "muted"])
def test_a_tone_swatch_sets_the_toned_colour_beside_the_base(tone: str) -> None:
    after = toned(TONE_BASE, tone)
    assert after != TONE_BASE
    assert swatch_css("tone", tone) == (
        f"linear-gradient(90deg, {_hex(TONE_BASE)} 0 50%, {_hex(after)} 50% 100%)"
    )


def test_warm_and_cool_move_red_and_blue_apart() -> None:
    warm, cool = toned(TONE_BASE, "warm"), toned(TONE_BASE, "cool")
    assert warm[0] > TONE_BASE[0] > cool[0]
    assert warm[2] < TONE_BASE[2] < cool[2]


def test_a_removal_is_a_cross() -> None:
    assert "#c8463c" in swatch_css("remove", None)


@pytest.mark.parametrize(
    ("action", "value"),
    [("recolor", "red;}body{display:none"), ("texture", "#123456"), ("tone", "x"), ("blur", "1")],
)
def test_a_value_outside_the_vocabulary_gets_a_grey_swatch(action: str, value: str) -> None:
    assert swatch_css(action, value) == "#b4b4b4"


def test_the_summary_keeps_the_stored_order_and_the_protect_list() -> None:
    summary = palette_summary(
        {"Wall": {"action": "recolor", "value": "navy"}, "Light": {"action": "remove"}},
        ["Grout"],
    )
    assert [(e.concept, e.action, e.value) for e in summary.edits] == [
        ("Wall", "recolor", "navy"),
        ("Light", "remove", ""),
    ]
    assert summary.protected == ("Grout",)
    assert palette_summary(None, None).edits == ()

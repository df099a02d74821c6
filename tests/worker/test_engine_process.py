"""Engine.process end to end: wire rules in, PNG + preview out, protect honoured."""

from __future__ import annotations

import io
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from s3api.common.output_formats import OutputFormat
from s3api.worker.engine import Engine, EngineResult, ImageDecodeError, decode_image
from s3api.worker.engine.samples import jpeg_bytes, product_image, room_image

Rules = Mapping[str, Mapping[str, str | None]]


@pytest.fixture(scope="module")
def room_jpeg() -> bytes:
    return jpeg_bytes(room_image(800, 600))


def _image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_recolor_floor_with_grout_protected(room_jpeg: bytes) -> None:
    engine = Engine()
    decoded = decode_image(room_jpeg)
    masks = engine.masks_for(decoded, ["Floor", "Grout"])
    floor, grout = masks["Floor"], masks["Grout"]
    assert grout.any()
    result = engine.process(
        room_jpeg, {"Floor": {"action": "recolor", "value": "oak_a"}}, ["Grout"]
    )
    edited = decode_image(result.result_image)
    assert np.array_equal(edited[grout], decoded[grout])
    assert np.array_equal(edited[~floor], decoded[~floor])
    assert np.any(edited[floor & ~grout] != decoded[floor & ~grout])


def test_result_and_preview_formats(room_jpeg: bytes) -> None:
    result = Engine().process(room_jpeg, {"Wall": {"action": "tone", "value": "cool"}}, [])
    assert isinstance(result, EngineResult)
    png, preview = _image(result.result_image), _image(result.preview_jpeg)
    assert png.format == "PNG"
    assert (png.width, png.height) == (result.width, result.height) == (800, 600)
    assert preview.format == "JPEG"
    assert max(preview.size) <= 512
    assert preview.width / preview.height == pytest.approx(800 / 600, rel=0.01)


def test_several_rules_and_protect_names(room_jpeg: bytes) -> None:
    engine = Engine()
    rules: Rules = {
        "Floor": {"action": "texture", "value": "wood"},
        "Wall": {"action": "recolor", "value": "#8FA98A"},
        "Ceiling": {"action": "tone", "value": "warm"},
        "Door": {"action": "remove", "value": None},
    }
    protect = ["Window", "Frame_Molding", "Glass_highlight", "Couch"]
    decoded = decode_image(room_jpeg)
    masks = engine.masks_for(decoded, [*rules, *protect])
    edited = decode_image(engine.process(room_jpeg, rules, protect).result_image)
    protected = masks["Window"] | masks["Frame_Molding"] | masks["Glass_highlight"]
    touched = masks["Floor"] | masks["Wall"] | masks["Ceiling"] | masks["Door"]
    assert np.array_equal(edited[protected], decoded[protected])
    assert np.array_equal(edited[~touched], decoded[~touched])
    assert np.any(edited[masks["Wall"] & ~protected] != decoded[masks["Wall"] & ~protected])


def test_remove_rule_without_value_key(room_jpeg: bytes) -> None:
    result = Engine().process(room_jpeg, {"Door": {"action": "remove"}}, [])
    assert result.width == 800


def test_no_rules_returns_the_decoded_input(room_jpeg: bytes) -> None:
    result = Engine().process(room_jpeg, {}, ["Grout"])
    assert np.array_equal(decode_image(result.result_image), decode_image(room_jpeg))


def test_seller_preset() -> None:
    data = jpeg_bytes(product_image(500))
    engine = Engine()
    decoded = decode_image(data)
    masks = engine.masks_for(decoded, ["Body", "Logo", "Label_Text"])
    rules: Rules = {"Body": {"action": "recolor", "value": "terracotta"}}
    edited = decode_image(engine.process(data, rules, ["Logo", "Label_Text"]).result_image)
    kept = masks["Logo"] | masks["Label_Text"]
    assert kept.any()
    assert np.array_equal(edited[kept], decoded[kept])
    assert np.array_equal(edited[~masks["Body"]], decoded[~masks["Body"]])


@pytest.mark.parametrize(
    "rules",
    [
        {"Floor": {"action": "paint", "value": "oak_a"}},
        {"Floor": {"action": "recolor", "value": "#XYZ"}},
        {"Floor": {"action": "recolor"}},
        {"Floor": {"value": "oak_a"}},
    ],
)
def test_bad_rules_raise_value_error(room_jpeg: bytes, rules: Rules) -> None:
    with pytest.raises(ValueError, match=r"^Floor: "):
        Engine().process(room_jpeg, rules, [])


def test_bad_rule_is_reported_even_for_bad_bytes() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        Engine().process(b"junk", {"Floor": {"action": "paint"}}, [])


@pytest.mark.parametrize("data", [b"", b"GIF89a", b"hello world\n"])
def test_undecodable_input_raises_decode_error(data: bytes) -> None:
    with pytest.raises(ImageDecodeError):
        Engine().process(data, {"Floor": {"action": "tone", "value": "warm"}}, [])


def test_concurrent_calls_match_sequential_results(room_jpeg: bytes) -> None:
    engine = Engine()
    jobs: list[Rules] = [
        {"Floor": {"action": "recolor", "value": "walnut_a"}},
        {"Wall": {"action": "texture", "value": "linen"}},
        {"Door": {"action": "remove"}},
        {"Ceiling": {"action": "tone", "value": "bright"}},
    ]
    sequential = [engine.process(room_jpeg, rules, ["Grout"]) for rules in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda rules: engine.process(room_jpeg, rules, ["Grout"]), jobs))
    assert [r.result_image for r in concurrent] == [r.result_image for r in sequential]


@pytest.mark.slow
def test_twelve_megapixel_photo() -> None:
    data = jpeg_bytes(room_image(4000, 3000), quality=90)
    rules: Rules = {
        "Floor": {"action": "texture", "value": "oak_b"},
        "Wall": {"action": "recolor", "value": "offwhite_a"},
        "Door": {"action": "remove"},
    }
    result = Engine().process(data, rules, ["Grout", "Window"])
    assert (result.width, result.height) == (4000, 3000)
    assert _image(result.result_image).size == (4000, 3000)
    assert _image(result.preview_jpeg).size == (512, 384)


def _psnr(first: np.ndarray, second: np.ndarray) -> float:
    error = float(np.mean((first.astype(np.float64) - second.astype(np.float64)) ** 2))
    return float("inf") if error == 0 else 10 * float(np.log10(255**2 / error))


@pytest.mark.parametrize(("output_format", "pillow_format"), [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_lossy_formats_keep_protected_pixels_close_and_only_png_exact(
    room_jpeg: bytes, output_format: str, pillow_format: str
) -> None:
    engine = Engine()
    decoded = decode_image(room_jpeg)
    grout = engine.masks_for(decoded, ["Grout"])["Grout"]
    rules: Rules = {"Floor": {"action": "recolor", "value": "oak_a"}}
    png = engine.process(room_jpeg, rules, ["Grout"])
    lossy = engine.process(room_jpeg, rules, ["Grout"], output_format=OutputFormat(output_format))
    assert (lossy.output_format, _image(lossy.result_image).format) == (
        output_format,
        pillow_format,
    )
    assert len(lossy.result_image) < len(png.result_image)
    exact, close = decode_image(png.result_image), decode_image(lossy.result_image)
    assert np.array_equal(exact[grout], decoded[grout])
    difference = np.abs(close[grout].astype(np.int16) - decoded[grout].astype(np.int16))
    assert float(difference.mean()) < 4.0
    assert _psnr(close[grout], decoded[grout]) > 32.0
    assert _psnr(close, exact) > 32.0

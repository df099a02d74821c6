"""The model slot: on-disk contract, fallback to the heuristic, and a real tiny ONNX model."""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from s3api.worker.engine import (
    Engine,
    HeuristicSegmenter,
    PromptableSegmenter,
    RGBImage,
    SegmenterConfig,
    SegmenterConfigError,
    decode_image,
    encode_png,
    load_segmenter,
)
from s3api.worker.engine.samples import room_image

# --- a minimal protobuf writer, enough to emit an ONNX ModelProto without the onnx package


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _int_field(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes_field(field: int, value: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(value)) + value


def _str_field(field: int, value: str) -> bytes:
    return _bytes_field(field, value.encode())


def _tensor(name: str, dims: list[int], values: list[float]) -> bytes:
    raw = struct.pack(f"<{len(values)}f", *values)
    shape = b"".join(_int_field(1, dim) for dim in dims)
    return shape + _int_field(2, 1) + _str_field(8, name) + _bytes_field(9, raw)


def _value_info(name: str, dims: list[int]) -> bytes:
    shape = b"".join(_bytes_field(1, _int_field(1, dim)) for dim in dims)
    tensor_type = _int_field(1, 1) + _bytes_field(2, shape)
    return _str_field(1, name) + _bytes_field(2, _bytes_field(1, tensor_type))


def _conv_model(size: int, weights: list[list[float]], biases: list[float]) -> bytes:
    """ONNX model: one 1x1 convolution, RGB input [1,3,s,s] → scores [1,C,s,s]."""
    channels = len(weights)
    node = (
        _str_field(1, "image")
        + _str_field(1, "weight")
        + _str_field(1, "bias")
        + _str_field(2, "scores")
        + _str_field(3, "conv")
        + _str_field(4, "Conv")
    )
    flat = [value for row in weights for value in row]
    graph = (
        _bytes_field(1, node)
        + _str_field(2, "tiny")
        + _bytes_field(5, _tensor("weight", [channels, 3, 1, 1], flat))
        + _bytes_field(5, _tensor("bias", [channels], biases))
        + _bytes_field(11, _value_info("image", [1, 3, size, size]))
        + _bytes_field(12, _value_info("scores", [1, channels, size, size]))
    )
    opset = _str_field(1, "") + _int_field(2, 13)
    return (
        _int_field(1, 7) + _str_field(2, "test") + _bytes_field(7, graph) + _bytes_field(8, opset)
    )


# --- fixtures

MODEL_SIZE = 64
# Channel 0 fires on red pixels, channel 1 on blue pixels (inputs are scaled to 0..1).
RED_AND_BLUE = _conv_model(MODEL_SIZE, [[2.0, -1.0, -1.0], [-1.0, -1.0, 2.0]], [-0.5, -0.5])


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "version": 1,
        "input_size": [MODEL_SIZE, MODEL_SIZE],
        "concepts": {"Floor": 0, "Wall": 1},
        "threshold": 0.0,
    }
    config.update(overrides)
    return config


def _model_dir(tmp_path: Path, config: object, model: bytes | None = RED_AND_BLUE) -> Path:
    (tmp_path / "segmenter.json").write_text(json.dumps(config))
    if model is not None:
        (tmp_path / "segmenter.onnx").write_bytes(model)
    return tmp_path


def _red_blue_image(height: int = 128, width: int = 192) -> RGBImage:
    image = np.full((height, width, 3), 128, dtype=np.uint8)
    image[: height // 2, : width // 2] = (230, 20, 20)
    image[height // 2 :, width // 2 :] = (20, 20, 230)
    return image


def _iou(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    return float((a & b).sum()) / max(1, int((a | b).sum()))


# --- tests


def test_no_directory_means_heuristic(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        assert isinstance(load_segmenter(None), HeuristicSegmenter)
    assert "MODEL_CACHE_DIR not set" in caplog.text


def test_empty_directory_falls_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        assert isinstance(load_segmenter(tmp_path), HeuristicSegmenter)
    assert "segmenter.onnx" in caplog.text


def test_config_without_model_falls_back(tmp_path: Path) -> None:
    directory = _model_dir(tmp_path, _config(), model=None)
    assert isinstance(load_segmenter(directory), HeuristicSegmenter)


@pytest.mark.parametrize(
    ("config", "model"),
    [
        ("{not json", RED_AND_BLUE),
        (_config(version=2), RED_AND_BLUE),
        (_config(), b"this is not an onnx file"),
        (_config(concepts={"Floor": 0, "Wall": 5}), RED_AND_BLUE),
        (_config(concepts=["Floor"]), RED_AND_BLUE),
    ],
    ids=["bad-json", "bad-version", "bad-onnx", "channel-out-of-range", "concepts-not-a-table"],
)
def test_invalid_model_files_fall_back_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, config: object, model: bytes
) -> None:
    (tmp_path / "segmenter.json").write_text(
        config if isinstance(config, str) else json.dumps(config)
    )
    (tmp_path / "segmenter.onnx").write_bytes(model)
    with caplog.at_level(logging.WARNING):
        assert isinstance(load_segmenter(tmp_path), HeuristicSegmenter)
    assert "falling back to the heuristic segmenter" in caplog.text


@pytest.mark.parametrize(
    "overrides",
    [
        {"input_size": [64]},
        {"input_size": [0, 64]},
        {"input_size": [True, 64]},
        {"concepts": {}},
        {"concepts": {"Floor": -1}},
        {"concepts": {"Floor": "0"}},
        {"mean": [0.5, 0.5]},
        {"std": [1.0, 0.0, 1.0]},
        {"threshold": "high"},
    ],
)
def test_config_validation(overrides: dict[str, Any]) -> None:
    with pytest.raises(SegmenterConfigError):
        SegmenterConfig.from_json(_config(**overrides))


def test_valid_model_is_selected_and_drives_the_masks(tmp_path: Path) -> None:
    segmenter = load_segmenter(_model_dir(tmp_path, _config()))
    assert isinstance(segmenter, PromptableSegmenter)
    assert segmenter.concepts == frozenset({"floor", "wall"})
    image = _red_blue_image()
    masks = segmenter.segment(image, ["Floor", "wall", "Ceiling", "Sofa"])
    assert list(masks) == ["Floor", "wall", "Ceiling", "Sofa"]
    red = np.all(image == (230, 20, 20), axis=2)
    blue = np.all(image == (20, 20, 230), axis=2)
    assert masks["Floor"].dtype == np.bool_
    # Scores are resized back bilinearly, so only the block edges may differ by a pixel.
    assert _iou(masks["Floor"], red) > 0.97
    assert _iou(masks["wall"], blue) > 0.97
    # Names outside the model's table are answered by the heuristic stand-in.
    heuristic = HeuristicSegmenter().segment(image, ["Ceiling"])["Ceiling"]
    assert np.array_equal(masks["Ceiling"], heuristic)
    assert not masks["Sofa"].any()


def test_normalisation_comes_from_the_config(tmp_path: Path) -> None:
    # Dividing red by 10 keeps the red detector below zero; blue is unaffected.
    segmenter = load_segmenter(_model_dir(tmp_path, _config(std=[10.0, 1.0, 1.0])))
    image = _red_blue_image()
    masks = segmenter.segment(image, ["Floor", "Wall"])
    assert not masks["Floor"].any()
    assert _iou(masks["Wall"], np.all(image == (20, 20, 230), axis=2)) > 0.97


def test_threshold_comes_from_the_config(tmp_path: Path) -> None:
    segmenter = load_segmenter(_model_dir(tmp_path, _config(threshold=2.0)))
    masks = segmenter.segment(_red_blue_image(), ["Floor", "Wall"])
    assert not masks["Floor"].any()
    assert not masks["Wall"].any()


def test_engine_edits_exactly_the_model_mask(tmp_path: Path) -> None:
    engine = Engine(load_segmenter(_model_dir(tmp_path, _config())))
    image = _red_blue_image()
    result = engine.process(
        encode_png(image), {"Floor": {"action": "recolor", "value": "#20C040"}}, []
    )
    edited = decode_image(result.result_png)
    floor = engine.masks_for(image, ["Floor"])["Floor"]
    assert np.array_equal(edited[~floor], image[~floor])
    assert edited[floor][:, 1].mean() > edited[floor][:, 0].mean() + 50


def test_model_segmenter_on_a_room_keeps_full_resolution(tmp_path: Path) -> None:
    segmenter = load_segmenter(_model_dir(tmp_path, _config()))
    room = room_image(300, 200)
    masks = segmenter.segment(room, ["Floor", "Window"])
    assert masks["Floor"].shape == (200, 300)
    assert masks["Window"].shape == (200, 300)

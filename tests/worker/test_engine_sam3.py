"""The SAM 3 engine on a tiny random-weight checkpoint: masks, batching, caching, setup errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from s3api.cli import app
from s3api.common.errors import ConfigurationError
from s3api.worker.engine import Engine, decode_image
from s3api.worker.engine.refine import refine_mask, refine_masks
from s3api.worker.engine.registry import build_engine, serves_custom_concepts
from s3api.worker.engine.sam3 import PhotoRequest, Sam3Segmenter, load_sam3_segmenter
from s3api.worker.engine.samples import jpeg_bytes, room_image
from s3api.worker.settings import WorkerSettings

pytest.importorskip("transformers", reason="the sam3 extra is not installed")

LONG_WAIT = 30.0
"""Longer than any test: a batch closes because it is full, never because time ran out."""


def sam3_settings(tmp_path: Path, model: Path | str | None, **values: Any) -> WorkerSettings:
    return WorkerSettings(
        _env_file=None,
        s3api_data_dir=tmp_path,
        worker_engine="sam3",
        sam3_model=None if model is None else str(model),
        worker_device=values.pop("worker_device", "cpu"),
        **values,
    )


@pytest.fixture(scope="module")
def segmenter(tiny_sam3_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Sam3Segmenter:
    return load_sam3_segmenter(sam3_settings(tmp_path_factory.mktemp("data"), tiny_sam3_model))


def twin(segmenter: Sam3Segmenter, max_batch: int, max_wait_seconds: float) -> Sam3Segmenter:
    """Another batcher over the same loaded model."""
    return Sam3Segmenter(
        segmenter._model,
        segmenter._tokenizer,
        segmenter._device,
        segmenter._dtype,
        image_size=segmenter.image_size,
        max_batch=max_batch,
        max_wait_seconds=max_wait_seconds,
    )


def test_engine_keeps_the_photo_size_and_protected_pixels(
    tiny_sam3_model: Path, tmp_path: Path
) -> None:
    engine = build_engine(sam3_settings(tmp_path, tiny_sam3_model))
    assert isinstance(engine, Engine)
    assert serves_custom_concepts(engine)
    photo = jpeg_bytes(room_image(300, 200, seed=1))
    original = decode_image(photo)
    rules = {"Floor": {"action": "recolor", "value": "#2040C0"}}
    result = engine.process(photo, rules, ["Wall"])
    decoded = decode_image(result.result_image)
    assert (result.width, result.height) == (300, 200)
    assert decoded.shape == original.shape
    masks = engine.masks_for(original, ["Floor", "Wall"])
    assert masks["Wall"].any()
    assert np.array_equal(decoded[masks["Wall"]], original[masks["Wall"]])
    edited = masks["Floor"] & ~masks["Wall"]
    assert edited.any()
    assert (decoded[edited] != original[edited]).any(axis=1).mean() > 0.5


def test_batched_and_unbatched_masks_agree(segmenter: Sam3Segmenter) -> None:
    photos = [room_image(160 + 40 * index, 120, seed=index) for index in range(4)]
    concepts = [["Floor", "Wall"], ["Grout"], ["the red sofa", "Floor"], ["Window", "Tile"]]
    batched = twin(segmenter, max_batch=4, max_wait_seconds=LONG_WAIT)
    alone = twin(segmenter, max_batch=1, max_wait_seconds=0)
    results: dict[int, dict[str, np.ndarray[Any, Any]]] = {}

    def run(index: int) -> None:
        results[index] = batched.segment(photos[index], concepts[index])

    threads = [threading.Thread(target=run, args=(index,)) for index in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        expected = [alone.segment(photos[i], concepts[i]) for i in range(4)]
        lone_maps = [alone.probabilities(photos[0], ["floor"])]
    finally:
        batched.close()
        alone.close()
    assert batched.batch_sizes == [4]
    assert alone.batch_sizes == [1] * 5
    for index in range(4):
        assert set(results[index]) == set(concepts[index])
        for name in concepts[index]:
            assert results[index][name].shape == photos[index].shape[:2]
            assert np.array_equal(results[index][name], expected[index][name]), (index, name)
    assert lone_maps[0]["floor"].dtype == np.float32


def test_each_distinct_prompt_is_encoded_once_across_photos(
    segmenter: Sam3Segmenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = segmenter._model
    encoded: list[int] = []
    original = model.get_text_features

    def counting(**kwargs: Any) -> Any:
        encoded.append(int(kwargs["input_ids"].shape[0]))
        return original(**kwargs)

    monkeypatch.setattr(model, "get_text_features", counting)
    photo = room_image(128, 96, seed=3)
    segmenter.segment(photo, ["a green lamp", "a blue rug", "a blue rug"])
    segmenter.segment(room_image(96, 128, seed=4), ["a blue rug", "a green lamp"])
    assert encoded == [2]


def test_prompts_come_from_the_catalogue_and_custom_phrases_are_used_as_is(
    segmenter: Sam3Segmenter,
) -> None:
    photo = room_image(128, 96, seed=5)
    maps = segmenter.probabilities(photo, ["grout lines between tiles", "the red sofa"])
    masks = segmenter.segment(photo, ["Grout", "the red sofa"])
    assert np.array_equal(masks["Grout"], refine_mask(photo, maps["grout lines between tiles"]))
    assert np.array_equal(masks["the red sofa"], refine_mask(photo, maps["the red sofa"]))


def test_masks_are_the_model_maps_refined_on_the_photo(
    segmenter: Sam3Segmenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = room_image(400, 300, seed=6)
    handed: list[tuple[tuple[int, ...], np.dtype[Any], float, float]] = []

    def recording(image: np.ndarray[Any, Any], maps: dict[str, Any]) -> dict[str, Any]:
        assert image is photo
        for probabilities in maps.values():
            handed.append(
                (
                    probabilities.shape,
                    probabilities.dtype,
                    float(probabilities.min()),
                    float(probabilities.max()),
                )
            )
        return refine_masks(image, maps)

    monkeypatch.setattr("s3api.worker.engine.sam3.refine_masks", recording)
    masks = segmenter.segment(photo, ["Floor", "Wall"])
    assert [mask.shape for mask in masks.values()] == [(300, 400)] * 2
    assert len(handed) == 2
    for shape, dtype, _, _ in handed:
        assert dtype == np.float32
        assert len(shape) == 2
        assert shape != (300, 400)  # the model's own low resolution
    # Probabilities, not an already thresholded mask: values strictly between 0 and 1.
    assert all(low > 0.0 and high < 1.0 for _, _, low, high in handed)


# --- start-up errors -------------------------------------------------------------------------


def _not_sam3(tmp_path: Path, tiny_sam3_model: Path) -> Path:
    copy = tmp_path / "bert"
    shutil.copytree(tiny_sam3_model, copy)
    (copy / "config.json").write_text(json.dumps({"model_type": "bert"}))
    return copy


def _no_weights(tmp_path: Path, tiny_sam3_model: Path) -> Path:
    copy = tmp_path / "no-weights"
    shutil.copytree(tiny_sam3_model, copy)
    (copy / "model.safetensors").unlink()
    return copy


def _broken_weights(tmp_path: Path, tiny_sam3_model: Path) -> Path:
    copy = tmp_path / "broken"
    shutil.copytree(tiny_sam3_model, copy)
    (copy / "model.safetensors").write_bytes(b"not safetensors")
    return copy


@pytest.mark.parametrize(
    ("model", "device", "expected"),
    [
        (lambda tmp, tiny: None, "cpu", r"needs SAM3_MODEL: set it to a directory"),
        (lambda tmp, tiny: tmp / "missing", "cpu", r"SAM3_MODEL=.*missing is not a directory"),
        (lambda tmp, tiny: "./models/sam3", "cpu", r"SAM3_MODEL=./models/sam3 is not a directory"),
        (_not_sam3, "cpu", r"not a SAM 3 checkpoint \(config.json model_type is 'bert'"),
        (lambda tmp, tiny: tmp, "cpu", r"not a SAM 3 checkpoint \(no readable config.json\)"),
        (_no_weights, "cpu", r"has no weights file"),
        (_broken_weights, "cpu", r"could not be loaded"),
        (lambda tmp, tiny: tiny, "cuda", r"WORKER_DEVICE=cuda but torch sees no CUDA device"),
        (lambda tmp, tiny: tiny, "cuda:1", r"WORKER_DEVICE=cuda:1 but torch sees no CUDA"),
        (lambda tmp, tiny: tiny, "gpu", r"WORKER_DEVICE='gpu' is not a device: set it to auto"),
    ],
    ids=[
        "unset",
        "missing-dir",
        "missing-relative-dir",
        "not-sam3",
        "no-config",
        "no-weights",
        "broken-weights",
        "cuda-absent",
        "cuda-n-absent",
        "bad-device",
    ],
)
def test_misconfiguration_is_one_clear_configuration_error(
    tmp_path: Path, tiny_sam3_model: Path, model: Any, device: str, expected: str
) -> None:
    settings = sam3_settings(tmp_path, model(tmp_path, tiny_sam3_model), worker_device=device)
    with pytest.raises(ConfigurationError, match=expected) as raised:
        build_engine(settings)
    assert "\n" not in str(raised.value)


def test_missing_torch_names_the_extra_to_install(
    tmp_path: Path, tiny_sam3_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ConfigurationError, match=r"needs torch and transformers .*'\.\[sam3\]'"):
        build_engine(sam3_settings(tmp_path, tiny_sam3_model))


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_cli_stops_at_start_with_one_line_naming_the_variable(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SAM3_MODEL", "DISPATCH_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORKER_ENGINE", "sam3")
    monkeypatch.setenv("S3API_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GPU_CALLBACK_SECRET", "s" * 40)
    monkeypatch.setenv("EMBEDDED_WORKER", "true")
    result = CliRunner().invoke(app, [command])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("configuration error: WORKER_ENGINE=sam3 needs SAM3_MODEL")


def test_compiled_batches_are_padded_to_few_shapes_and_answer_only_real_photos(
    segmenter: Sam3Segmenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucketed = Sam3Segmenter(
        segmenter._model,
        segmenter._tokenizer,
        segmenter._device,
        segmenter._dtype,
        image_size=segmenter.image_size,
        max_batch=8,
        batch_buckets=True,
    )
    shapes: list[int] = []
    original = segmenter._model.get_vision_features

    def recording(**kwargs: Any) -> Any:
        shapes.append(int(kwargs["pixel_values"].shape[0]))
        return original(**kwargs)

    monkeypatch.setattr(segmenter._model, "get_vision_features", recording)
    pixels = bucketed.preprocess(room_image(64, 48, seed=6))
    try:
        for count in (1, 3, 5, 8):
            answers = bucketed._run_batch([PhotoRequest(pixels, ("floor", "wall"))] * count)
            assert [len(maps) for maps in answers] == [2] * count
    finally:
        bucketed.close()
    assert shapes == [1, 4, 8, 8]


@pytest.mark.slow
def test_an_unreachable_hub_id_offline_is_a_start_up_error_of_the_worker_process(
    tmp_path: Path,
) -> None:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("S3API_", "WORKER_", "SAM3_", "HF_"))
    }
    environment.update(
        HF_HUB_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf"),
        WORKER_ENGINE="sam3",
        SAM3_MODEL="facebook/sam3",
        WORKER_DEVICE="cpu",
        GPU_CALLBACK_SECRET="s" * 40,
        S3API_DATA_DIR=str(tmp_path / "data"),
    )
    finished = subprocess.run(
        [sys.executable, "-m", "s3api", "worker"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 2
    [line] = finished.stderr.strip().splitlines()
    assert line.startswith("configuration error: SAM3_MODEL=facebook/sam3 could not be loaded")
    assert not (tmp_path / "hf" / "hub" / "models--facebook--sam3").exists()

"""Slot for a real segmentation model loaded from a local weights directory.

On-disk contract (``MODEL_CACHE_DIR``; nothing is ever downloaded)::

    <dir>/segmenter.onnx   ONNX network, run with OpenCV's DNN module on the CPU.
                           Input: float32 NCHW [1, 3, H, W], RGB, normalised as
                           (pixel / 255 - mean) / std. Output: float32 [1, C, h, w]
                           per-concept scores (any h, w; resized to the image).
    <dir>/segmenter.json   {"version": 1,
                            "input_size": [W, H],
                            "concepts": {"Floor": 0, "Wall": 1, ...},  # name -> output channel
                            "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],  # optional
                            "threshold": 0.5}                                 # optional

A pixel belongs to a concept when its score is above ``threshold`` (end the network with a
sigmoid to threshold probabilities). The model's vocabulary is the ``concepts`` table; any
other concept name is answered by the ``HeuristicSegmenter`` so every name still gets a mask.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from s3api.worker.engine.arrays import Mask, RGBImage, as_f32, as_u8
from s3api.worker.engine.segment import HeuristicSegmenter, Segmenter

logger = logging.getLogger(__name__)

MODEL_FILE = "segmenter.onnx"
CONFIG_FILE = "segmenter.json"
_MAX_INPUT_SIDE = 4096


class SegmenterConfigError(ValueError):
    """The weights directory does not satisfy the on-disk contract."""


@dataclass(frozen=True)
class SegmenterConfig:
    """Parsed ``segmenter.json``."""

    input_width: int
    input_height: int
    channels: Mapping[str, int]
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    threshold: float = 0.5

    @classmethod
    def from_json(cls, raw: Any) -> SegmenterConfig:
        """Validate the decoded JSON document."""
        if not isinstance(raw, dict) or raw.get("version") != 1:
            raise SegmenterConfigError('expected a JSON object with "version": 1')
        size = raw.get("input_size")
        if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) for v in size)):
            raise SegmenterConfigError('"input_size" must be [width, height]')
        if not all(0 < v <= _MAX_INPUT_SIDE for v in size):
            raise SegmenterConfigError(f'"input_size" sides must be 1..{_MAX_INPUT_SIDE}')
        concepts = raw.get("concepts")
        if not isinstance(concepts, dict) or not concepts:
            raise SegmenterConfigError('"concepts" must map concept names to channels')
        if not all(isinstance(k, str) and _is_int(v) and v >= 0 for k, v in concepts.items()):
            raise SegmenterConfigError('"concepts" values must be channel indexes >= 0')
        threshold = raw.get("threshold", 0.5)
        if not isinstance(threshold, int | float) or isinstance(threshold, bool):
            raise SegmenterConfigError('"threshold" must be a number')
        return cls(
            input_width=size[0],
            input_height=size[1],
            channels={name.casefold(): index for name, index in concepts.items()},
            mean=_triple(raw, "mean", 0.0),
            std=_triple(raw, "std", 1.0),
            threshold=float(threshold),
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _triple(raw: Mapping[str, Any], key: str, default: float) -> tuple[float, float, float]:
    value = raw.get(key, [default] * 3)
    valid = isinstance(value, list) and len(value) == 3
    if not valid or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise SegmenterConfigError(f'"{key}" must be a list of three numbers')
    if key == "std" and not all(v > 0 for v in value):
        raise SegmenterConfigError('"std" values must be positive')
    return float(value[0]), float(value[1]), float(value[2])


class PromptableSegmenter:
    """Runs the directory's ONNX model for its concepts; other names go to the fallback."""

    def __init__(self, net: cv2.dnn.Net, config: SegmenterConfig) -> None:
        self._net = net
        self._config = config
        self._fallback = HeuristicSegmenter()
        # cv2.dnn.Net keeps per-inference state (its input blob), so calls must not overlap.
        self._lock = threading.Lock()

    @classmethod
    def from_directory(cls, directory: Path) -> PromptableSegmenter:
        """Load and dry-run the model; raise SegmenterConfigError if anything is off."""
        try:
            config = SegmenterConfig.from_json(json.loads((directory / CONFIG_FILE).read_text()))
            net = cv2.dnn.readNetFromONNX(str(directory / MODEL_FILE))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, cv2.error) as exc:
            raise SegmenterConfigError(f"cannot read model files: {exc}") from exc
        segmenter = cls(net, config)
        probe = np.zeros((config.input_height, config.input_width, 3), dtype=np.uint8)
        try:
            scores = segmenter._scores(probe)
        except cv2.error as exc:
            raise SegmenterConfigError(f"model failed a dry run: {exc}") from exc
        if scores.ndim != 4 or scores.shape[0] != 1:
            raise SegmenterConfigError(f"model output shape {scores.shape} is not [1, C, h, w]")
        if max(config.channels.values()) >= scores.shape[1]:
            raise SegmenterConfigError(f"model has {scores.shape[1]} output channels only")
        return segmenter

    @property
    def concepts(self) -> frozenset[str]:
        """Concept names (casefolded) the model itself answers."""
        return frozenset(self._config.channels)

    def _scores(self, image: RGBImage) -> NDArray[np.float32]:
        config = self._config
        size = (config.input_width, config.input_height)
        resized = as_u8(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        mean = np.array(config.mean, dtype=np.float32)
        std = np.array(config.std, dtype=np.float32)
        normalised = (resized.astype(np.float32) / np.float32(255.0) - mean) / std
        blob = np.ascontiguousarray(normalised.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)
        with self._lock:
            self._net.setInput(blob)
            return as_f32(self._net.forward()).copy()

    def segment(self, image: RGBImage, concepts: Sequence[str]) -> dict[str, Mask]:
        """Model masks for mapped concepts, heuristic masks for every other name."""
        height, width = image.shape[:2]
        modelled = [name for name in concepts if name.strip().casefold() in self._config.channels]
        others = [name for name in concepts if name not in modelled]
        masks = self._fallback.segment(image, others) if others else {}
        if modelled:
            scores = self._scores(image)[0]
            for name in modelled:
                channel = scores[self._config.channels[name.strip().casefold()]]
                full = as_f32(cv2.resize(channel, (width, height), interpolation=cv2.INTER_LINEAR))
                masks[name] = full > self._config.threshold
        return {name: masks[name] for name in concepts}


def load_segmenter(model_cache_dir: Path | None) -> Segmenter:
    """The directory's model if it honours the contract, else the heuristic stand-in."""
    if model_cache_dir is None:
        logger.info("MODEL_CACHE_DIR not set; using the heuristic segmenter (no model)")
        return HeuristicSegmenter()
    missing = [n for n in (MODEL_FILE, CONFIG_FILE) if not (model_cache_dir / n).is_file()]
    if missing:
        logger.info(
            "no %s in %s; using the heuristic segmenter (no model)",
            " / ".join(missing),
            model_cache_dir,
        )
        return HeuristicSegmenter()
    try:
        segmenter = PromptableSegmenter.from_directory(model_cache_dir)
    except SegmenterConfigError as exc:
        logger.warning(
            "segmentation model in %s is unusable (%s); falling back to the heuristic segmenter",
            model_cache_dir,
            exc,
        )
        return HeuristicSegmenter()
    logger.info("loaded segmentation model from %s", model_cache_dir)
    return segmenter

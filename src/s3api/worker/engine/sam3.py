"""SAM 3 concept segmentation (``WORKER_ENGINE=sam3``): a noun phrase in, the photo's mask out.

Each preset concept is prompted with its catalogue text (``presets.catalog.prompt_for``);
a custom concept's phrase is the prompt as-is. The concept's mask is the model's semantic
map: its low-resolution probabilities (the sigmoid of the logits, never a thresholded
enlargement) go to `refine_mask`, which places the uncertain edge on the photo's own edges.

Throughput comes from sharing work. Item threads hand their photo (already resized and
normalised on the CPU) to a `MicroBatcher`; its runner thread encodes the batch's photos in
one vision pass, looks up or encodes each distinct prompt once (text features are cached
across items and jobs), runs the decoders on every (photo, prompt) pair in one pass, and
returns each photo its probability maps. Decoding, mask refinement, editing and encoding stay
in the item threads, so they overlap the next batch on the GPU.

Weights come from ``SAM3_MODEL`` (a local Hugging Face directory, or a hub id where the hub
is reachable; ``HF_HUB_OFFLINE=1`` is honoured). torch and transformers are imported only
here, so the base install stays light.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray

from s3api.common.errors import ConfigurationError
from s3api.presets.catalog import prompt_for
from s3api.worker.engine.arrays import Mask, RGBImage, as_f32
from s3api.worker.engine.batching import MicroBatcher
from s3api.worker.engine.engine import Engine
from s3api.worker.engine.refine import refine_masks
from s3api.worker.settings import WorkerSettings

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

TEXT_CACHE_SIZE = 4096
TEXT_LENGTH = 32
SAM3_MODEL_TYPES = frozenset({"sam3", "sam3_video"})
COMPILE_CACHE_FILE = "sam3-compile-artifacts.bin"
_DEFAULT_MEAN = (0.5, 0.5, 0.5)
_DEFAULT_STD = (0.5, 0.5, 0.5)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.json")
_INSTALL_HINT = "install the extra: pip install '.[sam3]' (torch, transformers, safetensors)"
_FETCH_HINT = "download facebook/sam3 where you have access and point SAM3_MODEL at that directory"

ProbabilityMap = NDArray[np.float32]


@dataclass(frozen=True)
class PhotoRequest:
    """One photo, resized and normalised to the model's input, and its distinct prompts."""

    pixels: NDArray[np.float32]
    prompts: tuple[str, ...]


class Sam3Segmenter:
    """Thread-safe `Segmenter` over a SAM 3 model; only the batcher's thread runs the model."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        device: torch.device,
        dtype: torch.dtype,
        *,
        image_size: int,
        max_batch: int,
        mean: tuple[float, float, float] = _DEFAULT_MEAN,
        std: tuple[float, float, float] = _DEFAULT_STD,
        max_wait_seconds: float = 0.005,
        batch_buckets: bool = False,
    ) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self._device = device
        self._dtype = dtype
        self.image_size = image_size
        self._mean = np.array(mean, dtype=np.float32)
        self._std = np.array(std, dtype=np.float32)
        self._text_cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._batch_buckets = batch_buckets
        self._batcher: MicroBatcher[PhotoRequest, list[ProbabilityMap]] = MicroBatcher(
            self._run_batch, max_batch, max_wait_seconds, name="sam3-batcher"
        )
        self.batch_sizes: list[int] = []
        """Photos per forward pass so far (for tests and the benchmark)."""

    @property
    def max_batch(self) -> int:
        """The most photos one forward pass takes."""
        return self._batcher.max_batch

    def close(self) -> None:
        """Stop the batcher thread."""
        self._batcher.close()

    def preprocess(self, image: RGBImage) -> NDArray[np.float32]:
        """Resize to the model's square input and normalise: float32 CHW."""
        side = self.image_size
        height, width = image.shape[:2]
        shrinking = height * width > side * side
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        resized = cv2.resize(image, (side, side), interpolation=interpolation)
        normalised = (resized.astype(np.float32) / np.float32(255.0) - self._mean) / self._std
        return np.ascontiguousarray(normalised.transpose(2, 0, 1), dtype=np.float32)

    def probabilities(self, image: RGBImage, prompts: Sequence[str]) -> dict[str, ProbabilityMap]:
        """Low-resolution probability maps of each distinct prompt on this photo."""
        unique = tuple(dict.fromkeys(prompts))
        if not unique:
            return {}
        maps = self._batcher.submit(PhotoRequest(self.preprocess(image), unique))
        return dict(zip(unique, maps, strict=True))

    def segment(self, image: RGBImage, concepts: Sequence[str]) -> dict[str, Mask]:
        """A full-size boolean mask for every concept name (preset concept or noun phrase)."""
        prompts = {name: prompt_for(name) for name in concepts}
        maps = self.probabilities(image, list(prompts.values()))
        return refine_masks(image, {name: maps[prompt] for name, prompt in prompts.items()})

    def _run_batch(self, requests: Sequence[PhotoRequest]) -> list[list[ProbabilityMap]]:
        import torch
        from transformers.modeling_outputs import BaseModelOutputWithPooling
        from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput

        self.batch_sizes.append(len(requests))
        with torch.inference_mode():
            stacked = np.stack([request.pixels for request in requests])
            padded = self._padded(stacked)
            pixels = torch.from_numpy(padded).to(self._device, self._dtype)
            vision = self._model.get_vision_features(pixel_values=pixels)
            owners = [index for index, request in enumerate(requests) for _ in request.prompts]
            prompts = [prompt for request in requests for prompt in request.prompts]
            text, text_mask = self._text_features(prompts)
            owner_index = torch.tensor(owners, device=self._device)
            pair_vision = Sam3VisionEncoderOutput(
                fpn_hidden_states=tuple(
                    level.index_select(0, owner_index) for level in vision.fpn_hidden_states
                ),
                fpn_position_encoding=tuple(
                    level.index_select(0, owner_index) for level in vision.fpn_position_encoding
                ),
            )
            outputs = self._model(
                vision_embeds=pair_vision,
                text_embeds=BaseModelOutputWithPooling(pooler_output=text),
                attention_mask=text_mask,
            )
            maps = outputs.semantic_seg[:, 0].float().sigmoid().cpu().numpy()
        answers: list[list[ProbabilityMap]] = [[] for _ in requests]
        for owner, probability in zip(owners, maps, strict=True):
            answers[owner].append(as_f32(probability))
        return answers

    def _padded(self, stacked: NDArray[np.float32]) -> NDArray[np.float32]:
        """With compilation, round the batch up to a power of two: few shapes, few compiles."""
        if not self._batch_buckets:
            return stacked
        size = stacked.shape[0]
        bucket = min(1 << (size - 1).bit_length(), max(self.max_batch, size))
        if bucket == size:
            return stacked
        filler = np.zeros((bucket - size, *stacked.shape[1:]), dtype=stacked.dtype)
        return np.concatenate([stacked, filler])

    def _text_features(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected text features and masks of `prompts`, each distinct prompt encoded once."""
        import torch

        missing = [prompt for prompt in dict.fromkeys(prompts) if prompt not in self._text_cache]
        if missing:
            encoded = self._tokenizer(
                missing,
                padding="max_length",
                truncation=True,
                max_length=TEXT_LENGTH,
                return_tensors="pt",
            )
            input_ids = encoded["input_ids"].to(self._device)
            attention_mask = encoded["attention_mask"].to(self._device)
            features = self._model.get_text_features(
                input_ids=input_ids, attention_mask=attention_mask
            ).pooler_output
            for index, prompt in enumerate(missing):
                self._text_cache[prompt] = (features[index], attention_mask[index])
        for prompt in prompts:
            self._text_cache.move_to_end(prompt)
        while len(self._text_cache) > TEXT_CACHE_SIZE:
            self._text_cache.popitem(last=False)
        features = torch.stack([self._text_cache[prompt][0] for prompt in prompts])
        masks = torch.stack([self._text_cache[prompt][1] for prompt in prompts])
        return features, masks


# --- loading ---------------------------------------------------------------------------------


def _import_runtime() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ConfigurationError(
            f"WORKER_ENGINE=sam3 needs torch and transformers ({exc.name} is missing): "
            f"{_INSTALL_HINT}"
        ) from exc
    if not hasattr(transformers, "Sam3Model"):
        raise ConfigurationError(
            f"WORKER_ENGINE=sam3 needs transformers 5 or later "
            f"(found {transformers.__version__}): {_INSTALL_HINT}"
        )
    return torch, transformers


def resolve_device(requested: str, torch: Any) -> Any:
    """WORKER_DEVICE as a torch.device; CUDA asked for but absent is a configuration error."""
    value = requested.strip().lower()
    if value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if value == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", value)
    if match is None:
        raise ConfigurationError(
            f"WORKER_DEVICE={requested!r} is not a device: set it to auto, cpu, cuda or cuda:N"
        )
    if not torch.cuda.is_available():
        raise ConfigurationError(
            f"WORKER_DEVICE={requested} but torch sees no CUDA device: install a CUDA build "
            "of torch on a GPU machine, or set WORKER_DEVICE=cpu (or auto)"
        )
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise ConfigurationError(
            f"WORKER_DEVICE={requested} but only {torch.cuda.device_count()} CUDA device(s) "
            "exist: pick one of them or set WORKER_DEVICE=cuda"
        )
    return torch.device(f"cuda:{index}")


def resolve_model_source(value: str | None) -> str:
    """SAM3_MODEL checked: a local SAM 3 directory, or something shaped like a hub id."""
    if value is None or not value.strip():
        raise ConfigurationError(
            "WORKER_ENGINE=sam3 needs SAM3_MODEL: set it to a directory holding the SAM 3 "
            f"weights (config.json, model.safetensors, tokenizer files); {_FETCH_HINT}"
        )
    path = Path(value).expanduser()
    if path.is_dir():
        _check_checkpoint_directory(path)
        return str(path)
    if path.exists() or not _HUB_ID.match(value) or value.startswith((".", "/", "~")):
        raise ConfigurationError(
            f"SAM3_MODEL={value} is not a directory: {_FETCH_HINT} (or give a hub id)"
        )
    return value


def _check_checkpoint_directory(path: Path) -> None:
    config_path = path / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigurationError(
            f"SAM3_MODEL={path} is not a SAM 3 checkpoint (no readable config.json): {_FETCH_HINT}"
        ) from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in SAM3_MODEL_TYPES:
        raise ConfigurationError(
            f"SAM3_MODEL={path} is not a SAM 3 checkpoint (config.json model_type is "
            f"{model_type!r}, expected 'sam3'): {_FETCH_HINT}"
        )
    for kind, names in (("weights", _WEIGHT_FILES), ("tokenizer", _TOKENIZER_FILES)):
        if not any((path / name).is_file() for name in names):
            raise ConfigurationError(
                f"SAM3_MODEL={path} has no {kind} file ({' or '.join(names)}): {_FETCH_HINT}"
            )


def _input_geometry(source: str, config: Any) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
    """Input side, mean and std: the checkpoint's preprocessor config where it has one."""
    side = int(config.vision_config.image_size)
    mean: tuple[float, ...] = _DEFAULT_MEAN
    std: tuple[float, ...] = _DEFAULT_STD
    preprocessor = Path(source) / "preprocessor_config.json"
    if preprocessor.is_file():
        raw = json.loads(preprocessor.read_text(encoding="utf-8"))
        mean = tuple(raw.get("image_mean", mean))
        std = tuple(raw.get("image_std", std))
    return side, mean, std


def _enable_compilation(model: Any, torch: Any, cache_dir: Path) -> None:
    """torch.compile the vision encoder, with the compiler's artifacts cached on disk.

    The Inductor cache lives in `cache_dir` and the portable artifacts are reloaded at
    start, so a restarted worker reuses the kernels instead of autotuning again.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir / "inductor"))
    os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
    os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "1")
    artifacts = cache_dir / COMPILE_CACHE_FILE
    if artifacts.is_file():
        torch.compiler.load_cache_artifacts(artifacts.read_bytes())
        logger.info("loaded compiled kernels from %s", artifacts)
    model.vision_encoder = torch.compile(model.vision_encoder, mode="max-autotune", dynamic=False)


def save_compilation_artifacts(torch: Any, cache_dir: Path) -> None:
    """Keep what compiling produced, for the next start (after the warm-up has run)."""
    saved = torch.compiler.save_cache_artifacts()
    if saved is not None:
        (cache_dir / COMPILE_CACHE_FILE).write_bytes(saved[0])


def load_sam3_segmenter(settings: WorkerSettings) -> Sam3Segmenter:
    """Load SAM3_MODEL on WORKER_DEVICE; every setup problem is a ConfigurationError."""
    source = resolve_model_source(settings.sam3_model)
    torch, transformers = _import_runtime()
    device = resolve_device(settings.worker_device, torch)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    local = Path(source).is_dir()
    try:
        model = transformers.Sam3Model.from_pretrained(
            source, dtype=dtype, local_files_only=local, attn_implementation="sdpa"
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=local)
    except Exception as exc:  # hub, safetensors and config errors have no common base
        reason = " ".join(str(exc).split())[:300]
        raise ConfigurationError(
            f"SAM3_MODEL={source} could not be loaded ({reason}): {_FETCH_HINT}"
        ) from exc
    model = model.to(device).eval()
    side, mean, std = _input_geometry(source, model.config)
    cache_dir = settings.s3api_data_dir / "compile-cache"
    if settings.worker_compile:
        _enable_compilation(model, torch, cache_dir)
    segmenter = Sam3Segmenter(
        model,
        tokenizer,
        device,
        dtype,
        image_size=side,
        max_batch=settings.worker_gpu_batch,
        mean=(mean[0], mean[1], mean[2]),
        std=(std[0], std[1], std[2]),
        batch_buckets=settings.worker_compile,
    )
    if settings.worker_compile:
        _warm_up(segmenter)
        save_compilation_artifacts(torch, cache_dir)
    logger.info(
        "SAM 3 loaded from %s on %s (%s, batch up to %d%s)",
        source,
        device,
        str(dtype).removeprefix("torch."),
        settings.worker_gpu_batch,
        ", compiled" if settings.worker_compile else "",
    )
    return segmenter


def _warm_up(segmenter: Sam3Segmenter) -> None:
    """Compile every batch shape now, at start, rather than on the first photos."""
    blank = np.zeros((segmenter.image_size, segmenter.image_size, 3), dtype=np.uint8)
    bucket = 1
    while True:
        segmenter._run_batch([PhotoRequest(segmenter.preprocess(blank), ("object",))] * bucket)
        if bucket >= segmenter.max_batch:
            break
        bucket *= 2


def build_sam3_engine(settings: WorkerSettings) -> Engine:
    """The worker's engine with SAM 3 as its segmenter (custom concepts included)."""
    return Engine(
        load_sam3_segmenter(settings),
        serves_custom_concepts=True,
        max_input_pixels=settings.max_input_pixels,
        max_work_pixels=settings.max_work_pixels,
    )

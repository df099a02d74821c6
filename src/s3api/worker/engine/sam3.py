"""SAM 3 concept segmentation (``WORKER_ENGINE=sam3``): a noun phrase in, the photo's mask out.

Each preset concept is prompted with its catalogue text (``presets.catalog.prompt_for``);
a custom concept's phrase is the prompt as-is. The concept's mask is the model's semantic
map: its low-resolution probabilities (the sigmoid of the logits, never a thresholded
enlargement) go to `refine_mask`, which places the uncertain edge on the photo's own edges.
`segment_instances` divides that same mask among the instance head's queries of the same
forward pass (`sam3_instances`), so a concept's mask is always the union of its instances.

Throughput comes from sharing work. Item threads hand their photo (already resized and
normalised on the CPU) to a `MicroBatcher`; its runner thread encodes the batch's photos in
one vision pass, looks up or encodes each distinct prompt once (text features are cached
across items and jobs), runs the decoders on every (photo, prompt) pair in one pass, and
returns each photo its probability maps (and, where asked, the queries scoring above
``SAM3_INSTANCE_THRESHOLD``: only those leave the device). Decoding, mask refinement,
instance division, editing and encoding stay in the item threads, so they overlap the next
batch on the GPU.

Weights come from ``SAM3_MODEL`` (a local Hugging Face directory, or a hub id where the hub
is reachable; ``HF_HUB_OFFLINE=1`` is honoured; checks in `sam3_setup`). torch and
transformers are imported only by these modules, so the base install stays light.
"""

from __future__ import annotations

import logging
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
from s3api.worker.engine.instances import Instance
from s3api.worker.engine.refine import refine_masks
from s3api.worker.engine.sam3_instances import QueryMasks, concept_instances, is_stuff
from s3api.worker.engine.sam3_setup import (
    DEFAULT_MEAN,
    DEFAULT_STD,
    FETCH_HINT,
    enable_compilation,
    import_runtime,
    input_geometry,
    resolve_device,
    resolve_model_source,
    save_compilation_artifacts,
)
from s3api.worker.settings import WorkerSettings

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

TEXT_CACHE_SIZE = 4096
TEXT_LENGTH = 32

ProbabilityMap = NDArray[np.float32]
DEFAULT_INSTANCE_THRESHOLD = 0.5
"""SAM3_INSTANCE_THRESHOLD's default: queries scoring at most this are no instances."""


@dataclass(frozen=True)
class PhotoRequest:
    """One photo, resized and normalised to the model's input, and its distinct prompts;
    `instances` asks for each prompt's queries too (from the same forward pass)."""

    pixels: NDArray[np.float32]
    prompts: tuple[str, ...]
    instances: bool = False


@dataclass(frozen=True)
class PromptMaps:
    """What one forward pass gives a (photo, prompt) pair."""

    semantic: ProbabilityMap
    queries: QueryMasks | None = None


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
        mean: tuple[float, float, float] = DEFAULT_MEAN,
        std: tuple[float, float, float] = DEFAULT_STD,
        max_wait_seconds: float = 0.005,
        batch_buckets: bool = False,
        instance_threshold: float = DEFAULT_INSTANCE_THRESHOLD,
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
        self.instance_threshold = instance_threshold
        self._batcher: MicroBatcher[PhotoRequest, list[PromptMaps]] = MicroBatcher(
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
        return {prompt: maps.semantic for prompt, maps in self.outputs(image, prompts).items()}

    def outputs(
        self, image: RGBImage, prompts: Sequence[str], *, instances: bool = False
    ) -> dict[str, PromptMaps]:
        """Each distinct prompt's maps on this photo, from one batched forward pass."""
        unique = tuple(dict.fromkeys(prompts))
        if not unique:
            return {}
        answers = self._batcher.submit(PhotoRequest(self.preprocess(image), unique, instances))
        return dict(zip(unique, answers, strict=True))

    def segment(self, image: RGBImage, concepts: Sequence[str]) -> dict[str, Mask]:
        """A full-size boolean mask for every concept name (preset concept or noun phrase)."""
        prompts = {name: prompt_for(name) for name in concepts}
        maps = self.probabilities(image, list(prompts.values()))
        return refine_masks(image, {name: maps[prompt] for name, prompt in prompts.items()})

    def segment_instances(
        self, image: RGBImage, concepts: Sequence[str]
    ) -> dict[str, list[Instance]]:
        """Every concept's instances in reading order; their union is `segment`'s mask."""
        prompts = {name: prompt_for(name) for name in concepts}
        answers = self.outputs(image, list(prompts.values()), instances=True)
        masks = refine_masks(
            image, {name: answers[prompt].semantic for name, prompt in prompts.items()}
        )
        found: dict[str, list[Instance]] = {}
        for name, prompt in prompts.items():
            queries = answers[prompt].queries
            assert queries is not None  # asked for above
            found[name] = concept_instances(masks[name], queries, stuff=is_stuff(name))
        return found

    def _run_batch(self, requests: Sequence[PhotoRequest]) -> list[list[PromptMaps]]:
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
            asking = [requests[owner].instances for owner in owners]
            queries = self._queries(outputs, asking) if any(asking) else [None] * len(owners)
        answers: list[list[PromptMaps]] = [[] for _ in requests]
        for owner, probability, kept in zip(owners, maps, queries, strict=True):
            answers[owner].append(PromptMaps(as_f32(probability), kept))
        return answers

    def _queries(self, outputs: Any, asking: Sequence[bool]) -> list[QueryMasks | None]:
        """Per pair that asks: the queries scoring above the threshold, best first. Only
        their masks leave the device; the model's scoring is sigmoid(logit) x sigmoid(presence)."""
        presence = outputs.presence_logits.float().sigmoid()
        scores = (outputs.pred_logits.float().sigmoid() * presence).cpu().numpy()
        presences = presence[:, 0].cpu().numpy()
        found: list[QueryMasks | None] = []
        for pair, wanted in enumerate(asking):
            if not wanted:
                found.append(None)
                continue
            kept = [int(i) for i in np.argsort(-scores[pair], kind="stable")]
            kept = [i for i in kept if scores[pair][i] > self.instance_threshold]
            masks = outputs.pred_masks[pair, kept].float().sigmoid().cpu().numpy()
            found.append(
                QueryMasks(as_f32(masks), as_f32(scores[pair][kept]), float(presences[pair]))
            )
        return found

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


def load_sam3_segmenter(settings: WorkerSettings) -> Sam3Segmenter:
    """Load SAM3_MODEL on WORKER_DEVICE; every setup problem is a ConfigurationError."""
    source = resolve_model_source(settings.sam3_model)
    torch, transformers = import_runtime()
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
            f"SAM3_MODEL={source} could not be loaded ({reason}): {FETCH_HINT}"
        ) from exc
    model = model.to(device).eval()
    side, mean, std = input_geometry(source, model.config)
    cache_dir = settings.s3api_data_dir / "compile-cache"
    if settings.worker_compile:
        enable_compilation(model, torch, cache_dir)
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
        instance_threshold=settings.sam3_instance_threshold,
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

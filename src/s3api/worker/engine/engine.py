"""The engine facade the worker calls: bytes + concept rules in, encoded result + preview out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from s3api.common.output_formats import OutputFormat
from s3api.worker.compose.watermark import Watermark, apply_watermark
from s3api.worker.engine.apply import apply_edits
from s3api.worker.engine.arrays import Mask, RGBImage
from s3api.worker.engine.codec import (
    MAX_PIXELS,
    MAX_WORK_PIXELS,
    decode_image,
    encode_preview,
    encode_result,
)
from s3api.worker.engine.edits import parse_edits
from s3api.worker.engine.segment import HeuristicSegmenter, Segmenter


@dataclass(frozen=True)
class EngineResult:
    """Encoded outputs of one processed photo."""

    result_image: bytes
    """The result in `output_format`, with the same width and height as the decoded input
    (inputs over the engine's working size are decoded at an integer fraction of their size)."""
    preview_jpeg: bytes
    """JPEG whose longest side is at most 512 px."""
    width: int
    height: int
    output_format: OutputFormat = OutputFormat.PNG


class Engine:
    """Segment → apply → encode for one photo at a time; safe to call from many threads.

    The engine holds only the segmenter, which must itself be thread-safe (both built-in
    segmenters are); every call works on its own arrays. `serves_custom_concepts` says
    whether the segmenter understands free noun phrases (a model does, the heuristic
    stand-in does not).
    """

    def __init__(
        self,
        segmenter: Segmenter | None = None,
        *,
        serves_custom_concepts: bool = False,
        max_input_pixels: int = MAX_PIXELS,
        max_work_pixels: int = MAX_WORK_PIXELS,
    ) -> None:
        self._segmenter: Segmenter = segmenter if segmenter is not None else HeuristicSegmenter()
        self.serves_custom_concepts = serves_custom_concepts
        self.max_input_pixels = max_input_pixels
        self.max_work_pixels = max_work_pixels

    @property
    def segmenter(self) -> Segmenter:
        """The segmenter this engine asks for masks."""
        return self._segmenter

    def masks_for(self, image: RGBImage, concept_names: Sequence[str]) -> dict[str, Mask]:
        """The exact masks ``process`` uses for these concepts on this decoded image."""
        unique = list(dict.fromkeys(concept_names))
        return self._segmenter.segment(image, unique)

    def process(
        self,
        input_bytes: bytes,
        concepts: Mapping[str, Mapping[str, str | None]],
        protect: Sequence[str],
        *,
        watermark: Watermark | None = None,
        output_format: OutputFormat = OutputFormat.PNG,
    ) -> EngineResult:
        """Decode, edit each concept in order, restore protected pixels, stamp the
        watermark (if any; only its box changes), encode.

        Protected pixels come back byte-identical in `png` only; `jpeg` and `webp` are lossy.
        Raises ImageDecodeError for undecodable input and ValueError for a bad rule.
        """
        edits = parse_edits(concepts)
        image = decode_image(
            input_bytes, max_pixels=self.max_input_pixels, max_work_pixels=self.max_work_pixels
        )
        height, width = image.shape[:2]
        masks = self.masks_for(image, [*edits, *protect]) if edits else {}
        protect_mask: Mask | None = None
        if edits and protect:
            protect_mask = np.zeros((height, width), dtype=np.bool_)
            for name in protect:
                protect_mask |= masks[name]
        result = apply_edits(image, masks, edits, protect_mask)
        if watermark is not None:
            result = apply_watermark(result, watermark)
        return EngineResult(
            result_image=encode_result(result, output_format),
            preview_jpeg=encode_preview(result),
            width=width,
            height=height,
            output_format=output_format,
        )

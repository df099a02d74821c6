"""Image engine of the reference GPU worker: segment concepts into masks, apply edit rules.

``segment`` turns concept names (Floor, Wall, Body, ...) into boolean masks; ``apply`` edits
the pixels under those masks (recolor, tone, texture, remove). ``Engine`` ties decoding,
both stages and encoding together for the worker.
"""

from s3api.presets.vocabulary import MATERIALS, PALETTE, TONES
from s3api.worker.engine.apply import apply_edits
from s3api.worker.engine.arrays import Mask, RGBImage
from s3api.worker.engine.codec import (
    ImageDecodeError,
    decode_image,
    encode_png,
    encode_preview,
    encode_result,
)
from s3api.worker.engine.edits import ConceptEdit, parse_edits
from s3api.worker.engine.engine import Engine, EngineResult
from s3api.worker.engine.segment import (
    INTERIOR_CONCEPTS,
    PROTECT_ONLY_CONCEPTS,
    SELLER_CONCEPTS,
    HeuristicSegmenter,
    Segmenter,
)

__all__ = [
    "INTERIOR_CONCEPTS",
    "MATERIALS",
    "PALETTE",
    "PROTECT_ONLY_CONCEPTS",
    "SELLER_CONCEPTS",
    "TONES",
    "ConceptEdit",
    "Engine",
    "EngineResult",
    "HeuristicSegmenter",
    "ImageDecodeError",
    "Mask",
    "RGBImage",
    "Segmenter",
    "apply_edits",
    "decode_image",
    "encode_png",
    "encode_preview",
    "encode_result",
    "parse_edits",
]

"""Registry of image engines the worker can run, chosen by `WORKER_ENGINE`.

To add one, call `register_engine("name", factory)` at import time of a module that the
worker imports (or add it to `ENGINE_FACTORIES` here); the factory gets the worker settings
and returns anything with the `ImageEngine.process` signature.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from s3api.common.errors import ConfigurationError
from s3api.common.output_formats import OutputFormat
from s3api.worker.compose.watermark import Watermark
from s3api.worker.engine import Engine, EngineResult, HeuristicSegmenter
from s3api.worker.engine.engine import AnalysisResult, KnownInstances
from s3api.worker.engine.selection import Selection
from s3api.worker.settings import WorkerSettings


class ImageEngine(Protocol):
    """Turns one input image and the job's rules into a result in the job's format and a JPEG
    preview."""

    def process(
        self,
        input_bytes: bytes,
        concepts: Mapping[str, Mapping[str, str | None]],
        protect: Sequence[str],
        *,
        watermark: Watermark | None = None,
        output_format: OutputFormat = OutputFormat.PNG,
    ) -> EngineResult:
        """Encode in `output_format`; stamp `watermark` on the result and preview when given.

        Raise ValueError (ImageDecodeError included) for a bad input or rule.
        """
        ...


@runtime_checkable
class InstanceEngine(ImageEngine, Protocol):
    """An engine that also analyses photos into instances, edits on stored label maps and
    renders variants from one segmentation (`Engine` is one); the worker sends analysis and
    segmentation work only to such, and asks any other engine once per variant."""

    def process(
        self,
        input_bytes: bytes,
        concepts: Mapping[str, Mapping[str, str | None]],
        protect: Sequence[str],
        *,
        watermark: Watermark | None = None,
        output_format: OutputFormat = OutputFormat.PNG,
        stored_maps: Mapping[str, bytes] | None = None,
        known_instances: KnownInstances | None = None,
        selection: Selection | None = None,
        variants: Sequence[Mapping[str, Mapping[str, str | None]]] = (),
    ) -> EngineResult:
        """As `ImageEngine.process`, on `stored_maps` where given, under `selection`, with
        each of `variants` rendered from the same masks into `variant_images`."""
        ...

    def analyze(
        self,
        input_bytes: bytes,
        concepts: Sequence[str],
        *,
        known_maps: Mapping[str, bytes] | None = None,
    ) -> AnalysisResult:
        """Label maps of `concepts` and the overlay of every instance."""
        ...


EngineFactory = Callable[[WorkerSettings], ImageEngine]


def _default_engine(settings: WorkerSettings) -> ImageEngine:
    """The model-free heuristic segmenter: no dependencies, no weights."""
    return Engine(
        HeuristicSegmenter(settings.worker_instance_min_area),
        max_input_pixels=settings.max_input_pixels,
        max_work_pixels=settings.max_work_pixels,
        instance_min_area=settings.worker_instance_min_area,
    )


def _sam3_engine(settings: WorkerSettings) -> ImageEngine:
    """SAM 3 from SAM3_MODEL; torch and transformers are imported only when chosen."""
    from s3api.worker.engine.sam3 import build_sam3_engine

    return build_sam3_engine(settings)


ENGINE_FACTORIES: dict[str, EngineFactory] = {"default": _default_engine, "sam3": _sam3_engine}


def serves_custom_concepts(engine: ImageEngine) -> bool:
    """Whether the engine segments free noun phrases (the `custom` preset's concepts)."""
    return getattr(engine, "serves_custom_concepts", False) is True


def register_engine(name: str, factory: EngineFactory) -> None:
    """Make an engine selectable with `WORKER_ENGINE=name`."""
    ENGINE_FACTORIES[name] = factory


def build_engine(settings: WorkerSettings) -> ImageEngine:
    """The engine WORKER_ENGINE names; an unknown name is a configuration error."""
    factory = ENGINE_FACTORIES.get(settings.worker_engine)
    if factory is None:
        known = ", ".join(sorted(ENGINE_FACTORIES))
        raise ConfigurationError(
            f"unknown WORKER_ENGINE {settings.worker_engine!r}: set it to one of {known}"
        )
    return factory(settings)

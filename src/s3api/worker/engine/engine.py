"""The engine facade the worker calls: bytes + concept rules in, encoded result + preview out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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
from s3api.worker.engine.edits import ConceptEdit, parse_edits
from s3api.worker.engine.instances import DEFAULT_MIN_AREA_FRACTION, InstanceSummary
from s3api.worker.engine.label_maps import (
    ConceptMap,
    EncodedLabelMap,
    compute_maps,
    stored_map,
)
from s3api.worker.engine.overlay import encode_overlay
from s3api.worker.engine.segment import HeuristicSegmenter, Segmenter
from s3api.worker.engine.selection import Selection, check_selection, edit_mask, locked_mask

KnownInstances = Mapping[str, Sequence[InstanceSummary]]
"""concept → the summaries the server lists for a stored label map."""


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
    label_maps: dict[str, EncodedLabelMap] = field(default_factory=dict)
    """The label maps this call computed, to store; empty unless `stored_maps` was given."""
    reused: tuple[str, ...] = ()
    """The concepts whose stored label maps the edits were applied to."""
    segmented: tuple[str, ...] = ()
    """The concepts this call segmented."""
    variant_images: tuple[bytes, ...] = ()
    """The requested variants, rendered and encoded like `result_image`, in order."""


@dataclass(frozen=True)
class AnalysisResult:
    """One analysed photo: a label map per requested concept and the overlay of them all."""

    width: int
    height: int
    label_maps: dict[str, EncodedLabelMap]
    overlay_png: bytes


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
        instance_min_area: float = DEFAULT_MIN_AREA_FRACTION,
    ) -> None:
        self._segmenter: Segmenter = segmenter if segmenter is not None else HeuristicSegmenter()
        self.serves_custom_concepts = serves_custom_concepts
        self.max_input_pixels = max_input_pixels
        self.max_work_pixels = max_work_pixels
        self.instance_min_area = instance_min_area
        """Fraction of a photo below which a mask-only segmenter's regions are no instances."""

    @property
    def segmenter(self) -> Segmenter:
        """The segmenter this engine asks for masks."""
        return self._segmenter

    def masks_for(self, image: RGBImage, concept_names: Sequence[str]) -> dict[str, Mask]:
        """The exact masks ``process`` uses for these concepts on this decoded image."""
        maps = self.concept_maps(image, concept_names)
        return {name: concept_map.mask for name, concept_map in maps.items()}

    def concept_maps(self, image: RGBImage, concept_names: Sequence[str]) -> dict[str, ConceptMap]:
        """Each concept's instances on this decoded image, as label maps."""
        unique = list(dict.fromkeys(concept_names))
        return compute_maps(self._segmenter, image, unique, self.instance_min_area)

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
        """Decode, edit each concept's selected instances in order, restore protected and
        locked pixels, stamp the watermark (if any; only its box changes), encode.

        `stored_maps` (concept → label-map PNG) are applied instead of segmenting those
        concepts; when given (even empty), the maps segmented here come back in
        `label_maps` to be stored. `variants` are further `concepts` objects rendered from
        the same masks (each concept is segmented once for them all) under the same
        protect list, selection, watermark and format; they come back encoded, in order, in
        `variant_images`. Protected and locked pixels come back byte-identical in `png`
        only; `jpeg` and `webp` are lossy. Raises ImageDecodeError for undecodable input
        and ValueError for a bad rule, a bad stored map or an unknown instance.
        """
        edits = parse_edits(concepts)
        variant_edits = [parse_edits(variant) for variant in variants]
        chosen = dict(selection or {})
        image = decode_image(
            input_bytes, max_pixels=self.max_input_pixels, max_work_pixels=self.max_work_pixels
        )
        height, width = image.shape[:2]
        edited = [name for each in (edits, *variant_edits) for name in each]
        needed = list(dict.fromkeys([*edited, *protect, *chosen])) if edited else []
        stored = {
            name: stored_map(data, height, width, (known_instances or {}).get(name))
            for name, data in (stored_maps or {}).items()
            if name in needed
        }
        maps = {**stored, **self.concept_maps(image, [n for n in needed if n not in stored])}
        check_selection(chosen, maps)
        protect_mask = locked_mask(chosen, maps, height, width)
        for name in protect:
            if name in maps:
                protect_mask = (
                    maps[name].mask if protect_mask is None else protect_mask | maps[name].mask
                )

        def render(these: Mapping[str, ConceptEdit]) -> RGBImage:
            masks = {name: edit_mask(maps[name], chosen.get(name)) for name in these}
            rendered = apply_edits(image, masks, these, protect_mask)
            return rendered if watermark is None else apply_watermark(rendered, watermark)

        result = render(edits)
        variant_images = tuple(
            encode_result(render(these), output_format) for these in variant_edits
        )
        computed = (
            {}
            if stored_maps is None
            else {
                name: concept_map.encoded()
                for name, concept_map in maps.items()
                if name not in stored
            }
        )
        return EngineResult(
            result_image=encode_result(result, output_format),
            preview_jpeg=encode_preview(result),
            width=width,
            height=height,
            output_format=output_format,
            label_maps=computed,
            reused=tuple(stored),
            segmented=tuple(name for name in maps if name not in stored),
            variant_images=variant_images,
        )

    def analyze(
        self,
        input_bytes: bytes,
        concepts: Sequence[str],
        *,
        known_maps: Mapping[str, bytes] | None = None,
    ) -> AnalysisResult:
        """Segment `concepts` into label maps and draw the overlay of every instance: those
        found now and those of the photo's `known_maps` (concept → stored label-map PNG).

        Raises ImageDecodeError for undecodable input and ValueError for a bad stored map.
        """
        image = decode_image(
            input_bytes, max_pixels=self.max_input_pixels, max_work_pixels=self.max_work_pixels
        )
        height, width = image.shape[:2]
        known = {
            name: stored_map(data, height, width)
            for name, data in (known_maps or {}).items()
            if name not in concepts
        }
        found = self.concept_maps(image, concepts)
        every = {**known, **found}
        overlay = encode_overlay(image, {name: m.labels for name, m in every.items()})
        return AnalysisResult(
            width=width,
            height=height,
            label_maps={name: concept_map.encoded() for name, concept_map in found.items()},
            overlay_png=overlay,
        )

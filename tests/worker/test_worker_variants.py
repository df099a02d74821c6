"""Variants on the worker: the engine renders every variant from one segmentation, and the
processor stores each beside the result (one call per variant on an engine without that)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import numpy as np

from s3api.common.output_formats import OutputFormat
from s3api.worker.api_client import WorkerApiClient
from s3api.worker.assembly import OutputSetMessage, SetAssembler
from s3api.worker.compose.watermark import Watermark
from s3api.worker.engine import Engine, EngineResult, HeuristicSegmenter, decode_image
from s3api.worker.engine.arrays import Mask, RGBImage
from s3api.worker.engine.codec import encode_result
from s3api.worker.engine.samples import jpeg_bytes, room_image
from tests.support.processing import FAST, FakeApi, message, processor

PROTECT = ["Grout", "Frame_Molding"]
BASE: dict[str, dict[str, str | None]] = {"Floor": {"action": "recolor", "value": "oak_a"}}
VARIANTS: list[dict[str, dict[str, str | None]]] = [
    {**BASE, "Wall": {"action": "recolor", "value": "#8FA98A"}},
    {
        **BASE,
        "Wall": {"action": "recolor", "value": "#C0392B"},
        "Ceiling": {"action": "tone", "value": "warm"},
    },
]


class CountingSegmenter:
    """The heuristic segmenter, counting how often each concept is segmented."""

    def __init__(self) -> None:
        self.inner = HeuristicSegmenter()
        self.counts: dict[str, int] = {}

    def segment(self, image: RGBImage, concepts: Sequence[str]) -> dict[str, Mask]:
        for name in concepts:
            self.counts[name] = self.counts.get(name, 0) + 1
        return self.inner.segment(image, concepts)


def test_every_variant_is_rendered_from_one_segmentation_of_each_concept() -> None:
    photo = jpeg_bytes(room_image(400, 300))
    segmenter = CountingSegmenter()
    result = Engine(segmenter=segmenter).process(photo, BASE, PROTECT, variants=VARIANTS)
    assert len(result.variant_images) == 2
    assert segmenter.counts == dict.fromkeys(["Floor", "Wall", "Ceiling", *PROTECT], 1)
    assert sorted(result.segmented) == sorted(["Floor", "Wall", "Ceiling", *PROTECT])
    # each variant is exactly what a call of its own makes
    alone = Engine()
    for concepts, image in zip(VARIANTS, result.variant_images, strict=True):
        assert image == alone.process(photo, concepts, PROTECT).result_image
    assert result.result_image == alone.process(photo, BASE, PROTECT).result_image


def test_protected_pixels_stay_byte_identical_in_every_variant() -> None:
    photo = jpeg_bytes(room_image(400, 300))
    engine = Engine()
    decoded = decode_image(photo)
    masks = engine.masks_for(decoded, [*PROTECT, "Wall"])
    kept = masks["Grout"] | masks["Frame_Molding"]
    assert kept.any()
    result = engine.process(photo, BASE, PROTECT, variants=VARIANTS)
    renders = [decode_image(data) for data in result.variant_images]
    for render in renders:
        assert np.array_equal(render[kept], decoded[kept])
    walls = masks["Wall"] & ~kept
    assert np.abs(renders[0][walls].astype(int) - renders[1][walls].astype(int)).mean() > 20


def test_variants_share_the_watermark_and_the_format() -> None:
    photo = jpeg_bytes(room_image(400, 300))
    mark = Watermark("Made with S3 API", (0.58, 0.9, 0.4, 0.07), 0.6)
    engine = Engine()
    marked = engine.process(
        photo, BASE, PROTECT, variants=VARIANTS, watermark=mark, output_format=OutputFormat.JPEG
    )
    for concepts, image in zip(VARIANTS, marked.variant_images, strict=True):
        assert image.startswith(b"\xff\xd8\xff")
        alone = engine.process(
            photo, concepts, PROTECT, watermark=mark, output_format=OutputFormat.JPEG
        )
        assert image == alone.result_image


def variant_message(count: int = 1, urls: int = 2, **changes: Any) -> Any:
    work = message(count, concepts=BASE, protect=PROTECT, **changes)
    specs = [
        {"name": "base", "label": "BASE", "concepts": BASE},
        *({"name": f"v{n}", "label": f"V{n}", "concepts": c} for n, c in enumerate(VARIANTS, 1)),
    ]
    body = work.model_dump()
    body["variants"] = specs
    for item in body["items"]:
        idx = item["idx"]
        item["variant_urls"] = [f"http://storage/out/{idx}v{n}" for n in range(1, urls + 1)]
        item["variant_keys"] = [
            f"outputs/u/job-1/{idx}_variant_{n}.png" for n in range(1, urls + 1)
        ]
    return type(work).model_validate(body)


async def test_the_processor_uploads_each_variant_beside_the_result() -> None:
    photo = jpeg_bytes(room_image(400, 300))
    fake = FakeApi(inputs={0: photo})
    summary = await processor(fake).process(variant_message(), attempt=1)
    assert summary.done == 1
    engine = Engine()
    for number, concepts in enumerate(VARIANTS, 1):
        expected = engine.process(photo, concepts, PROTECT).result_image
        assert fake.uploads[f"/out/0v{number}"] == expected
        assert fake.upload_types[f"/out/0v{number}"] == "image/png"
    assert fake.uploads["/out/0"] == engine.process(photo, BASE, PROTECT).result_image
    # the variants go up before the result, so a stored result means stored variants
    assert list(fake.uploads)[:3] == ["/out/0v1", "/out/0v2", "/out/0"]


async def test_an_item_without_a_url_for_every_variant_fails_before_any_work() -> None:
    fake = FakeApi(inputs={0: jpeg_bytes(room_image(64, 48))})
    summary = await processor(fake).process(variant_message(urls=1), attempt=1)
    assert (summary.done, summary.failed) == (0, 1)
    assert [c["error"] for c in fake.callbacks] == [
        "the message has no upload URL for every variant"
    ]
    assert fake.uploads == {}


class PlainEngine:
    """An engine without instances (one concepts object a call): records each call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def process(
        self,
        input_bytes: bytes,
        concepts: Mapping[str, Mapping[str, str | None]],
        protect: Sequence[str],
        *,
        watermark: Watermark | None = None,
        output_format: OutputFormat = OutputFormat.PNG,
    ) -> EngineResult:
        self.calls.append(dict(concepts))
        render = f"render {len(self.calls)}".encode()
        return EngineResult(render, b"preview", 4, 3, segmented=tuple(concepts))


async def test_an_engine_without_variants_is_asked_once_per_variant() -> None:
    fake = FakeApi(inputs={0: b"jpeg"})
    engine = PlainEngine()
    summary = await processor(fake, engine).process(variant_message(), attempt=1)
    assert summary.done == 1
    assert engine.calls == [BASE, *VARIANTS]
    assert fake.uploads["/out/0"] == b"render 1"
    assert [fake.uploads["/out/0v1"], fake.uploads["/out/0v2"]] == [b"render 2", b"render 3"]


def set_message(variant_status: int) -> tuple[OutputSetMessage, dict[str, Any]]:
    """A one-photo draft set whose second variant answers `variant_status`, and what the
    storage and the callback saw."""
    seen: dict[str, Any] = {"uploads": {}, "reports": []}
    stored = {
        "/in": jpeg_bytes(room_image(160, 120)),
        "/out": encode_result(room_image(160, 120), OutputFormat.PNG),
        "/v1": encode_result(room_image(160, 120, variant=1), OutputFormat.PNG),
        "/v2": encode_result(room_image(160, 120, variant=2), OutputFormat.PNG),
    }

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "PUT":
            seen["uploads"][path] = request.content
            return httpx.Response(200)
        if request.method == "POST":
            seen["reports"].append(json.loads(request.content))
            return httpx.Response(200, json={"data": {"processed": True}})
        if path == "/v2" and variant_status != 200:
            return httpx.Response(variant_status)
        return httpx.Response(200, content=stored[path])

    names = ["modern", "natural", "hotel"]
    body = {
        "kind": "output_set",
        "set_id": "set-1",
        "job_id": "job-1",
        "preset": "interior",
        "template": "시안3안팩",
        "variants": [{"name": n, "label": n.upper(), "concepts": BASE} for n in names],
        "items": [
            {
                "idx": 0,
                "input_url": "http://storage/in",
                "output_url": "http://storage/out",
                "variant_urls": ["http://storage/v1", "http://storage/v2"],
            }
        ],
        "files": [
            *(
                {
                    "name": f"draft_0_{n}.jpg",
                    "role": "draft",
                    "idx": 0,
                    "variant": v,
                    "key": f"sets/draft_0_{n}.jpg",
                    "url": f"http://storage/set/{n}",
                }
                for v, n in enumerate(names)
            ),
            {
                "name": "draft_board_0.jpg",
                "role": "draft_board",
                "idx": 0,
                "key": "sets/draft_board_0.jpg",
                "url": "http://storage/set/board",
            },
        ],
        "zip_key": "sets/set.zip",
        "zip_url": "http://storage/set/zip",
        "callback_url": "http://api/sets/set-1/callback",
    }
    client = WorkerApiClient("http://api", "secret", FAST, transport=httpx.MockTransport(answer))
    seen["assembler"] = SetAssembler(client)
    return OutputSetMessage.model_validate(body), seen


async def test_an_assembled_draft_set_zips_every_variant_after_the_results() -> None:
    work, seen = set_message(200)
    assert await seen["assembler"].assemble(work, attempt=1)
    [report] = seen["reports"]
    assert report["status"] == "ready"
    archive = zipfile.ZipFile(io.BytesIO(seen["uploads"]["/set/zip"]))
    assert archive.namelist() == [
        "results/0_result.png",
        "results/0_variant_1.png",
        "results/0_variant_2.png",
        *(f"set/draft_0_{n}.jpg" for n in ("modern", "natural", "hotel")),
        "set/draft_board_0.jpg",
    ]
    assert archive.read("results/0_variant_2.png") == encode_result(
        room_image(160, 120, variant=2), OutputFormat.PNG
    )


async def test_a_variant_missing_from_storage_fails_the_set_with_its_reason() -> None:
    work, seen = set_message(404)
    assert await seen["assembler"].assemble(work, attempt=1)
    assert seen["reports"] == [
        {
            "set_id": "set-1",
            "status": "failed",
            "idempotency_key": "set-1:1",
            "error": "variant 2 of photo 0 is missing from storage",
        }
    ]
    assert seen["uploads"] == {}

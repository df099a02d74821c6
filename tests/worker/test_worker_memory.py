"""Bounded worker memory: the input size limit, the shared pixel budget, reduced decoding."""

from __future__ import annotations

import asyncio
import io

import httpx
import pytest
from PIL import Image

from s3api.worker import processing
from s3api.worker.api_client import WorkerApiClient
from s3api.worker.engine import Engine, decode_image
from s3api.worker.engine.codec import image_size, reduction_factor
from s3api.worker.memory import PixelBudget, release_memory
from s3api.worker.processing import MessageProcessor
from s3api.worker.settings import WorkerSettings
from tests.support.processing import FAST, FakeApi, RendezvousEngine, message


def png_of(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 90, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_of(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((width, height), 30).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


def processor_with(
    fake: FakeApi, engine: RendezvousEngine, *, max_input_pixels: int, pixel_budget: int
) -> MessageProcessor:
    client = WorkerApiClient("http://api", "secret", FAST, transport=httpx.MockTransport(fake))
    return MessageProcessor(
        client, engine, 4, max_input_pixels=max_input_pixels, pixel_budget=pixel_budget
    )


async def test_an_input_over_the_megapixel_limit_fails_with_the_reason_before_decoding() -> None:
    engine = RendezvousEngine(parties=1)
    fake = FakeApi(inputs={0: png_of(300, 200), 1: png_of(100, 100)})
    summary = await processor_with(
        fake, engine, max_input_pixels=50_000, pixel_budget=10**6
    ).process(message(2), attempt=1)
    assert (summary.done, summary.failed, summary.is_complete) == (1, 1, True)
    [failed] = [callback for callback in fake.callbacks if callback["status"] == "failed"]
    assert failed["idx"] == 0
    assert failed["error"] == "image is too large (300x200 = 0.1 MP, limit 0.05 MP)"
    assert engine.calls == 1
    assert "/out/0" not in fake.uploads


async def test_large_items_queue_on_the_pixel_budget_instead_of_running_together() -> None:
    engine = RendezvousEngine(parties=1)
    fake = FakeApi(inputs={idx: png_of(300, 200) for idx in range(3)})
    summary = await processor_with(
        fake, engine, max_input_pixels=10**6, pixel_budget=100_000
    ).process(message(3), attempt=1)
    assert summary.done == 3
    assert engine.most_running == 1


async def test_small_items_share_the_pixel_budget_and_run_together() -> None:
    engine = RendezvousEngine(parties=3)
    fake = FakeApi(inputs={idx: png_of(100, 100) for idx in range(3)})
    summary = await processor_with(
        fake, engine, max_input_pixels=10**6, pixel_budget=100_000
    ).process(message(3), attempt=1)
    assert summary.done == 3
    assert engine.most_running == 3


async def test_memory_is_given_back_after_a_large_item_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    released: list[bool] = []
    monkeypatch.setattr(processing, "LARGE_ITEM_PIXELS", 50_000)
    monkeypatch.setattr(processing, "release_memory", lambda: released.append(True))
    fake = FakeApi(inputs={0: png_of(300, 200), 1: png_of(100, 100)})
    processor = processor_with(
        fake, RendezvousEngine(parties=1), max_input_pixels=10**6, pixel_budget=10**6
    )
    await processor.process(message(2, batch_concurrency=1), attempt=1)
    assert released == [True]


def test_release_memory_runs() -> None:
    release_memory()


async def test_a_reservation_beyond_what_is_left_waits_for_a_release() -> None:
    budget = PixelBudget(100)
    acquired = asyncio.Event()

    async def second() -> None:
        async with budget.reserve(60):
            acquired.set()

    async with budget.reserve(60):
        waiting = asyncio.create_task(second())
        for _ in range(10):
            await asyncio.sleep(0)  # let the waiter run as far as it can
        assert not acquired.is_set()
        assert budget.available_pixels == 40
    await waiting
    assert acquired.is_set()
    assert budget.available_pixels == 100


async def test_a_reservation_larger_than_the_budget_takes_all_of_it() -> None:
    budget = PixelBudget(100)
    async with budget.reserve(10_000) as charge:
        assert charge == 100
        assert budget.available_pixels == 0
    assert budget.available_pixels == 100


async def test_waiters_are_served_in_arrival_order() -> None:
    budget = PixelBudget(100)
    order: list[str] = []

    async def take(name: str, pixels: int) -> None:
        async with budget.reserve(pixels):
            order.append(name)

    async with budget.reserve(90):
        large = asyncio.create_task(take("large", 80))
        await asyncio.sleep(0)
        small = asyncio.create_task(take("small", 5))  # would fit now, but arrived later
        for _ in range(10):
            await asyncio.sleep(0)
        assert order == []
    await asyncio.gather(large, small)
    assert order == ["large", "small"]


def test_image_size_reads_only_the_header() -> None:
    assert image_size(png_of(321, 123)) == (321, 123)


@pytest.mark.parametrize(
    ("width", "height", "limit", "factor"),
    [(400, 300, 120_000, 1), (400, 300, 40_000, 2), (10263, 7697, 50_000_000, 2), (5, 5, 1, 5)],
)
def test_the_reduction_factor_is_the_smallest_that_fits(
    width: int, height: int, limit: int, factor: int
) -> None:
    assert reduction_factor(width, height, limit) == factor
    reduced = -(-width // factor) * -(-height // factor)
    assert reduced <= limit


@pytest.mark.parametrize("encode", [png_of, jpeg_of], ids=["png", "jpeg"])
def test_an_input_over_the_working_size_is_decoded_reduced(
    encode: object,
) -> None:
    assert callable(encode)
    data: bytes = encode(800, 600)
    decoded = decode_image(data, max_work_pixels=40_000)
    assert decoded.shape == (150, 200, 3)
    assert decode_image(data).shape == (600, 800, 3)


def test_the_engine_edits_a_large_input_at_the_reduced_size() -> None:
    engine = Engine(max_work_pixels=40_000)
    result = engine.process(
        png_of(800, 600), {"Wall": {"action": "recolor", "value": "#AABBCC"}}, []
    )
    assert (result.width, result.height) == (200, 150)
    with Image.open(io.BytesIO(result.result_image)) as image:
        assert image.size == (200, 150)


def test_worker_settings_turn_megapixels_into_pixels() -> None:
    settings = WorkerSettings(
        _env_file=None,
        max_input_megapixels=80,
        worker_max_work_megapixels=50,
        worker_pixel_budget_megapixels=100,
    )
    assert (settings.max_input_pixels, settings.max_work_pixels, settings.pixel_budget) == (
        80_000_000,
        50_000_000,
        100_000_000,
    )

"""SAM 3 throughput on one device: the model alone, then the whole worker pipeline.

    python -m bench.gpu --model /models/sam3            # the released weights
    python -m bench.gpu --random-weights full           # same compute, no download
    python -m bench.gpu --random-weights tiny --device cpu --items 4 --rounds 1   # smoke

Model-only: photos/s of batched forward passes (vision encoder once per photo, cached text
features, decoders per photo and concept) at batch 1, 4, 8 and 16 with 1 and 4 concepts,
on inputs already resized to the model's side. Pipeline: a job of N photos at 1 MP and
12 MP through a local server (a separate process) and this process's pull worker: download
→ segment → apply → encode → upload → callback, photos/s from execute to done. The job
edits Floor and protects the interior defaults, so it is compared with the model-only
figure at WORKER_GPU_BATCH photos and 4 concepts.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.server import spawned_server
from bench.worker import photo_jpeg
from s3api.worker.engine.engine import Engine
from s3api.worker.engine.sam3 import PhotoRequest, Sam3Segmenter, build_sam3_engine
from s3api.worker.engine.sam3_random import save_random_sam3
from s3api.worker.pull_loop import run_pull_worker
from s3api.worker.settings import WorkerSettings

BATCHES = (1, 4, 8, 16)
CONCEPT_COUNTS = (1, 4)
PROMPTS = ("floor", "wall", "grout lines between tiles", "window")
PIPELINE_SIZES = {"1 MP": (1152, 864), "12 MP": (4000, 3000)}
PIPELINE_RULES: dict[str, Any] = {"concepts": {"Floor": {"action": "recolor", "value": "oak_a"}}}
PIPELINE_CONCEPTS = 4  # Floor + the interior preset's three protect defaults


def model_only(
    segmenter: Sam3Segmenter, rounds: int, batches: list[int]
) -> dict[tuple[int, int], float]:
    """Photos per second of `_run_batch` alone, by (batch, concepts)."""
    rng = np.random.default_rng(0)
    side = segmenter.image_size
    pixels = rng.standard_normal((3, side, side)).astype(np.float32)
    figures: dict[tuple[int, int], float] = {}
    print(f"model only ({side}x{side} input), photos/s:")
    for concepts in CONCEPT_COUNTS:
        for batch in batches:
            requests = [PhotoRequest(pixels, PROMPTS[:concepts])] * batch
            segmenter._run_batch(requests)  # warm-up, text features cached
            started = time.perf_counter()
            for _ in range(rounds):
                segmenter._run_batch(requests)  # ends with a device-to-host copy: synchronised
            elapsed = time.perf_counter() - started
            figures[(batch, concepts)] = batch * rounds / elapsed
            print(f"  batch {batch:>2}, {concepts} concept(s): {figures[(batch, concepts)]:8.2f}")
    return figures


async def _run_job(
    base_url: str, secret: str, engine: Engine, photos: list[bytes], batch: int
) -> float:
    """Photos per second of one job, execute → done, with this process as the worker."""
    settings = WorkerSettings(
        _env_file=None,
        worker_api_base_url=base_url,
        gpu_callback_secret=secret,
        worker_batch_concurrency=2 * batch,
        worker_poll_interval_seconds=0.05,
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(run_pull_worker(settings, stop, engine=engine))
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
            token = (await client.post("/auth/anon")).json()["data"]["token"]
            headers = {"Authorization": f"Bearer {token}"}
            created = await client.post(
                "/jobs", json={"preset": "interior", "item_count": len(photos)}, headers=headers
            )
            job = created.json()["data"]
            for entry, photo in zip(job["presigned_urls"], photos, strict=True):
                (await client.put(entry["url"], content=photo)).raise_for_status()
            job_url = f"/jobs/{job['job_id']}"
            await client.post(f"{job_url}/confirm-upload", headers=headers)
            started = time.perf_counter()
            executed = await client.post(f"{job_url}/execute", json=PIPELINE_RULES, headers=headers)
            executed.raise_for_status()
            while True:
                state = (await client.get(job_url, headers=headers)).json()["data"]["job"]
                if state["status"] in ("done", "failed", "canceled"):
                    break
                await asyncio.sleep(0.02)  # polling a remote server, not synchronisation
            elapsed = time.perf_counter() - started
            if state["status"] != "done":
                raise RuntimeError(f"job ended {state['status']}: {state['progress']}")
    finally:
        stop.set()
        await worker
    return len(photos) / elapsed


def pipeline(engine: Engine, items: int, batch: int, sizes: list[str]) -> dict[str, float]:
    """Photos per second of whole jobs through a local server, by photo size."""
    figures: dict[str, float] = {}
    concurrency = str(2 * batch)
    with (
        tempfile.TemporaryDirectory() as workdir,
        spawned_server(
            Path(workdir),
            None,
            {
                "EMBEDDED_WORKER": "false",
                "FREE_MAX_ITEMS_PER_JOB": str(items),
                "FREE_CREDITS": str(items * 10),
                "QUEUE_BATCH_CONCURRENCY": concurrency,
                "MAX_UPLOAD_BYTES": str(64 * 1024 * 1024),
            },
        ) as (base_url, secret),
    ):
        print(f"pipeline ({items} photos per job, {concurrency} items in flight), photos/s:")
        for label in sizes:
            width, height = PIPELINE_SIZES[label]
            photos = [photo_jpeg(width, height, seed=n) for n in range(items)]
            figures[label] = asyncio.run(_run_job(base_url, secret, engine, photos, batch))
            print(f"  {label:>6} ({width}x{height}): {figures[label]:8.2f}")
    return figures


def main() -> None:
    """Parse options, load or build the model, print both figures and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="SAM 3 checkpoint directory (or hub id)")
    source.add_argument("--random-weights", choices=["full", "tiny"])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--batch", type=int, default=16, help="WORKER_GPU_BATCH of the pipeline")
    parser.add_argument("--compile", action="store_true", help="WORKER_COMPILE=true")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--items", type=int, default=64, help="photos per pipeline job")
    parser.add_argument("--sizes", default="1 MP,12 MP", help="pipeline photo sizes")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        model = args.model or str(save_random_sam3(Path(scratch) / "sam3", args.random_weights))
        settings = WorkerSettings(
            _env_file=None,
            s3api_data_dir=Path(scratch) / "data",
            sam3_model=model,
            worker_device=args.device,
            worker_gpu_batch=args.batch,
            worker_compile=args.compile,
        )
        started = time.perf_counter()
        engine = build_sam3_engine(settings)
        segmenter = engine.segmenter
        assert isinstance(segmenter, Sam3Segmenter)
        print(f"loaded {model} in {time.perf_counter() - started:.1f} s")
        models = model_only(segmenter, args.rounds, sorted({*BATCHES, args.batch}))
        pipelines = pipeline(engine, args.items, args.batch, args.sizes.split(","))
    reference = models[(args.batch, PIPELINE_CONCEPTS)]
    for label, figure in pipelines.items():
        print(
            f"pipeline {label} / model-only (batch {args.batch}, {PIPELINE_CONCEPTS} concepts): "
            f"{figure:.2f} / {reference:.2f} = {figure / reference:.0%}"
        )


if __name__ == "__main__":
    main()

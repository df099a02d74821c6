"""Worker figures: engine throughput per core at 1 and 12 megapixels, and the end-to-end
latency of a 10-item job on the embedded default (server + in-process worker).

    python -m bench.worker                 # both
    python -m bench.worker --skip-e2e      # engine only
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import httpx
from PIL import Image

from bench.server import spawned_server
from s3api.worker.engine import Engine
from s3api.worker.engine.samples import room_image

CONCEPTS = {
    "Floor": {"action": "recolor", "value": "oak_a"},
    "Wall": {"action": "tone", "value": "warm"},
}
PROTECT = ["Grout", "Frame_Molding", "Glass_highlight"]
SIZES = {"1 MP": (1152, 864), "12 MP": (4000, 3000)}


def photo_jpeg(width: int, height: int, seed: int) -> bytes:
    """A synthetic room photo of this size with sensor-like noise, as a JPEG."""
    image = Image.fromarray(room_image(width, height, seed=seed))
    noise = Image.effect_noise((width, height), 12).convert("RGB")
    buffer = io.BytesIO()
    Image.blend(image, noise, 0.08).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def engine_throughput(rounds: int) -> None:
    """Items per second on one core (OpenCV limited to one thread)."""
    cv2.setNumThreads(1)
    engine = Engine()
    print("engine throughput, one core (cv2.setNumThreads(1)):")
    for label, (width, height) in SIZES.items():
        data = photo_jpeg(width, height, seed=3)
        engine.process(data, CONCEPTS, PROTECT)  # warm-up
        timings = []
        for _ in range(rounds):
            started = time.perf_counter()
            engine.process(data, CONCEPTS, PROTECT)
            timings.append(time.perf_counter() - started)
        median = statistics.median(timings)
        print(
            f"  {label:>6} ({width}x{height}): median {median:.3f} s/item "
            f"-> {1 / median:.2f} items/s per core (n={rounds})"
        )


def end_to_end_latency(items: int, width: int, height: int) -> None:
    """Seconds from `POST /jobs` to `done` for one job on the embedded default."""
    with (
        tempfile.TemporaryDirectory() as workdir,
        spawned_server(
            Path(workdir),
            None,
            {
                "EMBEDDED_WORKER": "true",
                "FREE_MAX_ITEMS_PER_JOB": str(items),
                "FREE_CREDITS": str(items * 2),
            },
        ) as (base_url, _secret),
        httpx.Client(timeout=60) as client,
    ):
        token = client.post(f"{base_url}/auth/anon").json()["data"]["token"]
        headers = {"Authorization": f"Bearer {token}"}
        photos = [photo_jpeg(width, height, seed=n) for n in range(items)]
        started = time.perf_counter()
        job = client.post(
            f"{base_url}/jobs", json={"preset": "interior", "item_count": items}, headers=headers
        ).json()["data"]
        for entry, photo in zip(job["presigned_urls"], photos, strict=True):
            client.put(entry["url"], content=photo).raise_for_status()
        uploaded = time.perf_counter()
        client.post(f"{base_url}/jobs/{job['job_id']}/confirm-upload", headers=headers)
        client.post(
            f"{base_url}/jobs/{job['job_id']}/execute", json={"concepts": CONCEPTS}, headers=headers
        ).raise_for_status()
        executed = time.perf_counter()
        status = "queued"
        while status not in ("done", "failed", "canceled"):
            time.sleep(0.1)
            status = client.get(f"{base_url}/jobs/{job['job_id']}", headers=headers).json()["data"][
                "job"
            ]["status"]
        finished = time.perf_counter()
    print(f"end-to-end, {items} items of {width}x{height}, embedded worker: status={status}")
    print(
        f"  create+upload {uploaded - started:.2f} s, execute->{status} {finished - executed:.2f} s,"
        f" total {finished - started:.2f} s"
    )


def main() -> None:
    """Parse options and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--e2e-items", type=int, default=10)
    args = parser.parse_args()
    engine_throughput(args.rounds)
    if not args.skip_e2e:
        end_to_end_latency(args.e2e_items, 1152, 864)


if __name__ == "__main__":
    main()

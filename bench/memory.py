"""Peak memory of the server with its embedded worker on large uploads.

Starts `s3api serve` (embedded worker, SQLite by default), uploads N single-colour PNGs of
about M megapixels as one job, executes it, waits for the job to end and prints the server
process's resident memory before, at its peak and afterwards (Linux: /proc VmRSS/VmHWM):

    python -m bench.memory                      # four 79 MP PNGs, as in the original report
    python -m bench.memory --images 2 --megapixels 40 --database-url postgresql+asyncpg://…
"""

from __future__ import annotations

import argparse
import io
import math
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

from bench.server import running_bench_server

CONCEPTS = {
    "Floor": {"action": "texture", "value": "oak_a"},
    "Wall": {"action": "recolor", "value": "#AABBCC"},
}
TERMINAL = ("done", "failed", "canceled")


def single_colour_png(megapixels: float) -> tuple[bytes, tuple[int, int]]:
    """A 4:3 PNG of one colour: a few hundred kilobytes that decode to `megapixels`."""
    height = round(math.sqrt(megapixels * 1_000_000 * 3 / 4))
    width = round(height * 4 / 3)
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (182, 160, 141)).save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue(), (width, height)


def memory_of(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MB."""
    figures: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(value.split()[0]) / 1024
    return figures


def run(args: argparse.Namespace) -> int:
    """Run one job of large PNGs through a spawned server; returns the exit status."""
    png, (width, height) = single_colour_png(args.megapixels)
    print(
        f"{args.images} PNG uploads of {width}x{height} ({width * height / 1e6:.1f} MP), "
        f"{len(png) / 1024:.0f} KB each"
    )
    environment = {
        "FREE_CREDITS": "1000",
        "FREE_MAX_ITEMS_PER_JOB": str(max(10, args.images)),
        "LOG_LEVEL": "WARNING",
    }
    with (
        tempfile.TemporaryDirectory() as workdir,
        running_bench_server(Path(workdir), args.database_url, environment) as server,
        httpx.Client(timeout=120) as client,
    ):
        before = memory_of(server.pid)
        print(f"server pid {server.pid}: RSS at start {before['VmRSS']:.0f} MB")
        token = client.post(f"{server.base_url}/auth/anon").json()["data"]["token"]
        headers = {"Authorization": f"Bearer {token}"}
        job = client.post(
            f"{server.base_url}/jobs",
            json={"preset": "interior", "item_count": args.images},
            headers=headers,
        ).json()["data"]
        job_url = f"{server.base_url}/jobs/{job['job_id']}"
        for entry in job["presigned_urls"]:
            client.put(entry["url"], content=png).raise_for_status()
        client.post(f"{job_url}/confirm-upload", headers=headers).raise_for_status()
        started = time.monotonic()
        client.post(
            f"{job_url}/execute", json={"concepts": CONCEPTS}, headers=headers
        ).raise_for_status()
        status, data = "queued", {}
        while status not in TERMINAL and time.monotonic() - started < args.timeout:
            time.sleep(0.5)  # polling a separate process for the job's end
            data = client.get(job_url, headers=headers).json()["data"]
            status = data["job"]["status"]
        elapsed = time.monotonic() - started
        after = memory_of(server.pid)
    items = data.get("job", {}).get("items", [])
    outcomes = ", ".join(f"{item['idx']}:{item['status']}" for item in items)
    print(f"job {status} in {elapsed:.1f} s (items {outcomes})")
    for item in items:
        if item.get("error"):
            print(f"  item {item['idx']}: {item['error']}")
    print(f"peak RSS {after['VmHWM']:.0f} MB, RSS after the job {after['VmRSS']:.0f} MB")
    if status != "done":
        return 1
    return 0 if after["VmHWM"] < args.limit_mb else 2


def main(argv: list[str] | None = None) -> None:
    """Parse options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--megapixels", type=float, default=79.0)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the job")
    parser.add_argument(
        "--limit-mb", type=float, default=1536.0, help="exit 2 when the peak is above"
    )
    raise SystemExit(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()

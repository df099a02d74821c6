"""Segmentation done once: a re-run's engine time per item against the first run's.

    python -m bench.segment_reuse                       # default engine and tiny SAM 3, 1 and 12 MP
    python -m bench.segment_reuse --engines default --sizes 1MP --rounds 1   # smoke

For each engine and size, one photo is edited as a first run does (Floor recoloured, the
interior preset's three protect defaults kept: 4 concepts segmented, their label maps
encoded to store), then as a re-run does (the same edit applied to those stored maps:
decoded and checked, nothing segmented). Both are `Engine.process` calls, decode to encode,
timed in this process; the figure is the median over `--rounds`, and the ratio is the
re-run's time over the first run's, measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.worker import photo_jpeg
from s3api.worker.engine.engine import Engine, EngineResult
from s3api.worker.settings import WorkerSettings

SIZES = {"1MP": (1152, 864), "12MP": (4000, 3000)}
RULES: dict[str, Any] = {"Floor": {"action": "recolor", "value": "oak_a"}}
PROTECT = ["Grout", "Frame_Molding", "Glass_highlight"]


def _engine(name: str, workdir: Path) -> Engine:
    if name == "default":
        return Engine()
    from s3api.worker.engine.sam3 import build_sam3_engine
    from s3api.worker.engine.sam3_random import save_random_sam3

    model = save_random_sam3(workdir / "tiny")
    settings = WorkerSettings(
        _env_file=None, s3api_data_dir=workdir, sam3_model=str(model), worker_device="cpu"
    )
    return build_sam3_engine(settings)


def _median_seconds(call: Callable[[], EngineResult], rounds: int) -> tuple[float, EngineResult]:
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    assert result is not None
    return statistics.median(times), result


def measure(engine: Engine, size: tuple[int, int], rounds: int) -> tuple[float, float]:
    """Seconds per item of the first run and of the re-run."""
    photo = photo_jpeg(*size, seed=3)
    first, computed = _median_seconds(
        lambda: engine.process(photo, RULES, PROTECT, stored_maps={}), rounds
    )
    stored = {name: label_map.png for name, label_map in computed.label_maps.items()}
    assert set(stored) == {*RULES, *PROTECT}
    rerun, reused = _median_seconds(
        lambda: engine.process(photo, RULES, PROTECT, stored_maps=stored), rounds
    )
    assert reused.segmented == ()
    assert reused.result_image == computed.result_image  # same maps, same pixels
    return first, rerun


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", nargs="+", default=["default", "sam3-tiny"])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'engine':<10} {'size':<5} {'first run s/item':>17} {'re-run s/item':>14} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.engines:
            engine = _engine(name, Path(workdir))
            for size_name in args.sizes:
                first, rerun = measure(engine, SIZES[size_name], args.rounds)
                print(
                    f"{name:<10} {size_name:<5} {first:>17.3f} {rerun:>14.3f} {rerun / first:>6.2f}"
                )


if __name__ == "__main__":
    main()

"""bench.edges at a small size: refine_mask beats bilinear-and-threshold on every scene."""

from __future__ import annotations

from bench.edges import run
from bench.scenes import SCENES


def test_refined_edges_beat_bilinear_on_every_drawn_scene() -> None:
    results = run(
        {"small": (576, 432)}, list(SCENES), map_side=144, tolerance={"small": 2}, repeats=1
    )
    for (_, name), row in results.items():
        assert row.refined.boundary_f1 >= 0.75, name
        assert row.refined.boundary_f1 > row.bilinear.boundary_f1, name
        assert row.refined.iou >= row.bilinear.iou, name

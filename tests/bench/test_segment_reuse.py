"""bench.segment_reuse at a small size: the re-run applies the stored maps, same pixels."""

from __future__ import annotations

from bench.segment_reuse import measure

from s3api.worker.engine import Engine


def test_a_rerun_on_stored_maps_gives_the_first_runs_result() -> None:
    first, rerun = measure(Engine(), (320, 240), rounds=1)  # asserts: nothing segmented
    assert first > 0
    assert rerun > 0

"""Analyze → execute with a selection → re-run, over real HTTP, checked pixel by pixel.

This module holds no tests. `run_instances_flow` drives a job of drawn rooms (three windows
each) against a served API whose worker (in-process or a separate `s3api worker`) does
the GPU side, and asserts what the issue's "done when" asks: listed instances match their
label maps, excluded and locked windows come back byte-identical, the other one is edited,
and the re-run segments nothing (the worker's segmentation metric). Each photo excludes its
first Window instance and locks its last.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from tests.support.drawn_windows import room_with_windows_png

DEADLINE_SECONDS = 120.0
BLUE_WINDOWS: dict[str, Any] = {
    "concepts": {"Window": {"action": "recolor", "value": "#3060A0"}},
    "protect": [],
}


def selection_for(ids: list[int]) -> dict[str, list[int]]:
    """Exclude the first instance, lock the last, edit the others."""
    if len(ids) >= 2:
        return {"exclude": [ids[0]], "lock": [ids[-1]]}
    return {"exclude": ids}


Segmentations = Callable[[], Awaitable[dict[str, float]]]
"""Reads the worker's `s3api_worker_segmentations_total` by source."""

_SAMPLE = re.compile(r'^s3api_worker_segmentations_total\{source="(\w+)"\} ([0-9.e+]+)$', re.M)


def segmentations_in(metrics_text: str) -> dict[str, float]:
    """The segmentation counters of a Prometheus text page."""
    found = {"computed": 0.0, "reused": 0.0}
    found.update({source: float(value) for source, value in _SAMPLE.findall(metrics_text)})
    return found


@dataclass(frozen=True)
class FlowResult:
    """What the flow produced, for further checks by the caller."""

    headers: dict[str, str]
    job_id: str
    rerun_id: str
    photos: list[bytes]
    selection: dict[str, dict[str, dict[str, list[int]]]]


def _pixels(data: bytes) -> NDArray[np.uint8]:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.uint8)


def _labels(data: bytes) -> NDArray[Any]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return np.asarray(Image.open(io.BytesIO(data)))


async def _job(http: httpx.AsyncClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    response = await http.get(f"/jobs/{job_id}", headers=headers)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()["data"]["job"]
    return job


async def _wait(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    job_id: str,
    settled: Callable[[dict[str, Any]], bool],
    explain: Callable[[], str],
) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        job = await _job(http, headers, job_id)
        if settled(job):
            return job
        assert time.monotonic() < deadline, f"job {job_id} stuck: {job}\n{explain()}"
        await asyncio.sleep(0.1)


def assert_instances_match_their_maps(document: dict[str, Any], labels: NDArray[Any]) -> list[int]:
    """Every listed instance is in its map with its exact area and a tight box; its ids."""
    assert labels.shape == (document["height"], document["width"])
    listed = document["concepts"]["Window"]
    ids = [int(entry["id"]) for entry in listed]
    assert ids == list(range(1, len(ids) + 1))
    assert sorted(int(v) for v in np.unique(labels) if v) == ids
    for entry in listed:
        pixels = labels == entry["id"]
        rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
        assert entry["area"] == int(np.count_nonzero(pixels))
        tight = [cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1]
        assert entry["bbox"] == [int(v) for v in tight]
        assert 0 <= entry["score"] <= 1
    return ids


def assert_selection_honoured(
    source: NDArray[np.uint8],
    result: NDArray[np.uint8],
    labels: NDArray[Any],
    chosen: dict[str, list[int]],
) -> None:
    """Excluded and locked instances byte-identical; the others edited."""
    kept = {*chosen.get("exclude", []), *chosen.get("lock", [])}
    for number in (int(v) for v in np.unique(labels) if v):
        pixels = labels == number
        if number in kept:
            assert np.array_equal(result[pixels], source[pixels]), number
        else:
            assert np.any(result[pixels] != source[pixels]), number


async def run_instances_flow(
    http: httpx.AsyncClient,
    segmentations: Segmentations,
    explain: Callable[[], str] = lambda: "",
    *,
    windows: int | None = 3,
) -> FlowResult:
    """The whole flow on two drawn rooms; `http` has the API's base URL.

    `windows` is how many Window instances the engine must find per photo (None: any
    number, for an engine with random weights)."""
    signed = await http.post("/auth/anon", headers={"Content-Type": "application/json"})
    assert signed.status_code == 200, signed.text
    headers = {"Authorization": f"Bearer {signed.json()['data']['token']}"}
    photos = [room_with_windows_png(seed) for seed in (5, 6)]
    created = await http.post(
        "/jobs", json={"preset": "interior", "item_count": len(photos)}, headers=headers
    )
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    for entry, photo in zip(data["presigned_urls"], photos, strict=True):
        uploaded = await http.put(entry["url"], content=photo)
        assert uploaded.status_code in (200, 201, 204), uploaded.text
    job_id = str(data["job_id"])
    confirmed = await http.post(f"/jobs/{job_id}/confirm-upload", headers=headers)
    assert confirmed.status_code == 200, confirmed.text

    before = await segmentations()
    analyzed = await http.post(f"/jobs/{job_id}/analyze", json=BLUE_WINDOWS, headers=headers)
    assert analyzed.status_code == 202, analyzed.text
    job = await _wait(
        http, headers, job_id, lambda j: j["analysis"]["status"] != "running", explain
    )
    assert (job["status"], job["analysis"]["status"]) == ("uploaded", "done"), job
    after_analysis = await segmentations()
    assert after_analysis["computed"] == before["computed"] + len(photos)
    maps: dict[int, NDArray[Any]] = {}
    selection: dict[str, dict[str, dict[str, list[int]]]] = {}
    for item in job["analysis"]["items"]:
        assert item["status"] == "done", item
        document = json.loads((await http.get(item["instances_url"])).content)
        maps[item["idx"]] = _labels((await http.get(item["masks"]["Window"])).content)
        ids = assert_instances_match_their_maps(document, maps[item["idx"]])
        if windows is not None:
            assert len(ids) == windows
        if ids:
            selection[str(item["idx"])] = {"Window": selection_for(ids)}
        overlay = Image.open(io.BytesIO((await http.get(item["overlay_url"])).content))
        assert overlay.format == "PNG"
        assert max(overlay.size) <= 512

    chosen = {**BLUE_WINDOWS, "instances": selection}
    executed = await http.post(f"/jobs/{job_id}/execute", json=chosen, headers=headers)
    assert executed.status_code == 202, executed.text
    job = await _wait(http, headers, job_id, lambda j: j["status"] in ("done", "failed"), explain)
    assert job["status"] == "done", job
    after_execute = await segmentations()
    assert after_execute["computed"] == after_analysis["computed"]
    assert after_execute["reused"] == after_analysis["reused"] + len(photos)
    await _check_results(http, job, photos, maps, selection)

    rerun = await http.post(f"/jobs/{job_id}/rerun", json=chosen, headers=headers)
    assert rerun.status_code == 202, rerun.text
    rerun_id = str(rerun.json()["data"]["job_id"])
    child = await _wait(
        http, headers, rerun_id, lambda j: j["status"] in ("done", "failed"), explain
    )
    assert child["status"] == "done", child
    after_rerun = await segmentations()
    assert after_rerun["computed"] == after_analysis["computed"]  # the re-run segmented nothing
    assert after_rerun["reused"] == after_execute["reused"] + len(photos)
    await _check_results(http, child, photos, maps, selection)
    return FlowResult(headers, job_id, rerun_id, photos, selection)


async def _check_results(
    http: httpx.AsyncClient,
    job: dict[str, Any],
    photos: list[bytes],
    maps: dict[int, NDArray[Any]],
    selection: dict[str, dict[str, dict[str, list[int]]]],
) -> None:
    assert [entry["idx"] for entry in job["download_urls"]] == list(range(len(photos)))
    for entry in job["download_urls"]:
        idx = entry["idx"]
        result = _pixels((await http.get(entry["output_url"])).content)
        chosen = selection.get(str(idx), {}).get("Window", {})
        assert_selection_honoured(_pixels(photos[idx]), result, maps[idx], chosen)

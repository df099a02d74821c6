"""`s3api demo` against a real server process, with a stand-in GPU side finishing the jobs."""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.support.demo import (
    GpuStandIn,
    api_data,
    image_format_of,
    invoke_demo,
    sign_in,
)
from tests.support.live import ServerProcess

pytestmark = pytest.mark.slow

JOB_ID = re.compile(r"Job ([0-9a-f-]{36}) queued")


def _job_id(output: str) -> str:
    match = JOB_ID.search(output)
    assert match, output
    return match.group(1)


def _row(output: str, label: str) -> str:
    """The value cell of a summary row."""
    match = re.search(rf"│ {re.escape(label)}\s+│ (.+?)\s+│", output)
    assert match, f"no {label!r} row in:\n{output}"
    return match.group(1)


def _image_bytes(image_format: str, colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), colour).save(buffer, format=image_format)
    return buffer.getvalue()


def test_demo_runs_sample_photos_to_done_and_saves_each_result(
    live_server: ServerProcess,
    gpu_stand_in: GpuStandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke_demo(
        "--server", live_server.base_url, "--device-hash", "demo-samples-0123456789"
    )

    assert result.exit_code == 0, result.output
    job_id = _job_id(result.output)
    assert gpu_stand_in.processed_job_ids == [job_id]
    out = tmp_path / "demo-output" / job_id
    for idx in range(3):
        assert image_format_of(out / "inputs" / f"sample_{idx:02d}.jpg") == "JPEG"
        assert image_format_of(out / f"{idx}_result.png") == "PNG"
        assert image_format_of(out / f"{idx}_thumb.jpg") == "JPEG"
    assert _row(result.output, "Status") == "done"
    assert _row(result.output, "Items") == "3 total, 3 done, 0 failed"
    assert _row(result.output, "Credits before") == "10"
    assert _row(result.output, "Credits after") == "7"
    assert _row(result.output, "Output folder") == str(out.resolve())
    assert "Rule 's3api demo (interior)' created" in result.output
    assert _row(result.output, "Edited") == "Floor: recolor oak_a, Wall: tone warm"
    assert _row(result.output, "Protected") == "Grout, Frame_Molding, Glass_highlight"


def test_second_run_with_the_same_device_hash_reuses_the_demo_rule(
    live_server: ServerProcess, gpu_stand_in: GpuStandIn, tmp_path: Path
) -> None:
    base = [
        "--server",
        live_server.base_url,
        "--device-hash",
        "demo-twice-0123456789",
        "--count",
        "1",
    ]
    first = invoke_demo(*base, "--out", str(tmp_path / "first"))
    second = invoke_demo(*base, "--out", str(tmp_path / "second"))

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "' created (" in first.output
    assert "' reused (" in second.output
    assert _row(second.output, "Credits before") == "9"
    assert _row(second.output, "Credits after") == "8"
    rules = api_data(
        live_server.base_url, "/rules", sign_in(live_server.base_url, "demo-twice-0123456789")
    )
    [rule] = rules["rules"]
    assert rule["name"] == "s3api demo (interior)"
    assert rule["concepts"] == {
        "Floor": {"action": "recolor", "value": "oak_a"},
        "Wall": {"action": "tone", "value": "warm"},
    }
    assert rule["protect"] == ["Grout", "Frame_Molding", "Glass_highlight"]
    assert f"({rule['id']})" in first.output
    assert f"({rule['id']})" in second.output


def test_full_rule_slots_make_the_demo_reuse_a_rule_of_the_preset(
    live_server: ServerProcess, gpu_stand_in: GpuStandIn, tmp_path: Path
) -> None:
    headers = sign_in(live_server.base_url, "demo-full-slots-0123456789")
    for name, preset, concept in (("mine", "interior", "Ceiling"), ("shop", "seller", "Logo")):
        created = httpx.post(
            f"{live_server.base_url}/rules",
            json={"name": name, "preset_id": preset, "concepts": {concept: {"action": "remove"}}},
            headers=headers,
        )
        assert created.status_code == 201, created.text

    result = invoke_demo(
        "--server",
        live_server.base_url,
        "--device-hash",
        "demo-full-slots-0123456789",
        "--count",
        "1",
        "--out",
        str(tmp_path),
    )

    assert result.exit_code == 0, result.output
    assert "Rule 'mine' reused" in result.output
    assert len(api_data(live_server.base_url, "/rules", headers)["rules"]) == 2


def test_photos_come_sorted_from_the_folder_skipping_non_images_and_honouring_count(
    live_server: ServerProcess, gpu_stand_in: GpuStandIn, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    inputs = {
        "a.png": _image_bytes("PNG", (200, 40, 40)),
        "b.jpg": _image_bytes("JPEG", (40, 200, 40)),
        "c.webp": _image_bytes("WEBP", (40, 40, 200)),
        "d.jpeg": _image_bytes("JPEG", (90, 90, 90)),
    }
    for name, content in inputs.items():
        (photos / name).write_bytes(content)
    (photos / "notes.txt").write_text("not a photo")
    (photos / "broken.jpg").write_text("not a jpeg either")
    out = tmp_path / "out"

    result = invoke_demo(
        "--server",
        live_server.base_url,
        "--photos",
        str(photos),
        "--count",
        "3",
        "--out",
        str(out),
    )

    assert result.exit_code == 0, result.output
    assert "Skipped notes.txt" in result.output
    assert "Skipped broken.jpg" in result.output
    assert _row(result.output, "Items") == "3 total, 3 done, 0 failed"
    # The stand-in GPU echoes each input as its preview: the idx ↔ file mapping is visible.
    for idx, name in enumerate(["a.png", "b.jpg", "c.webp"]):
        assert (out / f"{idx}_thumb.jpg").read_bytes() == inputs[name]
        assert image_format_of(out / f"{idx}_result.png") == "PNG"
    assert not (out / "3_result.png").exists()
    assert not (out / "inputs").exists()


def test_timeout_cancels_the_job_refunds_it_and_exits_1(
    live_server: ServerProcess, tmp_path: Path
) -> None:
    result = invoke_demo(
        "--server",
        live_server.base_url,
        "--device-hash",
        "demo-timeout-0123456789",
        "--count",
        "2",
        "--timeout",
        "2",
        "--out",
        str(tmp_path),
    )

    assert result.exit_code == 1, result.output
    assert "timed out after 2 s" in result.output
    assert _row(result.output, "Status") == "canceled (timed out)"
    assert _row(result.output, "Credits after") == "10"
    headers = sign_in(live_server.base_url, "demo-timeout-0123456789")
    [job] = api_data(live_server.base_url, "/jobs", headers)
    assert job["job_id"] == _job_id(result.output)
    assert job["status"] == "canceled"
    assert api_data(live_server.base_url, "/me", headers)["credits"] == 10


def test_api_errors_are_reported_with_their_code_and_message(
    live_server: ServerProcess, tmp_path: Path
) -> None:
    result = invoke_demo("--server", live_server.base_url, "--count", "11", "--out", str(tmp_path))

    assert result.exit_code == 1, result.output
    assert "error ITEM_LIMIT:" in result.output
    assert "Traceback" not in result.output

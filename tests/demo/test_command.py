"""`s3api demo` failing cleanly, and starting and stopping a local server of its own."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.support.demo import image_format_of, invoke_demo
from tests.support.live import free_port


def test_unreachable_server_is_a_clean_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = invoke_demo("--server", url, "--out", str(tmp_path))

    assert result.exit_code == 1, result.output
    assert f"error SERVER_UNREACHABLE: cannot reach {url}/health" in result.output
    assert "Traceback" not in result.output
    assert not any(tmp_path.iterdir())


def test_photo_folder_without_images_is_a_clean_error_before_any_request(
    tmp_path: Path,
) -> None:
    (tmp_path / "readme.txt").write_text("no photos here")
    unreachable = f"http://127.0.0.1:{free_port()}"

    result = invoke_demo("--server", unreachable, "--photos", str(tmp_path))

    assert result.exit_code == 1, result.output
    assert f"error NO_PHOTOS: no JPEG, PNG or WebP images in {tmp_path}" in result.output


@pytest.mark.slow
def test_without_server_it_runs_its_own_and_stops_it_after_timing_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # No worker in the started server, so the job can only time out (whatever the default).
    monkeypatch.setenv("EMBEDDED_WORKER", "false")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")

    result = invoke_demo("--count", "1", "--timeout", "2")

    assert result.exit_code == 1, result.output
    started = re.search(r"Starting a local server at (http://127\.0\.0\.1:\d+)", result.output)
    ready = re.search(r"Local server ready \(pid (\d+)\)", result.output)
    assert started, result.output
    assert ready, result.output
    assert "queued" in result.output
    assert "timed out after 2 s" in result.output
    assert f"Local server stopped (pid {ready.group(1)})" in result.output
    with pytest.raises(ProcessLookupError):
        os.kill(int(ready.group(1)), 0)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{started.group(1)}/health")
    assert (tmp_path / "demo-data" / "s3api.db").is_file()


@pytest.mark.slow
def test_on_the_embedded_default_the_demo_completes_and_leaves_results_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EMBEDDED_WORKER", raising=False)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")

    result = invoke_demo("--count", "2", "--timeout", "120")

    assert result.exit_code == 0, result.output
    [job_folder] = (tmp_path / "demo-output").iterdir()
    for idx in range(2):
        assert image_format_of(job_folder / f"{idx}_result.png") == "PNG"
        assert image_format_of(job_folder / f"{idx}_thumb.jpg") == "JPEG"
    assert re.search(r"Credits before\s*│\s*10\b", result.output), result.output
    assert re.search(r"Credits after\s*│\s*8\b", result.output), result.output


@pytest.mark.slow
def test_the_demo_asks_for_a_template_and_saves_the_set_where_it_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EMBEDDED_WORKER", raising=False)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")

    result = invoke_demo("--count", "2", "--timeout", "120", "--template", "전후비교")

    assert result.exit_code == 0, result.output
    [job_folder] = (tmp_path / "demo-output").iterdir()
    package = job_folder / "set_package.zip"
    assert "Output set 전후비교 is ready: 2 files" in " ".join(result.output.split())
    with zipfile.ZipFile(package) as archive:
        assert [name for name in archive.namelist() if name.startswith("set/")] == [
            "set/before_after_0.jpg",
            "set/before_after_1.jpg",
        ]


@pytest.mark.slow
def test_the_demo_asks_for_an_option_board_in_the_colours_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EMBEDDED_WORKER", raising=False)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.setenv("FREE_TEMPLATES", "*")  # a self-hoster's free plan with every template

    result = invoke_demo(
        "--count", "1", "--preset", "seller", "--template", "옵션보드",
        "--options", "navy, charcoal,#C0392B", "--timeout", "120",
    )  # fmt: skip

    output = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "template 옵션보드 in 3 options" in output
    assert "Output set 옵션보드 is ready: 4 files" in output
    [job_folder] = (tmp_path / "demo-output").iterdir()
    with zipfile.ZipFile(job_folder / "set_package.zip") as archive:
        assert archive.namelist() == [
            "results/0_result.png",
            "results/0_variant_1.png",
            "results/0_variant_2.png",
            "set/option_0_1.jpg",
            "set/option_0_2.jpg",
            "set/option_0_3.jpg",
            "set/option_board_0.jpg",
        ]

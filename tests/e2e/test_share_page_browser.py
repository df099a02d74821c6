"""The share page in a real browser: headless Chromium of the distribution, driven by
Playwright, against a server process whose embedded worker ran the job.

Locally the test skips without a browser; under `CI=true` a missing browser fails it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support.client_side import auth, sign_in
from tests.support.live import free_port, running_server, server_environment
from tests.support.worker import room_jpegs
from tests.support.worker_processes import is_terminal, start_photo_job, wait_for_job

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EDITS: dict[str, Any] = {
    "concepts": {
        "Floor": {"action": "texture", "value": "oak_a"},
        "Wall": {"action": "recolor", "value": "sage_green"},
        "Cabinet": {"action": "tone", "value": "warm"},
        "Light": {"action": "remove"},
    },
    "protect": ["Grout", "Window"],
}
PHOTOS = 2


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: the browser test is required in CI")
    pytest.skip(f"{reason}: skipping the browser test")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium from the system's packages (Playwright's own download is not used)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    if shutil.which(CHROMIUM) is None:
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _images_loaded(page: Page) -> list[int]:
    """Scroll every image into view (they load lazily) and return their natural widths."""
    for image in page.locator("img").all():
        image.scroll_into_view_if_needed()
    page.wait_for_function("[...document.images].every((image) => image.complete)")
    widths: list[int] = page.eval_on_selector_all("img", "(all) => all.map((i) => i.naturalWidth)")
    return widths


def _revealed(page: Page) -> tuple[str, float]:
    """The first pair's slider value and how far from the photo's left edge its divider is,
    as a fraction of the photo's width."""
    sides = page.locator(".pair .sides").first.bounding_box()
    divider = page.locator(".pair .divider").first.bounding_box()
    assert sides is not None
    assert divider is not None
    value = page.locator(".pair .slider").first.input_value()
    return value, (divider["x"] + divider["width"] / 2 - sides["x"]) / sides["width"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_share_page_loads_its_images_moves_its_slider_and_closes_when_revoked(
    browser: Browser, migrated_url: str, tmp_path: Path
) -> None:
    port = free_port()
    environment = server_environment(
        tmp_path / "data",
        migrated_url,
        port,
        EMBEDDED_WORKER="true",
        WORKER_POLL_INTERVAL_SECONDS="0.1",
    )
    with running_server(environment, port, tmp_path) as server, httpx.Client(timeout=30) as client:
        user = sign_in(client, server.base_url)
        job_id = start_photo_job(client, server.base_url, user, room_jpegs(PHOTOS), EDITS)
        job = wait_for_job(client, server.base_url, user, job_id, is_terminal)
        assert job["status"] == "done", job
        shared = client.post(f"{server.base_url}/jobs/{job_id}/share", headers=auth(user))
        assert shared.status_code == 201, shared.text
        url = shared.json()["data"]["url"]

        page = browser.new_page(viewport={"width": 900, "height": 1000})
        refusals: list[str] = []
        page.on(
            "console",
            lambda message: (
                refusals.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        failed: list[str] = []
        page.on(
            "response",
            lambda response: (
                failed.append(response.url)
                if response.status >= 400 and not response.url.endswith("/favicon.ico")
                else None
            ),
        )
        opened = page.goto(url)
        assert opened is not None
        assert opened.status == 200
        widths = _images_loaded(page)
        assert len(widths) == 2 * PHOTOS
        assert all(width > 0 for width in widths), widths
        assert refusals == [], "the page broke its own Content-Security-Policy"
        assert failed == []
        for concept in EDITS["concepts"]:
            assert page.locator(".palette .concept", has_text=concept).count() == 1
        page.screenshot(path=str(tmp_path / "share-page.png"), full_page=True)

        # the slider: a range over the photo, by keyboard and by drag
        page.locator(".pair").first.scroll_into_view_if_needed()
        value, at = _revealed(page)
        assert value == "50"
        assert at == pytest.approx(0.5, abs=0.02)
        clip = page.locator(".pair .after").first.evaluate("(node) => node.style.clipPath")
        assert clip == "inset(0px 0px 0px 50%)"
        page.locator(".pair .slider").first.focus()
        for _ in range(10):
            page.keyboard.press("ArrowLeft")
        value, at = _revealed(page)
        assert value == "40"
        assert at == pytest.approx(0.4, abs=0.02)
        box = page.locator(".pair .sides").first.bounding_box()
        assert box is not None
        middle = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.4, middle)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.8, middle, steps=8)
        page.mouse.up()
        value, at = _revealed(page)
        assert int(value) == pytest.approx(80, abs=3)
        assert at == pytest.approx(0.8, abs=0.04)
        page.locator(".pair .slider").first.focus()
        page.keyboard.press("Home")
        value, at = _revealed(page)
        assert value == "0"
        assert at == pytest.approx(0.0, abs=0.02)

        revoked = client.delete(f"{server.base_url}/jobs/{job_id}/share", headers=auth(user))
        assert revoked.status_code == 200, revoked.text
        closed = page.goto(url)
        assert closed is not None
        assert closed.status == 404
        assert page.locator("img").count() == 0
        assert "not available" in page.locator("h1").inner_text()
        page.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_without_javascript_the_pairs_show_side_by_side(
    browser: Browser, migrated_url: str, tmp_path: Path
) -> None:
    port = free_port()
    environment = server_environment(
        tmp_path / "data",
        migrated_url,
        port,
        EMBEDDED_WORKER="true",
        WORKER_POLL_INTERVAL_SECONDS="0.1",
    )
    with running_server(environment, port, tmp_path) as server, httpx.Client(timeout=30) as client:
        user = sign_in(client, server.base_url)
        job_id = start_photo_job(client, server.base_url, user, room_jpegs(1), EDITS)
        assert wait_for_job(client, server.base_url, user, job_id, is_terminal)["status"] == "done"
        shared = client.post(f"{server.base_url}/jobs/{job_id}/share", headers=auth(user))
        url = shared.json()["data"]["url"]
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        opened = page.goto(url)
        assert opened is not None
        assert opened.status == 200
        assert all(width > 0 for width in _images_loaded(page))
        assert not page.locator(".slider").is_visible()
        before = page.locator(".before img").bounding_box()
        after = page.locator(".after img").bounding_box()
        assert before is not None
        assert after is not None
        assert after["x"] >= before["x"] + before["width"]  # beside it, not over it
        assert after["y"] == pytest.approx(before["y"], abs=1)
        context.close()

        data = client.delete(f"{server.base_url}/jobs/{job_id}", headers=auth(user))
        assert data.status_code == 200, data.text
        page = browser.new_page()
        closed = page.goto(url)
        assert closed is not None
        assert closed.status == 404
        page.close()

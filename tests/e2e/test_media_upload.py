"""Uploading a site-visit recording in a real browser: the send progress, the packaging
progress, then the listed package; on a desktop and on a phone-sized screen."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import imageio_ffmpeg  # type: ignore[import-untyped]
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import LiveServer, keep_on_loopback, serve_event
from tests.factories import make_spec

pytestmark = pytest.mark.e2e

PACKAGING_MS = 120_000  # a 2 s clip in three renditions, on a busy 2-core machine


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s, 1280x720 recording with sound (three renditions), with a person's file name."""
    path = tmp_path_factory.mktemp("clips") / "Site visit – Sejong data centre.mp4"
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        *("-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=10:duration=2"),
        *("-f", "lavfi", "-i", "sine=frequency=440:duration=2"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-crf", "10", "-pix_fmt", "yuv420p"),
        *("-c:a", "aac", "-shortest", str(path)),
    ]
    subprocess.run(command, check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The test event served with a media directory of its own (never the project's)."""
    var_dir = tmp_path_factory.mktemp("e2e-media-var")
    media = {"STUDYMISSION_MEDIA_DIR": str(var_dir / "media")}
    with serve_event(var_dir, make_spec(), "2021-11-24T04:30:00Z", settings=media) as live:
        yield live


def open_page(browser: Browser, server: LiveServer, width: int) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 900})
    keep_on_loopback(context)
    page = context.new_page()
    page.goto(server.join_links["sec1"])
    page.goto(f"{server.base_url}/events/TEST-EVENT-1/media")
    expect(page.locator("h1")).to_have_text("Recordings for the virtual site visit")
    return page


def assert_fits(page: Page, width: int) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {width}px"


def test_upload_shows_progress_then_the_package(
    browser: Browser, server: LiveServer, clip: Path, artifacts: Path
) -> None:
    page = open_page(browser, server, 1280)
    # A slow uplink, so that the send progress can be seen (a hotel network, say).
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    rate = clip.stat().st_size // 4  # about four seconds to send
    conditions = {
        "offline": False,
        "latency": 0,
        "downloadThroughput": -1,
        "uploadThroughput": rate,
    }
    network.send("Network.emulateNetworkConditions", conditions)

    page.locator("#upload-file").set_input_files(clip)
    expect(page.locator("#upload-name")).to_have_value("site-visit-sejong-data-centre")
    page.get_by_role("button", name="Upload and package").click()

    bar = page.locator("#upload-progress")
    expect(bar).to_be_visible()
    # A function, not an expression: Playwright evaluates a bare expression string with
    # eval() in the page, which the Content-Security-Policy refuses.
    page.wait_for_function(
        "() => document.querySelector('#upload-progress').value >= 20", timeout=15_000
    )
    expect(page.locator("#upload-status")).to_contain_text("Sending the recording:")
    page.screenshot(path=str(artifacts / "media-sending-desktop.png"), full_page=True)

    job = page.locator("#jobs li.job").first
    expect(job).to_have_attribute("data-status", "done", timeout=PACKAGING_MS)
    expect(bar).to_be_hidden()
    expect(job).to_contain_text("Packaged as version")
    expect(job).to_contain_text("360p · 540p · 720p, 00:02.")
    row = page.locator("#package-list tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("th")).to_have_text("site-visit-sejong-data-centre")
    expect(row.locator("td").nth(1)).to_have_text("360p · 540p · 720p")
    expect(page.locator("#upload-name")).to_have_value("")  # the form is ready for the next
    assert_fits(page, 1280)
    page.screenshot(path=str(artifacts / "media-packaged-desktop.png"), full_page=True)
    page.context.close()


def test_a_failed_packaging_reads_on_a_phone(
    browser: Browser, server: LiveServer, artifacts: Path, tmp_path: Path
) -> None:
    notes = tmp_path / "Meeting notes.txt"
    notes.write_text("Minutes of the planning meeting\n" * 40)
    page = open_page(browser, server, 375)
    page.locator("#upload-file").set_input_files(notes)
    expect(page.locator("#upload-name")).to_have_value("meeting-notes")
    page.get_by_role("button", name="Upload and package").click()
    job = page.locator("#jobs li.job").first
    expect(job).to_have_attribute("data-status", "failed", timeout=PACKAGING_MS)
    expect(job.locator(".job__problems li").first).not_to_be_empty()
    expect(job.locator(".badge")).to_have_text("Failed")
    assert_fits(page, 375)
    page.screenshot(path=str(artifacts / "media-failed-phone.png"), full_page=True)
    page.context.close()

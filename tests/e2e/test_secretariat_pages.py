"""The secretariat's pages in a real browser, on a desktop and a phone-sized screen."""

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import LiveServer, keep_on_loopback

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("label", "width"), [("desktop", 1280), ("phone", 375)])
def test_secretariat_pages_fit_and_read(
    browser: Browser, live_server: LiveServer, artifacts: Path, label: str, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    keep_on_loopback(context)
    page = context.new_page()
    page.goto(live_server.join_links["sec1"])
    pages = {
        "event": ("/secretariat", "Study Mission on Data Governance"),
        "programme": ("/secretariat/programme", "Benefits and challenges"),
        "people": ("/secretariat/people", "Şebnem Yıldız"),
    }
    for name, (path, text) in pages.items():
        page.goto(f"{live_server.base_url}/events/TEST-EVENT-1{path}")
        expect(page.locator("main")).to_contain_text(text)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"
        page.screenshot(path=str(artifacts / f"secretariat-{name}-{label}.png"), full_page=True)
    context.close()

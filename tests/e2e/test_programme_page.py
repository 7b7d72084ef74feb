"""A participant opens their join link and reads the programme in a chosen time zone."""

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import LiveServer, keep_on_loopback

pytestmark = pytest.mark.e2e


def _slot_times(page: Page, key: str) -> tuple[str, str]:
    row = page.locator(f"tr[data-key='{key}']")
    return row.locator("td").nth(0).inner_text(), row.locator("td").nth(1).inner_text()


def test_programme_follows_the_browser_then_a_chosen_time_zone(
    browser: Browser, live_server: LiveServer, artifacts: Path
) -> None:
    # The browser lives in Kathmandu (+05:45); the participant is from Viet Nam.
    context = browser.new_context(
        timezone_id="Asia/Kathmandu", viewport={"width": 1280, "height": 900}
    )
    keep_on_loopback(context)
    page = context.new_page()
    page.goto(live_server.join_links["p001"])

    expect(page.locator("h1")).to_have_text("Study Mission on Data Governance")
    # Detected from the browser and saved: 13:00 in Seoul is 09:45 in Kathmandu.
    expect(page.locator("#tz-note")).to_contain_text("Asia/Kathmandu (UTC+05:45)")
    assert _slot_times(page, "d1-intro") == ("09:45–10:45", "13:00–14:00")
    # The event clock stands at 13:30 in Seoul: the introduction is on now, the break next.
    expect(page.locator("#now")).to_contain_text("Introduction")
    expect(page.locator("#next")).to_contain_text("Break")
    expect(page.locator("tr[data-key='d1-intro']")).to_have_attribute("aria-current", "time")
    page.screenshot(path=str(artifacts / "programme-kathmandu-desktop.png"), full_page=True)

    # By keyboard: choose Fiji (+12 in November 2021) and submit.
    page.locator("#tz").focus()
    page.locator("#tz").select_option("Pacific/Fiji")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#tz-note")).to_contain_text("Pacific/Fiji (UTC+12)")
    assert _slot_times(page, "d1-intro") == ("16:00–17:00", "13:00–14:00")

    # The choice is remembered on a fresh load, and the page fits a phone.
    page.set_viewport_size({"width": 375, "height": 812})
    page.reload()
    expect(page.locator("#tz")).to_have_value("Pacific/Fiji")
    assert _slot_times(page, "d2-visit") == ("16:00–17:00", "13:00–14:00")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    page.screenshot(path=str(artifacts / "programme-fiji-phone.png"), full_page=True)
    context.close()


def test_unknown_join_link_gets_404_and_no_cookie(
    browser: Browser, live_server: LiveServer
) -> None:
    context = browser.new_context()
    keep_on_loopback(context)
    page = context.new_page()
    response = page.goto(f"{live_server.base_url}/join/not-a-real-token")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    assert context.cookies() == []
    context.close()

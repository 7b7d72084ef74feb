"""The live stage in a real browser: the Jitsi conference the server names, moved by the
moderator's run of show, reporting presence, and surviving a video script that fails.

The page loads ``https://meet.test/external_api.js``; the browser is answered with the
stand-in of ``stand_ins/external_api.js`` (the IFrame API's constructor, events and
``dispose``), and every other request off loopback is refused, so no test reaches Jitsi.
"""

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from studymission.integrations.jitsi import room_name
from tests.conftest import TEST_SECRET
from tests.e2e.conftest import LiveServer, keep_on_loopback, serve_event
from tests.factories import make_spec

CODE = "TEST-EVENT-1"
DOMAIN = "meet.test"
APP_ID = "studymission-e2e"
APP_SECRET = "an-e2e-jitsi-app-secret-of-32-bytes"
#: Event time runs 20 times faster: a minute of the presence log every 3 real seconds.
SCALE = 20
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Day 1 at 13:05 in Seoul, self-hosted Jitsi mode at meet.test, time scale 20."""
    with serve_event(
        tmp_path_factory.mktemp("e2e-stage"),
        make_spec(),
        "2021-11-24T04:05:00Z",
        settings={
            "STUDYMISSION_JITSI_MODE": "self_hosted",
            "STUDYMISSION_JITSI_DOMAIN": DOMAIN,
            "STUDYMISSION_JITSI_APP_ID": APP_ID,
            "STUDYMISSION_JITSI_APP_SECRET": APP_SECRET,
            "STUDYMISSION_TIME_SCALE": str(SCALE),
        },
    ) as served:
        yield served


class Staff:
    """A moderator's browser session, driven over HTTP (the JSON API with cookie + CSRF)."""

    def __init__(self, server: LiveServer, key: str = "mod1") -> None:
        self.client = httpx.Client(base_url=server.base_url, follow_redirects=True, timeout=10)
        page = self.client.get(server.join_links[key])
        match = _CSRF.search(page.text)
        assert match, "the moderator's page carries no CSRF token"
        self.csrf = match.group(1)

    def switch(self, **body: Any) -> dict[str, Any]:
        answer = self.client.post(
            f"/api/events/{CODE}/sessions/day1/mode",
            json=body,
            headers={"X-CSRF-Token": self.csrf},
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def get(self, path: str, **params: str) -> Any:
        answer = self.client.get(path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def staff(server: LiveServer) -> Iterator[Staff]:
    moderator = Staff(server)
    # Every test starts with the introduction on stage, whatever the clock says.
    moderator.switch(mode="stage", item="d1-intro")
    yield moderator
    moderator.client.close()


def _context(browser: Browser, size: dict[str, int], *, video: bool = True) -> BrowserContext:
    context = browser.new_context(viewport=size)  # type: ignore[arg-type]
    keep_on_loopback(context, video_domain=DOMAIN, video=video)
    return context


def _participant(browser: Browser, server: LiveServer, key: str, size: dict[str, int]) -> Page:
    page = _context(browser, size).new_page()
    page.goto(server.join_links[key])
    _wait_joined(page)
    return page


def _wait_joined(page: Page, timeout: float = 10_000) -> None:
    page.wait_for_function(
        "() => document.getElementById('stage').dataset.inRoom === 'true'", timeout=timeout
    )


def _conference(page: Page) -> dict[str, Any]:
    """What the page handed the IFrame API of its current conference."""
    found: dict[str, Any] | None = page.evaluate(
        """() => {
          const api = window.__jitsi && window.__jitsi.current;
          if (!api) return null;
          return {domain: api.domain, roomName: api.roomName, jwt: api.jwt,
                  created: window.__jitsi.created.length,
                  disposed: window.__jitsi.created.filter((a) => a.disposed).length,
                  inFrame: !!document.querySelector('.stage__video iframe'),
                  startMuted: api.options.configOverwrite.startWithVideoMuted,
                  commands: api.commands};
        }"""
    )
    assert found is not None, "no conference on the page"
    return found


def _mode_shown(page: Page) -> str:
    return str(page.locator(".stage__mode").inner_text())


def test_participant_joins_the_room_the_server_named_with_its_token(
    browser: Browser, server: LiveServer, staff: Staff, artifacts: Path
) -> None:
    page = _participant(browser, server, "p001", DESKTOP)
    conference = _conference(page)
    main = room_name(TEST_SECRET, CODE, "day1", "main")
    assert (conference["domain"], conference["roomName"]) == (DOMAIN, main)
    assert conference["inFrame"] is True
    # The token is the server's, for this person and this room, as Prosody would check it.
    claims = jwt.decode(
        conference["jwt"],
        APP_SECRET,
        algorithms=["HS256"],
        audience="jitsi",
        issuer=APP_ID,
        options={"require": ["exp", "iat", "nbf", "room", "sub", "context"]},
    )
    assert claims["room"] == main
    assert claims["sub"] == DOMAIN
    assert claims["context"]["user"]["id"] == "p001"
    assert claims["context"]["user"]["moderator"] == "false"
    assert 60 * 10 <= claims["exp"] - claims["iat"] <= 24 * 3600
    assert _mode_shown(page) == "Main stage"
    assert page.locator(".stage__item").inner_text() == "Introduction"
    assert page.locator(".stage__speakers").inner_text() == "Kim Min-jun"
    assert page.locator(".stage__rejoin").is_hidden()
    assert "You are in the room" in page.locator(".stage__message").inner_text()
    # The roster hears the conference's word: in the room, in main.
    deadline = time.monotonic() + 10
    while True:
        roster = {r["key"]: r for r in staff.get(f"/api/events/{CODE}/roster")}
        if roster.get("p001", {}).get("in_room"):
            break
        assert time.monotonic() < deadline, f"p001 never in the room: {roster.get('p001')}"
        time.sleep(0.2)
    assert roster["p001"]["room"] == "main"
    page.screenshot(path=str(artifacts / "stage-live-desktop.png"), full_page=True)
    page.context.close()


def test_low_bandwidth_switch_turns_video_off_and_is_kept(
    browser: Browser, server: LiveServer, staff: Staff, artifacts: Path
) -> None:
    page = _participant(browser, server, "p002", PHONE)
    box = page.locator(".stage__low-bandwidth")
    assert not box.is_checked()
    box.focus()
    page.keyboard.press("Space")
    page.wait_for_function(
        "() => window.__jitsi.current.commands.some((c) => c[0] === 'toggleVideo')"
    )
    commands = _conference(page)["commands"]
    assert ["setVideoQuality", 180] in commands
    assert ["toggleVideo"] in commands
    # Kept for the person: the next page starts with video off.
    page.wait_for_timeout(300)
    page.reload()
    _wait_joined(page)
    assert page.locator(".stage__low-bandwidth").is_checked()
    assert _conference(page)["startMuted"] is True
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the live page scrolls sideways by {overflow}px on a phone"
    page.screenshot(path=str(artifacts / "stage-live-phone.png"), full_page=True)
    page.locator(".stage__low-bandwidth").uncheck()
    page.wait_for_timeout(300)
    page.context.close()


def test_moderator_switch_moves_two_open_pages(
    browser: Browser, server: LiveServer, staff: Staff, artifacts: Path
) -> None:
    first = _participant(browser, server, "p001", DESKTOP)
    second = _participant(browser, server, "p002", PHONE)
    console = _context(browser, DESKTOP).new_page()
    console.goto(server.join_links["mod1"])
    console.goto(f"{server.base_url}/events/{CODE}/console")
    console.wait_for_function("() => window.studymissionLive.state === 'connected'")
    main = room_name(TEST_SECRET, CODE, "day1", "main")

    def follows(page: Page, script: str) -> float:
        started = time.monotonic()
        page.wait_for_function(script, timeout=1000)
        return time.monotonic() - started

    # The console's Break button: both pages say so within a second, and keep their call.
    console.get_by_role("button", name="Break", exact=True).click()
    lag = [
        follows(p, "() => document.getElementById('stage').dataset.mode === 'break'")
        for p in (first, second)
    ]
    assert max(lag) < 1.0, lag  # 0.07–0.11 s here
    assert [_mode_shown(p) for p in (first, second)] == ["Break", "Break"]
    assert all(_conference(p)["disposed"] == 0 for p in (first, second))
    console.wait_for_selector("#show .button--mode[aria-pressed='true']:has-text('Break')")

    # The site visit is a stream, not a call: the conference is disposed, the room changes.
    console.get_by_role("button", name="Virtual site visit", exact=True).click()
    for page in (first, second):
        follows(page, "() => document.getElementById('stage').dataset.room === 'site-visit'")
        assert page.evaluate("window.__jitsi.current") is None
        assert page.evaluate("window.__jitsi.created.every((a) => a.disposed)") is True
        assert page.locator(".stage__video iframe").count() == 0

    # Back on stage: each page joins the main room again, without a reload.
    marker = first.evaluate("window.__pageMarker = 'same page'")
    console.get_by_role("button", name="Main stage", exact=True).click()
    for page in (first, second):
        follows(page, "() => document.getElementById('stage').dataset.room === 'main'")
        _wait_joined(page, timeout=3000)
        conference = _conference(page)
        assert (conference["roomName"], conference["created"]) == (main, 2)
    assert first.evaluate("window.__pageMarker") == "same page", marker

    # An agenda item put on from the console: the item's title shows on every page.
    console.locator("li[data-key='d1-benefits'] button").click()
    for page in (first, second):
        page.wait_for_function(
            "() => document.querySelector('.stage__item').textContent === "
            "'Benefits and challenges'",
            timeout=2000,
        )
    console.screenshot(path=str(artifacts / "stage-console-desktop.png"), full_page=True)
    console.set_viewport_size(PHONE)
    overflow = console.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the console scrolls sideways by {overflow}px on a phone"
    console.screenshot(path=str(artifacts / "stage-console-phone.png"), full_page=True)
    first.screenshot(path=str(artifacts / "stage-live-after-switches.png"), full_page=True)
    for page in (first, second, console):
        page.context.close()


def test_leaving_the_call_turns_in_room_off_in_the_presence_log(
    browser: Browser, server: LiveServer, staff: Staff
) -> None:
    page = _participant(browser, server, "p001", DESKTOP)
    # Three event minutes in the room (9 real seconds at scale 20) ...
    page.wait_for_timeout(3 * 60_000 / SCALE + 500)
    left_at = time.monotonic()
    page.evaluate("window.__jitsi.current.emit('videoConferenceLeft', {})")
    page.wait_for_function("() => document.getElementById('stage').dataset.inRoom === 'false'")
    assert page.locator(".stage__rejoin").is_visible()
    assert "left the call" in page.locator(".stage__message").inner_text()
    # ... then three out of it, with the page still open and connected.
    page.wait_for_timeout(3 * 60_000 / SCALE + 3_000)
    assert page.evaluate("window.studymissionLive.state") == "connected"
    roster = {r["key"]: r for r in staff.get(f"/api/events/{CODE}/roster")}
    assert roster["p001"]["in_room"] is False
    assert roster["p001"]["status"] == "connected"
    minutes = staff.get(f"/api/events/{CODE}/presence", person="p001", session="day1")
    # The minutes after the leave are empty; the minutes before it were covered.
    elapsed_minutes = int((time.monotonic() - left_at) * SCALE / 60)
    assert elapsed_minutes >= 3
    after = minutes[-elapsed_minutes + 1 : -1]
    assert after and all(m["seconds"] == 0 for m in after), minutes[-8:]
    assert any(m["seconds"] == 60 and m["room"] == "main" for m in minutes), minutes[-8:]

    # Rejoin: the same room again, and in the room again.
    page.locator(".stage__rejoin").click()
    _wait_joined(page)
    deadline = time.monotonic() + 10
    while not {r["key"]: r for r in staff.get(f"/api/events/{CODE}/roster")}["p001"]["in_room"]:
        assert time.monotonic() < deadline, "the rejoin never reached the roster"
        time.sleep(0.2)
    page.context.close()


def test_page_survives_the_video_script_failing_to_load(
    browser: Browser, server: LiveServer, staff: Staff, artifacts: Path
) -> None:
    context = _context(browser, PHONE, video=False)
    page = context.new_page()
    page.goto(server.join_links["p002"])
    message = page.locator(".stage__message")
    page.wait_for_function("() => document.getElementById('stage').dataset.video === 'failed'")
    text = message.inner_text()
    assert f"The video could not be loaded from {DOMAIN}" in text
    assert "programme, notices and questions keep working" in text
    assert page.locator(".stage__rejoin").inner_text() == "Try the video again"
    assert page.evaluate("document.getElementById('stage').dataset.inRoom") == "false"
    # Notices still arrive ...
    page.wait_for_function("() => window.studymissionLive.state === 'connected'")
    sent = staff.client.post(
        f"/api/events/{CODE}/notices",
        json={"text": "The video is down for some; stay on this page"},
        headers={"X-CSRF-Token": staff.csrf},
    )
    assert sent.status_code == 202
    page.wait_for_selector("#live-notices li:has-text('The video is down for some')")
    # ... questions can still be asked ...
    page.locator("#question-form textarea").fill("Will the slides be shared after the session?")
    page.locator("#question-form button[type=submit]").click()
    page.wait_for_selector("#questions-list :text('Will the slides be shared')")
    # ... and the programme is still there.
    assert page.locator("#programme").is_visible()
    page.screenshot(path=str(artifacts / "stage-video-failed-phone.png"), full_page=True)
    context.close()


def test_presenter_view_shows_slots_countdown_and_questions(
    browser: Browser, server: LiveServer, staff: Staff, artifacts: Path
) -> None:
    page = _context(browser, DESKTOP).new_page()
    page.goto(server.join_links["rp1"])
    page.goto(f"{server.base_url}/events/{CODE}/presenter")
    page.wait_for_function("() => window.studymissionLive.state === 'connected'")
    assert page.locator("#presenter-now-heading").inner_text() == "You are on now"
    countdown = page.locator(".countdown__value")
    page.wait_for_function(
        "() => /^\\d+:\\d\\d$/.test(document.querySelector('.countdown__value').textContent)"
    )
    first = countdown.inner_text()
    page.wait_for_timeout(1500)
    # Event time runs 20 times faster here: 1.5 s take about 30 s off the countdown.
    minutes, seconds = (int(x) for x in first.split(":"))
    later_minutes, later_seconds = (int(x) for x in countdown.inner_text().split(":"))
    taken = (minutes * 60 + seconds) - (later_minutes * 60 + later_seconds)
    assert 20 <= taken <= 45, (first, countdown.inner_text())
    assert page.locator("#presenter-next").inner_text().startswith("Break (break, ")
    page.wait_for_selector("#questions-moderate #questions-moderate-list", timeout=5000)
    # When the moderator moves on, the view follows.
    staff.switch(mode="break", item="d1-break")
    page.wait_for_selector("#presenter-now .mode-badge[data-mode='break']", timeout=2000)
    assert page.locator("#presenter-now-heading").inner_text() == "Your next slot"
    assert page.locator(".presenter-mine .slot--now").count() == 0
    assert page.locator(".presenter-mine .slot--done").inner_text().count("Introduction") == 1
    page.wait_for_function(
        "() => /^\\d+:\\d\\d$/.test(document.querySelector('.countdown__value').textContent)"
    )
    page.screenshot(path=str(artifacts / "stage-presenter-desktop.png"), full_page=True)
    page.context.close()

"""Breakout rooms in a real browser: three participant pages are moved into two rooms (each
its own Jitsi room and token, a countdown shown) and back to the main room, by the
moderator's console. The Jitsi script is the stand-in of ``stand_ins/external_api.js``."""

import copy
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from studymission.integrations.jitsi import room_name
from tests.conftest import TEST_SECRET
from tests.e2e.conftest import LiveServer, keep_on_loopback, serve_event
from tests.factories import BASE_SPEC

CODE = "TEST-EVENT-1"
DOMAIN = "meet.test"
SCALE = 20
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
PARTICIPANTS = ("p001", "p002", "p003")


def _spec() -> dict[str, object]:
    spec = copy.deepcopy(BASE_SPEC)
    spec["people"].append(
        {
            "key": "p003",
            "name": "Trần Văn An",
            "email": "an@example.org",
            "country": "VN",
            "organization": "VNPI",
            "role": "participant",
            "origin": "overseas",
        }
    )
    return spec


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Day 2 at 14:05 in Seoul (the group discussion), self-hosted Jitsi, time scale 20."""
    with serve_event(
        tmp_path_factory.mktemp("e2e-breakouts"),
        _spec(),
        "2021-11-25T05:05:00Z",
        settings={
            "STUDYMISSION_JITSI_MODE": "self_hosted",
            "STUDYMISSION_JITSI_DOMAIN": DOMAIN,
            "STUDYMISSION_JITSI_APP_ID": "studymission-e2e",
            "STUDYMISSION_JITSI_APP_SECRET": "an-e2e-jitsi-app-secret-of-32-bytes",
            "STUDYMISSION_TIME_SCALE": str(SCALE),
        },
    ) as served:
        yield served


def _open(browser: Browser, server: LiveServer, key: str, size: dict[str, int]) -> Page:
    context = browser.new_context(viewport=size)  # type: ignore[arg-type]
    keep_on_loopback(context, video_domain=DOMAIN)
    page = context.new_page()
    page.goto(server.join_links[key])
    return page


def _joined(page: Page, room: str) -> None:
    page.wait_for_function(
        "(room) => { const s = document.getElementById('stage');"
        " return s.dataset.room === room && s.dataset.inRoom === 'true'; }",
        arg=room,
        timeout=5000,
    )


def test_three_pages_move_into_two_rooms_and_back(
    browser: Browser, server: LiveServer, artifacts: Path
) -> None:
    pages = {key: _open(browser, server, key, PHONE) for key in PARTICIPANTS}
    for page in pages.values():
        _joined(page, "main")
    console = _open(browser, server, "mod1", DESKTOP)
    console.goto(f"{server.base_url}/events/{CODE}/console")
    console.wait_for_selector("#breakouts-panel form.breakouts-open")

    # Two balanced rooms for 10 minutes, from the console.
    console.locator("#breakouts-panel input[name=rooms]").fill("2")
    console.locator("#breakouts-panel input[name=minutes]").fill("10")
    started = time.monotonic()
    console.get_by_role("button", name="Open the rooms and move everyone").click()
    rooms: dict[str, str] = {}
    for key, page in pages.items():
        page.wait_for_function(
            "() => document.getElementById('stage').dataset.room.startsWith('breakout-')",
            timeout=2000,
        )
        rooms[key] = page.evaluate("document.getElementById('stage').dataset.room")
    moved_in = time.monotonic() - started
    assert moved_in < 2.0, moved_in
    assert sorted(rooms.values()) in (
        ["breakout-1", "breakout-1", "breakout-2"],
        ["breakout-1", "breakout-2", "breakout-2"],
    )
    # Balanced by country: the two Vietnamese participants are in different rooms.
    assert rooms["p001"] != rooms["p003"]
    for key, page in pages.items():
        _joined(page, rooms[key])
        conference = page.evaluate(
            "({room: window.__jitsi.current.roomName, made: window.__jitsi.created.length,"
            " disposed: window.__jitsi.created.filter((a) => a.disposed).length})"
        )
        # Its own Jitsi room (the main call disposed, without a reload).
        assert conference == {
            "room": room_name(TEST_SECRET, CODE, "day2", rooms[key]),
            "made": 2,
            "disposed": 1,
        }
        timer = page.locator(".stage__timer").inner_text()
        assert timer.startswith(f"Room {rooms[key][-1]} · ") and timer.endswith(" left"), timer
        assert page.locator(".stage__mode").inner_text() == "Group discussion in breakout rooms"

    # The moderator's overview: every participant in their room, live.
    console.wait_for_function(
        "() => document.querySelectorAll('#breakouts-panel .seat--here').length === 3",
        timeout=15_000,
    )
    console.screenshot(path=str(artifacts / "breakouts-console-overview.png"), full_page=True)
    pages["p001"].screenshot(path=str(artifacts / "breakouts-room-phone.png"), full_page=True)

    # Back to the main room: every page joins the main call again.
    console.get_by_role("button", name="Close the rooms: everyone back to the main room").click()
    for page in pages.values():
        _joined(page, "main")
        assert page.locator(".stage__timer").inner_text() == ""
        assert page.evaluate("window.__jitsi.current.roomName") == room_name(
            TEST_SECRET, CODE, "day2", "main"
        )
    console.wait_for_selector("#breakouts-panel form.breakouts-open")
    for page in (*pages.values(), console):
        page.context.close()

"""The virtual site visit in a real browser: a packaged recording (made by the product's own
packager from ffmpeg's test sources) played by hls.js on two participants' pages in step
with the server's clock, driven by the moderator; and a live stream that is not on the air
yet, then is.

Positions are read from each page's <video> element, not from the page's script.
"""

import functools
import http.server
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from studymission.config import Settings
from studymission.services.media import MediaPackage, ffmpeg_executable, package_recording
from tests.e2e.conftest import LiveServer, keep_on_loopback, serve_event
from tests.e2e.test_live_stage import DESKTOP, PHONE, Staff
from tests.factories import make_spec
from tests.media import ASSET, make_clip, packaged

CODE = "TEST-EVENT-1"
PLAYBACK = f"/api/events/{CODE}/sessions/day1/playback"
SCALE = 15
HD = "site-visit-hd"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MediaPackage]:
    """A 60-second recording, packaged once."""
    return packaged(tmp_path_factory.mktemp("e2e-recording"), seconds=60)


@pytest.fixture(scope="module")
def stream_origin(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[http.server.ThreadingHTTPServer, Path]]:
    """A live-streaming origin on loopback (see `_StreamOrigin`) and the folder it serves;
    started before the server, whose settings allow it as a live-stream origin."""
    folder = tmp_path_factory.mktemp("e2e-stream-origin")
    handler = functools.partial(_StreamOrigin, directory=str(folder))
    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    try:
        yield origin, folder
    finally:
        origin.shutdown()
        origin.server_close()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    recording: tuple[Path, MediaPackage],
    stream_origin: tuple[http.server.ThreadingHTTPServer, Path],
) -> Iterator[LiveServer]:
    """Day 1 at 13:05 in Seoul at time scale 15: the presence rule's stale window (45 event
    seconds) is 3 real seconds; the video still plays at its own speed."""
    # A 720p recording too, for the choice of quality (three renditions).
    hd = make_clip(tmp_path_factory.mktemp("e2e-hd") / "hd.mp4", seconds=12, size="1280x720")
    package_recording(
        recording[0], hd, HD, ffmpeg=ffmpeg_executable(Settings()), now=datetime.now(UTC)
    )
    with serve_event(
        tmp_path_factory.mktemp("e2e-site-visit"),
        make_spec(),
        "2021-11-24T04:05:00Z",
        settings={
            "STUDYMISSION_MEDIA_DIR": str(recording[0]),
            "STUDYMISSION_TIME_SCALE": str(SCALE),
            "STUDYMISSION_LIVE_STREAM_ORIGINS": (
                f"http://127.0.0.1:{stream_origin[0].server_address[1]}"
            ),
        },
    ) as served:
        yield served


class Moderator(Staff):
    def playback(self, **body: Any) -> dict[str, Any]:
        answer = self.client.post(PLAYBACK, json=body, headers={"X-CSRF-Token": self.csrf})
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def position_now(self) -> float:
        return float(self.get(PLAYBACK)["position_now"])


@pytest.fixture
def moderator(server: LiveServer) -> Iterator[Moderator]:
    staff = Moderator(server)
    staff.switch(mode="stage", item="d1-intro")
    yield staff
    staff.switch(mode="stage", item="d1-intro")
    staff.client.close()


def _page(browser: Browser, server: LiveServer, key: str, size: dict[str, int]) -> Page:
    context = browser.new_context(viewport=size)  # type: ignore[arg-type]
    keep_on_loopback(context)
    page = context.new_page()
    page.goto(server.join_links[key])
    page.wait_for_function("() => window.studymissionLive && window.studymissionLive.welcome")
    return page


def _video(page: Page) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(
        """() => {
          const v = document.querySelector('#stage .visit video');
          return {time: v.currentTime, paused: v.paused, ready: v.readyState,
                  watching: document.querySelector('#stage .visit').dataset.watching,
                  stream: document.querySelector('#stage .visit').dataset.stream,
                  message: document.querySelector('#stage .visit__message').textContent};
        }"""
    )
    return found


def _presence(page: Page) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(
        "() => { const p = window.studymissionLive.presence;"
        " return {in_room: p.in_room, room: p.room}; }"
    )
    return found


def _wait_playing_past(page: Page, seconds: float, timeout: float = 20_000) -> None:
    """Wait until the page's video plays past `seconds` (what it shows on failure)."""
    try:
        _wait_playing(page, seconds, timeout)
    except Exception as error:
        raise AssertionError(f"not playing past {seconds} s: {_video(page)}") from error


def _wait_playing(page: Page, seconds: float, timeout: float) -> None:
    page.wait_for_function(
        f"""() => {{
          const v = document.querySelector('#stage .visit video');
          return v && !v.paused && v.readyState >= 3 && v.currentTime > {seconds};
        }}""",
        timeout=timeout,
    )


def _apart(first: Page, second: Page) -> float:
    """How far apart the two pages' videos are now (read as close together as possible)."""
    a = _video(first)["time"]
    b = _video(second)["time"]
    c = _video(first)["time"]
    return abs((a + c) / 2 - b)


def test_two_pages_play_in_step_and_follow_the_moderators_seek(
    browser: Browser,
    server: LiveServer,
    moderator: Moderator,
    artifacts: Path,
) -> None:
    desktop = _page(browser, server, "p001", DESKTOP)
    phone = _page(browser, server, "p002", PHONE)
    console = _page(browser, server, "mod1", DESKTOP)
    console.goto(f"{server.base_url}/events/{CODE}/console")
    try:
        started = moderator.playback(action="play", asset=ASSET, position=0)
        assert started["playback"]["state"] == "playing"
        for page in (desktop, phone):
            _wait_playing_past(page, 2)
            assert _video(page)["watching"] == "true"
            # What the page's heartbeats say (CONTRACT §3): watching is being in the room.
            assert _presence(page) == {"in_room": True, "room": "site-visit"}
        assert _apart(desktop, phone) < 1.0
        # The moderator jumps ahead: both pages follow within a second of each other and of
        # the server's clock.
        moderator.playback(action="seek", position=40)
        for page in (desktop, phone):
            _wait_playing_past(page, 40.5)
        time.sleep(2)
        target = moderator.position_now()
        apart = _apart(desktop, phone)
        assert apart < 1.0, apart
        assert abs(_video(desktop)["time"] - target) < 1.5
        desktop.screenshot(path=str(artifacts / "site-visit-desktop.png"), full_page=True)
        phone.screenshot(path=str(artifacts / "site-visit-phone.png"), full_page=True)
        console.wait_for_selector("#site-visit-panel .site-visit-status[data-state='playing']")
        console.wait_for_function(
            "() => !document.querySelector('#site-visit-preview .visit').hidden"
            " && document.querySelector('#site-visit-preview video').currentTime > 40"
        )
        console.screenshot(path=str(artifacts / "site-visit-console.png"), full_page=True)

        # A participant pauses for themselves: no longer counted, until they come back.
        phone.get_by_role("button", name="Pause for me").click()
        phone.wait_for_function(
            "() => document.querySelector('#stage .visit').dataset.watching === 'false'"
        )
        assert _video(phone)["paused"] is True
        assert "does not count" in _video(phone)["message"]
        assert _presence(phone) == {"in_room": False, "room": "site-visit"}
        time.sleep(1.5)
        phone.get_by_role("button", name="Back to the live position").click()
        _wait_playing_past(phone, moderator.position_now() - 1)
        phone.wait_for_function(
            "() => document.querySelector('#stage .visit').dataset.watching === 'true'"
        )
        assert _apart(desktop, phone) < 1.0

        # The moderator pauses: both stop within a second of each other, and both still count.
        moderator.playback(action="pause")
        for page in (desktop, phone):
            page.wait_for_function("() => document.querySelector('#stage .visit video').paused")
        time.sleep(1)
        assert _apart(desktop, phone) < 1.0
        assert _video(desktop)["watching"] == _video(phone)["watching"] == "true"
        assert "paused" in _video(desktop)["message"]
    finally:
        for page in (desktop, phone, console):
            page.context.close()


def test_a_late_page_joins_at_the_position_everyone_is_at(
    browser: Browser, server: LiveServer, moderator: Moderator
) -> None:
    moderator.playback(action="play", asset=ASSET, position=20)
    time.sleep(3)
    late = _page(browser, server, "p001", DESKTOP)
    try:
        _wait_playing_past(late, 22)
        time.sleep(1)
        assert abs(_video(late)["time"] - moderator.position_now()) < 1.0
        # Leaving the site visit stops the player and unloads the stream.
        moderator.switch(mode="stage", item="d1-intro")
        late.wait_for_function("() => document.querySelector('#stage .visit').hidden")
        assert _video(late)["watching"] == "false"
    finally:
        late.context.close()


class _StreamOrigin(http.server.SimpleHTTPRequestHandler):
    """A stand-in for an external live-streaming origin on loopback, with CORS as such
    origins send it; 404 until `on_air` is set."""

    on_air = threading.Event()

    def do_GET(self) -> None:
        if not self.on_air.is_set():
            self.send_error(404)
            return
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_live_stream_that_is_not_up_says_so_then_plays(
    browser: Browser,
    server: LiveServer,
    moderator: Moderator,
    recording: tuple[Path, MediaPackage],
    stream_origin: tuple[http.server.ThreadingHTTPServer, Path],
    artifacts: Path,
) -> None:
    media_dir, package = recording
    origin, folder = stream_origin
    shutil.copytree(media_dir / package.name / package.version, folder / "live")
    _StreamOrigin.on_air.clear()
    url = f"http://127.0.0.1:{origin.server_address[1]}/live/master.m3u8"
    page = _page(browser, server, "p001", PHONE)
    page.evaluate(
        """() => {
          window.__watching = [];
          const visit = document.querySelector('#stage .visit');
          new MutationObserver(() => {
            const last = window.__watching[window.__watching.length - 1];
            const now = visit.dataset.watching;
            if (!last || last[0] !== now) window.__watching.push([now, performance.now()]);
          }).observe(visit, {attributeFilter: ['data-watching']});
        }"""
    )
    try:
        moderator.playback(action="live", url=url)
        page.wait_for_function(
            "() => document.querySelector('#stage .visit').dataset.stream === 'down'"
        )
        state = _video(page)
        assert "not on the air yet" in state["message"]
        # Waiting for the stream counts for as long as the stale window (3 s here), not more.
        page.wait_for_function(
            "() => document.querySelector('#stage .visit').dataset.watching === 'false'",
            timeout=8_000,
        )
        assert _presence(page) == {"in_room": False, "room": "site-visit"}
        changes = page.evaluate("() => window.__watching")
        [(on, started), (off, stopped)] = changes[:2]
        assert (on, off) == ("true", "false")
        assert stopped - started >= 45_000 / SCALE - 100  # the stale window, in real ms
        page.screenshot(path=str(artifacts / "site-visit-live-down.png"), full_page=True)
        _StreamOrigin.on_air.set()
        _wait_playing_past(page, 1, timeout=30_000)
        page.wait_for_function(
            "() => document.querySelector('#stage .visit').dataset.watching === 'true'"
        )
        assert page.locator("#stage .visit__time").inner_text() == "Live"
    finally:
        page.context.close()


def test_the_drift_rules_of_the_player(browser: Browser, server: LiveServer) -> None:
    """The player's arithmetic, run in the browser from the served module."""
    page = browser.new_page()
    keep_on_loopback(page.context)
    try:
        page.goto(f"{server.base_url}/healthz")
        found = page.evaluate(
            """async () => {
              const m = await import('/static/js/site-visit.js');
              const at = '2021-11-24T04:10:00Z', t = Date.parse(at);
              const playing = {state: 'playing', position: 10, at, rate: 1, duration: 60};
              return {
                now: m.targetPosition(playing, t),
                later: m.targetPosition(playing, t + 5000),
                scaled: m.targetPosition({...playing, rate: 1 / 60}, t + 600000),
                pastEnd: m.targetPosition(playing, t + 3600000),
                paused: m.targetPosition({...playing, state: 'paused'}, t + 5000),
                live: m.targetPosition({live: true, url: 'x'}, t),
                small: m.correction(0.2), ahead: m.correction(0.5), behind: m.correction(-0.5),
                edge: m.correction(1.0), jump: m.correction(1.01), far: m.correction(-30),
                clock: [m.clockText(0), m.clockText(754.9), m.clockText(3725)],
              };
            }"""
        )
    finally:
        page.context.close()
    assert (found["now"], found["later"], found["paused"], found["live"]) == (10, 15, 10, None)
    assert found["scaled"] == pytest.approx(20.0)  # 10 event minutes at scale 60: 10 s
    assert found["pastEnd"] == 60
    # Within 0.25 s: normal speed; up to 1 s: slower when ahead, faster when behind.
    assert (found["small"], found["ahead"], found["behind"]) == (1, 0.875, 1.125)
    assert found["edge"] == 0.75
    assert (found["jump"], found["far"]) == (None, None)
    assert found["clock"] == ["0:00", "12:34", "1:02:05"]


def test_a_participant_picks_the_quality(
    browser: Browser, server: LiveServer, moderator: Moderator, artifacts: Path
) -> None:
    page = _page(browser, server, "p001", DESKTOP)
    try:
        moderator.playback(action="play", asset=HD, position=0)
        _wait_playing_past(page, 1)
        quality = page.get_by_label("Quality")
        options = quality.locator("option").all_inner_texts()
        assert options == ["Auto", "360p", "540p", "720p"]
        quality.select_option(label="360p")
        page.wait_for_function(
            "() => document.querySelector('#stage .visit video').videoHeight === 360",
            timeout=15_000,
        )
        assert _video(page)["watching"] == "true"
        # The switch does not lose the place: back within a second of everyone.
        page.wait_for_function(
            f"""() => {{
              const v = document.querySelector('#stage .visit video');
              return !v.paused && Math.abs(v.currentTime - {moderator.position_now()}) < 3;
            }}"""
        )
        time.sleep(1)
        assert abs(_video(page)["time"] - moderator.position_now()) < 1.0
        page.screenshot(path=str(artifacts / "site-visit-quality.png"))
        quality.select_option(label="720p")
        page.wait_for_function(
            "() => document.querySelector('#stage .visit video').videoHeight === 720",
            timeout=15_000,
        )
    finally:
        page.context.close()

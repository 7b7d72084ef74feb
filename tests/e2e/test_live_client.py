"""The browser's live connection (static/js/live.js) against a stand-in WebSocket server.

The stand-in speaks the client side of CONTRACT §3: it sends `welcome`, records what the page
sends, can be stopped and started again on the same port, and can close a socket with 1008.
The test page is the real `_live_status.html` partial plus a module script importing
/static/js/live.js, served from frontend/ by a small HTTP server on loopback.
"""

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jinja2
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import keep_on_loopback

pytestmark = pytest.mark.e2e

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
PHONE: ViewportSize = {"width": 390, "height": 844}

Frame = dict[str, Any]


class StandIn:
    """A WebSocket server in its own thread and event loop, driven from the test thread."""

    def __init__(self) -> None:
        self.heartbeat_seconds = 0.2
        self.close_new_with: int | None = None
        #: Refuse handshakes with an HTTP 403, as the server does for bad credentials.
        self.refuse_handshakes = False
        self.port = 0
        self._lock = threading.Lock()
        self._frames: list[tuple[float, Frame]] = []
        self._handshakes = 0
        self._connections: set[ServerConnection] = set()
        self._server: Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ws-stand-in")
        self._thread.start()

    # --- driven from the test -----------------------------------------------------------------

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def start(self) -> None:
        self._run(self._start())

    def stop(self) -> None:
        self._run(self._stop())

    def broadcast(self, frame: Frame) -> None:
        self._run(self._broadcast(json.dumps(frame)))

    def close_all(self, code: int, reason: str = "") -> None:
        self._run(self._close_all(code, reason))

    def shutdown(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/TEST"

    @property
    def handshakes(self) -> int:
        with self._lock:
            return self._handshakes

    def frames(self, since: float = 0.0, type_: str = "heartbeat") -> list[Frame]:
        with self._lock:
            return [frame for at, frame in self._frames if at >= since and frame["type"] == type_]

    def wait_for(
        self, condition: Callable[[list[Frame]], bool], since: float, timeout: float = 5.0
    ) -> list[Frame]:
        """Heartbeats received since `since`, once `condition` holds for them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frames = self.frames(since)
            if condition(frames):
                return frames
            time.sleep(0.02)
        raise AssertionError(f"condition not met in {timeout} s; heartbeats: {self.frames(since)}")

    # --- in the server's loop -----------------------------------------------------------------

    async def _start(self) -> None:
        self._server = await serve(
            self._handler, "127.0.0.1", self.port, process_request=self._process_request
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _broadcast(self, message: str) -> None:
        for connection in list(self._connections):
            await connection.send(message)

    async def _close_all(self, code: int, reason: str) -> None:
        for connection in list(self._connections):
            await connection.close(code, reason)

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        if not self.refuse_handshakes:
            return None
        with self._lock:
            self._handshakes += 1
        return connection.respond(HTTPStatus.FORBIDDEN, "refused\n")

    async def _handler(self, connection: ServerConnection) -> None:
        with self._lock:
            self._handshakes += 1
        if self.close_new_with is not None:
            await connection.close(self.close_new_with, "bad credentials")
            return
        self._connections.add(connection)
        try:
            await connection.send(
                json.dumps(
                    {
                        "type": "welcome",
                        "person": "p001",
                        "role": "participant",
                        "heartbeat_seconds": self.heartbeat_seconds,
                        "server_time": "2021-11-24T04:30:00Z",
                    }
                )
            )
            async for message in connection:
                frame = json.loads(message)
                with self._lock:
                    self._frames.append((time.monotonic(), frame))
        except ConnectionClosed:
            pass
        finally:
            self._connections.discard(connection)


class _Site(SimpleHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/live-test.html":
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(self.page)))
            self.end_headers()
            self.wfile.write(self.page)
        elif self.path.split("?")[0] == "/session-check":
            # Stands in for /api/events/{code}: the sign-in no longer holds.
            body = b'{"error": "unauthenticated"}'
            self.send_response(HTTPStatus.UNAUTHORIZED)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path.startswith("/static/"):
            super().do_GET()
        else:
            self.send_error(HTTPStatus.NOT_FOUND)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _test_page() -> bytes:
    partial_html = (
        jinja2.Environment(loader=jinja2.FileSystemLoader(FRONTEND / "templates"), autoescape=True)
        .get_template("_live_status.html")
        .render()
    )
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>live client test</title>
  <link rel="stylesheet" href="/static/css/app.css">
  <link rel="stylesheet" href="/static/css/live.css">
  <script type="module">
    import {{ connectLive, backoffDelay }} from "/static/js/live.js";
    const params = new URLSearchParams(location.search);
    window.backoffDelay = backoffDelay;
    window.statusLog = [];
    window.live = connectLive({{
      url: params.get("ws"),
      statusElement: document.getElementById("live-status"),
      noticesElement: document.getElementById("live-notices"),
      workerUrl: params.get("worker") || undefined,
      sessionCheckUrl: params.get("check") || undefined,
      onStatus: (state) => window.statusLog.push(state),
    }});
  </script>
</head>
<body>
  <header class="site-header"><div class="site-header__inner">
    <a class="brand" href="/">studymission</a>
  </div></header>
  <main id="main">
    <h1>Day 1 — live session</h1>
    {partial_html}
  </main>
</body>
</html>""".encode()


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    handler = partial(type("Site", (_Site,), {"page": _test_page()}), directory=str(FRONTEND))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="static-site")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    try:
        server.start()
        yield server
    finally:
        server.shutdown()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE)
    keep_on_loopback(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []


def _open(page: Page, site: str, stand_in: StandIn, **query: str) -> None:
    params = "&".join(f"{key}={value}" for key, value in {"ws": stand_in.url, **query}.items())
    page.goto(f"{site}/live-test.html?{params}")


def test_connects_and_sends_heartbeats_from_a_worker(
    page: Page, site: str, stand_in: StandIn, artifacts: Path
) -> None:
    _open(page, site, stand_in)
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "connected")
    expect(status).to_have_text("Connected to the live session")
    expect(status).to_have_attribute("role", "status")
    assert page.evaluate("live.timerKind") == "worker"
    assert page.evaluate("live.welcome.heartbeat_seconds") == 0.2

    since = time.monotonic()
    time.sleep(1.5)
    beats = stand_in.frames(since)
    # Every 0.2 s: about 7 in 1.5 s; generous bounds, but not a flood either.
    assert 3 <= len(beats) <= 12, beats
    assert all(
        beat == {"type": "heartbeat", "visible": True, "in_room": False, "room": "main"}
        for beat in beats
    ), beats
    assert page.evaluate("statusLog") == ["connected"]
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.screenshot(path=str(artifacts / "live-client-connected.png"), full_page=True)


def test_presence_and_visibility_changes_are_sent_at_once(
    page: Page, site: str, stand_in: StandIn
) -> None:
    stand_in.heartbeat_seconds = 5  # ticks are far apart: any quick heartbeat is a change
    _open(page, site, stand_in)
    expect(page.locator("#live-status")).to_have_attribute("data-state", "connected")
    stand_in.wait_for(lambda beats: len(beats) == 1, since=0)  # the one sent on welcome

    since = time.monotonic()
    page.evaluate("live.setPresence({in_room: true, room: 'breakout-2'})")
    beats = stand_in.wait_for(lambda beats: len(beats) >= 1, since, timeout=1)
    assert beats == [{"type": "heartbeat", "visible": True, "in_room": True, "room": "breakout-2"}]
    assert page.evaluate("live.presence") == {"in_room": True, "room": "breakout-2"}

    # The same presence again is no change: nothing is sent.
    since = time.monotonic()
    page.evaluate("live.setPresence({in_room: true, room: 'breakout-2'})")
    time.sleep(0.5)
    assert stand_in.frames(since) == []

    # The tab goes to the background.
    since = time.monotonic()
    page.evaluate(
        """() => {
            const hidden = {value: "hidden", configurable: true};
            Object.defineProperty(document, "visibilityState", hidden);
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    beats = stand_in.wait_for(lambda beats: len(beats) >= 1, since, timeout=1)
    assert beats == [{"type": "heartbeat", "visible": False, "in_room": True, "room": "breakout-2"}]


def test_reconnects_after_the_server_comes_back(
    page: Page, site: str, stand_in: StandIn, artifacts: Path
) -> None:
    _open(page, site, stand_in)
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "connected")
    page.evaluate("live.setPresence({in_room: true})")

    stand_in.stop()
    expect(status).to_have_attribute("data-state", "reconnecting")
    expect(status).to_have_text(
        # Never before an attempt: the countdown, or "now…" while an attempt is under way.
        re.compile(r"^Connection lost — reconnecting (in \d+ s|now…)$")
    )
    expect(status).to_have_attribute("data-retry-in", re.compile(r"^\d+$"))
    page.screenshot(path=str(artifacts / "live-client-reconnecting.png"), full_page=True)
    time.sleep(1.5)  # a few refused attempts
    assert page.evaluate("live.state") == "reconnecting"

    stand_in.start()  # the same port
    since = time.monotonic()
    # Backoff grows to at most 30 s (with jitter), so this waits a little longer than that.
    expect(status).to_have_attribute("data-state", "connected", timeout=35_000)
    beats = stand_in.wait_for(lambda beats: len(beats) >= 3, since)
    assert beats[-1] == {"type": "heartbeat", "visible": True, "in_room": True, "room": "main"}
    assert page.evaluate("statusLog") == ["connected", "reconnecting", "connected"]


def test_policy_close_signs_out_and_never_retries(
    page: Page, site: str, stand_in: StandIn, artifacts: Path
) -> None:
    _open(page, site, stand_in)
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "connected")
    assert stand_in.handshakes == 1

    stand_in.close_new_with = 1008
    stand_in.close_all(1008, "bad credentials")
    expect(status).to_have_attribute("data-state", "signed-out")
    expect(status).to_have_text("Signed out — open your personal join link again")
    since = time.monotonic()
    time.sleep(3)
    assert stand_in.handshakes == 1
    assert stand_in.frames(since) == []
    assert page.evaluate("live.state") == "signed-out"
    # The browser coming back online is no reason to retry either.
    page.evaluate("window.dispatchEvent(new Event('online'))")
    time.sleep(0.5)
    assert stand_in.handshakes == 1
    page.screenshot(path=str(artifacts / "live-client-signed-out.png"), full_page=True)


def test_notices_are_shown_as_text_newest_first(
    page: Page, site: str, stand_in: StandIn, artifacts: Path
) -> None:
    _open(page, site, stand_in)
    expect(page.locator("#live-status")).to_have_attribute("data-state", "connected")
    page.evaluate(
        "() => { window.noticeFrames = []; live.on('notice', (f) => noticeFrames.push(f)); }"
    )

    stand_in.broadcast({"type": "notice", "text": "Welcome, all", "room": None, "from": "Mina"})
    stand_in.broadcast(
        {"type": "notice", "text": "<b>x</b>", "room": "breakout-2", "from": "<i>Kim</i>"}
    )
    items = page.locator("#live-notices > li")
    expect(items).to_have_count(2)
    expect(items.nth(0).locator(".live-notice__text")).to_have_text("<b>x</b>")
    expect(items.nth(0).locator(".live-notice__meta")).to_contain_text("<i>Kim</i> · to breakout-2")
    expect(items.nth(1).locator(".live-notice__text")).to_have_text("Welcome, all")
    assert page.locator("#live-notices b, #live-notices i").count() == 0
    assert page.evaluate("noticeFrames.length") == 2
    assert page.evaluate("live.last('notice').text") == "<b>x</b>"
    expect(page.locator("#live-notices")).to_have_attribute("aria-live", "polite")
    page.screenshot(path=str(artifacts / "live-client-notices.png"), full_page=True)


def test_without_a_worker_heartbeats_come_from_the_main_thread(
    page: Page, site: str, stand_in: StandIn
) -> None:
    _open(page, site, stand_in, worker="/static/js/no-such-worker.js")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "connected")
    page.wait_for_function("live.timerKind === 'interval'")
    since = time.monotonic()
    beats = stand_in.wait_for(lambda beats: len(beats) >= 3, since, timeout=1.5)
    assert beats[0]["visible"] is True


def test_offline_then_online_reconnects_at_once(page: Page, site: str, stand_in: StandIn) -> None:
    _open(page, site, stand_in)
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "connected")

    page.context.set_offline(True)
    expect(status).to_have_attribute("data-state", "offline")
    expect(status).to_have_text("You are offline — we will reconnect when your connection is back")
    stand_in.close_all(1001)  # the connection does not survive it
    time.sleep(1)
    assert page.evaluate("live.state") == "offline"

    started = time.monotonic()
    page.context.set_offline(False)
    expect(status).to_have_attribute("data-state", "connected", timeout=3000)
    assert time.monotonic() - started < 3
    assert stand_in.handshakes == 2  # a new connection, not the old one
    stand_in.wait_for(lambda beats: len(beats) >= 1, since=started)


def test_backoff_doubles_from_one_second_up_to_thirty_with_full_jitter(
    page: Page, site: str, stand_in: StandIn
) -> None:
    _open(page, site, stand_in)
    ceilings = page.evaluate("[0, 1, 2, 3, 4, 5, 6, 20].map((n) => backoffDelay(n, {}, () => 1))")
    assert ceilings == [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
    assert page.evaluate("[0, 5].map((n) => backoffDelay(n, {}, () => 0))") == [0, 0]
    assert page.evaluate("backoffDelay(3, {}, () => 0.5)") == 4000


def test_a_refused_handshake_with_an_ended_sign_in_shows_signed_out(
    page: Page, site: str, stand_in: StandIn
) -> None:
    # Browsers report a handshake refused with 403 as a bare 1006; the page asks over HTTP.
    stand_in.refuse_handshakes = True
    _open(page, site, stand_in, check="/session-check")
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "signed-out")
    expect(status).to_have_text("Signed out — open your personal join link again")
    refused = stand_in.handshakes
    time.sleep(2.5)
    assert stand_in.handshakes == refused  # no more attempts


def test_a_refused_handshake_without_a_session_check_keeps_retrying(
    page: Page, site: str, stand_in: StandIn
) -> None:
    stand_in.refuse_handshakes = True
    _open(page, site, stand_in)
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "reconnecting")
    time.sleep(2.5)
    assert page.evaluate("live.state") == "reconnecting"
    assert stand_in.handshakes >= 2

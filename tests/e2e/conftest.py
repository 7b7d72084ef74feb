"""Browser tests: a real server process on loopback, driven by Debian's Chromium.

Playwright's own browser download does not exist here, so the tests launch
``/usr/bin/chromium`` through ``executable_path``. Screenshots go to ``artifacts/``.
"""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Route, sync_playwright

from tests.conftest import TEST_SECRET, need
from tests.factories import make_spec

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

#: What the browser gets for ``https://{domain}/external_api.js``: a stand-in of Jitsi's
#: IFrame API (no test reaches a real Jitsi server).
JITSI_STAND_IN = Path(__file__).parent / "stand_ins" / "external_api.js"

pytestmark = pytest.mark.e2e


def keep_on_loopback(
    context: BrowserContext, *, video_domain: str = "meet.jit.si", video: bool = True
) -> None:
    """Let `context` reach only loopback; its Jitsi script is the stand-in (or, with
    `video` false, fails to load as behind a firewall that blocks the video service)."""
    script = f"https://{video_domain}/external_api.js"

    def answer(route: Route) -> None:
        url = route.request.url
        if url == script and video:
            route.fulfill(path=JITSI_STAND_IN, content_type="application/javascript")
        elif url.startswith(("http://127.0.0.1:", "ws://127.0.0.1:")):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", answer)


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    join_links: dict[str, str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90  # a loaded machine (CI, parallel work) starts slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).json()["status"] == "ok":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not come up in 90 s")


@contextmanager
def serve_event(
    var_dir: Path,
    spec: dict[str, Any],
    clock_start: str,
    prepare: Callable[[str], None] | None = None,
    settings: dict[str, str] | None = None,
) -> Iterator[LiveServer]:
    """Load `spec` with the CLI and serve it with `studymission serve` on a free port.

    `prepare`, given the SQLite URL, runs after the load and before the server starts
    (to put rows in the database); the server's clock starts at `clock_start`; `settings`
    (``STUDYMISSION_...`` variables) are added to the server's environment.
    """
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if k != "STUDYMISSION_DATABASE_URL"},
        "STUDYMISSION_VAR_DIR": str(var_dir),
        "STUDYMISSION_SECRET_KEY": TEST_SECRET,
        "STUDYMISSION_BASE_URL": base_url,
        "STUDYMISSION_CLOCK_START": clock_start,
        # Every browser of these tests opens its join link from 127.0.0.1.
        "STUDYMISSION_JOIN_RATE_LIMIT": "10000",
        **(settings or {}),
    }
    spec_file = var_dir / "spec.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    cli = [sys.executable, "-m", "studymission"]
    loaded = subprocess.run(
        [*cli, "event", "load", str(spec_file)], env=env, capture_output=True, check=True
    )
    links = json.loads(loaded.stdout)["join_links"]
    if prepare is not None:
        prepare(f"sqlite:///{var_dir / 'studymission.db'}")
    log = (var_dir / "server.log").open("wb")
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_until_up(base_url, server)
        yield LiveServer(base_url=base_url, join_links=links)
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The test event served by `studymission serve`, its clock at 13:30 Seoul on Day 1."""
    with serve_event(
        tmp_path_factory.mktemp("e2e-var"), make_spec(), "2021-11-24T04:30:00Z"
    ) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    need(CHROMIUM.exists(), f"{CHROMIUM} is missing (Debian package chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS

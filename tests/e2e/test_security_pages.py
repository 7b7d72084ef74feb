"""The main pages in a real browser under the Content-Security-Policy, with hostile text in
every field: no policy violation, no script error, and no dialog (a payload that ran would
open one). Screenshots go to artifacts/security-*.png.

The event's titles, names and organisations carry the payloads of the XSS suite; the
participant asks a question and the moderator sends a notice carrying them too (the notice
is shown by the page's script, so this checks the script's handling as well as Jinja's).
"""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog

from tests.e2e.conftest import LiveServer, keep_on_loopback, serve_event
from tests.integration.test_xss import PAYLOAD, SCRIPT, hostile_spec

CODE = "TEST-EVENT-1"
DOMAIN = "meet.test"
DESKTOP = {"width": 1280, "height": 860}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

# Collects every policy violation the page reports; init scripts are not subject to the
# policy, so this runs even where the policy refuses everything else.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI} ${where}`);
});
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The hostile event on day 1 at 13:05 in Seoul, self-hosted Jitsi at meet.test."""
    with serve_event(
        tmp_path_factory.mktemp("e2e-security"),
        hostile_spec(),
        "2021-11-24T04:05:00Z",
        settings={
            "STUDYMISSION_JITSI_MODE": "self_hosted",
            "STUDYMISSION_JITSI_DOMAIN": DOMAIN,
            "STUDYMISSION_JITSI_APP_ID": "studymission-e2e",
            "STUDYMISSION_JITSI_APP_SECRET": "an-e2e-jitsi-app-secret-of-32-bytes",
        },
    ) as served:
        yield served


class Watched:
    """A browser page whose policy violations, script errors and dialogs are all kept."""

    def __init__(self, browser: Browser, server: LiveServer, key: str) -> None:
        self.context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
        keep_on_loopback(self.context, video_domain=DOMAIN)
        self.context.add_init_script(WATCH_VIOLATIONS)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", self._dialog)
        self.page.goto(server.join_links[key])

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text:
            self.console.append(text)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def visit(
        self, server: LiveServer, path: str, shot: str, artifacts: Path, status: int = 200
    ) -> None:
        response = self.page.goto(f"{server.base_url}{path}")
        assert response is not None and response.status == status, path
        self.page.wait_for_load_state("load")
        # htmx panels load after the page (hx-trigger="load"), scripts connect the socket.
        self.page.wait_for_timeout(1500)
        self.page.screenshot(path=str(artifacts / f"security-{shot}.png"), full_page=True)
        self.check(path)

    def check(self, where: str) -> None:
        violations = self.page.evaluate("() => window.__violations || []")
        assert (violations, self.console, self.errors, self.dialogs) == ([], [], [], []), where

    def close(self) -> None:
        self.context.close()


def staff_client(server: LiveServer, key: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=server.base_url, follow_redirects=True, timeout=10)
    page = client.get(server.join_links[key])
    match = _CSRF.search(page.text)
    assert match, "no CSRF token"
    return client, match.group(1)


def post(client: httpx.Client, csrf: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(path, json=body, headers={"X-CSRF-Token": csrf})


def test_main_pages_run_under_the_policy_with_hostile_text(
    browser: Browser, server: LiveServer, artifacts: Path
) -> None:
    api = f"/api/events/{CODE}"
    moderator, mod_csrf = staff_client(server, "mod1")
    participant = Watched(browser, server, "p001")
    try:
        page = participant.page
        # The live page: the video frame (stand-in) joins, the socket connects.
        page.wait_for_function(
            "() => document.getElementById('stage').dataset.inRoom === 'true'", timeout=20_000
        )
        asked = post(
            moderator, mod_csrf, f"{api}/questions", {"text": f"Q {PAYLOAD}", "session": "day1"}
        )
        assert asked.status_code == 201, asked.text
        sent = post(moderator, mod_csrf, f"{api}/notices", {"text": f"Notice {PAYLOAD}"})
        assert sent.status_code == 202, sent.text
        page.wait_for_function(
            "() => document.getElementById('live-notices').textContent.includes('Notice')"
        )
        notices = page.locator("#live-notices").inner_text()
        assert SCRIPT in notices  # shown as text, as typed
        assert page.locator("#live-notices script, #live-notices img").count() == 0
        page.wait_for_timeout(1500)
        page.screenshot(path=str(artifacts / "security-participant-live.png"), full_page=True)
        participant.check("participant live page")
        participant.visit(server, f"/events/{CODE}/my-attendance", "participant-minutes", artifacts)
    finally:
        participant.close()

    pages = {
        "mod1": {
            f"/events/{CODE}/console": "console",
            f"/events/{CODE}/roster": "roster",
            f"/events/{CODE}/presenter": "presenter",
            f"/events/{CODE}/breakouts/plan/day2": "breakout-plan",
        },
        "sec1": {
            f"/events/{CODE}/secretariat": "secretariat",
            f"/events/{CODE}/secretariat/people": "people",
            f"/events/{CODE}/secretariat/programme": "programme-editor",
            f"/events/{CODE}/attendance": "attendance",
            f"/events/{CODE}/attendance/p001": "attendance-person",
            f"/events/{CODE}/certificates": "certificates",
            f"/events/{CODE}/certificates/design": "certificate-design",
            f"/events/{CODE}/invitations": "invitations",
            f"/events/{CODE}/outbox": "outbox",
            f"/events/{CODE}/media": "recordings",
        },
    }
    for key, visits in pages.items():
        watched = Watched(browser, server, key)
        try:
            for path, shot in visits.items():
                watched.visit(server, path, shot, artifacts)
            # The public verification page (an unknown code here) and a join link's refusal.
            watched.visit(server, "/verify/ABCDEFGHJKLMNPQR", f"verify-{key}", artifacts, 404)
            watched.visit(server, "/join/not-a-link", f"join-refused-{key}", artifacts, 404)
        finally:
            watched.close()
    moderator.close()


def test_a_policy_violation_would_be_seen(
    browser: Browser, server: LiveServer, artifacts: Path
) -> None:
    """The watch itself works: an inline script (refused by the policy) is reported."""
    watched = Watched(browser, server, "p001")
    try:
        watched.page.evaluate(
            """() => {
              const s = document.createElement('script');
              s.textContent = 'window.__ran = true';
              document.body.append(s);
            }"""
        )
        watched.page.wait_for_timeout(300)
        assert watched.page.evaluate("() => window.__ran === true") is False
        violations = watched.page.evaluate("() => window.__violations")
        assert any("script-src" in v for v in violations), violations
    finally:
        watched.close()

"""The certificates, invitations and verification pages in a real browser, on a desktop and
a phone: issued through an override (the event has just ended, nobody has minutes yet),
verified by a stranger without signing in, and the invitations sent to the dev outbox.

Mostly a look at what was built: each page is saved under tests/e2e/artifacts/.
"""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.conftest import LiveServer, keep_on_loopback, serve_event
from tests.e2e.test_live_stage import DESKTOP, PHONE
from tests.factories import make_spec

CODE = "TEST-EVENT-1"
API = f"/api/events/{CODE}"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The day after the event (both days over)."""
    with serve_event(
        tmp_path_factory.mktemp("e2e-certificates"), make_spec(), "2021-11-26T02:00:00Z"
    ) as served:
        yield served


class Secretariat:
    def __init__(self, server: LiveServer) -> None:
        self.client = httpx.Client(base_url=server.base_url, follow_redirects=True, timeout=30)
        page = self.client.get(server.join_links["sec1"])
        match = _CSRF.search(page.text)
        assert match
        self.headers = {"X-CSRF-Token": match.group(1)}

    def send(self, method: str, path: str, **body: Any) -> Any:
        answer = self.client.request(method, path, json=body, headers=self.headers)
        assert answer.status_code < 300, answer.text
        return answer.json()


def _page(browser: Browser, server: LiveServer, key: str, size: dict[str, int]) -> Page:
    context = browser.new_context(viewport=size)  # type: ignore[arg-type]
    keep_on_loopback(context)
    page = context.new_page()
    page.goto(server.join_links[key])
    return page


def test_issue_verify_and_invite(browser: Browser, server: LiveServer, artifacts: Path) -> None:
    secretariat = Secretariat(server)
    secretariat.send(
        "PUT",
        f"{API}/overrides/p001",
        eligible=True,
        reason="Attended from the ministry's meeting room; the room's log was lost",
    )
    outcome = secretariat.send("POST", f"{API}/certificates")
    assert outcome["issued"] == ["p001"]
    verify_url = outcome["links"]["p001"]
    code = verify_url.rsplit("/", 1)[1]

    desk = _page(browser, server, "sec1", DESKTOP)
    participant = _page(browser, server, "p001", DESKTOP)
    stranger = browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    keep_on_loopback(stranger)
    try:
        desk.goto(f"{server.base_url}/events/{CODE}/certificates")
        assert code in desk.content() or "p001" in desk.content()
        desk.screenshot(path=str(artifacts / "certificates-secretariat.png"), full_page=True)
        desk.goto(f"{server.base_url}/events/{CODE}/certificates/design")
        desk.screenshot(path=str(artifacts / "certificates-design.png"), full_page=True)

        participant.wait_for_selector("a[href$='/certificate.pdf']")
        participant.screenshot(path=str(artifacts / "certificates-participant.png"), full_page=True)

        check = stranger.new_page()
        check.goto(f"{server.base_url}/verify/{code}")
        text = check.inner_text("main")
        assert "valid" in text.lower()
        assert "Nguyễn Thị Minh" in text
        assert "@" not in text  # nothing else about the person: no e-mail address
        check.screenshot(path=str(artifacts / "certificates-verify-phone.png"), full_page=True)
        unknown = check.goto(f"{server.base_url}/verify/AAAAAAAAAAAAAAAA")
        assert unknown is not None and unknown.status == 404

        sent = secretariat.send("POST", f"{API}/invitations")
        assert sent["queued"] == 5  # everyone of the factory event, staff included
        secretariat.send("POST", f"{API}/deliveries/send")
        desk.goto(f"{server.base_url}/events/{CODE}/invitations")
        desk.screenshot(path=str(artifacts / "invitations.png"), full_page=True)
        desk.goto(f"{server.base_url}/events/{CODE}/outbox")
        assert "calendar" in desk.content().lower() or ".ics" in desk.content()
        desk.screenshot(path=str(artifacts / "invitations-outbox.png"), full_page=True)
    finally:
        desk.context.close()
        participant.context.close()
        stranger.close()
        secretariat.client.close()

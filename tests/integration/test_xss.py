"""Hostile text in every field people can type shows as text, never as markup.

The event spec (titles, sessions, agenda, organisations, modality, names), a question, a
room's notes, an override's reason, a certificate (the person's name) and the invitations'
mail text all carry the payloads below; every page that shows them is fetched as the person
who may see it, and none may contain a payload unescaped, while the escaped form shows that
the text really is on the page. Fields the spec checks (emails, countries) refuse the
payload outright, and the refusal page escapes it too.
"""

import re
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from studymission.app import create_app
from studymission.config import Settings
from studymission.db.engine import make_engine
from studymission.db.migrate import upgrade
from studymission.services.clock import Clock
from tests.conftest import TEST_SECRET, RealTime
from tests.factories import make_spec
from tests.integration.helpers import bearer, load_event
from tests.integration.test_realtime_socket import DAY1, move_to

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"
SCRIPT = "<script>alert(1)</script>"
IMAGE = '"><img src=x onerror=alert(1)>'
TEMPLATE = "{{7*7}}"
URL = "javascript:alert(1)"
PAYLOAD = f"{SCRIPT}{IMAGE}{TEMPLATE} {URL}"
#: What Jinja's escaping makes of the first two: the text, shown.
SCRIPT_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
IMAGE_ESCAPED = "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"


class MarkupFinder(HTMLParser):
    """What the browser would build from a page: elements and attributes a payload could
    have made (a script saying alert, an image from ``x``, an ``on…`` handler, a
    ``javascript:`` address)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        # Only a script the browser runs counts; JSON data blocks are inert.
        kind = (values.get("type") or "text/javascript").lower()
        self._in_script = tag == "script" and kind in ("text/javascript", "module")
        if tag == "img" and values.get("src") == "x":
            self.found.append("<img src=x>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=…>")
            if name in ("href", "src", "action", "formaction") and (
                value or ""
            ).strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:…>")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and "alert(" in data:
            self.found.append("<script>alert…")


def hostile_spec() -> dict[str, Any]:
    spec = make_spec(
        title=f"Study Mission {PAYLOAD}",
        modality=f"Modality {PAYLOAD}",
        implementing_organizations=[f"Organisation {PAYLOAD}"],
    )
    for session in spec["sessions"]:
        session["title"] = f"{session['key']} {PAYLOAD}"
        for item in session["agenda"]:
            item["title"] = f"{item['key']} {PAYLOAD}"
    for person in spec["people"]:
        person["name"] = f"{person['key']} {PAYLOAD}"
        person["organization"] = f"Org {PAYLOAD}"
    return spec


class World(NamedTuple):
    client: TestClient
    engine: Engine
    clock: Clock
    headers: dict[str, dict[str, str]]


@pytest.fixture
def world(tmp_path: Path, clock: Clock, real_time: RealTime) -> Iterator[World]:
    """The hostile event on day 1 with everything typed in: a question, notes, an override,
    certificates, invitations queued."""
    engine = make_engine(f"sqlite:///{tmp_path / 'xss.db'}")
    upgrade(engine)
    settings = Settings(
        database_url=str(engine.url),
        secret_key=TEST_SECRET,
        base_url="http://testserver",
        var_dir=tmp_path / "var",
        media_dir=tmp_path / "media",
    )
    load_event(engine, settings, clock, hostile_spec())
    move_to(real_time, DAY1 + timedelta(minutes=100))
    with TestClient(create_app(settings, engine=engine, clock=clock)) as client:
        headers = {key: bearer(engine, clock, CODE, key) for key in ("p001", "rp1", "mod1", "sec1")}
        api = f"/api/events/{CODE}"
        steps = [
            client.post(
                f"{api}/questions",
                json={"text": f"Question {PAYLOAD}", "session": "day1"},
                headers=headers["p001"],
            ),
            client.post(
                f"{api}/sessions/day1/breakouts",
                json={"assignments": {"breakout-1": ["p001", "p002"]}, "minutes": 20},
                headers=headers["mod1"],
            ),
            client.put(
                f"{api}/sessions/day1/breakouts/notes/breakout-1",
                json={"text": f"Notes {PAYLOAD}", "version": 0},
                headers=headers["p001"],
            ),
            client.put(
                f"{api}/overrides/p001",
                json={"eligible": True, "reason": f"Reason {PAYLOAD}"},
                headers=headers["sec1"],
            ),
            client.post(f"{api}/certificates", json={"people": ["p001"]}, headers=headers["sec1"]),
            client.post(f"{api}/invitations", json={}, headers=headers["sec1"]),
            client.post(
                f"{api}/notices", json={"text": f"Notice {PAYLOAD}"}, headers=headers["mod1"]
            ),
        ]
        assert [s.status_code for s in steps] == [201, 200, 200, 200, 200, 200, 202], [
            s.text for s in steps
        ]
        yield World(client, engine, clock, headers)
    engine.dispose()


def certificate_code(world: World) -> str:
    listed = world.client.get(
        f"/api/events/{CODE}/certificates", headers=world.headers["sec1"]
    ).json()
    codes = [row["code"] for row in listed["people"] if row["code"]]
    assert codes, listed
    return str(codes[0])


E = f"/events/{CODE}"
#: Each page, as whom it is fetched.
PAGES: dict[str, str] = {
    E: "p001",
    f"{E}/questions": "p001",
    f"{E}/breakouts/notes": "p001",
    f"{E}/my-attendance": "p001",
    f"{E}/certificate": "p001",
    f"{E}/presenter": "rp1",
    f"{E}/console": "mod1",
    f"{E}/console/breakouts": "mod1",
    f"{E}/questions/moderate": "mod1",
    f"{E}/roster": "mod1",
    f"{E}/breakouts/report": "mod1",
    f"{E}/breakouts/plan/day2": "mod1",
    f"{E}/attendance": "sec1",
    f"{E}/attendance/p001": "sec1",
    f"{E}/secretariat": "sec1",
    f"{E}/secretariat/people": "sec1",
    f"{E}/secretariat/programme": "sec1",
    f"{E}/certificates": "sec1",
    f"{E}/invitations": "sec1",
    f"{E}/outbox": "sec1",
}


def assert_safe(html: str, where: str) -> None:
    finder = MarkupFinder()
    finder.feed(html)
    finder.close()
    assert finder.found == [], f"{where}: unescaped payload"
    assert SCRIPT not in html and "<img src=x" not in html, where


@pytest.mark.parametrize("page", sorted(PAGES))
def test_pages_show_the_payloads_as_text(world: World, page: str) -> None:
    answer = world.client.get(page, headers=world.headers[PAGES[page]])
    assert answer.status_code == 200, answer.text[:500]
    assert "text/html" in answer.headers["content-type"]
    assert_safe(answer.text, page)
    assert SCRIPT_ESCAPED in answer.text, f"{page} shows none of the hostile text"
    assert IMAGE_ESCAPED in answer.text
    assert TEMPLATE in answer.text  # shown as typed, not evaluated


def test_htmx_fragments_are_escaped_too(world: World) -> None:
    fragments = {
        f"{E}/questions/list": "p001",
        f"{E}/questions/moderate/list": "mod1",
        f"{E}/breakouts/notes/latest": "p001",
        f"{E}/console/site-visit": "mod1",
    }
    for page, who in fragments.items():
        answer = world.client.get(page, headers={**world.headers[who], "HX-Request": "true"})
        assert answer.status_code in (200, 204), (page, answer.status_code)
        assert_safe(answer.text, page)


def test_the_public_verification_page_escapes_the_name(world: World) -> None:
    code = certificate_code(world)
    page = world.client.get(f"/verify/{code}")
    assert page.status_code == 200
    assert_safe(page.text, "verify")
    assert f"p001 {SCRIPT_ESCAPED}" in page.text
    api = world.client.get(f"/api/verify/{code}").json()
    assert api["name"] == f"p001 {PAYLOAD}"  # JSON carries the text as it is, as text
    # An unknown code typed into the address is shown escaped as well.
    typed = world.client.get("/verify/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert typed.status_code == 404
    assert_safe(typed.text, "verify (typed code)")


def test_the_invitation_mail_is_plain_text(world: World) -> None:
    mails = world.client.get(f"/api/events/{CODE}/deliveries", headers=world.headers["sec1"])
    assert mails.status_code == 200
    outbox = world.client.get(f"{E}/outbox", headers=world.headers["sec1"]).text
    assert_safe(outbox, "outbox")
    assert "Study Mission " + SCRIPT_ESCAPED in outbox


def test_agenda_data_for_the_stage_cannot_end_its_script(world: World) -> None:
    home = world.client.get(E, headers=world.headers["p001"]).text
    data = re.search(
        r'<script type="application/json" class="stage-agenda">(.*?)</script>', home, re.S
    )
    assert data is not None
    assert "<" not in data.group(1) and "\\u003c" in data.group(1)


def test_checked_fields_refuse_the_payload_and_the_refusal_is_escaped(world: World) -> None:
    rows = (
        "key,name,email,country\n"
        f'p090,Someone,"{SCRIPT}@example.org",TH\n'
        f'p091,Someone Else,ok@example.org,"{IMAGE}"\n'
    )
    answer = world.client.post(
        f"{E}/secretariat/people/import",
        files={"file": ("people.csv", rows.encode(), "text/csv")},
        headers=world.headers["sec1"],
    )
    assert answer.status_code == 422
    assert_safe(answer.text, "import refusal")
    assert SCRIPT_ESCAPED in answer.text
    api = world.client.post(
        f"/api/events/{CODE}/people/import",
        content=rows,
        headers={**world.headers["sec1"], "content-type": "text/csv"},
    )
    assert api.status_code == 422
    assert {p["path"].split(".")[-1] for p in api.json()["problems"]} >= {"email", "country"}

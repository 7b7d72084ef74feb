"""The attendance pages: the moderators' live roster, the secretariat's report with its heat
map, filters and overrides, one person's minutes, and a participant's own minutes.

Presence is written straight into the per-minute log (db.presence.upsert_minutes) and the
live roster's tables (record_socket_changes), as the realtime layer would.
"""

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from studymission.config import Settings
from studymission.db.events import get_event, get_person, read_programme
from studymission.db.presence import (
    SocketChange,
    record_socket_changes,
    touch_process,
    upsert_minutes,
)
from studymission.db.tables import AttendanceOverride, AuditEntry
from studymission.services.clock import Clock
from studymission.services.events import LoadOutcome
from tests.conftest import RealTime
from tests.factories import BASE_SPEC, make_spec
from tests.integration.helpers import load_event, sign_in

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"
BASE = f"/events/{CODE}"
HTMX = {"HX-Request": "true"}
FULL = (1 << 60) - 1
EXTRA_PEOPLE = [
    {
        "key": "p003",
        "name": "Trần Văn An",
        "email": "an@example.org",
        "country": "VN",
        "organization": "VNPI",
        "role": "participant",
        "origin": "overseas",
    },
]
REASON = "Missed Day 2 for a <b>medical</b> emergency; watched the recording"


# --- helpers ---------------------------------------------------------------------------


class _Tables(HTMLParser):
    """The text of every cell of the table with a given id, row by row."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.depth = 0
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and (self.depth or dict(attrs).get("id") == self.table_id):
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = []
        elif self.depth and tag in ("details", "caption"):
            # The override form and the caption are not the table's values.
            self.skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
        elif self.depth and tag in ("details", "caption"):
            self.skip -= 1
        elif self.depth and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None and not self.skip:
            self.cell.append(data)


def table(html: str, table_id: str) -> list[list[str]]:
    """The rows of table #`table_id` (header row first), each cell's text."""
    parser = _Tables(table_id)
    parser.feed(html)
    assert parser.rows, f"no table #{table_id} in the page"
    return parser.rows


def heatmap_rows(html: str) -> list[str]:
    """The person keys of the heat map's rows, in order (none when nobody is shown)."""
    return re.findall(r'<g class="row" data-person="([^"]+)">', html)


def problem_paths(html: str) -> list[str]:
    return re.findall(r"<li><code>([^<]+)</code>", html)


def as_person(client: TestClient, outcome: LoadOutcome, key: str) -> tuple[TestClient, str]:
    """A browser of its own, signed in as `key`; with its CSRF token."""
    browser = TestClient(client.app, base_url="http://testserver")
    return browser, sign_in(browser, outcome, key)


def log_minutes(
    engine: Engine,
    key: str,
    session: str,
    minutes: Iterable[int],
    *,
    seconds: int = 60,
    room: str = "main",
) -> None:
    """Write `key`'s coverage of `minutes` of `session` into the per-minute log."""
    bits = (1 << seconds) - 1
    with Session(engine) as db:
        event = get_event(db, CODE)
        assert event is not None
        session_id = {s.key: sid for sid, s in read_programme(db, event)}[session]
        person = get_person(db, event, key)
        assert person is not None and person.id is not None
        cells = [(session_id, person.id, m, room, bits, bits) for m in minutes]
        upsert_minutes(db.connection(), cells)
        db.commit()


def overrides_written(engine: Engine) -> tuple[int, int]:
    """How many override rows and override audit entries there are."""
    with Session(engine) as db:
        rows = db.exec(select(func.count()).select_from(AttendanceOverride)).one()
        audit = select(func.count()).select_from(AuditEntry)
        entries = db.exec(audit.where(col(AuditEntry.action).startswith("override."))).one()
        return rows, entries


@pytest.fixture
def outcome(engine: Engine, settings: Settings, clock: Clock) -> LoadOutcome:
    spec = make_spec(people=[*BASE_SPEC["people"], *EXTRA_PEOPLE])
    return load_event(engine, settings, clock, spec)


@pytest.fixture
def after_event(real_time: RealTime, engine: Engine, outcome: LoadOutcome) -> None:
    """Both days over (25 Nov 16:30 Seoul), with a log that makes one participant eligible.

    p001 every minute of both days; p002 all of Day 1 and half of Day 2; p003 only partly
    there (20 s) for half an hour; rp1 all of Day 1.
    """
    real_time.advance(hours=28, minutes=30)
    log_minutes(engine, "p001", "day1", range(180))
    log_minutes(engine, "p001", "day2", range(180))
    log_minutes(engine, "p002", "day1", range(180))
    log_minutes(engine, "p002", "day2", range(90))
    log_minutes(engine, "p003", "day1", range(30), seconds=20)
    log_minutes(engine, "rp1", "day1", range(180))


@pytest.fixture
def during_day1(real_time: RealTime, engine: Engine, outcome: LoadOutcome) -> datetime:
    """14:30 Seoul on Day 1: 90 minutes reached, the break (minutes 60–74) behind us.

    p001 was there minutes 0–59 and 75–89 (40 s each); p002 the first 10 minutes.
    Returns the event time now.
    """
    real_time.advance(hours=2, minutes=30)
    log_minutes(engine, "p001", "day1", range(60))
    log_minutes(engine, "p001", "day1", range(75, 90), seconds=40)
    log_minutes(engine, "p002", "day1", range(10))
    return real_time.now


@pytest.fixture
def sockets(engine: Engine, during_day1: datetime) -> None:
    """p001 in the main room for 20 minutes; p002 connected 3 minutes ago, not in a room;
    p003 dropped 4 minutes ago; nobody else connected."""
    now = during_day1
    with Session(engine) as db:
        event = get_event(db, CODE)
        assert event is not None and event.id is not None
        event_id = event.id
        ids = {}
        for key in ("p001", "p002", "p003"):
            person = get_person(db, event, key)
            assert person is not None and person.id is not None
            ids[key] = person.id
        connection = db.connection()
        touch_process(connection, "test-process", "localhost", 1, now, now)

        def change(
            key: str,
            socket: str,
            kind: str,
            ago: int,
            *,
            room: str | None = None,
            in_room: bool | None = None,
            visible: bool | None = None,
            detail: dict[str, Any] | None = None,
        ) -> SocketChange:
            at = now - timedelta(minutes=ago)
            return SocketChange(
                event_id,
                ids[key],
                socket,
                "test-process",
                kind,
                at,
                room=room,
                in_room=in_room,
                visible=visible,
                detail=detail,
            )

        record_socket_changes(
            connection,
            [
                change("p001", "s1", "connect", 20),
                change("p001", "s1", "change", 20, room="main", in_room=True, visible=True),
                change("p002", "s2", "connect", 3),
                change("p002", "s2", "change", 3, room="main", in_room=False, visible=False),
                change("p003", "s3", "connect", 30),
                change("p003", "s3", "change", 30, room="main", in_room=True, visible=True),
                change("p003", "s3", "disconnect", 4, detail={"code": 1001}),
            ],
        )
        db.commit()


# --- who may ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["p001", "rp1"])
def test_participants_and_resource_people_are_refused(
    client: TestClient, engine: Engine, outcome: LoadOutcome, key: str
) -> None:
    token = sign_in(client, outcome, key)
    for path in (f"{BASE}/roster", f"{BASE}/attendance", f"{BASE}/attendance/p002"):
        response = client.get(path)
        assert (path, response.status_code) == (path, 403)
        assert "Not allowed" in response.text
        assert "needs the role moderator, secretariat" in response.text
    for path in (f"{BASE}/attendance/overrides/p001", f"{BASE}/attendance/overrides/p001/withdraw"):
        form = {"csrf_token": token, "eligible": "yes", "reason": "I say so"}
        response = client.post(path, data=form, follow_redirects=False)
        assert (path, response.status_code) == (path, 403)
    assert overrides_written(engine) == (0, 0)


def test_moderator_reads_both_pages_but_may_not_override(
    client: TestClient, engine: Engine, outcome: LoadOutcome, after_event: None
) -> None:
    token = sign_in(client, outcome, "mod1")
    roster = client.get(f"{BASE}/roster")
    report = client.get(f"{BASE}/attendance")
    person = client.get(f"{BASE}/attendance/p002")
    assert (roster.status_code, report.status_code, person.status_code) == (200, 200, 200)
    for html in (report.text, person.text):
        assert 'class="override-form"' not in html
        assert "/attendance/overrides/" not in html
    assert f'href="{BASE}/roster" aria-current="page"' in roster.text
    assert f'href="{BASE}/attendance" aria-current="page"' in report.text
    form = {"csrf_token": token, "eligible": "yes", "reason": "Moderators cannot"}
    refused = client.post(f"{BASE}/attendance/overrides/p002", data=form)
    assert refused.status_code == 403
    assert "overriding eligibility needs the role secretariat; you are moderator" in refused.text
    assert overrides_written(engine) == (0, 0)


def test_another_event_looks_like_it_does_not_exist(
    client: TestClient, outcome: LoadOutcome
) -> None:
    sign_in(client, outcome, "sec1")
    for path in ("/events/OTHER/roster", "/events/OTHER/attendance", "/events/OTHER/my-attendance"):
        assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", [f"{BASE}/roster", f"{BASE}/attendance"])
def test_page_whole_or_as_an_htmx_fragment(
    client: TestClient, outcome: LoadOutcome, after_event: None, path: str
) -> None:
    sign_in(client, outcome, "sec1")
    whole = client.get(path)
    fragment = client.get(path, headers=HTMX)
    assert (whole.status_code, fragment.status_code) == (200, 200)
    for response in (whole, fragment):
        assert "HX-Request" in [v.strip() for v in response.headers["vary"].split(",")]
    assert whole.text.startswith("<!doctype html>")
    assert "<html" not in fragment.text
    # A history restore says HX-Request too, but needs the whole page.
    restore = client.get(path, headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert restore.text.startswith("<!doctype html>")


# --- the live roster -------------------------------------------------------------------


def test_roster_shows_who_is_connected_dropped_and_absent(
    client: TestClient, outcome: LoadOutcome, sockets: None
) -> None:
    sign_in(client, outcome, "sec1")
    html = client.get(f"{BASE}/roster").text
    counts = re.search(
        r'<div id="roster-counts" aria-live="polite" aria-atomic="true">(.*?)</div>', html, re.S
    )
    assert counts is not None
    assert " ".join(re.sub(r"<[^>]+>", " ", counts.group(1)).split()) == (
        "2 connected 1 in a room 1 dropped (last 10 min) 3 not joined"
    )
    # Times in the viewer's zone: sec1 is in Japan, which shares Seoul's offset.
    assert "Times in your time zone, Asia/Tokyo." in html
    assert table(html, "roster-connected") == [
        ["Name", "Country", "Role", "Room", "In the room", "Tab", "Connected since"],
        [
            "Nguyễn Thị Minh",
            "Vietnam",
            "participant",
            "main",
            "✓ Yes",
            "Visible",
            "14:10 · for 20 min",
        ],
        ["Şebnem Yıldız", "Türkiye", "participant", "main", "✗ No", "Hidden", "14:27 · for 3 min"],
    ]
    assert table(html, "roster-dropped")[1:] == [
        ["Trần Văn An", "Vietnam", "participant", "14:26 · 4 min ago"],
    ]
    assert [row[0] for row in table(html, "roster-absent")[1:]] == [
        "Kim Min-jun",
        "Moderator One",
        "Secretariat",
    ]
    assert '<caption class="visually-hidden">People connected now: 2</caption>' in html


def test_roster_filters_by_status_and_room(
    client: TestClient, outcome: LoadOutcome, sockets: None
) -> None:
    sign_in(client, outcome, "sec1")
    in_room = client.get(f"{BASE}/roster", params={"status": "in_room"}, headers=HTMX).text
    assert [row[0] for row in table(in_room, "roster-connected")[1:]] == ["Nguyễn Thị Minh"]
    assert 'id="roster-dropped"' not in in_room
    assert 'id="roster-absent"' not in in_room
    dropped = client.get(f"{BASE}/roster", params={"status": "dropped"}).text
    assert 'id="roster-connected"' not in dropped
    assert [row[0] for row in table(dropped, "roster-dropped")[1:]] == ["Trần Văn An"]
    assert '<option value="dropped" selected>' in dropped
    main = client.get(f"{BASE}/roster", params={"room": "main"}).text
    assert len(table(main, "roster-connected")) == 3
    elsewhere = client.get(f"{BASE}/roster", params={"room": "breakout-9"}).text
    assert 'id="roster-connected-empty"' in elsewhere
    assert '<option value="breakout-9" selected>breakout-9</option>' in elsewhere


def test_roster_poll_gets_204_when_nothing_changed(
    client: TestClient, engine: Engine, outcome: LoadOutcome, sockets: None, real_time: RealTime
) -> None:
    sign_in(client, outcome, "sec1")
    fragment = client.get(f"{BASE}/roster", headers=HTMX)
    version = re.search(r'id="roster-version" name="v" value="([0-9a-f]+)"', fragment.text)
    assert version is not None
    # The fragment refreshes the counts out of band; the room choices only when the rooms
    # the page offers (`rooms`) are not those of the people connected now.
    assert '<div id="roster-counts" hx-swap-oob="innerHTML">' in fragment.text
    assert 'id="roster-room"' not in fragment.text
    assert '<input type="hidden" id="roster-rooms" name="rooms" value="main">' in fragment.text
    polled = {"v": "0", "rooms": "main"}
    offered = client.get(f"{BASE}/roster", params=polled, headers=HTMX).text
    assert 'id="roster-room"' not in offered
    polled = {"v": "0", "rooms": "breakout-1,main"}
    breakouts = client.get(f"{BASE}/roster", params=polled, headers=HTMX)
    assert '<select id="roster-room" name="room" hx-swap-oob="true">' in breakouts.text
    assert '<option value="breakout-1">' not in breakouts.text
    assert '<option value="main" >main</option>' in breakouts.text
    same = client.get(f"{BASE}/roster", params={"v": version.group(1)}, headers=HTMX)
    assert (same.status_code, same.text) == (204, "")
    # A minute later "for 20 min" reads "for 21 min": the poll gets the new table.
    real_time.advance(minutes=1)
    with Session(engine) as db:  # the process holding the sockets is still alive
        touch_process(db.connection(), "test-process", "localhost", 1, real_time.now, real_time.now)
        db.commit()
    later = client.get(f"{BASE}/roster", params={"v": version.group(1)}, headers=HTMX)
    assert later.status_code == 200
    assert table(later.text, "roster-connected")[1][6] == "14:10 · for 21 min"
    # Without htmx the version does not matter: the whole page, always.
    assert client.get(f"{BASE}/roster", params={"v": version.group(1)}).status_code == 200


# --- the attendance report -------------------------------------------------------------


def test_report_shows_summary_table_and_heat_map(
    client: TestClient, outcome: LoadOutcome, after_event: None
) -> None:
    sign_in(client, outcome, "sec1")
    html = client.get(f"{BASE}/attendance").text
    assert '<li id="eligible-count"><strong>1</strong> of 3 participants eligible</li>' in html
    assert table(html, "session-spread") == [
        ["Session", "Required min", "Attended (≥ 90 %)", "Half or more", "Under half", "None"],
        ["Day 1", "165", "2", "0", "0", "1"],
        ["Day 2", "180", "1", "1", "0", "1"],
    ]
    rows = table(html, "attendance")
    assert rows[0] == [
        "Person",
        "Country",
        "Role",
        "Day 1 (needs 149 of 165 min)",
        "Day 2 (needs 162 of 180 min)",
        "Certificate",
        "Override",
    ]
    by_key = {re.sub(r".*\((\w+)\)$", r"\1", row[0]): row for row in rows[1:]}
    assert list(by_key) == ["mod1", "p001", "p002", "p003", "rp1", "sec1"]
    assert by_key["p001"][1:6] == [
        "Vietnam",
        "participant",
        "✓ Attended 165 / 165 min (100.0 %)",
        "✓ Attended 180 / 180 min (100.0 %)",
        "✓ Eligible by attendance",
    ]
    assert by_key["p002"][3:6] == [
        "✓ Attended 165 / 165 min (100.0 %)",
        "✗ Not attended 90 / 180 min (50.0 %)",
        "✗ Not eligible by attendance",
    ]
    assert by_key["p003"][3] == "✗ Not attended 0 / 165 min (0.0 %)"
    # The heat map: one SVG, one row per person shown, in the table's order.
    assert html.count("<svg") == 1
    assert heatmap_rows(html) == list(by_key)
    assert 'aria-labelledby="heatmap-caption"' in html
    assert f'href="/api/events/{CODE}/attendance?format=csv"' in html
    assert f'href="/api/events/{CODE}/attendance?format=xlsx"' in html


def test_while_a_session_runs_a_shortfall_too_big_for_the_minutes_left_says_so(
    client: TestClient, outcome: LoadOutcome, during_day1: datetime
) -> None:
    sign_in(client, outcome, "sec1")
    html = client.get(f"{BASE}/attendance", params={"role": "participant"}).text
    # 75 minutes of Day 1's required 165 are past; 149 are needed.
    day1 = {row[0]: row[3] for row in table(html, "attendance")[1:]}
    assert day1 == {
        "Nguyễn Thị Minh (p001)": "… Not yet 75 / 165 min (45.5 %)",  # 75 + 90 left ≥ 149
        "Şebnem Yıldız (p002)": "✗ Out of reach 10 / 165 min (6.1 %)",  # 10 + 90 < 149
        "Trần Văn An (p003)": "✗ Out of reach 0 / 165 min (0.0 %)",
    }
    assert table(html, "session-spread")[1][0] == "Day 1 (not over)"
    assert "Not yet eligible" in html


def test_country_filter_keeps_only_that_country_in_table_and_heat_map(
    client: TestClient, outcome: LoadOutcome, after_event: None
) -> None:
    sign_in(client, outcome, "sec1")
    page = client.get(f"{BASE}/attendance", params={"country": "VN"})
    fragment = client.get(f"{BASE}/attendance", params={"country": "VN"}, headers=HTMX)
    for html in (page.text, fragment.text):
        names = [row[0] for row in table(html, "attendance")[1:]]
        assert names == ["Nguyễn Thị Minh (p001)", "Trần Văn An (p003)"]
        assert heatmap_rows(html) == ["p001", "p003"]
        assert '<p class="muted" id="attendance-count">2 of 6 people shown.</p>' in html
    # The countries offered are those of the event's people, by name.
    options = re.findall(r'<option value="([A-Z]{2})"', page.text)
    assert options == ["JP", "KR", "TR", "VN"]
    assert '<option value="VN" selected>Vietnam</option>' in page.text
    # The summary stays the whole event's.
    assert "<strong>1</strong> of 3 participants eligible" in page.text


def test_not_eligible_role_and_name_filters(
    client: TestClient, outcome: LoadOutcome, after_event: None
) -> None:
    sign_in(client, outcome, "sec1")

    def shown(**params: str) -> list[str]:
        html = client.get(f"{BASE}/attendance", params=params, headers=HTMX).text
        keys = heatmap_rows(html)
        rows = [row for row in table(html, "attendance")[1:] if len(row) > 1]
        assert [re.sub(r".*\((\w+)\)$", r"\1", row[0]) for row in rows] == keys
        return keys

    assert shown(not_eligible="1") == ["mod1", "p002", "p003", "rp1", "sec1"]
    assert shown(not_eligible="1", role="participant") == ["p002", "p003"]
    assert shown(q="minh") == ["p001"]
    assert shown(q="yildiz", country="TR") == ["p002"]
    assert shown(country="IN") == []
    empty = client.get(f"{BASE}/attendance", params={"country": "IN"}).text
    assert "Nobody matches these filters." in empty
    assert 'id="heatmap-figure"' not in empty
    checked = client.get(f"{BASE}/attendance", params={"not_eligible": "1"}).text
    assert 'name="not_eligible" type="checkbox" value="1" checked' in checked


# --- overrides -------------------------------------------------------------------------


def test_override_without_csrf_token_is_refused_and_writes_nothing(
    client: TestClient, engine: Engine, outcome: LoadOutcome, after_event: None
) -> None:
    sign_in(client, outcome, "sec1")
    form = {"eligible": "yes", "reason": REASON}
    missing = client.post(f"{BASE}/attendance/overrides/p002", data=form)
    wrong = client.post(
        f"{BASE}/attendance/overrides/p002", data={**form, "csrf_token": "not-the-token"}
    )
    withdraw = client.post(f"{BASE}/attendance/overrides/p002/withdraw")
    assert (missing.status_code, wrong.status_code, withdraw.status_code) == (403, 403, 403)
    assert "missing its CSRF token" in missing.text
    assert overrides_written(engine) == (0, 0)


def test_override_with_empty_reason_is_422_with_the_problem_and_writes_nothing(
    client: TestClient, engine: Engine, outcome: LoadOutcome, after_event: None
) -> None:
    csrf = sign_in(client, outcome, "sec1")
    url = f"{BASE}/attendance/overrides/p002"
    blank = {"csrf_token": csrf, "eligible": "yes", "reason": "   ", "country": "TR"}
    page = client.post(url, data=blank)
    assert page.status_code == 422
    assert page.text.startswith("<!doctype html>")
    assert problem_paths(page.text) == ["reason"]
    assert "say why: the reason is kept with the decision" in page.text
    # The form that failed is open, says what was typed and takes the focus.
    assert re.search(r'<details class="override" open>\s*<summary >Decide', page.text)
    assert 'id="override-p002-reason" name="reason"' in page.text
    assert 'autofocus aria-invalid="true"' in page.text
    # The filters in use are kept: only Türkiye is shown.
    assert heatmap_rows(page.text) == ["p002"]
    fragment = client.post(url, data=blank, headers=HTMX)
    assert fragment.status_code == 422
    assert "<html" not in fragment.text
    assert fragment.text.strip().startswith('<div id="attendance-results"')
    assert problem_paths(fragment.text) == ["reason"]
    neither = client.post(url, data={"csrf_token": csrf, "eligible": "maybe"}, headers=HTMX)
    assert neither.status_code == 422
    assert problem_paths(neither.text) == ["eligible", "reason"]
    assert neither.text.count("say why: the reason is kept with the decision") == 1
    # Someone not on the page (here: nobody): the problems are shown above the table.
    nobody = {"csrf_token": csrf, "eligible": "yes", "reason": "Typo in the key"}
    unknown = client.post(f"{BASE}/attendance/overrides/p999", data=nobody, headers=HTMX)
    assert unknown.status_code == 422
    assert problem_paths(unknown.text) == ["person"]
    assert overrides_written(engine) == (0, 0)


def test_override_by_form_is_saved_shown_and_audited(
    client: TestClient, engine: Engine, outcome: LoadOutcome, after_event: None
) -> None:
    csrf = sign_in(client, outcome, "sec1")
    form = {"csrf_token": csrf, "eligible": "yes", "reason": REASON, "not_eligible": "1"}
    saved = client.post(f"{BASE}/attendance/overrides/p002", data=form, follow_redirects=False)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{BASE}/attendance?not_eligible=1&saved=p002#person-p002"
    assert overrides_written(engine) == (1, 1)
    html = client.get(saved.headers["location"]).text
    assert (
        "<strong>Saved.</strong> Şebnem Yıldız is now eligible by the secretariat's decision."
        in html
    )
    # p002 is eligible now, so the "not yet eligible" filter leaves them out.
    assert "p002" not in heatmap_rows(html)
    html = client.get(f"{BASE}/attendance", params={"country": "TR"}).text
    row = table(html, "attendance")[1]
    assert row[5] == (
        "✓ Eligible by override: Missed Day 2 for a <b>medical</b> emergency; watched the "
        "recording — Secretariat, 25 Nov 16:30; by attendance alone: not eligible"
    )
    # Names and reasons are text, never markup.
    assert "&lt;b&gt;medical&lt;/b&gt;" in html
    assert "<b>medical</b>" not in html
    assert "<strong>2</strong> of 3 participants eligible" in html
    assert table(html, "trail") == [
        ["When (Asia/Tokyo)", "Who", "Person", "What", "Reason", "Status"],
        [
            "25 Nov 2021 16:30",
            "Secretariat",
            "Şebnem Yıldız (p002)",
            "Set eligible",
            "Missed Day 2 for a <b>medical</b> emergency; watched the recording",
            "In force",
        ],
    ]


def test_override_by_htmx_refreshes_results_summary_and_trail_then_withdraws(
    client: TestClient, engine: Engine, outcome: LoadOutcome, after_event: None, real_time: RealTime
) -> None:
    csrf = sign_in(client, outcome, "sec1")
    headers = {**HTMX, "X-CSRF-Token": csrf}
    form = {"eligible": "no", "reason": "Shared their join link"}
    saved = client.post(f"{BASE}/attendance/overrides/p001", data=form, headers=headers)
    assert saved.status_code == 200
    html = saved.text
    assert "<html" not in html
    assert html.strip().startswith('<div id="attendance-results"')
    assert '<div id="attendance-notice" hx-swap-oob="innerHTML">' in html
    assert '<div id="summary-slot" hx-swap-oob="innerHTML">' in html
    assert '<div id="trail-slot" hx-swap-oob="innerHTML">' in html
    assert "Nguyễn Thị Minh is now not eligible by the secretariat's decision." in html
    assert "<strong>0</strong> of 3 participants eligible" in html
    # The focus returns to the row's "Decide" control.
    assert re.search(r'<tr id="person-p001"[^>]*>.*?<summary autofocus>', html, re.S)

    real_time.advance(minutes=5)
    withdrawn = client.post(f"{BASE}/attendance/overrides/p001/withdraw", headers=headers)
    assert withdrawn.status_code == 200
    html = withdrawn.text
    assert "Nguyễn Thị Minh's eligibility follows attendance again: eligible." in html
    assert "<strong>1</strong> of 3 participants eligible" in html
    assert [row[1:4] + row[5:] for row in table(html, "trail")[1:]] == [
        ["Secretariat", "Nguyễn Thị Minh (p001)", "Withdrew the override (not eligible)", "—"],
        [
            "Secretariat",
            "Nguyễn Thị Minh (p001)",
            "Set not eligible",
            "Withdrawn 25 Nov 16:35 by Secretariat",
        ],
    ]
    assert overrides_written(engine) == (1, 2)


def test_a_new_decision_replaces_the_one_in_force(
    client: TestClient, engine: Engine, outcome: LoadOutcome, after_event: None, real_time: RealTime
) -> None:
    csrf = sign_in(client, outcome, "sec1")
    url = f"{BASE}/attendance/overrides/p003"
    client.post(url, data={"csrf_token": csrf, "eligible": "yes", "reason": "First thought"})
    real_time.advance(minutes=2)
    client.post(url, data={"csrf_token": csrf, "eligible": "no", "reason": "Second thought"})
    html = client.get(f"{BASE}/attendance").text
    trail = table(html, "trail")[1:]
    assert [(row[0], row[3], row[5]) for row in trail] == [
        ("25 Nov 2021 16:32", "Set not eligible", "In force"),
        ("25 Nov 2021 16:30", "Set eligible", "Replaced 25 Nov 16:32"),
    ]


# --- one person ------------------------------------------------------------------------


def test_person_page_lists_minutes_connections_and_decides(
    client: TestClient, engine: Engine, outcome: LoadOutcome, sockets: None
) -> None:
    csrf = sign_in(client, outcome, "sec1")
    html = client.get(f"{BASE}/attendance/p001").text
    assert "<h1>Nguyễn Thị Minh</h1>" in html
    log = table(html, "log-day1")
    assert log[0] == ["Minute", "Time", "Seconds", "Present", "Room", "Break"]
    assert len(log) == 1 + 90
    assert log[1] == ["0", "13:00", "60", "✓ yes", "main", ""]
    assert log[61] == ["60", "14:00", "0", "no (not counted)", "—", "break"]
    assert log[76] == ["75", "14:15", "40", "✓ yes", "main", ""]
    assert 'id="log-day2"' not in html
    assert "75</strong> of 165 required minutes present" in html
    assert table(html, "connections")[1:] == [
        ["24 Nov 14:10:00", "Moved or changed tab", "main", "in the room, tab visible"],
        ["24 Nov 14:10:00", "Connected", "—", ""],
    ]
    dropped = client.get(f"{BASE}/attendance/p003").text
    assert [row[1] for row in table(dropped, "connections")[1:]] == [
        "Disconnected",
        "Moved or changed tab",
        "Connected",
    ]
    assert "code 1001 (tab closed or page left)" in dropped

    url = f"{BASE}/attendance/overrides/p003"
    refused = client.post(
        url, data={"csrf_token": csrf, "eligible": "yes", "view": "person"}, headers=HTMX
    )
    assert refused.status_code == 422
    assert refused.text.strip().startswith('<section class="panel" id="person-decision"')
    assert problem_paths(refused.text) == ["reason"]
    form = {"csrf_token": csrf, "eligible": "yes", "reason": "Connection trouble", "view": "person"}
    saved = client.post(url, data=form, headers=HTMX)
    assert saved.status_code == 200
    assert "Saved." in saved.text
    assert table(saved.text, "person-trail")[1][2:4] == ["Set eligible", "Connection trouble"]
    plain = client.post(url, data=form, follow_redirects=False)
    assert (plain.status_code, plain.headers["location"]) == (303, f"{BASE}/attendance/p003")
    assert client.get(f"{BASE}/attendance/nobody").status_code == 404


# --- the participant's own minutes -----------------------------------------------------


def test_participant_sees_own_minutes_and_nobody_elses(
    client: TestClient, outcome: LoadOutcome, during_day1: datetime
) -> None:
    sign_in(client, outcome, "p001")
    html = client.get(BASE).text
    assert "<strong>75</strong> of 165 required minutes present so far." in html
    assert "The session needs 149." in html
    assert "certificates of attendance go to participants who attend every session" in html
    assert "your browser reports every 15 seconds that it is open" in html
    assert "minutes in breaks don't count" in html
    # The strip: present, the break, present again, then what is still to come.
    strip = re.search(r'<svg class="strip" id="my-strip".*?</svg>', html, re.S)
    assert strip is not None
    runs = re.findall(r'<rect class="strip__(\w+)" x="(\d+)" y="0" width="(\d+)"', strip.group(0))
    assert runs == [
        ("present", "0", "60"),
        ("break", "60", "15"),
        ("present", "75", "15"),
        ("later", "90", "90"),
    ]
    assert (
        'aria-label="Day 1: 75 minutes present, 0 partly, 0 absent, 15 in breaks, 90 still to come"'
        in html
    )
    # The live connection: its status, its notices, and the stage of a session running now,
    # whose video call (not the open page) tells whether the person is in the room.
    assert 'id="live-status"' in html
    assert 'data-presence="stage"' in html
    assert '<span class="stage__mode mode-badge" data-mode="stage">Main stage</span>' in html
    assert '<script type="module" src="/static/js/event-live.js"></script>' in html
    # Nobody else's presence: not another participant's name, nor their minutes.
    assert "Şebnem" not in html
    assert "Trần Văn An" not in html
    fragment = client.get(f"{BASE}/my-attendance", headers=HTMX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert fragment.text.strip().startswith('<div id="my-minutes"')
    assert "<strong>75</strong> of 165" in fragment.text


def test_each_participant_polls_their_own_minutes(
    client: TestClient, outcome: LoadOutcome, during_day1: datetime
) -> None:
    other, _csrf = as_person(client, outcome, "p002")
    fragment = other.get(f"{BASE}/my-attendance", headers=HTMX).text
    assert "<strong>10</strong> of 165 required minutes present so far." in fragment
    assert "Nguyễn" not in fragment
    # A person key in the address is not a way to read someone else's minutes.
    assert (
        other.get(f"{BASE}/my-attendance", params={"person": "p001"}, headers=HTMX).text == fragment
    )
    plain = other.get(f"{BASE}/my-attendance", follow_redirects=False)
    assert (plain.status_code, plain.headers["location"]) == (303, f"{BASE}#my-attendance")
    assert TestClient(client.app).get(f"{BASE}/my-attendance").status_code == 401


def test_before_the_first_session_the_page_says_when_it_starts(
    client: TestClient, outcome: LoadOutcome
) -> None:
    html = client.get(f"/join/{outcome.join_tokens['p002']}").text
    assert "<strong>0</strong> of 165 required minutes present so far." in html
    # Day 1 starts at 13:00 in Seoul, 07:00 in Istanbul: p002's guessed time zone.
    assert 'Day 1 <span class="muted">· starts Wed 24 Nov, 07:00 your time</span>' in html
    assert (
        '<span class="stage__mode mode-badge" data-mode="waiting">Waiting to start</span>' in html
    )

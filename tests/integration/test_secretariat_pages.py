"""The secretariat's pages: event overview, programme editor, people and CSV import, join links."""

import csv
import io
import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from studymission.config import Settings
from studymission.db.events import get_event, list_agenda, list_people, list_sessions
from studymission.domain.roster import PEOPLE_CSV_COLUMNS
from studymission.services.clock import Clock
from studymission.services.demo import build_demo_spec
from studymission.services.events import LoadOutcome
from tests.factories import make_spec
from tests.integration.helpers import load_event, sign_in

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"
BASE = f"/events/{CODE}/secretariat"
HTMX = {"HX-Request": "true"}
PAGES = [BASE, f"{BASE}/programme", f"{BASE}/people"]


# --- helpers ---------------------------------------------------------------------------


class _Tables(HTMLParser):
    """The text of every cell of the table with a given id, row by row."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.depth = 0
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and (self.depth or dict(attrs).get("id") == self.table_id):
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
        elif self.depth and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table(html: str, table_id: str) -> list[list[str]]:
    parser = _Tables(table_id)
    parser.feed(html)
    assert parser.rows, f"no table #{table_id} in the page"
    return parser.rows


def problem_paths(html: str) -> list[str]:
    return re.findall(r"<li><code>([^<]+)</code>", html)


@pytest.fixture
def outcome(engine: Engine, settings: Settings, clock: Clock) -> LoadOutcome:
    return load_event(engine, settings, clock)


@pytest.fixture
def csrf(client: TestClient, outcome: LoadOutcome) -> str:
    """The secretariat's CSRF token; the client is signed in as sec1."""
    return sign_in(client, outcome, "sec1")


def agenda(engine: Engine) -> dict[str, Any]:
    """Every stored agenda item by key, as (title, kind, start, end, speakers)."""
    with Session(engine) as db:
        event = get_event(db, CODE)
        assert event is not None
        return {
            i.key: (i.title, i.kind, i.start, i.end, list(i.speakers))
            for i in list_agenda(db, event)
        }


def people_keys(engine: Engine) -> list[str]:
    with Session(engine) as db:
        event = get_event(db, CODE)
        assert event is not None
        return [p.key for p in list_people(db, event)]


def at(hour: int, minute: int = 0, day: int = 24) -> datetime:
    """A Seoul wall time of the test event as aware UTC (Seoul is UTC+9, no DST)."""
    return datetime(2021, 11, day, hour - 9, minute, tzinfo=UTC)


def join_status(client: TestClient, url: str) -> int:
    """What a fresh browser gets for a join link (path only: the base URL is the app's)."""
    fresh = TestClient(client.app, base_url="http://testserver")
    path = url.removeprefix("http://testserver")
    return fresh.get(path, follow_redirects=False).status_code


def upload(client: TestClient, csrf: str, body: bytes, **headers: str) -> Any:
    """Post `body` as the CSV file of the import form (the client's response)."""
    files = {"file": ("people.csv", body, "text/csv")}
    return client.post(
        f"{BASE}/people/import", data={"csrf_token": csrf}, files=files, headers=headers
    )


# --- the event page --------------------------------------------------------------------


def test_event_page_shows_the_event_counts_and_audit(client: TestClient, csrf: str) -> None:
    page = client.get(BASE)
    assert page.status_code == 200
    html = page.text
    assert "<h1>Study Mission on Data Governance</h1>" in html
    assert "<dd>Digital Multicountry</dd>" in html
    assert "<dd>Republic of Korea</dd>" in html
    assert "<dd>Korea Productivity Center</dd>" in html
    assert table(html, "sessions")[1:] == [
        ["Day 1", "Wed 24 Nov 2021", "13:00–16:00", "3"],
        ["Day 2", "Thu 25 Nov 2021", "13:00–16:00", "2"],
    ]
    assert table(html, "role-counts")[1:] == [
        ["Participant", "2", "0", "2"],
        ["Resource person", "0", "1", "1"],
        ["Moderator", "1", "0", "1"],
        ["Secretariat", "1", "0", "1"],
    ]
    assert table(html, "country-counts")[1:] == [
        ["Japan", "0", "2"],
        ["Republic of Korea", "0", "1"],
        ["Türkiye", "1", "1"],
        ["Vietnam", "1", "1"],
    ]
    audit = table(html, "audit")[1:]
    assert [row[1:3] for row in audit] == [["test", "spec.load"]]
    assert audit[0][0] == "24 Nov 2021 12:00"
    assert audit[0][3].startswith("created: event TEST-EVENT-1, session day1, session day2 and ")
    assert f'href="{BASE}/join-links.csv"' in html
    assert f'href="{BASE}/programme"' in html


def test_event_page_counts_the_demo_participants(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    demo = load_event(engine, settings, clock, build_demo_spec(first_day=date(2021, 11, 24)))
    sign_in(client, demo, "sec1")
    html = client.get(f"/events/{demo.event.code}/secretariat").text
    roles = {row[0]: row[1:] for row in table(html, "role-counts")[1:]}
    assert roles["Participant"] == ["57", "12", "69"]
    countries = {row[0]: row[1:] for row in table(html, "country-counts")[1:]}
    assert countries["Republic of Korea"][0] == "12"
    assert sum(int(c[0]) for c in countries.values()) == 69


@pytest.mark.parametrize("path", PAGES)
def test_page_whole_or_as_an_htmx_fragment(client: TestClient, csrf: str, path: str) -> None:
    whole = client.get(path)
    fragment = client.get(path, headers=HTMX)
    assert (whole.status_code, fragment.status_code) == (200, 200)
    for response in (whole, fragment):
        assert "HX-Request" in [v.strip() for v in response.headers["vary"].split(",")]
    assert whole.text.startswith("<!doctype html>")
    assert "<html" not in fragment.text
    assert "<html" in whole.text
    # The fragment is one region of the page, exactly as the page renders it.
    region = fragment.text.strip()
    assert region.startswith("<div id=")
    assert region in whole.text


# --- who may ---------------------------------------------------------------------------


def test_participant_is_refused_on_every_page_and_post(
    client: TestClient, engine: Engine, outcome: LoadOutcome
) -> None:
    token = sign_in(client, outcome, "p001")
    before = (agenda(engine), people_keys(engine))
    for path in [*PAGES, f"{BASE}/join-links.csv", f"{BASE}/people/template.csv"]:
        response = client.get(path)
        assert (path, response.status_code) == (path, 403)
        assert "needs the role secretariat; you are participant" in response.text
    form = {"csrf_token": token, "title": "Mine now", "kind": "presentation"}
    form |= {"start": "13:00", "end": "14:00"}
    posts = [
        (f"{BASE}/programme/items/d1-intro", form),
        (f"{BASE}/programme/items/d1-intro/delete", {"csrf_token": token}),
        (f"{BASE}/programme/sessions/day1/items", form),
        (f"{BASE}/programme/sessions/day1", {"csrf_token": token, "title": "Mine"}),
        (f"{BASE}/people/p002/revoke-link", {"csrf_token": token}),
    ]
    for path, data in posts:
        response = client.post(path, data=data, follow_redirects=False)
        assert (path, response.status_code) == (path, 403)
    csv_body = b"key,name,email,country\np009,Someone,someone@example.org,IN\n"
    assert upload(client, token, csv_body).status_code == 403
    assert (agenda(engine), people_keys(engine)) == before
    assert join_status(client, f"/join/{outcome.join_tokens['p002']}") == 303


def test_another_event_looks_like_it_does_not_exist(client: TestClient, csrf: str) -> None:
    response = client.get("/events/OTHER-EVENT/secretariat")
    assert response.status_code == 404
    assert "no event with the code &#39;OTHER-EVENT&#39; for you" in response.text


def test_post_without_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, engine: Engine, outcome: LoadOutcome, csrf: str
) -> None:
    before = agenda(engine)
    form = {"title": "Changed", "kind": "presentation", "start": "13:00", "end": "14:00"}
    edited = client.post(f"{BASE}/programme/items/d1-intro", data=form, follow_redirects=False)
    assert edited.status_code == 403
    assert "missing its CSRF token" in edited.text
    wrong = client.post(
        f"{BASE}/programme/items/d1-intro/delete", data={"csrf_token": "not-the-token"}
    )
    assert wrong.status_code == 403
    revoked = client.post(f"{BASE}/people/p001/revoke-link")
    assert revoked.status_code == 403
    assert agenda(engine) == before
    assert join_status(client, f"/join/{outcome.join_tokens['p001']}") == 303


# --- the programme editor --------------------------------------------------------------


def test_editor_lists_sessions_and_items_in_event_time(client: TestClient, csrf: str) -> None:
    html = client.get(f"{BASE}/programme").text
    assert "Wednesday 24 November 2021 · 13:00–16:00" in html
    assert re.search(r"13:00–14:00</td>\s*<td[^>]*>Introduction</td>", html)
    assert re.search(r"14:15–16:00</td>\s*<td[^>]*>Benefits and challenges</td>", html)
    assert 'id="edit-d1-intro"' not in html
    opened = client.get(f"{BASE}/programme", params={"edit": "d1-intro"}).text
    assert 'id="edit-d1-intro"' in opened
    assert 'id="item-d1-intro-start" name="start" value="13:00"' in opened
    assert '<option value="rp1" selected>Kim Min-jun (resource person)</option>' in opened
    assert '<option value="mod1" >Moderator One (moderator)</option>' in opened


def test_item_edit_is_stored_and_redirects(client: TestClient, engine: Engine, csrf: str) -> None:
    form = {
        "csrf_token": csrf,
        "title": "Data governance: an introduction",
        "kind": "discussion",
        "start": "13:00",
        "end": "13:50",
        "speakers": ["rp1", "mod1"],
    }
    response = client.post(f"{BASE}/programme/items/d1-intro", data=form, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"{BASE}/programme#item-d1-intro"
    assert agenda(engine)["d1-intro"] == (
        "Data governance: an introduction",
        "discussion",
        at(13),
        at(13, 50),
        ["rp1", "mod1"],
    )
    audit = table(client.get(f"{BASE}").text, "audit")[1:]
    assert [row[1:3] for row in audit] == [["Secretariat", "programme.edit"], ["test", "spec.load"]]


def test_item_edit_by_htmx_returns_the_editor_with_a_notice(
    client: TestClient, engine: Engine, csrf: str
) -> None:
    form = {"title": "Break for tea", "kind": "break", "start": "14:00", "end": "14:10"}
    response = client.post(
        f"{BASE}/programme/items/d1-break", data=form, headers={**HTMX, "X-CSRF-Token": csrf}
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.strip().startswith('<div id="programme-editor"')
    notice = '<p class="notice" role="status" tabindex="-1" autofocus>Saved “Break for tea”.</p>'
    assert notice in response.text
    assert "14:00–14:10</td>" in response.text
    assert agenda(engine)["d1-break"][:4] == ("Break for tea", "break", at(14), at(14, 10))


def test_overlapping_item_is_refused_with_problems_and_typed_values(
    client: TestClient, engine: Engine, csrf: str
) -> None:
    before = agenda(engine)
    form = {
        "csrf_token": csrf,
        "title": "A longer introduction",
        "kind": "presentation",
        "start": "13:00",
        "end": "14:30",
        "speakers": ["rp1"],
    }
    response = client.post(f"{BASE}/programme/items/d1-intro", data=form)
    assert response.status_code == 422
    html = response.text
    assert problem_paths(html) == [
        "Break › start",
        "Benefits and challenges › start",
    ]
    assert "overlaps agenda item d1-intro" in html
    assert "nothing was changed" in html
    assert 'name="title" value="A longer introduction"' in html
    assert 'id="item-d1-intro-end" name="end" value="14:30"' in html
    assert agenda(engine) == before
    fragment = client.post(
        f"{BASE}/programme/items/d1-intro", data=form, headers={**HTMX, "X-CSRF-Token": csrf}
    )
    assert fragment.status_code == 422
    assert "<html" not in fragment.text
    assert problem_paths(fragment.text) == problem_paths(html)


def test_bad_times_and_unknown_speaker_are_all_listed(
    client: TestClient, engine: Engine, csrf: str
) -> None:
    before = agenda(engine)
    form = {
        "csrf_token": csrf,
        "title": "",
        "kind": "lecture",
        "start": "9 am",
        "end": "14:00",
        "speakers": ["nobody"],
    }
    html = client.post(f"{BASE}/programme/items/d1-intro", data=form).text
    assert problem_paths(html) == [
        "d1-intro › kind",
        "d1-intro › title",
        "d1-intro › start",
        "d1-intro › speakers",
    ]
    assert "speaker is not a person of the event" in html
    assert agenda(engine) == before


def test_add_and_delete_items(client: TestClient, engine: Engine, csrf: str) -> None:
    deleted = client.post(
        f"{BASE}/programme/items/d2-groups/delete",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert deleted.status_code == 303
    assert deleted.headers["location"] == f"{BASE}/programme#session-day2"
    assert "d2-groups" not in agenda(engine)
    form = {
        "csrf_token": csrf,
        "title": "Wrap-up discussion",
        "kind": "discussion",
        "start": "14:00",
        "end": "15:00",
        "speakers": ["rp1"],
    }
    added = client.post(f"{BASE}/programme/sessions/day2/items", data=form, follow_redirects=False)
    assert added.status_code == 303
    assert added.headers["location"] == f"{BASE}/programme#session-day2"
    stored = agenda(engine)
    assert stored["day2-wrap-up-discussion"] == (
        "Wrap-up discussion",
        "discussion",
        at(14, day=25),
        at(15, day=25),
        ["rp1"],
    )
    # Adding one more over it is refused, and the add form keeps what was typed.
    clash = client.post(f"{BASE}/programme/sessions/day2/items", data=form)
    assert clash.status_code == 422
    assert "overlaps agenda item day2-wrap-up-discussion" in clash.text
    assert 'id="add-day2-title" name="title" value="Wrap-up discussion"' in clash.text
    assert len(agenda(engine)) == len(stored)


def test_session_edit_is_stored_or_refused(client: TestClient, engine: Engine, csrf: str) -> None:
    form = {"csrf_token": csrf, "title": "Day 1: basics", "date": "2021-11-24"}
    longer = client.post(
        f"{BASE}/programme/sessions/day1",
        data={**form, "start": "12:30", "end": "16:30"},
        follow_redirects=False,
    )
    assert longer.status_code == 303
    with Session(engine) as db:
        event = get_event(db, CODE)
        assert event is not None
        day1 = list_sessions(db, event)[0]
        assert (day1.title, day1.start, day1.end) == ("Day 1: basics", at(12, 30), at(16, 30))
    shorter = client.post(
        f"{BASE}/programme/sessions/day1", data={**form, "start": "13:00", "end": "15:00"}
    )
    assert shorter.status_code == 422
    assert problem_paths(shorter.text) == ["Benefits and challenges › end"]
    assert "agenda item ends after its session (15:00)" in shorter.text
    assert 'id="session-day1-end" name="end" value="15:00"' in shorter.text
    with Session(engine) as db:
        event = get_event(db, CODE)
        assert event is not None
        assert list_sessions(db, event)[0].end == at(16, 30)


def test_times_after_midnight_belong_to_the_next_day(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, csrf: str
) -> None:
    raw = make_spec()
    night = {"key": "night", "title": "Night", "start": "2021-11-25T22:00"}
    raw["sessions"][1] = {**night, "end": "2021-11-26T01:00", "agenda": []}
    load_event(engine, settings, clock, raw)
    form = {"csrf_token": csrf, "title": "Late talk", "kind": "presentation"}
    added = client.post(
        f"{BASE}/programme/sessions/night/items",
        data={**form, "start": "23:30", "end": "00:30"},
        follow_redirects=False,
    )
    assert added.status_code == 303
    assert agenda(engine)["night-late-talk"][2:4] == (at(23, 30, day=25), at(24, 30, day=25))
    assert "23:30–00:30</td>" in client.get(f"{BASE}/programme").text
    # Moving the session a day later moves the item after midnight with it.
    moved = client.post(
        f"{BASE}/programme/sessions/night",
        data={"csrf_token": csrf, "title": "Night", "date": "2021-11-26", "start": "22:00"}
        | {"end": "01:00"},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    assert agenda(engine)["night-late-talk"][2:4] == (at(23, 30, day=26), at(24, 30, day=26))


def test_unknown_item_is_not_found(client: TestClient, csrf: str) -> None:
    response = client.post(f"{BASE}/programme/items/nope/delete", data={"csrf_token": csrf})
    assert response.status_code == 404
    assert "no agenda item &#39;nope&#39;" in response.text


# --- people ----------------------------------------------------------------------------


def test_people_list_with_filters(client: TestClient, csrf: str) -> None:
    html = client.get(f"{BASE}/people").text
    rows = table(html, "people")
    assert rows[0][:7] == ["Key", "Name", "Email", "Country", "Organisation", "Role", "Origin"]
    assert rows[2][:7] == [
        "p001",
        "Nguyễn Thị Minh",
        "minh@example.org",
        "Vietnam",
        "VNPI",
        "participant",
        "overseas",
    ]
    assert len(rows) == 1 + 5
    by_role = client.get(f"{BASE}/people", params={"role": "participant"}).text
    assert [r[0] for r in table(by_role, "people")[1:]] == ["p001", "p002"]
    by_country = client.get(f"{BASE}/people", params={"country": "JP"}, headers=HTMX)
    assert "<html" not in by_country.text
    assert by_country.text.strip().startswith('<div id="people-table"')
    assert [r[0] for r in table(by_country.text, "people")[1:]] == ["mod1", "sec1"]
    by_text = client.get(f"{BASE}/people", params={"q": "YILDIZ"}).text
    assert [r[0] for r in table(by_text, "people")[1:]] == ["p002"]
    assert "1 of 5 people shown." in by_text
    # Accents and case do not matter: what a keyboard without them types finds the name.
    by_plain_text = client.get(f"{BASE}/people", params={"q": "nguyen thi"}).text
    assert [r[0] for r in table(by_plain_text, "people")[1:]] == ["p001"]
    nobody = client.get(f"{BASE}/people", params={"q": "zzz", "role": "moderator"}).text
    assert table(nobody, "people")[1] == ["Nobody matches these filters."]


def test_csv_template_download(client: TestClient, csrf: str) -> None:
    response = client.get(f"{BASE}/people/template.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="people-template.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == PEOPLE_CSV_COLUMNS
    assert len(rows) == 2


def test_csv_import_creates_and_updates_people_with_join_links(
    client: TestClient, engine: Engine, csrf: str
) -> None:
    body = (
        "key,name,email,country,organization,role,origin\n"
        "p003,Anjali Prasad,anjali@example.org,FJ,NTPC,participant,overseas\n"
        "p004,Lee Seo-yeon,seoyeon@example.org,kr,KPC,,local\n"
        "p001,Nguyễn Thị Minh,minh@example.org,VN,Vietnam National Productivity Institute,,\n"
    ).encode()
    response = upload(client, csrf, body)
    assert response.status_code == 200
    assert "<strong>Imported:</strong> 2 people created, 1 updated." in response.text
    assert people_keys(engine) == ["mod1", "p001", "p002", "p003", "p004", "rp1", "sec1"]
    rows = {r[0]: r for r in table(response.text, "people")[1:]}
    assert rows["p004"][:7] == [
        "p004",
        "Lee Seo-yeon",
        "seoyeon@example.org",
        "Republic of Korea",
        "KPC",
        "participant",
        "local",
    ]
    assert rows["p001"][4] == "Vietnam National Productivity Institute"
    links = client.get(f"{BASE}/join-links.csv").content.decode("utf-8-sig")
    urls = {row["key"]: row["join_url"] for row in csv.DictReader(io.StringIO(links))}
    assert join_status(client, urls["p003"]) == 303
    assert join_status(client, urls["p004"]) == 303
    fragment = upload(client, csrf, body, **HTMX)
    assert fragment.status_code == 200
    assert fragment.text.strip().startswith('<div id="people-page"')
    assert "0 people created, 0 updated." in fragment.text


def test_csv_import_with_bad_rows_lists_every_problem_and_imports_nobody(
    client: TestClient, engine: Engine, csrf: str
) -> None:
    before = people_keys(engine)
    body = (
        b"key,name,email,country,role\n"
        b"p003,Good Person,good@example.org,IN,participant\n"
        b"p004,Bad Email,not-an-email,IN,participant\n"
        b"p005,Bad Country,p5@example.org,XX,participant\n"
        b"p006,,p6@example.org,IN,speaker\n"
        b"p003,Twice,twice@example.org,IN,participant\n"
        b"p007,Taken Email,minh@example.org,VN,participant\n"
    )
    response = upload(client, csrf, body)
    assert response.status_code == 422
    assert problem_paths(response.text) == [
        "line 3.email",
        "line 4.country",
        "line 5.name",
        "line 5.role",
        "line 6.key",
        "line 7.email",
    ]
    assert "6 problems" in response.text
    assert "email already used by p001" in response.text
    assert people_keys(engine) == before


def test_csv_import_that_is_not_utf8_is_a_clear_problem(
    client: TestClient, engine: Engine, csrf: str
) -> None:
    before = people_keys(engine)
    body = "key,name,email,country\np003,Müller,m@example.org,DE\n".encode("latin-1")
    response = upload(client, csrf, body)
    assert response.status_code == 422
    assert problem_paths(response.text) == ["file"]
    assert "is not UTF-8 text (byte 0xfc at position 29)" in response.text
    assert people_keys(engine) == before


def test_csv_import_without_a_file_asks_for_one(client: TestClient, csrf: str) -> None:
    response = client.post(
        f"{BASE}/people/import",
        data={"csrf_token": csrf},
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert response.status_code == 422
    assert "choose a CSV file to upload" in response.text


def test_oversized_upload_is_refused_with_413_and_imports_nobody(
    client: TestClient, engine: Engine, settings: Settings, csrf: str
) -> None:
    before = people_keys(engine)
    header = b"key,name,email,country\np003,Big File,big@example.org,IN\n"
    padding = b"\n" * (settings.max_upload_bytes + 1 - len(header))
    response = upload(client, csrf, header + padding)
    assert response.status_code == 413
    assert "The file is larger than 200 kB, the most this page accepts." in response.text
    assert "<html" in response.text
    fragment = upload(client, csrf, header + padding, **HTMX)
    assert fragment.status_code == 413
    assert 'id="import-error"' in fragment.text
    # Far over the limit, the body is refused before anyone reads it.
    huge = upload(client, csrf, header + b"\n" * (settings.max_upload_bytes * 2))
    assert huge.status_code == 413
    assert "<h1>Too large</h1>" in huge.text  # a page, since a person sent it
    assert people_keys(engine) == before


# --- join links ------------------------------------------------------------------------


def test_join_links_csv_has_one_working_link_per_person(
    client: TestClient, outcome: LoadOutcome, csrf: str
) -> None:
    response = client.get(f"{BASE}/join-links.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        response.headers["content-disposition"] == f'attachment; filename="{CODE}-join-links.csv"'
    )
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["key"] for r in rows] == ["mod1", "p001", "p002", "rp1", "sec1"]
    assert rows[1] == {
        "key": "p001",
        "name": "Nguyễn Thị Minh",
        "email": "minh@example.org",
        "role": "participant",
        "join_url": f"http://testserver/join/{outcome.join_tokens['p001']}",
    }
    assert all(join_status(client, row["join_url"]) == 303 for row in rows)


def test_revoke_link_shows_the_new_one_and_stops_the_old(
    client: TestClient, engine: Engine, outcome: LoadOutcome, csrf: str
) -> None:
    old = f"/join/{outcome.join_tokens['p002']}"
    response = client.post(
        f"{BASE}/people/p002/revoke-link", data={"csrf_token": csrf, "role": "participant"}
    )
    assert response.status_code == 200
    found = re.search(r'id="renewed-url"[^>]*value="([^"]+)"', response.text)
    assert found is not None
    new = found.group(1)
    assert new.startswith("http://testserver/join/") and not new.endswith(old)
    assert "New join link for Şebnem Yıldız" in response.text
    assert [r[0] for r in table(response.text, "people")[1:]] == ["p001", "p002"]
    assert join_status(client, old) == 404
    assert join_status(client, new) == 303
    # By htmx, only the notice comes back (a re-filtered table cannot swallow it).
    again = client.post(f"{BASE}/people/p002/revoke-link", headers={**HTMX, "X-CSRF-Token": csrf})
    assert again.status_code == 200
    assert again.text.strip().startswith('<div id="renewed-link"')
    newer = re.search(r'id="renewed-url"[^>]*value="([^"]+)"', again.text)
    assert newer is not None
    assert join_status(client, new) == 404
    assert join_status(client, newer.group(1)) == 303
    audit = table(client.get(BASE).text, "audit")[1:3]
    assert [row[1:] for row in audit] == [["Secretariat", "join_link.revoke", "person: p002"]] * 2

"""The JSON API: events, sessions, agenda, people, join links, spec, health (CONTRACT §4, §4b)."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine
from sqlmodel import Session, select

from studymission.app import create_app
from studymission.config import Settings
from studymission.db.tables import AgendaItem, Person
from studymission.services.clock import Clock
from tests.factories import make_spec
from tests.integration.helpers import bearer, load_event, sign_in

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"


def test_event_with_its_programme_in_utc(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    sign_in(client, load_event(engine, settings, clock), "p001")
    event = client.get(f"/api/events/{CODE}").json()
    assert (event["code"], event["timezone"], event["host_country"]) == (CODE, "Asia/Seoul", "KR")
    day1 = event["sessions"][0]
    assert (day1["key"], day1["start"], day1["end"]) == (
        "day1",
        "2021-11-24T04:00:00Z",
        "2021-11-24T07:00:00Z",
    )
    assert [i["key"] for i in day1["agenda"]] == ["d1-intro", "d1-break", "d1-benefits"]
    assert day1["agenda"][0]["speakers"] == ["rp1"]
    assert client.get("/api/events").json()[0]["code"] == CODE
    agenda = client.get(f"/api/events/{CODE}/sessions/day2/agenda").json()
    assert [(i["key"], i["kind"]) for i in agenda] == [
        ("d2-visit", "site_visit"),
        ("d2-groups", "breakout"),
    ]
    missing = client.get(f"/api/events/{CODE}/sessions/day9/agenda")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")


def test_people_for_the_secretariat_only(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock)
    participant = client.get(
        f"/api/events/{CODE}/people", headers=bearer(engine, clock, CODE, "p001")
    )
    assert participant.status_code == 403
    assert participant.json()["error"] == "forbidden"
    people = client.get(f"/api/events/{CODE}/people", headers=bearer(engine, clock, CODE, "sec1"))
    assert people.status_code == 200
    assert people.json()[0] == {
        "key": "mod1",
        "name": "Moderator One",
        "email": "mod1@example.org",
        "country": "JP",
        "organization": "APO",
        "role": "moderator",
        "origin": "overseas",
    }
    assert [p["key"] for p in people.json()] == ["mod1", "p001", "p002", "rp1", "sec1"]


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthenticated"),
        ({"Authorization": "Bearer not-a-token"}, 401, "unauthenticated"),
    ],
)
def test_api_without_valid_credentials(
    client: TestClient,
    engine: Engine,
    settings: Settings,
    clock: Clock,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    load_event(engine, settings, clock)
    response = client.get(f"/api/events/{CODE}", headers=headers)
    assert (response.status_code, response.json()["error"]) == (status, code)


def test_another_events_data_looks_absent(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock)
    load_event(engine, settings, clock, make_spec(code="OTHER-EVENT"))
    headers = bearer(engine, clock, CODE, "sec1")
    response = client.get("/api/events/OTHER-EVENT/people", headers=headers)
    assert response.status_code == 404
    assert "OTHER-EVENT" in response.json()["detail"]


def test_join_links_api_gives_working_links(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    outcome = load_event(engine, settings, clock)
    links = client.get(
        f"/api/events/{CODE}/join-links", headers=bearer(engine, clock, CODE, "sec1")
    )
    assert links.json() == {
        key: f"http://testserver/join/{token}" for key, token in outcome.join_tokens.items()
    }
    assert client.get(links.json()["p002"], follow_redirects=False).status_code == 303


def test_revoking_a_join_link_stops_it_and_issues_another(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    outcome = load_event(engine, settings, clock)
    headers = bearer(engine, clock, CODE, "sec1")
    renewed = client.post(f"/api/events/{CODE}/people/p001/join-link/revoke", headers=headers)
    assert renewed.status_code == 200
    old = f"/join/{outcome.join_tokens['p001']}"
    assert client.get(old, follow_redirects=False).status_code == 404
    assert client.get(renewed.json()["join_url"], follow_redirects=False).status_code == 303


def _agenda_titles(engine: Engine) -> list[str]:
    with Session(engine) as db:
        return [i.title for i in db.exec(select(AgendaItem).order_by(AgendaItem.key)).all()]


def test_put_spec_with_errors_lists_them_all_and_writes_nothing(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock)
    headers = bearer(engine, clock, CODE, "sec1")
    raw: dict[str, Any] = client.get(f"/api/events/{CODE}/spec", headers=headers).json()
    before = _agenda_titles(engine)
    raw["timezone"] = "Mars/Olympus"
    raw["sessions"][0]["agenda"][0]["title"] = "Renamed"
    raw["sessions"][0]["agenda"][1]["end"] = "17:00"
    raw["people"][0]["country"] = "XX"
    response = client.put(f"/api/events/{CODE}/spec", json=raw, headers=headers)
    assert response.status_code == 422
    paths = [p["path"] for p in response.json()["problems"]]
    assert "timezone" in paths and "people[0].country" in paths
    assert _agenda_titles(engine) == before


def test_put_spec_updates_in_place(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock)
    headers = bearer(engine, clock, CODE, "sec1")
    raw: dict[str, Any] = client.get(f"/api/events/{CODE}/spec", headers=headers).json()
    raw["sessions"][0]["agenda"][0]["title"] = "Introduction to data governance"
    response = client.put(f"/api/events/{CODE}/spec", json=raw, headers=headers)
    assert response.json() == {"event": CODE, "changed": True}
    assert "Introduction to data governance" in _agenda_titles(engine)
    again = client.put(f"/api/events/{CODE}/spec", json=raw, headers=headers)
    assert again.json() == {"event": CODE, "changed": False}
    moved = client.put(f"/api/events/{CODE}/spec", json={**raw, "code": "NEW"}, headers=headers)
    assert (moved.status_code, moved.json()["problems"][0]["path"]) == (422, "code")


def _people_keys(engine: Engine) -> list[str]:
    with Session(engine) as db:
        return sorted(p.key for p in db.exec(select(Person)).all())


def test_csv_import_through_the_api(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock)
    headers = {**bearer(engine, clock, CODE, "sec1"), "Content-Type": "text/csv"}
    good = "key,name,email,country\np010,Sadeq Ḥosseini,sadeq@example.org,IR\n"
    response = client.post(f"/api/events/{CODE}/people/import", content=good, headers=headers)
    assert response.json() == {"created": ["person p010"], "updated": []}
    bad = (
        "key,name,email,country,role\n"
        "p011,Ok Person,ok@example.org,TH,participant\n"
        "p012,,bad@,XX,participant\n"
        "p013,Dup Email,minh@example.org,VN,chief\n"
    )
    response = client.post(f"/api/events/{CODE}/people/import", content=bad, headers=headers)
    assert response.status_code == 422
    problems = {(p["path"], p["reason"].split(" (")[0]) for p in response.json()["problems"]}
    assert {path for path, _ in problems} >= {
        "line 3.name",
        "line 3.email",
        "line 3.country",
        "line 4.role",
        "line 4.email",
    }
    assert "p011" not in _people_keys(engine)


def test_oversized_upload_is_413_and_imports_nothing(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock)
    headers = {**bearer(engine, clock, CODE, "sec1"), "Content-Type": "text/csv"}
    rows = "".join(f"q{i:06d},Name {i},q{i}@example.org,IN\n" for i in range(9000))
    body = "key,name,email,country\n" + rows
    assert len(body.encode()) > settings.max_upload_bytes + 64 * 1024
    response = client.post(f"/api/events/{CODE}/people/import", content=body, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert _people_keys(engine) == ["mod1", "p001", "p002", "rp1", "sec1"]


def test_cookie_write_needs_csrf_token_and_bearer_does_not(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    csrf = sign_in(client, load_event(engine, settings, clock), "p001")
    refused = client.post(f"/events/{CODE}/timezone", data={"tz": "Asia/Tehran"})
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    wrong = client.post(
        f"/events/{CODE}/timezone", data={"tz": "Asia/Tehran"}, headers={"X-CSRF-Token": "x"}
    )
    assert wrong.status_code == 403
    with Session(engine) as db:
        person = db.exec(select(Person).where(Person.key == "p001")).one()
        assert person.timezone is None
    saved = client.post(
        f"/events/{CODE}/timezone",
        data={"tz": "Asia/Tehran", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    with Session(engine) as db:
        person = db.exec(select(Person).where(Person.key == "p001")).one()
        assert person.timezone == "Asia/Tehran"


def test_programme_fragment_for_htmx(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    sign_in(client, load_event(engine, settings, clock), "p001")
    page = client.get(f"/events/{CODE}?tz=Asia/Tehran")
    fragment = client.get(f"/events/{CODE}?tz=Asia/Tehran", headers={"HX-Request": "true"})
    for response in (page, fragment):
        assert "HX-Request" in response.headers["vary"].split(", ")
    assert page.text.lstrip().startswith("<!doctype html>")
    assert "<html" not in fragment.text
    assert fragment.text.lstrip().startswith('<div id="programme"')
    # 13:00 in Seoul is 07:30 in Tehran (+03:30) on 24 November 2021.
    assert "07:30–08:30" in fragment.text and "Asia/Tehran</strong> (UTC+03:30)" in fragment.text


def test_healthz_reports_the_database(settings: Settings, clock: Clock, client: TestClient) -> None:
    # The contract's {"status": "ok"}, with what docs/operations.md adds.
    assert client.get("/healthz").json() == {
        "status": "ok",
        "database": "ok",
        "presence_rows_waiting": 0,
    }
    broken = create_engine("sqlite:////nonexistent-dir/for-sure/x.db")
    with TestClient(create_app(settings, engine=broken, clock=clock)) as other:
        response = other.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "error"


def test_openapi_lists_the_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/api/events",
        "/api/events/{code}",
        "/api/events/{code}/sessions",
        "/api/events/{code}/sessions/{key}/agenda",
        "/api/events/{code}/people",
        "/api/events/{code}/people/import",
        "/api/events/{code}/join-links",
        "/api/events/{code}/spec",
        "/healthz",
    } <= set(paths)


def test_oversized_page_upload_gets_a_page_not_json(client: TestClient) -> None:
    body = b"x" * 400_000
    response = client.post(
        "/events/TEST-EVENT-1/secretariat/people/import",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=zzz"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Too large</h1>" in response.text and "265,536 bytes" in response.text

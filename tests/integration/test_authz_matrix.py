"""Who may call what: every ``/api/`` route of the app × every role, against a table.

The table (`EXPECTED`) gives, per route, the status each role gets with a valid request:
anonymous callers get 401; people of another event get 404 (the event "does not exist" for
them) or 403 where the role is checked before the event; roles without the right get 403.
A route the app has and the table lacks fails the test, so a new route cannot go unreviewed.

Each route runs on a fresh database (SQLite: the checks are the same on every backend) with
two events loaded, the day-1 breakout round open (p001 in breakout-1, p002 in breakout-2)
and a question asked by p002; the roles call in the order of `ROLES`, the staff last, so a
refusal always meets the untouched state and the allowed calls come after.
"""

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from studymission.app import create_app
from studymission.config import Settings
from studymission.db.engine import make_engine
from studymission.db.migrate import upgrade
from studymission.db.tables import Question
from studymission.domain.values import Role
from studymission.services.clock import Clock
from tests.conftest import TEST_SECRET, RealTime
from tests.factories import make_spec
from tests.integration.helpers import bearer, load_event
from tests.integration.test_realtime_socket import DAY1, move_to

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"
OTHER = "OTHER-EVENT"

#: Who calls, and as whom: (event code, person key), None for nobody.
ROLES: dict[str, tuple[str, str] | None] = {
    "anonymous": None,
    "other_participant": (OTHER, "p001"),
    "other_secretariat": (OTHER, "sec1"),
    "participant": (CODE, "p001"),
    "resource_person": (CODE, "rp1"),
    "moderator": (CODE, "mod1"),
    "secretariat": (CODE, "sec1"),
}

# Every role of the domain has its column (a new role must be added here and in the table).
assert {Role.PARTICIPANT, Role.RESOURCE_PERSON, Role.MODERATOR, Role.SECRETARIAT} == set(Role)


class Call(NamedTuple):
    path: str
    json: Any = None
    content: str | None = None
    params: dict[str, str] | None = None


PEOPLE_CSV = "key,name,email,country\np050,New Person,new@example.org,TH\n"
E = f"/api/events/{CODE}"
S = f"{E}/sessions/day1"
S2 = f"{E}/sessions/day2"

#: How each route is called: the path with its parameters filled in, and a valid body.
CALLS: dict[tuple[str, str], Call] = {
    ("GET", "/api/events"): Call("/api/events"),
    ("GET", "/api/events/{code}"): Call(E),
    ("GET", "/api/events/{code}/sessions"): Call(f"{E}/sessions"),
    ("GET", "/api/events/{code}/sessions/{key}/agenda"): Call(f"{S}/agenda"),
    ("GET", "/api/events/{code}/people"): Call(f"{E}/people"),
    ("POST", "/api/events/{code}/people/import"): Call(f"{E}/people/import", content=PEOPLE_CSV),
    ("POST", "/api/events/{code}/people/{key}/join-link/revoke"): Call(
        f"{E}/people/p002/join-link/revoke"
    ),
    ("GET", "/api/events/{code}/join-links"): Call(f"{E}/join-links"),
    ("GET", "/api/events/{code}/spec"): Call(f"{E}/spec"),
    ("PUT", "/api/events/{code}/spec"): Call(f"{E}/spec", json=make_spec()),
    ("GET", "/api/events/{code}/attendance"): Call(f"{E}/attendance"),
    ("GET", "/api/events/{code}/presence"): Call(f"{E}/presence", params={"person": "p002"}),
    ("GET", "/api/events/{code}/roster"): Call(f"{E}/roster"),
    ("PUT", "/api/events/{code}/overrides/{person}"): Call(
        f"{E}/overrides/p002", json={"eligible": True, "reason": "joined by phone"}
    ),
    ("DELETE", "/api/events/{code}/overrides/{person}"): Call(f"{E}/overrides/p002"),
    ("POST", "/api/events/{code}/notices"): Call(f"{E}/notices", json={"text": "Back at 14:15"}),
    ("GET", "/api/events/{code}/questions"): Call(f"{E}/questions"),
    ("POST", "/api/events/{code}/questions"): Call(
        f"{E}/questions", json={"text": "How is data shared?", "session": "day1"}
    ),
    ("POST", "/api/events/{code}/questions/{question_id}/vote"): Call(f"{E}/questions/QID/vote"),
    ("DELETE", "/api/events/{code}/questions/{question_id}/vote"): Call(f"{E}/questions/QID/vote"),
    ("POST", "/api/events/{code}/questions/{question_id}/moderate"): Call(
        f"{E}/questions/QID/moderate", json={"action": "pin"}
    ),
    ("POST", "/api/events/{code}/sessions/{key}/mode"): Call(
        f"{S}/mode", json={"mode": "stage", "item": "d1-benefits"}
    ),
    ("GET", "/api/events/{code}/sessions/{key}/breakouts"): Call(f"{S}/breakouts"),
    ("POST", "/api/events/{code}/sessions/{key}/breakouts"): Call(
        f"{S}/breakouts", json={"rooms": 2, "minutes": 10}
    ),
    ("POST", "/api/events/{code}/sessions/{key}/breakouts/close"): Call(
        f"{S}/breakouts/close", json={}
    ),
    ("POST", "/api/events/{code}/sessions/{key}/breakouts/time"): Call(
        f"{S}/breakouts/time", json={"minutes": 5}
    ),
    ("POST", "/api/events/{code}/sessions/{key}/breakouts/move"): Call(
        f"{S}/breakouts/move", json={"person": "p002", "room": "breakout-1"}
    ),
    ("GET", "/api/events/{code}/sessions/{key}/breakouts/plan"): Call(f"{S2}/breakouts/plan"),
    ("POST", "/api/events/{code}/sessions/{key}/breakouts/plan"): Call(
        f"{S2}/breakouts/plan", json={"rooms": 1}
    ),
    ("PUT", "/api/events/{code}/sessions/{key}/breakouts/plan/{person}"): Call(
        f"{S2}/breakouts/plan/p002", json={"room": "breakout-1", "pinned": True}
    ),
    ("GET", "/api/events/{code}/sessions/{key}/breakouts/notes"): Call(f"{S}/breakouts/notes"),
    ("GET", "/api/events/{code}/sessions/{key}/breakouts/notes/{room}"): Call(
        f"{S}/breakouts/notes/breakout-2"
    ),
    ("PUT", "/api/events/{code}/sessions/{key}/breakouts/notes/{room}"): Call(
        f"{S}/breakouts/notes/breakout-2", json={"text": "Our notes", "version": 0}
    ),
    ("GET", "/api/events/{code}/sessions/{key}/playback"): Call(f"{S}/playback"),
    ("POST", "/api/events/{code}/sessions/{key}/playback"): Call(
        f"{S}/playback", json={"action": "live", "url": "https://live.example.org/a.m3u8"}
    ),
    ("GET", "/api/events/{code}/media-access"): Call(
        f"{E}/media-access", params={"asset": "site-visit", "version": "v1"}
    ),
    ("GET", "/api/events/{code}/certificates"): Call(f"{E}/certificates"),
    ("POST", "/api/events/{code}/certificates"): Call(f"{E}/certificates", json={}),
    ("POST", "/api/events/{code}/certificates/{key}/revoke"): Call(
        f"{E}/certificates/p002/revoke", json={"reason": "left early"}
    ),
    ("GET", "/api/events/{code}/certificates.zip"): Call(f"{E}/certificates.zip"),
    ("GET", "/api/events/{code}/certificates.pdf"): Call(f"{E}/certificates.pdf"),
    ("POST", "/api/events/{code}/certificates/mail"): Call(f"{E}/certificates/mail", json={}),
    ("POST", "/api/events/{code}/invitations"): Call(f"{E}/invitations", json={}),
    ("POST", "/api/events/{code}/deliveries/send"): Call(f"{E}/deliveries/send"),
    ("GET", "/api/events/{code}/deliveries"): Call(f"{E}/deliveries"),
    ("GET", "/api/verify/{code}"): Call("/api/verify/ABCDEFGHJKLMNPQR"),
}

# Statuses in the order of ROLES: anonymous, other_participant, other_secretariat,
# participant, resource_person, moderator, secretariat.
EVERYONE_OF_THE_EVENT = (401, 404, 404, 200, 200, 200, 200)
STAFF = (401, 404, 404, 403, 403, 200, 200)
SECRETARIAT_ROLE_FIRST = (401, 403, 404, 403, 403, 403, 200)
SECRETARIAT_EVENT_FIRST = (401, 404, 404, 403, 403, 403, 200)

# Where an allowed role gets no 2xx, the request is right and the state says no: the
# comment says why (the role check has passed by then; the refusals above it prove it runs).
NO_CERTIFICATE_YET = (401, 404, 404, 403, 403, 403, 404)

EXPECTED: dict[tuple[str, str], tuple[int, ...]] = {
    # Each person sees their own event only (checked by content below).
    ("GET", "/api/events"): (401, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/events/{code}"): EVERYONE_OF_THE_EVENT,
    ("GET", "/api/events/{code}/sessions"): EVERYONE_OF_THE_EVENT,
    ("GET", "/api/events/{code}/sessions/{key}/agenda"): EVERYONE_OF_THE_EVENT,
    ("GET", "/api/events/{code}/people"): SECRETARIAT_ROLE_FIRST,
    ("POST", "/api/events/{code}/people/import"): SECRETARIAT_ROLE_FIRST,
    ("POST", "/api/events/{code}/people/{key}/join-link/revoke"): SECRETARIAT_ROLE_FIRST,
    ("GET", "/api/events/{code}/join-links"): SECRETARIAT_ROLE_FIRST,
    ("GET", "/api/events/{code}/spec"): SECRETARIAT_ROLE_FIRST,
    ("PUT", "/api/events/{code}/spec"): SECRETARIAT_ROLE_FIRST,
    ("GET", "/api/events/{code}/attendance"): STAFF,
    # Another person's minutes: staff only (a participant reads their own, test_attendance_api).
    ("GET", "/api/events/{code}/presence"): STAFF,
    ("GET", "/api/events/{code}/roster"): STAFF,
    ("PUT", "/api/events/{code}/overrides/{person}"): SECRETARIAT_EVENT_FIRST,
    ("DELETE", "/api/events/{code}/overrides/{person}"): SECRETARIAT_EVENT_FIRST,
    ("POST", "/api/events/{code}/notices"): (401, 404, 404, 403, 403, 202, 202),
    ("GET", "/api/events/{code}/questions"): EVERYONE_OF_THE_EVENT,
    ("POST", "/api/events/{code}/questions"): (401, 404, 404, 201, 201, 201, 201),
    ("POST", "/api/events/{code}/questions/{question_id}/vote"): EVERYONE_OF_THE_EVENT,
    ("DELETE", "/api/events/{code}/questions/{question_id}/vote"): EVERYONE_OF_THE_EVENT,
    ("POST", "/api/events/{code}/questions/{question_id}/moderate"): STAFF,
    ("POST", "/api/events/{code}/sessions/{key}/mode"): STAFF,
    ("GET", "/api/events/{code}/sessions/{key}/breakouts"): STAFF,
    # A round is open already: opening another is refused (422) once the role is checked.
    ("POST", "/api/events/{code}/sessions/{key}/breakouts"): (401, 404, 404, 403, 403, 422, 422),
    # The moderator closes the round; the secretariat then finds none open.
    ("POST", "/api/events/{code}/sessions/{key}/breakouts/close"): (
        401,
        404,
        404,
        403,
        403,
        200,
        422,
    ),
    ("POST", "/api/events/{code}/sessions/{key}/breakouts/time"): STAFF,
    ("POST", "/api/events/{code}/sessions/{key}/breakouts/move"): STAFF,
    ("GET", "/api/events/{code}/sessions/{key}/breakouts/plan"): STAFF,
    ("POST", "/api/events/{code}/sessions/{key}/breakouts/plan"): STAFF,
    ("PUT", "/api/events/{code}/sessions/{key}/breakouts/plan/{person}"): STAFF,
    ("GET", "/api/events/{code}/sessions/{key}/breakouts/notes"): STAFF,
    # breakout-2's notes: p001 sits in breakout-1 and the resource person in no room.
    ("GET", "/api/events/{code}/sessions/{key}/breakouts/notes/{room}"): STAFF,
    # The moderator saves version 0 first; the secretariat's save from version 0 is outdated.
    ("PUT", "/api/events/{code}/sessions/{key}/breakouts/notes/{room}"): (
        401,
        404,
        404,
        403,
        403,
        200,
        422,
    ),
    ("GET", "/api/events/{code}/sessions/{key}/playback"): STAFF,
    ("POST", "/api/events/{code}/sessions/{key}/playback"): STAFF,
    # No such recording is packaged: everyone of the event hears "no such recording" alike.
    ("GET", "/api/events/{code}/media-access"): (401, 404, 404, 404, 404, 404, 404),
    ("GET", "/api/events/{code}/certificates"): SECRETARIAT_EVENT_FIRST,
    ("POST", "/api/events/{code}/certificates"): SECRETARIAT_EVENT_FIRST,
    # Nobody has a certificate yet (nobody attended): nothing to revoke, nothing to merge.
    ("POST", "/api/events/{code}/certificates/{key}/revoke"): NO_CERTIFICATE_YET,
    ("GET", "/api/events/{code}/certificates.pdf"): NO_CERTIFICATE_YET,
    ("GET", "/api/events/{code}/certificates.zip"): SECRETARIAT_EVENT_FIRST,
    ("POST", "/api/events/{code}/certificates/mail"): SECRETARIAT_EVENT_FIRST,
    ("POST", "/api/events/{code}/invitations"): SECRETARIAT_EVENT_FIRST,
    ("POST", "/api/events/{code}/deliveries/send"): SECRETARIAT_EVENT_FIRST,
    ("GET", "/api/events/{code}/deliveries"): SECRETARIAT_EVENT_FIRST,
    # Public: anyone may verify a certificate; an unknown code is 404 for all alike.
    ("GET", "/api/verify/{code}"): (404,) * 7,
}


def app_routes() -> set[tuple[str, str]]:
    """Every (method, path) of the app under /api/."""
    app = create_app(
        Settings(secret_key=TEST_SECRET, database_url="sqlite://", var_dir=Path("/nonexistent"))
    )
    found = set()
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if path.startswith("/api/"):
            for method in getattr(route, "methods", None) or ():
                if method != "HEAD":
                    found.add((method, path))
    return found


def test_every_api_route_has_a_row() -> None:
    routes = app_routes()
    assert len(routes) > 40, "the routes were not found"
    assert sorted(routes - CALLS.keys()) == [], "new /api routes: add them to CALLS and EXPECTED"
    assert sorted(routes - EXPECTED.keys()) == [], "new /api routes: add them to EXPECTED"
    assert sorted(CALLS.keys() - routes) == [], "routes the app no longer has"


@pytest.fixture
def world(tmp_path: Path, clock: Clock, real_time: RealTime) -> Iterator["World"]:
    engine = make_engine(f"sqlite:///{tmp_path / 'matrix.db'}")
    upgrade(engine)
    settings = Settings(
        database_url=str(engine.url),
        secret_key=TEST_SECRET,
        base_url="http://testserver",
        var_dir=tmp_path / "var",
        media_dir=tmp_path / "media",
        live_stream_origins=("https://live.example.org",),
    )
    load_event(engine, settings, clock)
    load_event(engine, settings, clock, make_spec(code=OTHER))
    move_to(real_time, DAY1 + timedelta(minutes=100))
    with TestClient(create_app(settings, engine=engine, clock=clock)) as client:
        headers = {name: bearer(engine, clock, *who) if who else {} for name, who in ROLES.items()}
        opened = client.post(
            f"{S}/breakouts",
            json={"assignments": {"breakout-1": ["p001"], "breakout-2": ["p002"]}, "minutes": 20},
            headers=headers["moderator"],
        )
        assert opened.status_code == 200, opened.text
        asked = client.post(
            f"{E}/questions",
            json={"text": "A question of p002", "session": "day1"},
            headers=bearer(engine, clock, CODE, "p002"),
        )
        assert asked.status_code in (200, 201), asked.text
        yield World(client, engine, headers, question_id(engine))
    engine.dispose()


class World(NamedTuple):
    client: TestClient
    engine: Engine
    headers: dict[str, dict[str, str]]
    question: int


def question_id(engine: Engine) -> int:
    with Session(engine) as db:
        found = db.exec(select(Question)).first()
        assert found is not None and found.id is not None
        return found.id


def call(world: World, method: str, spec: Call, role: str) -> int:
    path = spec.path.replace("QID", str(world.question))
    headers = dict(world.headers[role])
    if spec.content is not None:
        headers["content-type"] = "text/csv"
    response = world.client.request(
        method,
        path,
        json=spec.json,
        content=spec.content,
        params=spec.params,
        headers=headers,
        follow_redirects=False,
    )
    return response.status_code


DISCOVER = os.environ.get("STUDYMISSION_TEST_DISCOVER_MATRIX") == "1"


@pytest.mark.parametrize(("method", "route"), sorted(CALLS), ids=lambda v: v)
def test_each_role_gets_the_expected_status(world: World, method: str, route: str) -> None:
    spec = CALLS[(method, route)]
    statuses = tuple(call(world, method, spec, role) for role in ROLES)
    if DISCOVER:
        print(f"\nMATRIX {method} {route} {statuses}")
        return
    assert (method, route) in EXPECTED, f"no expectation for {method} {route}: got {statuses}"
    assert dict(zip(ROLES, statuses, strict=True)) == dict(
        zip(ROLES, EXPECTED[(method, route)], strict=True)
    )


def test_each_person_lists_only_their_own_event(world: World) -> None:
    for role, who in ROLES.items():
        if who is None:
            continue
        listed = world.client.get("/api/events", headers=world.headers[role]).json()
        assert [e["code"] for e in listed] == [who[0]], role


# --- one page per area: the participant is refused what the secretariat may see ----------

#: A staff page of each area, and the status a participant, a resource person, a moderator
#: and the secretariat of the event get (anyone else: 401 signed out, 404 from another event).
PAGES: dict[str, tuple[int, int, int, int]] = {
    "/events/{code}/secretariat": (403, 403, 403, 200),
    "/events/{code}/secretariat/people": (403, 403, 403, 200),
    "/events/{code}/secretariat/programme": (403, 403, 403, 200),
    "/events/{code}/secretariat/join-links.csv": (403, 403, 403, 200),
    "/events/{code}/invitations": (403, 403, 403, 200),
    "/events/{code}/outbox": (403, 403, 403, 200),
    "/events/{code}/certificates": (403, 403, 403, 200),
    "/events/{code}/certificates/design": (403, 403, 403, 200),
    # Moderators pick the recording the site visit plays.
    "/events/{code}/media": (403, 403, 200, 200),
    "/events/{code}/console": (403, 403, 200, 200),
    "/events/{code}/roster": (403, 403, 200, 200),
    "/events/{code}/attendance": (403, 403, 200, 200),
    "/events/{code}/attendance/p002": (403, 403, 200, 200),
    "/events/{code}/breakouts/plan/day2": (403, 403, 200, 200),
    # Resource persons see the question queue read-only (the presenter view).
    "/events/{code}/questions/moderate": (403, 200, 200, 200),
    "/events/{code}/presenter": (403, 200, 200, 200),
}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_staff_pages_refuse_participants(world: World, page: str) -> None:
    path = page.format(code=CODE)

    def status(role: str) -> int:
        answer = world.client.get(path, headers=world.headers[role], follow_redirects=False)
        return answer.status_code

    participant, resource_person, moderator, secretariat = PAGES[page]
    assert {role: status(role) for role in ROLES} == {
        "anonymous": 401,
        "other_participant": 404,
        "other_secretariat": 404,
        "participant": participant,
        "resource_person": resource_person,
        "moderator": moderator,
        "secretariat": secretariat,
    }


def test_the_report_back_waits_for_the_round_to_close(world: World) -> None:
    """Participants may open the report-back page, but see no room's notes while the round
    is open; staff see them at once."""
    saved = world.client.put(
        f"{S}/breakouts/notes/breakout-2",
        json={"text": "Notes of room two only", "version": 0},
        headers=world.headers["moderator"],
    )
    assert saved.status_code == 200, saved.text
    page = f"/events/{CODE}/breakouts/report"
    participant = world.client.get(page, headers=world.headers["participant"])
    staff = world.client.get(page, headers=world.headers["moderator"])
    assert (participant.status_code, staff.status_code) == (200, 200)
    assert "Notes of room two only" not in participant.text
    assert "Notes of room two only" in staff.text

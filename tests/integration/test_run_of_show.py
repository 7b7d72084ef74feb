"""The run of show (CONTRACT §4b ``mode``): the API and the console switch every page; the
state frame carries each person's Jitsi room and a token the video service would accept."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from studymission.app import create_app
from studymission.config import Settings
from studymission.db.tables import AuditEntry, Person
from studymission.domain.clock import EventClock
from studymission.integrations.jitsi import room_name
from studymission.services.clock import Clock
from tests.conftest import TEST_SECRET, RealTime
from tests.integration.helpers import bearer, load_event, sign_in
from tests.integration.test_realtime_socket import (
    CODE,
    DAY1,
    fence,
    hello,
    move_to,
    socket,
)

APP_SECRET = "a-jitsi-app-secret-of-32-bytes-or-more"
DOMAIN = "meet.example.org"


@pytest.fixture
def video_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "jitsi_mode": "self_hosted",
            "jitsi_domain": DOMAIN,
            "jitsi_app_id": "studymission",
            "jitsi_app_secret": SecretStr(APP_SECRET),
        }
    )


@pytest.fixture
def wall_clock(real_time: RealTime) -> Clock:
    """Ten minutes into day 1 of event time, while the wall clock reads today: the video
    service checks tokens against its own (real) clock, and so do these tests."""
    # A minute ago, so that the test can move on a few seconds without minting in the future.
    real_time.now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    return Clock(EventClock(DAY1 + timedelta(minutes=10), real_time.now, 1.0), real_time)


@pytest.fixture
def video_client(
    video_settings: Settings, engine: Engine, wall_clock: Clock
) -> Iterator[TestClient]:
    app = create_app(video_settings, engine=engine, clock=wall_clock)
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


def audit_actions(engine: Engine) -> list[str]:
    with Session(engine) as db:
        rows = db.exec(select(AuditEntry.action).order_by(col(AuditEntry.id))).all()
    return list(rows)


def decode(token: str, room: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(
        token,
        APP_SECRET,
        algorithms=["HS256"],
        audience="jitsi",
        issuer="studymission",
        options={"require": ["exp", "iat", "nbf", "room", "sub", "context"]},
    )
    # What Prosody's token check does with the room claim.
    assert claims["room"] == room
    return claims


def test_moderator_switches_every_page_and_hands_back_to_the_timetable(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=10))  # the timetable: d1-intro on stage
    moderator = bearer(engine, clock, CODE, "mod1")
    with socket(client, bearer(engine, clock, CODE, "p001")) as ws:
        _welcome, state = hello(ws)
        assert (state["mode"], state["item"], state["manual"]) == ("stage", "d1-intro", False)

        answer = client.post(
            f"/api/events/{CODE}/sessions/day1/mode",
            json={"mode": "break", "item": "d1-break"},
            headers=moderator,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "session": "day1",
            "mode": "break",
            "item": "d1-break",
            "manual": True,
        }
        [pushed] = fence(ws)
        assert (pushed["type"], pushed["mode"], pushed["item"]) == ("state", "break", "d1-break")
        assert pushed["manual"] is True
        # The break keeps the same call: the same room and the same token.
        assert pushed["room"] == state["room"]

        # A page opened late lands in the moderator's state, not the timetable's.
        with socket(client, bearer(engine, clock, CODE, "p002")) as late:
            _welcome, late_state = hello(late)
            assert (late_state["mode"], late_state["item"]) == ("break", "d1-break")

        # Without an item, the timetable's item at this instant is taken.
        answer = client.post(
            f"/api/events/{CODE}/sessions/day1/mode", json={"mode": "stage"}, headers=moderator
        )
        assert answer.json()["item"] == "d1-intro"
        [pushed] = fence(ws)
        assert (pushed["mode"], pushed["item"]) == ("stage", "d1-intro")

        answer = client.post(
            f"/api/events/{CODE}/sessions/day1/mode",
            json={"follow_timetable": True},
            headers=moderator,
        )
        assert answer.json() == {
            "session": "day1",
            "mode": "stage",
            "item": "d1-intro",
            "manual": False,
        }
        [pushed] = fence(ws)
        assert pushed["manual"] is False
    assert audit_actions(engine).count("run_of_show.mode") == 3


def test_site_visit_mode_moves_people_out_of_the_call_and_back(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=10))
    moderator = bearer(engine, clock, CODE, "mod1")
    main = room_name(TEST_SECRET, CODE, "day1", "main")
    with socket(client, bearer(engine, clock, CODE, "p001")) as ws:
        _welcome, state = hello(ws)
        assert state["room"]["name"] == "main"
        assert state["room"]["jitsi"]["room"] == main
        client.post(
            f"/api/events/{CODE}/sessions/day1/mode",
            json={"mode": "site_visit"},
            headers=moderator,
        )
        [pushed] = fence(ws)
        assert pushed["room"] == {"name": "site-visit", "jitsi": None}
        client.post(
            f"/api/events/{CODE}/sessions/day1/mode", json={"mode": "ended"}, headers=moderator
        )
        [pushed] = fence(ws)
        assert pushed["mode"] == "ended"
        assert pushed["room"] == {"name": "main", "jitsi": None}
        client.post(
            f"/api/events/{CODE}/sessions/day1/mode", json={"mode": "stage"}, headers=moderator
        )
        [pushed] = fence(ws)
        assert pushed["room"]["jitsi"]["room"] == main


def test_bad_switches_list_every_problem_and_change_nothing(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=10))
    moderator = bearer(engine, clock, CODE, "mod1")
    before = audit_actions(engine)
    answer = client.post(
        f"/api/events/{CODE}/sessions/day1/mode",
        json={"mode": "dancing", "item": "d2-visit"},
        headers=moderator,
    )
    assert answer.status_code == 422
    problems = {p["path"]: p["reason"] for p in answer.json()["problems"]}
    assert problems["mode"].startswith("must be one of waiting, stage, breakouts, site_visit")
    assert problems["item"] == "not an agenda item of the session day1"
    unknown = client.post(
        f"/api/events/{CODE}/sessions/day9/mode", json={"mode": "stage"}, headers=moderator
    )
    assert unknown.status_code == 404
    extra = client.post(
        f"/api/events/{CODE}/sessions/day1/mode",
        json={"mode": "stage", "colour": "red"},
        headers=moderator,
    )
    assert extra.status_code == 422
    for key in ("p001", "rp1"):
        refused = client.post(
            f"/api/events/{CODE}/sessions/day1/mode",
            json={"mode": "stage"},
            headers=bearer(engine, clock, CODE, key),
        )
        assert refused.status_code == 403, key
    assert audit_actions(engine) == before
    with socket(client, bearer(engine, clock, CODE, "p001")) as ws:
        _welcome, state = hello(ws)
    assert (state["mode"], state["manual"]) == ("stage", False)


def test_a_session_kept_running_overruns_its_end(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(hours=2, minutes=55))
    client.post(
        f"/api/events/{CODE}/sessions/day1/mode",
        json={"mode": "stage", "item": "d1-benefits"},
        headers=bearer(engine, clock, CODE, "mod1"),
    )
    move_to(real_time, DAY1 + timedelta(hours=3, minutes=10))  # ten minutes over
    with socket(client, bearer(engine, clock, CODE, "p001")) as ws:
        _welcome, state = hello(ws)
    assert (state["session"], state["mode"], state["item"]) == ("day1", "stage", "d1-benefits")


def test_state_frames_carry_a_signed_token_for_the_persons_room(
    video_client: TestClient,
    engine: Engine,
    settings: Settings,
    wall_clock: Clock,
    real_time: RealTime,
) -> None:
    clock = wall_clock
    load_event(engine, settings, clock)
    main = room_name(TEST_SECRET, CODE, "day1", "main")
    assert CODE.lower() not in main
    tokens: dict[str, str] = {}
    for key, moderator in (("p001", "false"), ("rp1", "true"), ("mod1", "true")):
        with socket(video_client, bearer(engine, clock, CODE, key)) as ws:
            _welcome, state = hello(ws)
        jitsi = state["room"]["jitsi"]
        assert (jitsi["domain"], jitsi["room"], jitsi["tenant"]) == (DOMAIN, main, None)
        claims = decode(jitsi["jwt"], main)
        assert claims["sub"] == DOMAIN
        user = claims["context"]["user"]  # type: ignore[index]
        assert (user["id"], user["moderator"]) == (key, moderator)
        # Real (wall-clock) Unix times: 6 hours of validity from now.
        assert claims["iat"] == int(real_time.now.timestamp())
        assert claims["exp"] == int((real_time.now + timedelta(hours=6)).timestamp())
        tokens[key] = jitsi["jwt"]
        # A token for another room is refused by the room check.
        other = room_name(TEST_SECRET, CODE, "day1", "breakout-1")
        with pytest.raises(AssertionError):
            decode(jitsi["jwt"], other)

    # A page that reconnects gets a fresh token.
    real_time.advance(seconds=5)
    with socket(video_client, bearer(engine, clock, CODE, "p001")) as ws:
        _welcome, state = hello(ws)
    fresh = state["room"]["jitsi"]["jwt"]
    assert fresh != tokens["p001"]
    assert decode(fresh, main)["iat"] == int(real_time.now.timestamp())

    # Six hours on, the video service's check refuses it.
    real_time.advance(hours=-7)
    with socket(video_client, bearer(engine, clock, CODE, "p001")) as ws:
        _welcome, state = hello(ws)
    with pytest.raises(jwt.ExpiredSignatureError):
        decode(state["room"]["jitsi"]["jwt"], main)


def test_console_switches_with_its_csrf_token(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    outcome = load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=10))
    csrf = sign_in(client, outcome, "mod1")
    page = client.get(f"/events/{CODE}/console")
    assert page.status_code == 200
    assert 'aria-pressed="true">Main stage</button>' in page.text
    assert "Following the timetable." in page.text
    current = '<li class="console-agenda__item slot--now" aria-current="step" data-key="d1-intro">'
    assert current in page.text
    assert 'hx-post="/events/TEST-EVENT-1/console/mode"' in page.text
    assert 'hx-post="/events/TEST-EVENT-1/console/notice"' in page.text

    missing = client.post(f"/events/{CODE}/console/mode", data={"session": "day1", "mode": "break"})
    assert missing.status_code == 403
    switched = client.post(
        f"/events/{CODE}/console/mode",
        data={"session": "day1", "mode": "break", "item": "d1-break", "csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert switched.status_code == 200
    assert 'aria-pressed="true">Break</button>' in switched.text
    assert "Set by" in switched.text and "<html" not in switched.text
    bad = client.post(
        f"/events/{CODE}/console/mode",
        data={"session": "day1", "mode": "nap", "csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 422
    assert "Nothing was changed" in bad.text and "must be one of" in bad.text

    notice = client.post(
        f"/events/{CODE}/console/notice",
        data={"text": "Cameras on, please", "room": "", "csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert notice.status_code == 200
    assert "Sent: “Cameras on, please”" in notice.text
    bad_room = client.post(
        f"/events/{CODE}/console/notice",
        data={"text": "x", "room": "Breakout 2", "csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert bad_room.status_code == 422
    assert "room: String should match pattern" in bad_room.text


def test_console_and_presenter_are_for_their_roles(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    outcome = load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=10))
    sign_in(client, outcome, "p001")
    assert client.get(f"/events/{CODE}/console").status_code == 403
    assert client.get(f"/events/{CODE}/presenter").status_code == 403
    sign_in(client, outcome, "rp1")
    assert client.get(f"/events/{CODE}/console").status_code == 403
    page = client.get(f"/events/{CODE}/presenter")
    assert page.status_code == 200
    html = page.text
    assert "You are on now" in html
    # The countdown runs to the end of the presenter's current item, on event time.
    assert 'data-ends-at="2021-11-24T05:00:00+00:00"' in html
    assert 'data-time-scale="1.0"' in html
    # What participants see next: the break.
    assert 'id="presenter-next">' in html and "(break," in html
    # Both of rp1's slots, in order.
    assert html.count('class="console-agenda__item') == 2


def test_low_bandwidth_choice_is_kept_per_person(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    outcome = load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=10))
    csrf = sign_in(client, outcome, "p001")
    assert 'data-low-bandwidth="false"' in client.get(f"/events/{CODE}").text
    saved = client.post(
        f"/events/{CODE}/low-bandwidth",
        data={"on": "true", "csrf_token": csrf},
        headers={"Accept": "application/json"},
    )
    assert saved.status_code == 204
    with Session(engine) as db:
        people = {p.key: p.low_bandwidth for p in db.exec(select(Person)).all()}
    assert people["p001"] is True and people["p002"] is False
    assert 'data-low-bandwidth="true"' in client.get(f"/events/{CODE}").text

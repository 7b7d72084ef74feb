"""Invitations: join link, the programme in the person's zone, an .ics that parses back
with the right instants, updates of the same calendar events, and exactly one mail each."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import Engine
from sqlmodel import Session

from studymission.config import Settings
from studymission.db.events import get_event
from studymission.db.tables import Event
from studymission.domain.errors import InvalidInputError
from studymission.services.clock import Clock
from studymission.services.dispatch import dispatch
from studymission.services.invitations import send_invitations
from studymission.services.mail import SmtpMailer
from tests.factories import make_spec
from tests.integration.helpers import load_event, sign_in
from tests.integration.smtp_helpers import Collector, attachment, smtp_server

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"
FIJI = {
    "key": "p003",
    "name": "Vilimaina Naqelevuki",
    "email": "vili@example.org",
    "country": "FJ",
    "organization": "MoCSMEC",
    "role": "participant",
    "origin": "overseas",
}
EVERYONE = sorted(
    ["minh@example.org", "sebnem@example.org", "rp1@example.org", "mod1@example.org"]
    + ["sec1@example.org", "vili@example.org"]
)


def _spec(**changes: Any) -> dict[str, Any]:
    spec = make_spec()
    spec["people"].append(dict(FIJI))
    for key, value in changes.items():
        spec[key] = value
    return spec


def _invite(
    engine: Engine, settings: Settings, clock: Clock, people: list[str] | None = None
) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
    with Session(engine, expire_on_commit=False) as db:
        event = get_event(db, CODE)
        assert event is not None
        outcome = send_invitations(
            db,
            event,
            people=people,
            actor="sec1",
            now=clock.real_now(),
            base_url=settings.base_url,
            secret=settings.signing_key(),
        )
    return outcome.sequence, outcome.queued, outcome.already


def _send(engine: Engine, settings: Settings, mailer: SmtpMailer, now: datetime) -> tuple[int, int]:
    with Session(engine, expire_on_commit=False) as db:
        report = dispatch(db, settings, now=now, mailer=mailer)
    return report.sent, report.failed


def _events(message: Any) -> dict[str, Any]:
    calendar = Calendar.from_ical(attachment(message, ".ics"))
    assert str(calendar["METHOD"]) == "REQUEST"
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def test_invitation_sent_once_per_person_when_sent_twice(
    engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock, _spec())
    collector = Collector()
    with smtp_server(collector) as mailer:
        assert _invite(engine, settings, clock)[:2] == (
            0,
            ("mod1", "p001", "p002", "p003", "rp1", "sec1"),
        )
        assert _send(engine, settings, mailer, clock.real_now()) == (6, 0)
        sequence, queued, already = _invite(engine, settings, clock)
        assert (sequence, queued, len(already)) == (0, (), 6)
        assert _send(engine, settings, mailer, clock.real_now() + timedelta(hours=2)) == (0, 0)
    assert collector.to() == EVERYONE
    assert len({m["Message-ID"] for m in collector.messages}) == 6


def test_invitation_retried_after_a_refusal_is_received_once(
    engine: Engine, settings: Settings, clock: Clock, client: TestClient
) -> None:
    load_event(engine, settings, clock, _spec())
    collector = Collector(refuse=1)
    now = clock.real_now()
    with smtp_server(collector) as mailer:
        _invite(engine, settings, clock, ["p001"])
        assert _send(engine, settings, mailer, now) == (0, 1)
        rows = client_rows(engine)
        assert [(r.status, r.attempts, r.last_error[:3]) for r in rows] == [("failed", 1, "451")]
        # Not due again before its pause is over.
        assert _send(engine, settings, mailer, now + timedelta(seconds=10)) == (0, 0)
        assert _send(engine, settings, mailer, now + timedelta(seconds=31)) == (1, 0)
        assert _send(engine, settings, mailer, now + timedelta(hours=1)) == (0, 0)
    rows = client_rows(engine)
    assert [(r.status, r.attempts, r.sent_at) for r in rows] == [
        ("sent", 2, now + timedelta(seconds=31))
    ]
    assert collector.to() == ["minh@example.org"]
    assert collector.messages[0]["Message-ID"] == rows[0].message_id


def client_rows(engine: Engine) -> list[Any]:
    from sqlmodel import select

    from studymission.db.tables import Delivery

    with Session(engine) as db:
        return list(db.exec(select(Delivery).order_by(Delivery.id)).all())  # type: ignore[arg-type]


def test_calendar_has_the_sessions_instants_and_join_link(
    engine: Engine, settings: Settings, clock: Clock, client: TestClient
) -> None:
    outcome = load_event(engine, settings, clock, _spec())
    collector = Collector()
    with smtp_server(collector) as mailer:
        _invite(engine, settings, clock, ["p003"])
        _send(engine, settings, mailer, clock.real_now())
    (message,) = collector.messages
    link = f"http://testserver/join/{outcome.join_tokens['p003']}"
    events = _events(message)
    assert sorted(events) == ["day1.TEST-EVENT-1@testserver", "day2.TEST-EVENT-1@testserver"]
    day1 = events["day1.TEST-EVENT-1@testserver"]
    assert day1.decoded("DTSTART") == datetime(2021, 11, 24, 4, 0, tzinfo=UTC)
    assert day1.decoded("DTEND") == datetime(2021, 11, 24, 7, 0, tzinfo=UTC)
    assert events["day2.TEST-EVENT-1@testserver"].decoded("DTSTART") == datetime(
        2021, 11, 25, 4, 0, tzinfo=UTC
    )
    assert int(day1["SEQUENCE"]) == 0
    assert str(day1["URL"]) == link
    assert "13:00–14:00 Introduction" in str(day1["DESCRIPTION"])
    # The body: the Fijian participant reads UTC+12 times beside Seoul's.
    body = message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    assert "Pacific/Fiji (UTC+12)" in body
    assert "Asia/Seoul (UTC+09)" in body
    assert "  16:00–17:00 (event 13:00–14:00)  Introduction" in body
    (found,) = re.findall(r"http://testserver/join/\S+", body)
    assert found == link
    response = client.get(found.removeprefix("http://testserver"), follow_redirects=False)
    assert response.status_code in (200, 303)
    home = client.get(f"/events/{CODE}")
    assert home.status_code == 200
    assert "Vilimaina Naqelevuki" in home.text


def test_changed_programme_updates_the_same_calendar_events(
    engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock, _spec())
    collector = Collector()
    with smtp_server(collector) as mailer:
        _invite(engine, settings, clock, ["p001"])
        _send(engine, settings, mailer, clock.real_now())
        moved = _spec()
        moved["sessions"][1]["start"] = "2021-11-25T14:00"
        moved["sessions"][1]["agenda"][0]["start"] = "14:00"
        moved["sessions"][1]["agenda"][0]["end"] = "15:00"
        moved["sessions"][1]["agenda"][1]["start"] = "15:00"
        moved["sessions"][1]["end"] = "2021-11-25T16:00"
        load_event(engine, settings, clock, moved)
        sequence, queued, already = _invite(engine, settings, clock, ["p001"])
        assert (sequence, queued, already) == (1, ("p001",), ())
        _send(engine, settings, mailer, clock.real_now())
        # Unchanged since: the same issue, nobody mailed again.
        assert _invite(engine, settings, clock)[0] == 1
    first, second = (_events(m) for m in collector.messages)
    assert sorted(first) == sorted(second)
    uid = "day2.TEST-EVENT-1@testserver"
    assert (int(first[uid]["SEQUENCE"]), int(second[uid]["SEQUENCE"])) == (0, 1)
    assert second[uid].decoded("DTSTART") == datetime(2021, 11, 25, 5, 0, tzinfo=UTC)
    assert str(collector.messages[1]["Subject"]).startswith("Updated programme:")


def test_withdrawn_and_unknown_people_are_never_invited(
    engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock, _spec())
    without = _spec()
    without["people"] = [p for p in without["people"] if p["key"] != "p002"]
    load_event(engine, settings, clock, without)
    with pytest.raises(InvalidInputError) as refused:
        _invite(engine, settings, clock, ["p001", "p002", "nobody"])
    assert [(p.value, p.reason) for p in refused.value.problems] == [
        ("p002", "withdrawn from the event"),
        ("nobody", "no such person in the event"),
    ]
    sequence, queued, _already = _invite(engine, settings, clock)
    assert "p002" not in queued
    assert len(queued) == 5


def test_participant_downloads_own_calendar_with_own_link(
    engine: Engine, settings: Settings, clock: Clock, client: TestClient
) -> None:
    outcome = load_event(engine, settings, clock, _spec())
    sign_in(client, outcome, "p002")
    response = client.get(f"/events/{CODE}/calendar.ics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    urls = {str(e["URL"]) for e in calendar.walk("VEVENT")}
    assert urls == {f"http://testserver/join/{outcome.join_tokens['p002']}"}
    home = client.get(f"/events/{CODE}")
    assert f'href="/events/{CODE}/calendar.ics"' in home.text


def _event(engine: Engine) -> Event:
    with Session(engine) as db:
        event = get_event(db, CODE)
        assert event is not None
        return event

"""Shared notes of the breakout rooms (docs/breakout-notes.md): members and staff write with
optimistic concurrency, the room's pages hear of each save, other rooms cannot read them,
and the report-back lists every room's notes once the round has closed."""

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from studymission.config import Settings
from studymission.db.tables import AuditEntry, BreakoutNote
from studymission.realtime.protocol import iso
from studymission.services.clock import Clock
from tests.conftest import RealTime
from tests.integration.helpers import bearer, load_event, sign_in
from tests.integration.test_realtime_socket import CODE, DAY1, fence, hello, move_to, socket

pytestmark = pytest.mark.integration

ROUNDS = f"/api/events/{CODE}/sessions/day1/breakouts"
NOTES = f"{ROUNDS}/notes"
PAGE = f"/events/{CODE}/breakouts"
HX = {"HX-Request": "true"}


def open_round(client: TestClient, engine: Engine, clock: Clock, real_time: RealTime) -> None:
    move_to(real_time, DAY1 + timedelta(minutes=100))
    opened = client.post(
        ROUNDS,
        json={"assignments": {"breakout-1": ["p001"], "breakout-2": ["p002"]}, "minutes": 20},
        headers=bearer(engine, clock, CODE, "mod1"),
    )
    assert opened.status_code == 200, opened.text


def stored(engine: Engine) -> list[tuple[str, str, int, str]]:
    with Session(engine) as db:
        notes = db.exec(select(BreakoutNote).order_by(col(BreakoutNote.room))).all()
        return [(n.room, n.text, n.version, n.updated_by) for n in notes]


def audit(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as db:
        query = select(AuditEntry).where(AuditEntry.action == "breakouts.notes")
        return [e.detail for e in db.exec(query.order_by(col(AuditEntry.id))).all()]


def test_a_member_saves_and_only_the_room_hears_of_it(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    open_round(client, engine, clock, real_time)
    p001 = bearer(engine, clock, CODE, "p001")
    empty = client.get(f"{NOTES}/breakout-1", headers=p001)
    assert empty.status_code == 200, empty.text
    assert empty.json() == {
        "round": 1,
        "room": "breakout-1",
        "text": "",
        "version": 0,
        "updated_at": None,
        "updated_by": None,
    }
    with (
        socket(client, p001) as one,
        socket(client, bearer(engine, clock, CODE, "p002")) as two,
    ):
        hello(one)
        hello(two)
        saved = client.put(
            f"{NOTES}/breakout-1", json={"text": "1. Cold chain", "version": 0}, headers=p001
        )
        assert saved.status_code == 200, saved.text
        assert saved.json() == {
            "round": 1,
            "room": "breakout-1",
            "text": "1. Cold chain",
            "version": 1,
            "updated_at": iso(real_time.now),
            "updated_by": "Nguyễn Thị Minh",
        }
        assert fence(one) == [{"type": "notes", "room": "breakout-1"}]
        assert fence(two) == []
    assert client.get(f"{NOTES}/breakout-1", headers=p001).json()["version"] == 1
    assert stored(engine) == [("breakout-1", "1. Cold chain", 1, "Nguyễn Thị Minh")]
    assert audit(engine) == [
        {"session": "day1", "round": 1, "room": "breakout-1", "version": 1, "characters": 13}
    ]


def test_a_stale_version_is_refused_with_the_text_given_back(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    open_round(client, engine, clock, real_time)
    p001 = bearer(engine, clock, CODE, "p001")
    moderator = bearer(engine, clock, CODE, "mod1")
    first = client.put(f"{NOTES}/breakout-1", json={"text": "ours", "version": 0}, headers=p001)
    assert first.json()["version"] == 1
    # The moderator edits the same version first; the participant's later save is stale.
    theirs = client.put(
        f"{NOTES}/breakout-1", json={"text": "ours + theirs", "version": 1}, headers=moderator
    )
    assert theirs.json()["version"] == 2 and theirs.json()["updated_by"] == "Moderator One"
    stale = client.put(
        f"{NOTES}/breakout-1", json={"text": "ours, edited", "version": 1}, headers=p001
    )
    assert stale.status_code == 422, stale.text
    assert stale.json()["problems"] == [
        {
            "path": "version",
            "value": 1,
            "reason": "someone else saved these notes meanwhile (version 2, by Moderator One); "
            "merge your text into theirs and save again",
        },
        {
            "path": "text",
            "value": "ours, edited",
            "reason": "not saved; your text is given back here",
        },
    ]
    too_long = client.put(
        f"{NOTES}/breakout-1", json={"text": "x" * 20_001, "version": 2}, headers=p001
    )
    assert too_long.status_code == 422
    assert too_long.json()["problems"][0] == {
        "path": "text",
        "value": 20_001,
        "reason": "longer than 20000 characters; shorten it",
    }
    assert stored(engine) == [("breakout-1", "ours + theirs", 2, "Moderator One")]
    assert [d["version"] for d in audit(engine)] == [1, 2]


def test_other_rooms_are_forbidden_and_staff_read_every_room(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    open_round(client, engine, clock, real_time)
    p001 = bearer(engine, clock, CODE, "p001")
    p002 = bearer(engine, clock, CODE, "p002")
    client.put(f"{NOTES}/breakout-2", json={"text": "room two", "version": 0}, headers=p002)
    read = client.get(f"{NOTES}/breakout-2", headers=p001)
    assert read.status_code == 403
    assert read.json()["detail"] == (
        "reading the notes of breakout-2 is for its members; you are in breakout-1"
    )
    write = client.put(f"{NOTES}/breakout-2", json={"text": "mine", "version": 1}, headers=p001)
    assert write.status_code == 403
    presenter = client.get(f"{NOTES}/breakout-1", headers=bearer(engine, clock, CODE, "rp1"))
    assert presenter.status_code == 403
    assert client.get(f"{NOTES}/breakout-9", headers=p001).status_code == 404
    assert client.get(NOTES, headers=p001).status_code == 403

    secretariat = bearer(engine, clock, CODE, "sec1")
    assert client.get(f"{NOTES}/breakout-2", headers=secretariat).json()["text"] == "room two"
    every = client.get(NOTES, headers=secretariat)
    assert every.status_code == 200, every.text
    assert [(r["room"], r["text"], r["version"]) for r in every.json()["rooms"]] == [
        ("breakout-1", "", 0),
        ("breakout-2", "room two", 1),
    ]
    assert every.json()["closed_at"] is None
    assert stored(engine) == [("breakout-2", "room two", 1, "Şebnem Yıldız")]


def test_report_back_after_closing_lists_every_room(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    outcome = load_event(engine, settings, clock)
    open_round(client, engine, clock, real_time)
    moderator = bearer(engine, clock, CODE, "mod1")
    for key, room, text in (
        ("p001", "breakout-1", "Room one <b>says</b>"),
        ("p002", "breakout-2", "Two"),
    ):
        answer = client.put(
            f"{NOTES}/{room}",
            json={"text": text, "version": 0},
            headers=bearer(engine, clock, CODE, key),
        )
        assert answer.status_code == 200
    sign_in(client, outcome, "p001")
    # Before the close the participants see nothing of the other rooms.
    hidden = client.get(f"{PAGE}/report", headers=HX)
    assert hidden.status_code == 200
    assert hidden.text.strip().startswith('<div id="breakout-report"')
    assert "Room one" not in hidden.text

    closed = client.post(f"{ROUNDS}/close", json={}, headers=moderator)
    assert closed.status_code == 200
    every = client.get(NOTES, headers=moderator).json()
    assert every["closed_at"] == closed.json()["closed_at"]
    assert [r["text"] for r in every["rooms"]] == ["Room one <b>says</b>", "Two"]
    # Written only while the round is open.
    late = client.put(f"{NOTES}/breakout-1", json={"text": "late", "version": 1}, headers=moderator)
    assert late.status_code == 404

    fragment = client.get(f"{PAGE}/report", headers=HX)
    assert fragment.status_code == 200 and "HX-Request" in fragment.headers["vary"]
    assert "<html" not in fragment.text
    assert fragment.text.index("Room 1") < fragment.text.index("Room one &lt;b&gt;says&lt;/b&gt;")
    assert fragment.text.index("Room 2") < fragment.text.index("Two")
    assert "closed at" in fragment.text
    page = client.get(f"{PAGE}/report")
    assert page.status_code == 200 and "<html" in page.text and "Room 2" in page.text
    # Nothing changed since: the refresh gets 204.
    version = fragment.text.split("report?v=", 1)[1].split('"', 1)[0]
    assert client.get(f"{PAGE}/report", params={"v": version}, headers=HX).status_code == 204


def test_the_panel_saves_by_form_and_keeps_a_refused_text(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    outcome = load_event(engine, settings, clock)
    csrf = sign_in(client, outcome, "p001")
    outside = client.get(f"{PAGE}/notes", headers=HX)
    assert outside.text.strip().startswith('<div id="breakout-notes"')
    assert "textarea" not in outside.text
    open_round(client, engine, clock, real_time)

    panel = client.get(f"{PAGE}/notes", headers=HX)
    assert panel.status_code == 200 and "<html" not in panel.text
    assert 'aria-live="polite"' in panel.text and "Notes of Room 1" in panel.text
    assert 'hx-get="/events/TEST-EVENT-1/breakouts/notes?at=1:breakout-1"' in panel.text
    # Same room: the live-state refresh leaves the panel (and a half-typed text) alone.
    same = client.get(f"{PAGE}/notes", params={"at": "1:breakout-1"}, headers=HX)
    assert same.status_code == 204
    page = client.get(f"{PAGE}/notes")
    assert "<html" in page.text and 'name="csrf_token"' in page.text

    form = {"csrf_token": csrf, "session": "day1", "room": "breakout-1", "round": "1"}
    no_csrf = client.post(
        f"{PAGE}/notes", data={**form, "csrf_token": "", "text": "x", "version": "0"}, headers=HX
    )
    assert no_csrf.status_code == 403
    saved = client.post(
        f"{PAGE}/notes", data={**form, "text": "Draft A", "version": "0"}, headers=HX
    )
    assert saved.status_code == 200, saved.text
    assert "Saved as version 1." in saved.text and ">Draft A</textarea>" in saved.text
    assert 'name="version" value="1"' in saved.text

    # Someone else saves version 2; the person's page hears of it and offers the newer text.
    client.put(
        f"{NOTES}/breakout-1",
        json={"text": "Draft B", "version": 1},
        headers=bearer(engine, clock, CODE, "mod1"),
    )
    latest = client.get(f"{PAGE}/notes/latest", params={"shown": "1", "version": "1"}, headers=HX)
    assert latest.status_code == 200
    assert "Version 2, saved by Moderator One" in latest.text
    assert "Someone saved a newer version since you started editing" in latest.text
    assert "<textarea" not in latest.text
    unchanged = client.get(f"{PAGE}/notes/latest", params={"shown": "2"}, headers=HX)
    assert unchanged.status_code == 204

    stale = client.post(
        f"{PAGE}/notes", data={**form, "text": "Draft A, more", "version": "1"}, headers=HX
    )
    assert stale.status_code == 422
    assert ">Draft A, more</textarea>" in stale.text
    assert "someone else saved these notes meanwhile (version 2, by Moderator One)" in stale.text
    assert 'name="version" value="2"' in stale.text  # the next save replaces on purpose
    assert stored(engine) == [("breakout-1", "Draft B", 2, "Moderator One")]

    plain = client.post(
        f"{PAGE}/notes",
        data={**form, "text": "Merged", "version": "2"},
        follow_redirects=False,
    )
    assert plain.status_code == 303 and plain.headers["location"] == f"/events/{CODE}"
    assert stored(engine) == [("breakout-1", "Merged", 3, "Nguyễn Thị Minh")]

    # Moved to another room: the live-state refresh draws the panel for the new room.
    moved = client.post(
        f"{ROUNDS}/move",
        json={"person": "p001", "room": "breakout-2"},
        headers=bearer(engine, clock, CODE, "mod1"),
    )
    assert moved.status_code == 200
    again = client.get(f"{PAGE}/notes", params={"at": "1:breakout-1"}, headers=HX)
    assert again.status_code == 200
    assert "Notes of Room 2" in again.text and "></textarea>" in again.text

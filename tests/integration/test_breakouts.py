"""Breakout rounds (CONTRACT §4b): open → move → change the time → the timer closes it,
with every page told its room, its Jitsi room and the round's end; bad input changes nothing."""

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from studymission.config import Settings
from studymission.db.tables import AuditEntry, BreakoutMember, BreakoutRound
from studymission.integrations.jitsi import room_name
from studymission.realtime.protocol import iso
from studymission.services.breakouts import timer_tick
from studymission.services.clock import Clock
from tests.conftest import TEST_SECRET, RealTime
from tests.integration.helpers import bearer, load_event
from tests.integration.test_realtime_socket import (
    CODE,
    DAY1,
    fence,
    flush,
    hello,
    move_to,
    realtime_of,
    socket,
)

URL = f"/api/events/{CODE}/sessions/day1/breakouts"


def rows(engine: Engine) -> tuple[int, int, int]:
    with Session(engine) as db:
        return (
            len(db.exec(select(BreakoutRound)).all()),
            len(db.exec(select(BreakoutMember)).all()),
            len(db.exec(select(AuditEntry)).all()),
        )


def states(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f["type"] == "state"]


def test_open_move_extend_and_the_timer_closes_once(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=100))
    moderator = bearer(engine, clock, CODE, "mod1")
    with (
        socket(client, bearer(engine, clock, CODE, "p001")) as one,
        socket(client, bearer(engine, clock, CODE, "p002")) as two,
        socket(client, bearer(engine, clock, CODE, "mod1")) as mod,
    ):
        for ws in (one, two, mod):
            hello(ws)
        opened = client.post(URL, json={"rooms": 2, "minutes": 30}, headers=moderator)
        assert opened.status_code == 200, opened.text
        body = opened.json()
        ends_at = iso(real_time.now + timedelta(minutes=30))
        assert body["ends_at"] == ends_at and body["closed_at"] is None
        rooms = {r["name"]: r["members"] for r in body["rooms"]}
        assert sorted(rooms) == ["breakout-1", "breakout-2"]
        assert sorted(k for keys in rooms.values() for k in keys) == ["p001", "p002"]
        room_of = {k: name for name, keys in rooms.items() for k in keys}

        for key, ws in (("p001", one), ("p002", two)):
            [state] = states(fence(ws))
            assert state["mode"] == "breakouts"
            assert state["room"]["name"] == room_of[key]
            assert state["room"]["jitsi"]["room"] == room_name(
                TEST_SECRET, CODE, "day1", room_of[key]
            )
            assert state["ends_at"] == ends_at
        # The moderator stays in the main room (and may visit any room).
        [state] = states(fence(mod))
        assert (state["mode"], state["room"]["name"], state["ends_at"]) == (
            "breakouts",
            "main",
            None,
        )

        # A notice to one room reaches its members only.
        target = room_of["p001"]
        sent = client.post(
            f"/api/events/{CODE}/notices",
            json={"text": "Five minutes to agree a rapporteur", "room": target},
            headers=moderator,
        )
        assert sent.status_code == 202
        assert [f["text"] for f in fence(one) if f["type"] == "notice"] == [
            "Five minutes to agree a rapporteur"
        ]
        assert [f for f in fence(two) if f["type"] == "notice"] == []

        # Move p002 into p001's room: its page follows at once.
        moved = client.post(
            f"{URL}/move", json={"person": "p002", "room": target}, headers=moderator
        )
        assert moved.status_code == 200, moved.text
        assert {r["name"]: r["members"] for r in moved.json()["rooms"]}[target] == [
            "p001",
            "p002",
        ]
        [state] = states(fence(two))
        assert state["room"]["name"] == target
        # The moderator visits the room too.
        client.post(f"{URL}/move", json={"person": "mod1", "room": target}, headers=moderator)
        [state] = states(fence(mod))
        assert state["room"]["name"] == target

        # Five more minutes; then ten fewer.
        longer = client.post(f"{URL}/time", json={"minutes": 5}, headers=moderator)
        assert longer.json()["ends_at"] == iso(real_time.now + timedelta(minutes=35))
        shorter = client.post(f"{URL}/time", json={"minutes": -10}, headers=moderator)
        ends = real_time.now + timedelta(minutes=25)
        assert shorter.json()["ends_at"] == iso(ends)
        [state] = states(fence(one))[-1:]
        assert state["ends_at"] == iso(ends)

        # A minute before the end: one warning, to every page.
        realtime = realtime_of(client)
        move_to(real_time, ends - timedelta(seconds=50))
        outcome = client.portal.call(realtime.round_tick)  # type: ignore[union-attr]
        assert (outcome.warned, outcome.closed) == (((CODE, "day1", ends),), ())
        for ws in (one, two, mod):
            notices = [f for f in fence(ws) if f["type"] == "notice"]
            assert [n["from"] for n in notices] == ["studymission"]
            assert notices[0]["text"].startswith("One minute left")
        again = client.portal.call(realtime.round_tick)  # type: ignore[union-attr]
        assert (again.warned, again.closed) == ((), ())

        # The end: closed once, everyone back in the main room on stage.
        move_to(real_time, ends + timedelta(seconds=1))
        outcome = client.portal.call(realtime.round_tick)  # type: ignore[union-attr]
        assert outcome.closed == ((CODE, "day1"),)
        for ws in (one, two, mod):
            [state] = states(fence(ws))
            assert (state["mode"], state["room"]["name"], state["ends_at"]) == (
                "stage",
                "main",
                None,
            )
        with Session(engine) as db:
            # A second process's timer, late: nothing left to close.
            assert timer_tick(db, real_time.now).closed == ()
            [round_] = db.exec(select(BreakoutRound)).all()
            assert (round_.closed_by, round_.closed_at) == ("timer", ends)
            actions = db.exec(select(AuditEntry.action).order_by(col(AuditEntry.id))).all()
        assert [a for a in actions if a.startswith("breakouts.")] == [
            "breakouts.open",
            "breakouts.move",
            "breakouts.move",
            "breakouts.time",
            "breakouts.time",
            "breakouts.close",
        ]


def test_presence_log_keeps_the_breakout_room(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=100))
    moderator = bearer(engine, clock, CODE, "mod1")
    client.post(
        URL,
        json={"assignments": {"breakout-1": ["p002"], "breakout-2": ["p001"]}, "minutes": 20},
        headers=moderator,
    )
    with socket(client, bearer(engine, clock, CODE, "p001")) as ws:
        _welcome, state = hello(ws)
        assert state["room"]["name"] == "breakout-2"
        for _beat in range(5):  # every 15 s, as the page does, through minute 100
            ws.send_json(
                {"type": "heartbeat", "visible": True, "in_room": True, "room": "breakout-2"}
            )
            fence(ws)
            real_time.advance(seconds=15)
        flush(client)
    minutes = client.get(
        f"/api/events/{CODE}/presence",
        params={"person": "p001", "session": "day1"},
        headers=moderator,
    ).json()
    assert minutes[100] == {
        "minute": 100,
        "seconds": 60,
        "present": True,
        "room": "breakout-2",
        "break": False,
        "visible_seconds": 60,
    }


def test_late_arrivals_go_to_the_smallest_room(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=100))
    moderator = bearer(engine, clock, CODE, "mod1")
    opened = client.post(
        URL,
        json={"assignments": {"breakout-1": ["p001"], "breakout-2": []}, "minutes": 20},
        headers=moderator,
    )
    assert opened.status_code == 200, opened.text
    with socket(client, bearer(engine, clock, CODE, "p002")) as late:
        _welcome, state = hello(late)
        assert state["room"]["name"] == "breakout-2"
    view = client.get(URL, headers=moderator).json()
    assert {r["name"]: r["members"] for r in view["rooms"]} == {
        "breakout-1": ["p001"],
        "breakout-2": ["p002"],
    }
    with Session(engine) as db:
        placed = db.exec(select(BreakoutMember.placed).order_by(col(BreakoutMember.room))).all()
        late_audit = db.exec(select(AuditEntry).where(AuditEntry.action == "breakouts.late")).one()
    assert list(placed) == ["plan", "late"]
    assert late_audit.detail["person"] == "p002"


def test_bad_rounds_list_every_problem_and_change_nothing(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=100))
    moderator = bearer(engine, clock, CODE, "mod1")
    before = rows(engine)

    def problems(body: dict[str, Any]) -> dict[str, str]:
        answer = client.post(URL, json=body, headers=moderator)
        assert answer.status_code == 422, answer.text
        return {f"{p['path']}={p['value']}": p["reason"] for p in answer.json()["problems"]}

    assert problems({"rooms": 0, "minutes": 0}) == {
        "minutes=0.0": "must be more than 0",
        "rooms=0": "must be at least 1",
    }
    assert problems({"rooms": 3, "minutes": 81}) == {
        "minutes=81.0": "longer than the 80 minutes left in the session day1",
        "rooms=3": "more rooms than the 2 participants of the event",
    }
    assert problems(
        {"assignments": {"breakout-1": ["p001", "nobody"], "room-2": ["p001"]}, "minutes": 10}
    ) == {
        "assignments.breakout-1=nobody": "no such person",
        "assignments.room-2=room-2": "rooms are named breakout-N",
        "assignments.room-2=p001": "already in breakout-1",
    }
    assert problems({"assignments": {}, "minutes": 10}) == {
        "assignments={}": "name at least one room",
    }
    refused = client.post(
        URL, json={"rooms": 1, "minutes": 10}, headers=bearer(engine, clock, CODE, "p001")
    )
    assert refused.status_code == 403
    extra = client.post(URL, json={"rooms": 1, "minutes": 10, "size": 3}, headers=moderator)
    assert extra.status_code == 422
    assert rows(engine) == before
    for path in ("/close", "/time", "/move"):
        body: dict[str, Any] = {
            "/close": {},
            "/time": {"minutes": 5},
            "/move": {"person": "p001", "room": "breakout-1"},
        }[path]
        answer = client.post(f"{URL}{path}", json=body, headers=moderator)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["problems"][0]["reason"] == "no round is open in the session day1"

    # One round at a time.
    assert client.post(URL, json={"rooms": 1, "minutes": 10}, headers=moderator).status_code == 200
    opened = rows(engine)
    assert problems({"rooms": 2, "minutes": 10}) == {
        "round=1": "a round is already open in this session; close it first"
    }
    assert rows(engine) == opened
    assert problems_of_time(client, moderator, -30) == {
        "minutes": "the round would end in the past"
    }
    assert problems_of_time(client, moderator, 200) == {
        "minutes": "the round would outlast the session day1"
    }
    closed = client.post(f"{URL}/close", json={}, headers=moderator)
    assert closed.status_code == 200 and closed.json()["closed_at"] is not None


def problems_of_time(client: TestClient, headers: dict[str, str], minutes: float) -> dict[str, str]:
    answer = client.post(f"{URL}/time", json={"minutes": minutes}, headers=headers)
    assert answer.status_code == 422, answer.text
    return {p["path"]: p["reason"] for p in answer.json()["problems"]}


def test_groups_prepared_through_the_api_open_with_strategy_plan(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=100))
    moderator = bearer(engine, clock, CODE, "mod1")
    empty = client.get(f"{URL}/plan", headers=moderator).json()
    assert empty == {"session": "day1", "locked": False, "rooms": [], "unplanned": ["p001", "p002"]}
    pinned = client.put(
        f"{URL}/plan/p002", json={"room": "breakout-1", "pinned": True}, headers=moderator
    )
    assert pinned.status_code == 200
    plan = client.post(f"{URL}/plan", json={"rooms": 2}, headers=moderator).json()
    assert plan["rooms"] == [
        {"name": "breakout-1", "members": [{"key": "p002", "pinned": True}]},
        {"name": "breakout-2", "members": [{"key": "p001", "pinned": False}]},
    ]
    bad = client.put(f"{URL}/plan/nobody", json={"room": "room-1"}, headers=moderator)
    assert bad.status_code == 422
    assert {p["path"] for p in bad.json()["problems"]} == {"person", "room"}
    assert client.post(f"{URL}/plan", json={"rooms": 0}, headers=moderator).status_code == 422
    assert client.get(f"{URL}/plan", headers=bearer(engine, clock, CODE, "p001")).status_code == 403
    opened = client.post(URL, json={"strategy": "plan", "minutes": 15}, headers=moderator)
    assert opened.status_code == 200, opened.text
    assert [r["members"] for r in opened.json()["rooms"]] == [["p002"], ["p001"]]
    assert client.get(f"{URL}/plan", headers=moderator).json()["locked"] is True


def test_generated_groups_can_place_staff_one_per_room(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=100))
    moderator = bearer(engine, clock, CODE, "mod1")
    plan = client.post(f"{URL}/plan", json={"rooms": 2, "staff": True}, headers=moderator)
    assert plan.status_code == 200, plan.text
    rooms = [{m["key"] for m in r["members"]} for r in plan.json()["rooms"]]
    # The resource person and the moderator, one per room; the participants spread too.
    assert [len(r & {"rp1", "mod1"}) for r in rooms] == [1, 1]
    assert [len(r & {"p001", "p002"}) for r in rooms] == [1, 1]
    assert "sec1" not in set().union(*rooms)

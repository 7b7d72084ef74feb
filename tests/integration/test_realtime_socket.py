"""``WS /ws/{event}`` through the ASGI app (CONTRACT §3, §4, §4b), on SQLite and PostgreSQL.

The clock is the controllable one of conftest (scale 1, real time moved by hand), so every
heartbeat is stamped with a known event time. A heartbeat is processed before the clock
moves on because each is followed by a ping *fence*: frames of one socket are handled in
order, so once the pong is back every frame sent before it has been handled.
"""

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from studymission.app import create_app
from studymission.config import Settings
from studymission.db.tables import ConnectionEvent, LiveSocket, PresenceMinute
from studymission.domain.clock import EventClock
from studymission.integrations.jitsi import room_name
from studymission.realtime.runtime import Realtime
from studymission.services.clock import Clock
from tests.conftest import TEST_SECRET, RealTime
from tests.factories import make_spec
from tests.integration.helpers import bearer, load_event, sign_in

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"
#: Day 1 of the factory spec: 13:00–16:00 in Seoul, a break 14:00–14:15.
DAY1 = datetime(2021, 11, 24, 4, 0, tzinfo=UTC)

Frame = dict[str, Any]


# -- helpers ---------------------------------------------------------------------------------


def realtime_of(client: TestClient) -> Realtime:
    app = client.app
    assert isinstance(app, FastAPI)
    realtime: Realtime = app.state.realtime
    return realtime


def move_to(real_time: RealTime, instant: datetime) -> None:
    """Set the (scale 1) clock of conftest to the event instant `instant`."""
    real_time.now = instant


@contextmanager
def socket(
    client: TestClient, headers: dict[str, str] | None = None, code: str = CODE
) -> Iterator[WebSocketTestSession]:
    with client.websocket_connect(f"/ws/{code}", headers=headers or {}) as ws:
        yield ws


def hello(ws: WebSocketTestSession) -> tuple[Frame, Frame]:
    """The two frames every accepted socket gets first: welcome, then state."""
    welcome: Frame = ws.receive_json()
    state: Frame = ws.receive_json()
    return welcome, state


_fences = iter(range(1, 1_000_000))


def fence(ws: WebSocketTestSession) -> list[Frame]:
    """Ping and wait for the pong; returns the frames that came before it (in order)."""
    ident = f"fence-{next(_fences)}"
    ws.send_json({"type": "ping", "id": ident})
    before: list[Frame] = []
    while True:
        frame: Frame = ws.receive_json()
        if frame.get("type") == "pong" and frame.get("id") == ident:
            return before
        before.append(frame)


def beat(
    ws: WebSocketTestSession, room: str = "main", *, in_room: bool = True, visible: bool = True
) -> None:
    """A heartbeat, handled (stamped with the clock as it is now) when this returns."""
    ws.send_json({"type": "heartbeat", "visible": visible, "in_room": in_room, "room": room})
    assert fence(ws) == []


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        time.sleep(0.01)


def closed(client: TestClient, count: int = 0) -> Callable[[], bool]:
    """True once the server holds `count` sockets (closing sockets have been processed)."""
    realtime = realtime_of(client)
    return lambda: len(realtime.tracker.sockets) == count and len(realtime.hub) == count


def flush(client: TestClient) -> None:
    realtime = realtime_of(client)
    client.portal.call(realtime.flush_minutes)  # type: ignore[union-attr]
    client.portal.call(realtime.flush_changes)  # type: ignore[union-attr]


def presence(client: TestClient, headers: dict[str, str], person: str = "p001") -> list[Frame]:
    response = client.get(
        f"/api/events/{CODE}/presence",
        params={"person": person, "session": "day1"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    minutes: list[Frame] = response.json()
    return minutes


def minute(
    number: int, seconds: int, room: str | None, visible_seconds: int | None = None
) -> Frame:
    return {
        "minute": number,
        "seconds": seconds,
        "present": seconds >= 30,
        "room": room,
        "break": False,
        "visible_seconds": seconds if visible_seconds is None else visible_seconds,
    }


def refused(client: TestClient, headers: dict[str, str], code: str = CODE) -> int:
    """The close code of a handshake the server refuses before sending anything."""
    with pytest.raises(WebSocketDisconnect) as refusal:
        with socket(client, headers, code):
            pass  # pragma: no cover - the handshake must not succeed
    return refusal.value.code


# -- handshake -------------------------------------------------------------------------------


def test_welcome_and_first_state_follow_the_schedule(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    auth = bearer(engine, clock, CODE, "p001")
    expected = [
        # 12:00 in Seoul, an hour before day 1: waiting for it.
        (datetime(2021, 11, 24, 3, 0, tzinfo=UTC), "day1", "waiting", None),
        (datetime(2021, 11, 24, 4, 30, tzinfo=UTC), "day1", "stage", "d1-intro"),
        (datetime(2021, 11, 24, 5, 5, tzinfo=UTC), "day1", "break", "d1-break"),
        (datetime(2021, 11, 24, 5, 15, tzinfo=UTC), "day1", "stage", "d1-benefits"),
        # Between the days: the next session is the one waited for.
        (datetime(2021, 11, 24, 8, 0, tzinfo=UTC), "day2", "waiting", None),
        (datetime(2021, 11, 25, 7, 0, tzinfo=UTC), "day2", "ended", None),
    ]
    for instant, session, mode, item in expected:
        move_to(real_time, instant)
        with socket(client, auth) as ws:
            welcome, state = hello(ws)
        assert welcome == {
            "type": "welcome",
            "person": "p001",
            "role": "participant",
            "heartbeat_seconds": 15.0,
            "server_time": instant.isoformat().replace("+00:00", "Z"),
            "time_scale": 1.0,
            "stale_after_seconds": 45,
        }
        # JITSI_MODE none: the public server, the room by keyed hash, no token; an ended
        # session has no call.
        jitsi = {
            "domain": "meet.jit.si",
            "room": room_name(TEST_SECRET, CODE, session, "main"),
            "jwt": None,
            "tenant": None,
        }
        assert state == {
            "type": "state",
            "session": session,
            "mode": mode,
            "item": item,
            "manual": False,
            "room": {"name": "main", "jitsi": None if mode == "ended" else jitsi},
            "playback": None,
            "ends_at": None,
        }, instant


def test_state_is_pushed_when_the_schedule_moves_on(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=59, seconds=50))
    realtime = realtime_of(client)
    push = functools.partial(realtime.push_state, CODE, only_changed=True)
    with socket(client, bearer(engine, clock, CODE, "p002")) as ws:
        _welcome, state = hello(ws)
        assert (state["mode"], state["item"]) == ("stage", "d1-intro")
        # Nothing changed: nothing is sent.
        assert client.portal.call(push) == 0  # type: ignore[union-attr]
        assert fence(ws) == []
        real_time.advance(seconds=20)
        assert client.portal.call(push) == 1  # type: ignore[union-attr]
        changed = fence(ws)
    assert [(f["type"], f["session"], f["mode"], f["item"]) for f in changed] == [
        ("state", "day1", "break", "d1-break")
    ]


def test_welcome_at_time_scale_60(
    settings: Settings, engine: Engine, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    fast = Clock(EventClock(DAY1, real_time.now, 60.0), real_time)
    with TestClient(create_app(settings, engine=engine, clock=fast)) as client:
        real_time.advance(seconds=65)  # 65 minutes of event time: in the break
        with socket(client, bearer(engine, fast, CODE, "rp1")) as ws:
            welcome, state = hello(ws)
    assert welcome == {
        "type": "welcome",
        "person": "rp1",
        "role": "resource_person",
        "heartbeat_seconds": 0.25,
        "server_time": "2021-11-24T05:05:00Z",
        "time_scale": 60.0,
        "stale_after_seconds": 45,
    }
    assert (state["session"], state["mode"], state["item"]) == ("day1", "break", "d1-break")


def test_credentials_and_origin_are_checked_before_any_data(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    outcome = load_event(engine, settings, clock)
    load_event(engine, settings, clock, make_spec(code="OTHER-EVENT-2"))
    mine = bearer(engine, clock, CODE, "p001")
    assert refused(client, {}) == 1008
    assert refused(client, {"Authorization": "Bearer not-a-token"}) == 1008
    assert refused(client, {"Authorization": "Basic cDAwMTp4"}) == 1008
    assert refused(client, bearer(engine, clock, "OTHER-EVENT-2", "p001")) == 1008
    assert refused(client, mine, code="NO-SUCH-EVENT") == 1008
    assert refused(client, {**mine, "Origin": "http://evil.example"}) == 1008
    assert refused(client, {**mine, "Origin": "https://testserver"}) == 1008
    assert refused(client, {**mine, "Origin": "http://testserver:8080"}) == 1008
    # Nothing was opened, nothing was logged.
    assert closed(client)()
    flush(client)
    with Session(engine) as db:
        assert db.exec(select(ConnectionEvent)).all() == []

    with socket(client, {**mine, "Origin": "http://testserver"}) as ws:
        welcome, _state = hello(ws)
        assert welcome["person"] == "p001"
    # The session cookie of a join link is enough (a browser sends its Origin too).
    sign_in(client, outcome, "p002")
    with socket(client, {"Origin": "http://testserver"}) as ws:
        welcome, _state = hello(ws)
        assert (welcome["person"], welcome["role"]) == ("p002", "participant")


# -- frames ----------------------------------------------------------------------------------


def test_bad_frames_get_an_error_and_the_socket_stays_usable(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock)
    bad: list[tuple[str, list[str]]] = [
        ('{"type": "shout", "text": "hi"}', ["shout", "heartbeat", "ping"]),
        ('{"text": "no type"}', ["type"]),
        (
            '{"type": "heartbeat", "visible": "perhaps", "in_room": true, "room": "main"}',
            ["heartbeat.visible"],
        ),
        ('{"type": "heartbeat", "visible": true, "in_room": true}', ["heartbeat.room"]),
        (
            '{"type": "heartbeat", "visible": true, "in_room": true, "room": "Main Hall"}',
            ["heartbeat.room"],
        ),
        (
            '{"type": "heartbeat", "visible": true, "in_room": true, "room": "main", "at": 1}',
            ["heartbeat.at"],
        ),
        ('{"type": "ping", "id": "' + "x" * 65 + '"}', ["ping.id"]),
        ("hello there", ["JSON"]),
        ("[1, 2]", []),
        ("", []),
    ]
    with socket(client, bearer(engine, clock, CODE, "p001")) as ws:
        hello(ws)
        for text, named in bad:
            ws.send_text(text)
            error: Frame = ws.receive_json()
            assert (error["type"], error["code"]) == ("error", "bad_frame"), text
            assert set(error) == {"type", "code", "detail"}
            assert isinstance(error["detail"], str) and error["detail"], text
            for name in named:
                assert name in error["detail"], (text, error["detail"])
        # Still open and answering, and nothing bad was taken for a heartbeat.
        ws.send_json({"type": "ping", "id": "still-there"})
        pong: Frame = ws.receive_json()
        assert (pong["type"], pong["id"], pong["server_time"]) == (
            "pong",
            "still-there",
            "2021-11-24T03:00:00Z",
        )
    wait_until(closed(client))
    flush(client)
    with Session(engine) as db:
        kinds = db.exec(select(ConnectionEvent.kind).order_by(col(ConnectionEvent.id))).all()
    assert kinds == ["connect", "disconnect"]


@pytest.mark.parametrize(
    ("text", "closes"),
    [
        ("x" * (64 * 1024), False),  # at the limit: a bad frame, answered
        ("x" * (64 * 1024 + 1), True),
        # 21,846 three-byte characters: 65,538 bytes on the wire although fewer characters.
        ("€" * 21846, True),
    ],
    ids=["64KiB", "64KiB+1", "64KiB-in-utf8"],
)
def test_frames_over_64_kib_close_the_socket(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, text: str, closes: bool
) -> None:
    load_event(engine, settings, clock)
    with socket(client, bearer(engine, clock, CODE, "p001")) as ws:
        hello(ws)
        ws.send_text(text)
        if closes:
            with pytest.raises(WebSocketDisconnect) as close:
                ws.receive_json()
            assert (close.value.code, close.value.reason) == (1008, "frame too large")
        else:
            error: Frame = ws.receive_json()
            assert (error["type"], error["code"]) == ("error", "bad_frame")
            assert fence(ws) == []


class Monotonic:
    """A monotonic clock the test moves by hand (the rate limit's time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_more_than_20_frames_a_second_are_refused_then_the_socket_closed(
    settings: Settings, engine: Engine, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    monotonic = Monotonic()
    move_to(real_time, DAY1)
    controlled = Clock(EventClock(DAY1, real_time.now, 1.0), real_time, monotonic=monotonic)
    auth = bearer(engine, controlled, CODE, "p001")
    staff = bearer(engine, controlled, CODE, "mod1")
    with TestClient(create_app(settings, engine=engine, clock=controlled)) as client:
        with socket(client, auth) as ws:
            hello(ws)
            # One second of real time, frozen: 20 frames pass ...
            for n in range(20):
                ws.send_json({"type": "ping", "id": str(n)})
            # ... the 21st (a heartbeat) is refused, with one error, and so are the next 19.
            ws.send_json({"type": "heartbeat", "visible": True, "in_room": True, "room": "main"})
            for n in range(21, 40):
                ws.send_json({"type": "ping", "id": str(n)})
            answers = [ws.receive_json() for _ in range(21)]
            assert answers[:20] == [
                {"type": "pong", "id": str(n), "server_time": "2021-11-24T04:00:00Z"}
                for n in range(20)
            ]
            assert answers[20] == {
                "type": "error",
                "code": "rate_limited",
                "detail": "at most 20 frames a second",
            }
            # The next second: the socket is usable again, and no dropped ping was answered.
            monotonic.now += 1.0
            assert fence(ws) == []
            real_time.advance(seconds=60)
            flush(client)
            # The refused heartbeat counted for nothing: minute 0 is empty.
            assert presence(client, staff) == [minute(0, 0, None)]

            # Past 40 frames in one second the socket is closed as abusive.
            monotonic.now += 5.0
            for n in range(41):
                ws.send_json({"type": "ping", "id": f"b{n}"})
            answers = [ws.receive_json() for _ in range(21)]
            assert [a["type"] for a in answers] == ["pong"] * 20 + ["error"]
            with pytest.raises(WebSocketDisconnect) as close:
                ws.receive_json()
            assert (close.value.code, close.value.reason) == (1008, "too many frames")
        wait_until(closed(client))
        flush(client)
        with Session(engine) as db:
            trail = db.exec(select(ConnectionEvent).order_by(col(ConnectionEvent.id))).all()
        assert [(e.kind, e.detail) for e in trail] == [
            ("connect", {}),
            ("disconnect", {"code": 1008, "reason": "too many frames"}),
        ]


# -- presence ----------------------------------------------------------------------------------


def test_heartbeats_become_the_per_minute_log(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    staff = bearer(engine, clock, CODE, "mod1")
    own = bearer(engine, clock, CODE, "p001")
    move_to(real_time, DAY1)
    with socket(client, own) as ws:
        hello(ws)
        beat(ws)  # t=0
        real_time.advance(seconds=20)
        beat(ws)  # t=20
        real_time.advance(seconds=20)
        beat(ws, in_room=False)  # t=40: left the room (qualifying [0, 40))
        real_time.advance(seconds=30)
        beat(ws, "breakout-3")  # t=70: in a breakout room
        real_time.advance(seconds=15)
        beat(ws, "breakout-3", visible=False)  # t=85: tab hidden
        real_time.advance(seconds=15)
        beat(ws)  # t=100: back in main; silent from now on
        real_time.advance(seconds=50)  # t=150: stale since t=145 (45 s after the last)
        flush(client)
        expected = [
            minute(0, 40, "main"),
            # 30 s in breakout-3 (15 of them hidden), 20 s in main: the room with most seconds.
            minute(1, 50, "breakout-3", visible_seconds=35),
            # [120, 145): 25 s, under the 30 s threshold.
            minute(2, 25, "main"),
        ]
        assert presence(client, staff) == expected
        # A participant reads their own log (the default person), not someone else's.
        assert presence(client, own) == expected
        mine = client.get(f"/api/events/{CODE}/presence", headers=own)
        assert (mine.status_code, mine.json()) == (200, expected)
        other = client.get(f"/api/events/{CODE}/presence", params={"person": "p002"}, headers=own)
        assert (other.status_code, other.json()["error"]) == (403, "forbidden")
        # A heartbeat after the gap opens qualifying time again, until the socket closes.
        beat(ws)  # t=150
        real_time.advance(seconds=20)  # t=170
    wait_until(closed(client))
    real_time.advance(seconds=30)  # t=200: the socket closed at t=170
    flush(client)
    assert presence(client, staff) == [*expected[:2], minute(2, 45, "main"), minute(3, 0, None)]
    with Session(engine) as db:
        rows = db.exec(select(PresenceMinute).order_by(col(PresenceMinute.minute))).all()
    assert [(r.minute, r.room, r.covered.bit_count()) for r in rows] == [
        (0, "main", 40),
        (1, "breakout-3", 30),
        (1, "main", 20),
        (2, "main", 45),
    ]


def test_two_tabs_of_one_person_count_once(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    staff = bearer(engine, clock, CODE, "mod1")
    auth = bearer(engine, clock, CODE, "p001")
    move_to(real_time, DAY1)
    with socket(client, auth) as tab_a:
        hello(tab_a)
        with socket(client, auth) as tab_b:
            hello(tab_b)
            beat(tab_a)  # t=0
            real_time.advance(seconds=10)
            beat(tab_b)  # t=10
            real_time.advance(seconds=20)
            beat(tab_a, in_room=False)  # t=30: tab A leaves the room; B stays
            flush(client)  # a flush in the middle: later bits are OR-ed into the same rows
            real_time.advance(seconds=20)
            beat(tab_b)  # t=50
            real_time.advance(seconds=30)  # t=80: tab B closes
        wait_until(closed(client, 1))
        real_time.advance(seconds=10)  # t=90
        flush(client)
        flush(client)  # idempotent
        # Minute 0: A [0, 30) ∪ B [10, 60) = 60 s, not 30 + 50; minute 1: B [60, 80).
        assert presence(client, staff) == [minute(0, 60, "main"), minute(1, 20, "main")]
    with Session(engine) as db:
        rows = db.exec(select(PresenceMinute).order_by(col(PresenceMinute.minute))).all()
    assert [(r.minute, r.room, r.covered, r.visible) for r in rows] == [
        (0, "main", (1 << 60) - 1, (1 << 60) - 1),
        (1, "main", (1 << 20) - 1, (1 << 20) - 1),
    ]


# -- notices -----------------------------------------------------------------------------------


def test_notices_reach_the_sockets_of_their_room(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock)
    staff = bearer(engine, clock, CODE, "mod1")
    participant = bearer(engine, clock, CODE, "p001")
    notices = f"/api/events/{CODE}/notices"
    with (
        socket(client, participant) as first,
        socket(client, bearer(engine, clock, CODE, "p002")) as second,
        socket(client, staff) as third,
    ):
        sockets = [first, second, third]
        for ws in sockets:
            hello(ws)
        sent = client.post(notices, json={"text": "  Back in five minutes  "}, headers=staff)
        assert sent.status_code == 202
        assert sent.json() == {
            "text": "Back in five minutes",
            "room": None,
            "from": "Moderator One",
            "at": "2021-11-24T03:00:00Z",
        }
        notice = {
            "type": "notice",
            "text": "Back in five minutes",
            "room": None,
            "from": "Moderator One",
            "at": "2021-11-24T03:00:00Z",
        }
        # Exactly once each: the frame before the fence, and nothing else.
        for ws in sockets:
            assert fence(ws) == [notice]

        # Everyone is in "main" for now: a notice to main reaches all, to breakout-2 none.
        to_main = client.post(notices, json={"text": "Main only", "room": "main"}, headers=staff)
        assert to_main.status_code == 202
        for ws in sockets:
            assert [(f["type"], f["text"], f["room"]) for f in fence(ws)] == [
                ("notice", "Main only", "main")
            ]
        to_room = client.post(
            notices, json={"text": "Room 2 only", "room": "breakout-2"}, headers=staff
        )
        assert (to_room.status_code, to_room.json()["room"]) == (202, "breakout-2")
        for ws in sockets:
            assert fence(ws) == []

        # A participant may not send one; a bad body is refused; nothing reaches anyone.
        forbidden = client.post(notices, json={"text": "Hello all"}, headers=participant)
        assert (forbidden.status_code, forbidden.json()["error"]) == (403, "forbidden")
        for body in ({"text": ""}, {"text": "x", "room": "Breakout 2"}, {"room": "main"}):
            assert client.post(notices, json=body, headers=staff).status_code == 422
        other = client.post("/api/events/OTHER/notices", json={"text": "x"}, headers=staff)
        assert other.status_code == 404
        for ws in sockets:
            assert fence(ws) == []


# -- audit trail and roster --------------------------------------------------------------------


def test_connections_are_kept_in_the_audit_trail_and_the_roster(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    staff = bearer(engine, clock, CODE, "mod1")
    participant = bearer(engine, clock, CODE, "p001")
    realtime = realtime_of(client)
    move_to(real_time, DAY1)

    def roster() -> dict[str, Frame]:
        response = client.get(f"/api/events/{CODE}/roster", headers=staff)
        assert response.status_code == 200, response.text
        return {entry["key"]: entry for entry in response.json()}

    forbidden = client.get(f"/api/events/{CODE}/roster", headers=participant)
    assert (forbidden.status_code, forbidden.json()["error"]) == (403, "forbidden")
    assert {k: e["status"] for k, e in roster().items()} == dict.fromkeys(
        ["mod1", "p001", "p002", "rp1", "sec1"], "absent"
    )
    with socket(client, participant) as ws:
        hello(ws)
        real_time.advance(seconds=5)
        beat(ws)  # t=5
        real_time.advance(seconds=15)
        beat(ws)  # t=20: the same place, no new entry
        real_time.advance(seconds=10)
        beat(ws, "breakout-1", visible=False)  # t=30
        flush(client)
        with Session(engine) as db:
            live = db.exec(select(LiveSocket)).all()
        assert [(s.process, s.room, s.in_room, s.visible) for s in live] == [
            (realtime.process, "breakout-1", True, False)
        ]
        entry = roster()["p001"]
        assert entry == {
            "key": "p001",
            "name": "Nguyễn Thị Minh",
            "role": "participant",
            "country": "VN",
            "status": "connected",
            "room": "breakout-1",
            "in_room": True,
            "visible": False,
            "since": "2021-11-24T04:00:00Z",
            "sockets": 1,
            "dropped_at": None,
            "last_heartbeat_at": "2021-11-24T04:00:30Z",
        }
        real_time.advance(seconds=10)
        ws.close(4000)  # t=40
        wait_until(closed(client))
    flush(client)
    with Session(engine) as db:
        trail = db.exec(select(ConnectionEvent).order_by(col(ConnectionEvent.id))).all()
        assert db.exec(select(LiveSocket)).all() == []
    sockets = {e.socket for e in trail}
    assert len(sockets) == 1 and {e.process for e in trail} == {realtime.process}
    assert [(e.kind, e.at, e.room, e.in_room, e.visible, e.detail) for e in trail] == [
        ("connect", DAY1, None, None, None, {}),
        ("change", DAY1 + timedelta(seconds=5), "main", True, True, {}),
        ("change", DAY1 + timedelta(seconds=30), "breakout-1", True, False, {}),
        ("disconnect", DAY1 + timedelta(seconds=40), None, None, None, {"code": 4000}),
    ]
    dropped = roster()
    assert dropped["p001"] == {
        **entry,
        "status": "dropped",
        "room": None,
        "in_room": False,
        "visible": False,
        "since": None,
        "sockets": 0,
        "dropped_at": "2021-11-24T04:00:40Z",
        "last_heartbeat_at": None,
    }
    assert [k for k, e in dropped.items() if e["status"] != "absent"] == ["p001"]

"""Hypothesis drives a real socket (``WS /ws/{event}`` of the app) with any mix of frames.

Valid heartbeats and pings, garbage text, binary frames, oversized frames and bursts
faster than the rate limit, in any order. A small model of the endpoint's rules
(realtime/endpoint.py: CONTRACT §3) says what must come back: a ``pong`` per handled
ping, a ``bad_frame`` error per refused frame, one ``rate_limited`` error per second over
20 frames, and a close with 1008 only for the two abuses (over 40 frames in a second, a
frame over 64 KiB). Never a 1011 (internal error). After the run the server still
accepts a socket, and the heartbeats it was sent were counted, and only those.

The rate limit's clock is a monotonic clock the test moves, so the run is deterministic.
"""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import Engine
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from studymission.app import create_app
from studymission.config import Settings
from studymission.domain.clock import EventClock
from studymission.domain.presence import Heartbeat
from studymission.realtime import protocol
from studymission.realtime.endpoint import ABUSE_LIMIT, MAX_FRAME, RATE_LIMIT
from studymission.realtime.presence import PresenceTracker
from studymission.realtime.protocol import ROOM_PATTERN, HeartbeatFrame
from studymission.realtime.runtime import Realtime
from studymission.services.clock import Clock
from tests.conftest import RealTime
from tests.integration.helpers import bearer, load_event

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"
#: 13:00 in Seoul on day 1 of the factory spec.
DAY1 = datetime(2021, 11, 24, 4, 0, tzinfo=UTC)
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011

Frame = dict[str, Any]


# -- what is sent ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """One frame: text or binary."""

    data: str | bytes


@dataclass(frozen=True)
class Tick:
    """A second (or more) of real time passes: the rate window starts again."""

    seconds: int


# ROOM_PATTERN's "$" would let Python's re add a final newline, which pydantic refuses.
rooms = st.from_regex(r"\A" + ROOM_PATTERN.strip("^$") + r"\Z")
heartbeats = st.builds(
    lambda visible, in_room, room: json.dumps(
        {"type": "heartbeat", "visible": visible, "in_room": in_room, "room": room}
    ),
    st.booleans(),
    st.booleans(),
    rooms,
)
pings = st.builds(lambda ident: json.dumps({"type": "ping", "id": ident}), st.text(max_size=64))
garbage = st.one_of(
    st.text(max_size=200),
    st.sampled_from(
        [
            "",
            "null",
            "[1, 2]",
            '{"type": "shout"}',
            '{"type": "ping", "id": "' + "x" * 65 + '"}',
            '{"type": "heartbeat", "visible": true, "in_room": true, "room": "Main Hall"}',
            '{"type": "heartbeat", "visible": NaN, "in_room": true, "room": "main"}',
            '{"type": "ping", "\\ud800": 1}',
            "[" * 5_000,
        ]
    ),
)
binary = st.binary(max_size=200) | heartbeats.map(str.encode)
oversized = st.sampled_from(
    [
        "x" * (MAX_FRAME + 1),
        "€" * (MAX_FRAME // 3 + 1),  # fewer characters than the limit, more bytes
        b"\x00" * (MAX_FRAME + 1),
    ]
)
frames = st.one_of(
    heartbeats.map(Send),
    pings.map(Send),
    garbage.map(Send),
    binary.map(Send),
)
bursts = st.builds(
    lambda frame, count: [frame] * count,
    st.one_of(heartbeats, pings, garbage).map(Send),
    st.integers(min_value=RATE_LIMIT - 2, max_value=ABUSE_LIMIT + 2),
)
steps = st.one_of(
    frames.map(lambda f: [f]),
    frames.map(lambda f: [f]),
    # Whole seconds: float sums of fractions could fall short of the window by 1e-16.
    st.integers(min_value=1, max_value=5).map(lambda s: [Tick(s)]),
    bursts,
    oversized.map(lambda data: [Send(data)]),
)
scripts = st.lists(steps, min_size=1, max_size=12).map(lambda lists: sum(lists, []))


# -- what must come back ---------------------------------------------------------------------


@dataclass
class Expected:
    """The endpoint's rules, replayed: the frames that must come back, in order."""

    replies: list[tuple[str, str]] = field(default_factory=list)  # (type, code or ping id)
    heartbeats: int = 0
    close: tuple[int, str] | None = None
    count: int = 0

    def tick(self) -> None:
        self.count = 0

    def frame(self, data: str | bytes) -> None:
        if self.close is not None:
            return  # the socket is closed: nothing more is read
        self.count += 1
        size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
        if self.count > ABUSE_LIMIT:
            self.close = (POLICY_VIOLATION, "too many frames")
        elif size > MAX_FRAME:
            self.close = (POLICY_VIOLATION, "frame too large")
        elif self.count > RATE_LIMIT:
            if self.count == RATE_LIMIT + 1:
                self.replies.append(("error", "rate_limited"))
        else:
            try:
                frame = protocol.parse_client_frame(data)
            except ValidationError:
                self.replies.append(("error", "bad_frame"))
                return
            if isinstance(frame, HeartbeatFrame):
                self.heartbeats += 1
            else:
                self.replies.append(("pong", frame.id))


def reply_key(frame: Frame) -> tuple[str, str]:
    if frame["type"] == "pong":
        return ("pong", frame["id"])
    assert frame["type"] == "error", frame
    assert isinstance(frame["detail"], str) and frame["detail"], frame
    return ("error", frame["code"])


# -- the run ---------------------------------------------------------------------------------


class CountingTracker(PresenceTracker):
    def __init__(self, process: str) -> None:
        super().__init__(process)
        self.handled: list[str] = []

    def heartbeat(self, socket: str, heartbeat: Heartbeat) -> None:
        self.handled.append(heartbeat.room)
        super().heartbeat(socket, heartbeat)


class Monotonic:
    """The rate limit's clock, moved by the test. The endpoint reads it once per frame it
    receives, so `reads` tells how many frames it has taken in: time may only move on once
    every frame sent so far was read at the old time (the server runs in another thread)."""

    def __init__(self) -> None:
        self.now = 1000
        self.reads = 0
        self.frames = 0  # sent by the test

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    def advance(self, seconds: int) -> None:
        deadline = time.monotonic() + 30
        while self.reads < self.frames:
            assert time.monotonic() < deadline, "the server stopped reading frames"
            time.sleep(0.001)
        self.now += seconds


@dataclass
class Live:
    client: TestClient
    realtime: Realtime
    monotonic: Monotonic
    auth: dict[str, str]
    staff: dict[str, str]
    real_time: RealTime
    handled: list[str]  # room of every heartbeat the tracker was given
    closes: list[int] = field(default_factory=list)


@pytest.fixture
def live(settings: Settings, engine: Engine, real_time: RealTime) -> Iterator[Live]:
    real_time.now = DAY1
    monotonic = Monotonic()
    clock = Clock(EventClock(DAY1, real_time.now, 1.0), real_time, monotonic=monotonic)
    load_event(engine, settings, clock)
    auth = bearer(engine, clock, CODE, "p001")
    staff = bearer(engine, clock, CODE, "mod1")
    app = create_app(settings, engine=engine, clock=clock)
    realtime: Realtime = app.state.realtime
    # Every heartbeat the endpoint hands to presence tracking is noted, by room.
    tracker = CountingTracker(realtime.tracker.process)
    realtime.tracker = tracker
    with TestClient(app) as client:
        yield Live(client, realtime, monotonic, auth, staff, real_time, tracker.handled)


def fence(ws: WebSocketTestSession, live: Live) -> list[Frame]:
    """A new second, then a ping: every frame sent before it has been handled once its pong
    is back (frames of one socket are handled in order)."""
    live.monotonic.advance(1)
    live.monotonic.frames += 1
    ws.send_json({"type": "ping", "id": "fence"})
    before: list[Frame] = []
    while (frame := ws.receive_json())["type"] != "pong" or frame["id"] != "fence":
        before.append(frame)
    return before


def play(live: Live, script: list[Send | Tick]) -> None:
    expected = Expected()
    handled_before = len(live.handled)
    with live.client.websocket_connect(f"/ws/{CODE}", headers=live.auth) as ws:
        assert ws.receive_json()["type"] == "welcome"
        assert ws.receive_json()["type"] == "state"
        live.monotonic.advance(1)
        for step in script:
            if isinstance(step, Tick):
                live.monotonic.advance(step.seconds)
                expected.tick()
                continue
            expected.frame(step.data)
            live.monotonic.frames += 1
            if isinstance(step.data, bytes):
                ws.send_bytes(step.data)
            else:
                ws.send_text(step.data)
            if expected.close is not None:
                break
        if expected.close is None:
            replies = fence(ws, live)
            got = [reply_key(r) for r in replies]
            assert got == expected.replies, (got, expected.replies, _short(script))
        else:
            got: list[Frame] = []
            with pytest.raises(WebSocketDisconnect) as closing:
                while True:
                    got.append(ws.receive_json())
            live.closes.append(closing.value.code)
            assert closing.value.code != INTERNAL_ERROR
            assert (closing.value.code, closing.value.reason) == expected.close
            assert [reply_key(r) for r in got] == expected.replies
    assert len(live.handled) - handled_before == expected.heartbeats


def _short(script: list[Send | Tick]) -> list[str]:
    """The script, each frame cut short, for a readable failure."""
    return [repr(s)[:120] for s in script]


def test_any_sequence_of_frames_is_answered_by_the_rules(live: Live) -> None:
    @settings(
        max_examples=50,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(scripts)
    def run(script: list[Send | Tick]) -> None:
        play(live, script)

    run()
    # Both abuses were part of the run, and each closed its socket with 1008.
    assert POLICY_VIOLATION in live.closes
    assert INTERNAL_ERROR not in live.closes

    # The server still takes a new socket, and presence follows its heartbeats: 40 s in
    # the main room at the start of day 1 (the fuzzed sockets lived no event time at all).
    with live.client.websocket_connect(f"/ws/{CODE}", headers=live.auth) as ws:
        assert [ws.receive_json()["type"] for _ in range(2)] == ["welcome", "state"]
        before = len(live.handled)
        ws.send_json({"type": "heartbeat", "visible": True, "in_room": True, "room": "main"})
        assert fence(ws, live) == []
        live.real_time.advance(seconds=40)
        ws.send_json({"type": "heartbeat", "visible": True, "in_room": True, "room": "main"})
        assert fence(ws, live) == []
        assert live.handled[before:] == ["main", "main"]
        live.real_time.advance(seconds=60)
        live.client.portal.call(live.realtime.flush_minutes)  # type: ignore[union-attr]
        live.client.portal.call(live.realtime.flush_changes)  # type: ignore[union-attr]
        log = live.client.get(
            f"/api/events/{CODE}/presence",
            params={"person": "p001", "session": "day1"},
            headers=live.staff,
        )
    assert log.status_code == 200, log.text
    first = log.json()[0]
    assert (first["minute"], first["present"], first["room"]) == (0, True, "main")
    assert first["seconds"] == 60

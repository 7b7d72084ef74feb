"""Two real server processes sharing PostgreSQL and Redis.

A notice sent through one process reaches the clients of both, exactly once; one person
connected to both processes is logged once per minute, without a gap where one process
hands over to the other; the roster served by one process lists sockets held by the other.

Time scale 30: one event minute is two real seconds. By default each process counts event
time from its own start (CONTRACT §4), so two processes started a fraction of a second apart
would disagree by that fraction × 30 event seconds; both get the same CLOCK_ANCHOR (the real
instant of CLOCK_START), so they agree. The test measures what skew is left (pong times of
both at the same instant: scheduling jitter), asserts it is small, and makes every hand-over
overlap by more than it, so what it asserts does not depend on how the two processes
happened to be scheduled.
"""

import asyncio
import math
import os
import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from studymission.config import Settings
from studymission.db.events import get_event, get_person
from studymission.db.tables import PresenceMinute
from studymission.domain.clock import EventClock
from studymission.services.access import create_api_token
from studymission.services.clock import Clock
from tests.conftest import POSTGRES_URL
from tests.factories import make_spec
from tests.integration.helpers import load_event, run_async
from tests.integration.servers import (
    SECRET,
    LiveClient,
    Server,
    clean_shutdown,
    free_port,
    fresh_postgres,
    need_redis,
    server_env,
)

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("STUDYMISSION_TEST_REDIS_URL", "")
#: 30: a heartbeat every half real second, and 1.5 real seconds before one is stale, so that
#: a pause of the loaded test machine does not open a gap the test would call a loss.
SCALE = 30.0
#: Event time at each process's start: day 1 of the factory spec begins.
T0 = datetime(2021, 11, 24, 4, 0, tzinfo=UTC)
#: Real seconds a hand-over overlaps beyond the measured skew (20 event seconds).
OVERLAP = 20 / SCALE


@pytest.fixture
def shared_engine() -> Iterator[Engine]:
    """A fresh PostgreSQL schema both processes share; Redis must answer too."""
    need_redis(REDIS_URL)
    with fresh_postgres() as engine:
        yield engine


def tokens(engine: Engine, code: str, keys: list[str]) -> dict[str, str]:
    with Session(engine) as db:
        event = get_event(db, code)
        assert event is not None
        made = {}
        for key in keys:
            person = get_person(db, event, key)
            assert person is not None
            made[key] = create_api_token(db, person, now=T0)
        db.commit()
    return made


@contextmanager
def two_servers(
    engine: Engine, tmp_path: Path, prefix: str
) -> Iterator[tuple[Server, Server, str, dict[str, dict[str, str]]]]:
    """An event of its own (code `prefix`-random: the Redis channel is shared by whatever
    else uses this Redis) served by two processes on PostgreSQL and Redis, with tokens for
    p001, p002 and mod1; yields (A, B, code, tokens), then asserts both shut down cleanly."""
    code = f"{prefix}-{secrets.token_hex(4)}"
    settings = Settings(secret_key=SECRET, var_dir=tmp_path / "var")
    load_event(engine, settings, Clock(EventClock(T0, T0, 1.0)), make_spec(code=code))
    token = tokens(engine, code, ["p001", "p002", "mod1"])
    env = server_env(
        POSTGRES_URL,
        tmp_path,
        time_scale=SCALE,
        clock_start=T0,
        clock_anchor=datetime.now(UTC),
        redis_url=REDIS_URL,
    )
    a = Server("a", free_port(), env, tmp_path / "a")
    b = Server("b", free_port(), env, tmp_path / "b")
    try:
        # Launched together, so that their event clocks differ as little as possible.
        a.launch()
        b.launch()
        a.wait_ready()
        b.wait_ready()
        yield a, b, code, token
        # Both shut down cleanly (uvicorn re-raises SIGTERM once it has shut down).
        assert (a.terminate(), b.terminate()) == (-signal.SIGTERM, -signal.SIGTERM)
        for server in (a, b):
            assert clean_shutdown(server.log()), server.log()
    finally:
        a.stop()
        b.stop()


def test_two_processes_share_notices_presence_and_roster(
    shared_engine: Engine, tmp_path: Path
) -> None:
    with two_servers(shared_engine, tmp_path, "TWO-PROC") as (a, b, code, token):
        run_async(scenario(shared_engine, a, b, code, token))


async def scenario(engine: Engine, a: Server, b: Server, code: str, token: dict[str, str]) -> None:
    p001_on_a = LiveClient(a.ws_url(code), token["p001"], reconnect=False)
    p002_on_b = LiveClient(b.ws_url(code), token["p002"], reconnect=False)
    clients = [p001_on_a, p002_on_b]
    for client in clients:
        client.start()
    try:
        # Over a real server, a handshake without valid credentials is refused with 403.
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            with pytest.raises(InvalidStatus) as refusal:
                async with connect(a.ws_url(code), additional_headers=headers):
                    pass  # pragma: no cover - must not open
            assert refusal.value.response.status_code == 403
        await asyncio.gather(*(c.wait_connected() for c in clients))
        # B's event time minus A's at the same instant, in event seconds.
        skew = (p002_on_b.event_now(SCALE) - p001_on_a.event_now(SCALE)).total_seconds()
        print(f"event clock skew between the processes: {skew:+.1f} event s")
        # One anchor, one event clock: what is left is the jitter of the measurement itself.
        assert abs(skew) < 6, f"the processes disagree on event time by {skew:+.1f} s"
        await notices_reach_both_processes_once(a, b, code, clients, token["mod1"])
        await rosters_list_the_other_process_sockets(a, b, code, token["mod1"])
        await one_person_on_both_processes_counts_once(engine, a, b, code, token, p001_on_a, skew)
    finally:
        for client in clients:
            await client.stop()


async def next_notice(client: LiveClient, timeout: float = 5.0) -> dict[str, Any]:
    try:
        return await asyncio.wait_for(client.notices.get(), timeout)
    except TimeoutError:
        raise AssertionError(f"no notice reached the client of {client.urls[0]}") from None


async def notices_reach_both_processes_once(
    a: Server, b: Server, code: str, clients: list[LiveClient], moderator: str
) -> None:
    path = f"/api/events/{code}/notices"
    sent = await asyncio.to_thread(a.post, path, moderator, {"text": "Through A"})
    assert sent.status_code == 202, sent.text
    for client in clients:
        notice = await next_notice(client)
        assert (notice["type"], notice["text"], notice["room"], notice["from"]) == (
            "notice",
            "Through A",
            None,
            "Moderator One",
        )
    # To a room nobody is in: no one; then a marker through the other process. Redis keeps
    # the order of one channel, so a duplicate of the first notice or a leak of the room
    # notice would arrive before the marker.
    to_room = await asyncio.to_thread(a.post, path, moderator, {"text": "R2", "room": "breakout-2"})
    assert to_room.status_code == 202
    marker = await asyncio.to_thread(b.post, path, moderator, {"text": "Through B"})
    assert marker.status_code == 202
    for client in clients:
        assert (await next_notice(client))["text"] == "Through B"
    await asyncio.sleep(0.3)
    for client in clients:
        assert client.notices.empty()
        assert [f["text"] for f in client.frames if f["type"] == "notice"] == [
            "Through A",
            "Through B",
        ]


async def wait_roster(
    server: Server, code: str, moderator: str, key: str, **expected: Any
) -> dict[str, Any]:
    """Poll `server`'s roster (socket changes reach it within a second) until `key` matches."""
    deadline = time.monotonic() + 10.0
    while True:
        roster = await asyncio.to_thread(server.get, f"/api/events/{code}/roster", moderator)
        entry: dict[str, Any] = {e["key"]: e for e in roster}[key]
        if all(entry[name] == value for name, value in expected.items()):
            return entry
        assert time.monotonic() < deadline, (server.name, entry, expected)
        await asyncio.sleep(0.1)


async def rosters_list_the_other_process_sockets(
    a: Server, b: Server, code: str, moderator: str
) -> None:
    # p001's socket is held by A, p002's by B: each process's roster lists both.
    for server in (a, b):
        for key in ("p001", "p002"):
            entry = await wait_roster(server, code, moderator, key, status="connected")
            assert (entry["room"], entry["in_room"], entry["sockets"]) == ("main", True, 1)


async def one_person_on_both_processes_counts_once(
    engine: Engine,
    a: Server,
    b: Server,
    code: str,
    token: dict[str, str],
    on_a: LiveClient,
    skew: float,
) -> None:
    """p001: A alone, then A and B, B alone, B and A, A alone; then the log, minute by minute.

    Each hand-over overlaps by 20 event seconds more than the skew, so that in the
    stamps the processes write the new socket is in the room before the old one leaves.
    """
    moderator = token["mod1"]
    hand_over = OVERLAP + abs(skew) / SCALE
    await asyncio.sleep(60 / SCALE)
    on_b = LiveClient(b.ws_url(code), token["p001"], room="site-visit", reconnect=False)
    on_b.start()
    try:
        period_b = await on_b.wait_connected()
        # Both processes' rosters: one person, two sockets, the newest in the site visit.
        for server in (a, b):
            entry = await wait_roster(server, code, moderator, "p001", sockets=2)
            assert (entry["status"], entry["room"]) == ("connected", "site-visit")
        await asyncio.sleep(hand_over)
        period_a = on_a.periods[-1]
        assert period_a.first_ack is not None and period_a.last_ack is not None
        a_first, a_left = period_a.first_ack, period_a.last_ack
        a_out = await on_a.move("main", in_room=False)  # A's socket leaves the room: B alone
        # 150 event s: a whole minute lies inside, even though the pong read below may be a
        # ping interval (1 real s, 30 event s) old.
        await asyncio.sleep(150 / SCALE)
        assert on_a.last_pong is not None
        a_still_out = on_a.last_pong[0]  # A's socket is out of the room at least until then
        a_back = await on_a.move("main", in_room=True)
        await asyncio.sleep(hand_over)
    finally:
        await on_b.stop()
    assert period_b.first_ack is not None and period_b.last_ack is not None
    b_first, b_last = period_b.first_ack, period_b.last_ack
    await asyncio.sleep(60 / SCALE)
    assert period_a.last_ack is not None
    a_last = period_a.last_ack
    await on_a.stop()

    # Qualifying time each process surely logged (its own stamps): A [a_first, a_left),
    # B [b_first, b_last), A [a_back, a_last). The overlaps make it one unbroken span.
    assert b_first < a_left and a_back < b_last, (
        f"the hand-overs did not overlap (skew {skew:+.1f} s): "
        f"{a_first} {a_left} | {b_first} {b_last} | {a_back} {a_last}"
    )
    sure = {
        *second_range(a_first, a_left),
        *second_range(b_first, b_last),
        *second_range(a_back, a_last),
    }
    assert sure == set(second_range(a_first, a_last))

    # Wait for the minute flushes (each process writes at every event-minute boundary).
    deadline = time.monotonic() + 10.0
    while not sure <= covered(stored(engine, code, "p001")):
        missing = sorted(sure - covered(stored(engine, code, "p001")))
        assert time.monotonic() < deadline, f"coverage never reached the log: {missing[:5]}…"
        await asyncio.sleep(0.2)
    rows = stored(engine, code, "p001")
    logs = [
        await asyncio.to_thread(
            server.get, f"/api/events/{code}/presence", moderator, person="p001", session="day1"
        )
        for server in (a, b)
    ]
    # Either process serves the same log, read from what both wrote.
    assert logs[0][: len(logs[1])] == logs[1][: len(logs[0])]
    log = logs[0]
    last_minute = int(session_seconds(a_last) // 60)
    assert len(log) > last_minute
    for entry in log:
        cells = rows.get(entry["minute"], {})
        union = 0
        for bits in cells.values():
            union |= bits
        # Several sockets and processes count once: the union of their seconds.
        assert entry["seconds"] == union.bit_count() <= 60, entry
        assert entry["present"] == (entry["seconds"] >= 30)
        minute_start = entry["minute"] * 60
        if set(range(minute_start, minute_start + 60)) <= sure:
            assert (entry["seconds"], entry["present"]) == (60, True), entry
    # Nothing was logged outside the sockets' span (the first heartbeat comes just before
    # its ack; the last socket closes within a heartbeat interval of its last ack).
    first_second = min(covered(rows))
    last_second = max(covered(rows))
    assert session_seconds(a_first) - 3 <= first_second
    assert last_second <= session_seconds(a_last) + 20
    # Both processes' bits are in the log: main from A, site-visit from B, and in a
    # hand-over minute both, overlapping, counted once.
    rooms = {room for cells in rows.values() for room in cells}
    assert rooms == {"main", "site-visit"}
    overlapping = [
        minute
        for minute, cells in rows.items()
        if len(cells) == 2
        and (cells["main"] | cells["site-visit"]).bit_count()
        < cells["main"].bit_count() + cells["site-visit"].bit_count()
    ]
    assert overlapping, rows
    # Whole minutes inside [a_out, a_still_out): B's socket alone (150 event s hold one).
    b_alone = range(math.ceil(session_seconds(a_out) / 60), int(session_seconds(a_still_out) // 60))
    assert b_alone, (a_out, a_still_out)
    for minute in b_alone:
        assert set(rows[minute]) == {"site-visit"}
        assert log[minute]["room"] == "site-visit"


def stored(engine: Engine, code: str, person: str) -> dict[int, dict[str, int]]:
    """minute → room → covered bits, as stored by both processes."""
    with Session(engine) as db:
        event = get_event(db, code)
        assert event is not None
        found = get_person(db, event, person)
        assert found is not None
        rows = db.exec(select(PresenceMinute).where(PresenceMinute.person_id == found.id)).all()
    minutes: dict[int, dict[str, int]] = {}
    for row in rows:
        minutes.setdefault(row.minute, {})[row.room] = row.covered
    return minutes


def covered(rows: dict[int, dict[str, int]]) -> set[int]:
    """The covered session seconds."""
    seconds: set[int] = set()
    for minute, cells in rows.items():
        for bits in cells.values():
            seconds.update(minute * 60 + k for k in range(60) if bits >> k & 1)
    return seconds


def session_seconds(instant: datetime) -> float:
    return (instant - T0).total_seconds()


def second_range(start: datetime, end: datetime) -> range:
    """Whole session seconds k with start ≤ T0 + k s < end."""
    return range(math.ceil(session_seconds(start)), math.ceil(session_seconds(end)))

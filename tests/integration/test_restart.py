"""Restarting the server mid-session loses at most the minute in progress.

A real server process at time scale 60 (one event minute per real second), two participants
heartbeating in the main room through clients that reconnect by themselves. Mid-session the
server gets SIGTERM: it closes the sockets and writes everything, the minute in progress
included. It is started again on the same port and database, the clients come back; then it
gets SIGKILL, with no chance to write anything, and is started once more.

What is robust against scheduling jitter at this scale, and what is not asserted:

- Each heartbeat is followed by a ping; the pong carries the server's event time, which is
  therefore a time at which the heartbeat had been handled (its *ack*). Coverage between the
  first and the last ack of a connection is certain, whatever the delays; nothing is
  asserted about the instants between an ack and the socket's close.
- The kills are sent in the middle of an event minute (30 event seconds = 0.5 real s
  from either boundary), so the minute flush at the boundary before has had half a second
  to finish: "the minute in progress" is unambiguous.
- Each restart sets ``CLOCK_START`` to the event time at the moment of relaunch (from the
  last pong, extrapolated), so event time never runs backwards; it jumps forward by the
  time the process takes to start (a second or two, i.e. one or two event minutes during
  which no client could be connected). Those minutes are absent from the log, rightly:
  nobody was there. The log is asserted only on the minutes the clients were connected.
"""

import asyncio
import math
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from studymission.config import Settings
from studymission.db.events import get_event, get_person
from studymission.db.tables import ConnectionEvent, PresenceMinute
from studymission.services.access import create_api_token
from studymission.services.clock import Clock
from tests.integration.helpers import load_event, run_async
from tests.integration.servers import (
    LiveClient,
    Period,
    Server,
    auth,
    clean_shutdown,
    free_port,
    server_env,
)

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"
SCALE = 60.0
#: Day 1 of the factory spec starts as the first server starts.
T0 = datetime(2021, 11, 24, 4, 0, tzinfo=UTC)
PEOPLE = ("p001", "p002")


def token_of(engine: Engine, key: str) -> str:
    with Session(engine) as db:
        event = get_event(db, CODE)
        assert event is not None
        person = get_person(db, event, key)
        assert person is not None
        token = create_api_token(db, person, now=T0)
        db.commit()
    return token


def stored(engine: Engine, key: str, code: str = CODE) -> dict[int, int]:
    """minute → covered bits (all rooms OR-ed) of `key` in day 1 of event `code`."""
    with Session(engine) as db:
        event = get_event(db, code)
        assert event is not None
        person = get_person(db, event, key)
        assert person is not None
        rows = db.exec(select(PresenceMinute).where(PresenceMinute.person_id == person.id)).all()
    minutes: dict[int, int] = {}
    for row in rows:
        minutes[row.minute] = minutes.get(row.minute, 0) | row.covered
    return minutes


def covered(minutes: dict[int, int]) -> set[int]:
    return {m * 60 + k for m, bits in minutes.items() for k in range(60) if bits >> k & 1}


def seconds_of(instant: datetime) -> float:
    return (instant - T0).total_seconds()


def sure(period: Period, until: float | None = None) -> set[int]:
    """Session seconds certainly covered by a connection: from its first to its last ack
    (and before `until`, a session second, when given)."""
    assert period.first_ack is not None and period.last_ack is not None, period
    end = seconds_of(period.last_ack) if until is None else min(until, seconds_of(period.last_ack))
    return set(range(math.ceil(seconds_of(period.first_ack)), math.ceil(end)))


async def mid_minute(client: LiveClient) -> float:
    """Wait until the server's event clock is 30 s into a minute; returns that session second."""
    now = seconds_of(client.event_now(SCALE))
    wait = (30 - now % 60) % 60
    if wait < 15:  # not too close: at least a quarter of a real second to aim
        wait += 60
    await asyncio.sleep(wait / SCALE)
    return seconds_of(client.event_now(SCALE))


async def reconnected(clients: list[LiveClient], before: list[int]) -> list[Period]:
    """Until each client has a new connection with an acked heartbeat; returns them."""
    periods = []
    for client, count in zip(clients, before, strict=True):
        period = await client.wait_connected(timeout=30.0)
        assert len(client.periods) > count
        periods.append(period)
    return periods


def relaunch_env(env: dict[str, str], clients: list[LiveClient]) -> dict[str, str]:
    """The environment for a restart: event time goes on from where the server was."""
    now = max(c.event_now(SCALE) for c in clients)
    return {**env, "STUDYMISSION_CLOCK_START": now.isoformat()}


def test_restart_mid_session_loses_at_most_the_minute_in_progress(
    engine: Engine, database_url: str, settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    load_event(engine, settings, clock)
    tokens = {key: token_of(engine, key) for key in (*PEOPLE, "mod1")}
    env = server_env(database_url, tmp_path, time_scale=SCALE, clock_start=T0)
    server = Server("server", free_port(), env, tmp_path / "server")
    try:
        server.start()
        run_async(scenario(engine, server, tokens))
    finally:
        server.stop()


async def scenario(engine: Engine, server: Server, tokens: dict[str, str]) -> None:
    clients = [LiveClient(server.ws_url(CODE), tokens[key]) for key in PEOPLE]
    for client in clients:
        client.start()
    try:
        await run(engine, server, tokens, clients)
    finally:
        for client in clients:
            await client.stop()


async def run(
    engine: Engine, server: Server, tokens: dict[str, str], clients: list[LiveClient]
) -> None:
    # -- 1. three event minutes or so, then SIGTERM in the middle of a minute ---------------
    first = await reconnected(clients, [0, 0])
    await asyncio.sleep(2.0)
    term_at = await mid_minute(clients[0])
    status = await asyncio.to_thread(server.terminate)
    assert status == -signal.SIGTERM
    assert clean_shutdown(server.log()), server.log()
    term_minute = int(term_at // 60)
    for key, period in zip(PEOPLE, first, strict=True):
        assert period.close_code == 1012  # "service restart", from uvicorn's shutdown
        logged = covered(stored(engine, key))
        # Everything acked is in the log, the minute in progress too: the shutdown wrote it.
        assert sure(period) <= logged, key
        assert int(seconds_of(period.last_ack or T0) // 60) == term_minute
        assert set(range(term_minute * 60, math.ceil(term_at) - 1)) <= logged, key
    with Session(engine) as db:
        closes = db.exec(
            select(ConnectionEvent.detail)
            .where(ConnectionEvent.kind == "disconnect")
            .order_by(col(ConnectionEvent.id))
        ).all()
    assert closes == [{"code": 1012}, {"code": 1012}]

    # -- 2. restart; the clients come back; then SIGKILL in the middle of a minute ------------
    counts = [len(c.periods) for c in clients]
    await asyncio.to_thread(server.start, relaunch_env(server.env, clients))
    second = await reconnected(clients, counts)
    for before, after in zip(first, second, strict=True):
        # Event time went on: never backwards, and forward no more than real time did.
        assert before.last_ack is not None and after.first_ack is not None
        event_gap = (after.first_ack - before.last_ack).total_seconds()
        assert 0 < event_gap <= (after.first_ack_at - before.last_ack_at) * SCALE + 3
    await asyncio.sleep(2.0)
    kill_at = await mid_minute(clients[0])
    assert await asyncio.to_thread(server.kill) == -signal.SIGKILL
    kill_minute = int(kill_at // 60)
    for key, period in zip(PEOPLE, second, strict=True):
        # Up to the minute in progress, all of it was written at the minute boundaries.
        assert sure(period, until=kill_minute * 60) <= covered(stored(engine, key)), key
    # (What the server held of the minute in progress is gone with it.)

    # -- 3. restart again; the clients come back, then leave; a clean stop ----------------
    counts = [len(c.periods) for c in clients]
    await asyncio.to_thread(server.start, relaunch_env(server.env, clients))
    third = await reconnected(clients, counts)
    await asyncio.sleep(2.5)
    for client in clients:
        await client.stop()
    # Their closes reach the log at the next minute boundary (a real second at most).
    deadline = time.monotonic() + 10.0
    while not all(
        sure(p) <= covered(stored(engine, k)) for k, p in zip(PEOPLE, third, strict=True)
    ):
        assert time.monotonic() < deadline, "the last minutes never reached the log"
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.2)
    # The log as the restarted process serves it, and as it is stored: the same.
    log = await read_log(server, tokens["mod1"])
    rows = {key: stored(engine, key) for key in PEOPLE}
    assert await asyncio.to_thread(server.terminate) == -signal.SIGTERM
    assert clean_shutdown(server.log()), server.log()
    assert {key: stored(engine, key) for key in PEOPLE} == rows  # nothing was left to write

    for index, key in enumerate(PEOPLE):
        minutes = rows[key]
        connected = sure(first[index]) | sure(second[index]) | sure(third[index])
        # Of all the acked time of the three runs, only the minute in progress at the
        # SIGKILL may be missing.
        missing = connected - covered(minutes)
        assert {second // 60 for second in missing} <= {kill_minute}, (key, sorted(missing))
        # Minute by minute: every minute the clients were connected for is whole (the
        # killed minute never is one: the socket was connected for half of it).
        # (Each run is acked for at least two event minutes: one whole minute or more.)
        whole = [m for m in range(180) if set(range(m * 60, m * 60 + 60)) <= connected]
        assert len(whole) >= 3, (key, whole)
        assert [minutes.get(m, 0).bit_count() for m in whole] == [60] * len(whole), key
        # The API (served by the restarted process) says exactly what is stored.
        assert [(e["minute"], e["seconds"], e["present"]) for e in log[key]] == [
            (m, minutes.get(m, 0).bit_count(), minutes.get(m, 0).bit_count() >= 30)
            for m in range(len(log[key]))
        ]
        assert len(log[key]) > max(whole)


async def read_log(server: Server, moderator: str) -> dict[str, list[dict[str, int]]]:
    """Each person's log of day 1, through the API."""
    log = {}
    async with httpx.AsyncClient(base_url=server.url, headers=auth(moderator)) as http:
        for key in PEOPLE:
            response = await http.get(
                f"/api/events/{CODE}/presence", params={"person": key, "session": "day1"}
            )
            assert response.status_code == 200, response.text
            log[key] = response.json()
    return log

"""A breakout round across two real server processes sharing PostgreSQL and Redis.

A moderator opens a round through process A; the participants held by A and by B are told
their rooms through the Redis bus; a move made through B reaches the sockets A holds. Then,
with nobody acting, both processes' timers run (every 2 event seconds, ~67 real ms at time
scale 30) and the database gives the one-minute warning and the close to one of them each:
every page gets exactly one warning, the round is closed exactly once (by the timer, at its
end), and every page is back on the stage in the main room.

Time scale 30: one event minute is two real seconds, so the two-minute round lasts four real
seconds. Every wait has a deadline; nothing asserted depends on a fixed sleep.
"""

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from studymission.db.events import get_event
from studymission.db.tables import AuditEntry, BreakoutRound
from tests.integration.helpers import run_async
from tests.integration.servers import (
    LiveClient,
    Server,
    auth,
    parse_time,
)
from tests.integration.test_two_processes import (  # noqa: F401 - shared_engine is a fixture
    REDIS_URL,
    SCALE,
    T0,
    shared_engine,
    two_servers,
)

pytestmark = pytest.mark.integration

#: Real seconds any one frame may take to arrive (a loaded two-core machine, two servers).
FRAME_TIMEOUT = 15.0
WARNING_TEXT = "One minute left in the breakout rooms"


def test_two_processes_share_a_breakout_round_and_close_it_once(
    shared_engine: Engine,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    with two_servers(shared_engine, tmp_path, "TWO-BRK") as (a, b, code, token):
        round_id, ends_at = run_async(scenario(a, b, code, token))
    for server in (a, b):
        assert "the timer tick failed" not in server.log(), server.log()
    closed_exactly_once_by_the_timer(shared_engine, code, round_id, ends_at)


async def wait_frame(
    client: LiveClient,
    start: int,
    matches: Callable[[dict[str, Any]], bool],
    what: str,
    timeout: float = FRAME_TIMEOUT,
) -> int:
    """Until a frame at or after index `start` of the client's frames matches; its index."""
    deadline = time.monotonic() + timeout
    while True:
        for index in range(start, len(client.frames)):
            if matches(client.frames[index]):
                return index
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not received; frames since: {client.frames[start:]}")
        await asyncio.sleep(0.02)


def is_state(mode: str, room: str) -> Callable[[dict[str, Any]], bool]:
    def matches(frame: dict[str, Any]) -> bool:
        return (
            frame["type"] == "state"
            and frame["mode"] == mode
            and (frame["room"] or {}).get("name") == room
        )

    return matches


def is_notice(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame["type"] == "notice" and frame["text"].startswith(text)


def warnings(client: LiveClient) -> list[dict[str, Any]]:
    return [f for f in client.frames if f["type"] == "notice" and f["from"] == "studymission"]


async def scenario(a: Server, b: Server, code: str, token: dict[str, str]) -> tuple[int, datetime]:
    url = f"/api/events/{code}/sessions/day1/breakouts"
    moderator = token["mod1"]
    p001_on_a = LiveClient(a.ws_url(code), token["p001"], reconnect=False)
    p002_on_b = LiveClient(b.ws_url(code), token["p002"], reconnect=False)
    # The same person on A too: B's move must reach the sockets A holds.
    p002_on_a = LiveClient(a.ws_url(code), token["p002"], reconnect=False)
    clients = [p001_on_a, p002_on_b, p002_on_a]
    for client in clients:
        client.start()
    try:
        await asyncio.gather(*(c.wait_connected() for c in clients))
        # Day 1 is on: everyone on the stage, in the main room.
        for client in clients:
            await wait_frame(client, 0, is_state("stage", "main"), "the first state")
        marks = {id(c): len(c.frames) for c in clients}

        # Opened through A: each page, on A or on B, is told its room and the round's end.
        # 3 event minutes (6 real s): room for the one-minute warning even on a loaded machine.
        body = {"assignments": {"breakout-1": ["p001"], "breakout-2": ["p002"]}, "minutes": 3}
        opened = await asyncio.to_thread(a.post, url, moderator, body)
        assert opened.status_code == 200, opened.text
        view = opened.json()
        ends_at = parse_time(view["ends_at"])
        assert {r["name"]: r["members"] for r in view["rooms"]} == {
            "breakout-1": ["p001"],
            "breakout-2": ["p002"],
        }
        for client, room in ((p001_on_a, "breakout-1"), (p002_on_b, "breakout-2"),
                             (p002_on_a, "breakout-2")):  # fmt: skip
            at = await wait_frame(
                client, marks[id(client)], is_state("breakouts", room), f"{room} on open"
            )
            state = client.frames[at]
            assert state["ends_at"] == view["ends_at"], state
            assert state["room"]["jitsi"] is not None, state
            marks[id(client)] = at + 1

        # Moved through B, before the warning: p002's sockets on B and on A follow.
        moved = await asyncio.to_thread(
            b.post, f"{url}/move", moderator, {"person": "p002", "room": "breakout-1"}
        )
        assert moved.status_code == 200, (
            f"the move failed (the round ends at {view['ends_at']}): {moved.text}"
        )
        for client in (p002_on_b, p002_on_a):
            at = await wait_frame(
                client, marks[id(client)], is_state("breakouts", "breakout-1"), "the move"
            )
            assert client.frames[at]["ends_at"] == view["ends_at"]
            marks[id(client)] = at + 1
        current = await asyncio.to_thread(a.get, url, moderator)
        assert {r["name"]: r["members"] for r in current["rooms"]} == {
            "breakout-1": ["p001", "p002"],
            "breakout-2": [],
        }

        # Nobody acts now: both timers warn a minute before the end and close at the end.
        for client in clients:
            await wait_frame(client, 0, is_notice(WARNING_TEXT), "the one-minute warning")
        for client in clients:
            at = await wait_frame(client, marks[id(client)], is_state("stage", "main"), "the close")
            assert client.frames[at]["ends_at"] is None, client.frames[at]
            marks[id(client)] = at + 1
        closed = await asyncio.to_thread(httpx_status, a, url, moderator)
        assert closed == 404  # no round open any more

        # Let both timers tick on (a real second: ~15 ticks each), then a marker through each
        # process. Redis keeps one channel's order, so a second warning published by either
        # timer before its marker would arrive before that marker.
        await asyncio.sleep(1.0)
        for server, text in ((a, "Marker A"), (b, "Marker B")):
            sent = await asyncio.to_thread(
                server.post, f"/api/events/{code}/notices", moderator, {"text": text}
            )
            assert sent.status_code == 202, sent.text
        for client in clients:
            for text in ("Marker A", "Marker B"):
                await wait_frame(client, 0, is_notice(text), text)
            [warning] = warnings(client)
            assert warning["text"].startswith(WARNING_TEXT) and warning["room"] is None
            # After the close, nothing put the page back into a breakout room.
            later = [f for f in client.frames[marks[id(client)] :] if f["type"] == "state"]
            assert all(f["mode"] == "stage" for f in later), later
        return int(view["round"]), ends_at
    finally:
        for client in clients:
            await client.stop()


def httpx_status(server: Server, path: str, token: str) -> int:
    return httpx.get(f"{server.url}{path}", headers=auth(token), timeout=10.0).status_code


def closed_exactly_once_by_the_timer(
    engine: Engine, code: str, round_id: int, ends_at: datetime
) -> None:
    with Session(engine) as db:
        event = get_event(db, code)
        assert event is not None
        round_ = db.get(BreakoutRound, round_id)
        assert round_ is not None
        assert (round_.closed_by, round_.closed_at) == ("timer", ends_at)
        assert round_.warned_at is not None and round_.warned_at < ends_at
        entries = db.exec(
            select(AuditEntry)
            .where(AuditEntry.event_id == event.id, col(AuditEntry.action).startswith("breakouts."))
            .order_by(col(AuditEntry.id))
        ).all()
    assert [(e.action, e.actor) for e in entries] == [
        ("breakouts.open", "Moderator One"),
        ("breakouts.move", "Moderator One"),
        ("breakouts.close", "timer"),
    ]
    close = entries[-1]
    assert (close.at, close.detail["round"]) == (ends_at, round_id)

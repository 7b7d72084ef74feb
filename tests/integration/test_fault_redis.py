"""Redis restarts during a session: the pages keep working, nothing is lost, moves resume.

Two real server processes share PostgreSQL and a Redis of the test's own, which is killed
(SIGKILL: every connection reset) mid-session, kept down for a few seconds, and started
again on the same port. Clients are held by both processes; a socket that dropped would
show as a second connection of its client.

- The pages keep working: no socket closes, and heartbeats are acked during the outage
  (the sockets never needed Redis; a process whose event loop froze would stop acking).
- Nothing is lost: presence never went through Redis; every second between a socket's
  first and last ack is in the log (the ack reasoning of test_two_processes).
- Calls that publish get a clear answer during the outage: a notice (202) and a breakout
  round opened through A (200) are delivered to A's pages at once, and reach B's pages
  once Redis is back (the round: B re-reads the state when it subscribes again; the
  notice: A publishes what it held once every process had time to subscribe again).
- Moves resume: after Redis is back, a move and a notice through A reach B's pages, in
  order after the held notice, each exactly once.

Time scale 30 (an event minute is two real seconds), as in test_two_processes.
"""

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from studymission.realtime import bus as bus_module
from studymission.realtime.bus import Message, RedisBus
from tests.conftest import POSTGRES_URL, need
from tests.integration.faults import (  # noqa: F401 - postgres is a fixture
    CONNECT_WITHIN,
    PrivateRedis,
    postgres,
    presence_is_complete,
    running,
    two_processes,
    wait_log,
)
from tests.integration.helpers import run_async
from tests.integration.servers import LiveClient, Period, Server, clean_shutdown
from tests.integration.test_two_processes_breakouts import is_notice, is_state, wait_frame

pytestmark = pytest.mark.integration

SCALE = 30.0
#: Real seconds Redis stays down (the listeners retry at 0.5, 1, 2, 4 s: some fail).
OUTAGE = 4.0
#: Real seconds an API call may take on a loaded machine before it counts as a hang.
ANSWER_WITHIN = 8.0
LOST = "bus: lost Redis"
BACK = "bus: Redis is back"


@pytest.mark.timeout(600)  # two server starts on a loaded machine
def test_redis_restart_keeps_pages_and_presence_and_moves_resume(
    postgres: Engine,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    need(PrivateRedis.available(), "redis-server is not on PATH")
    redis_server = PrivateRedis(tmp_path / "redis")
    with running(redis_server):
        redis_server.start()
        with two_processes(
            postgres,
            tmp_path,
            "FLT-REDIS",
            database_url=POSTGRES_URL,
            redis_url=redis_server.url,
            scale=SCALE,
        ) as (a, b, code, token):
            run_async(scenario(postgres, redis_server, a, b, code, token))
            assert [a.terminate(), b.terminate()] == [-signal.SIGTERM] * 2
    for server in (a, b):
        log = server.log()
        # Each process saw Redis go and come back, said so, and nothing failed meanwhile.
        assert LOST in log and BACK in log, log
        assert clean_shutdown(log), log
    assert "messages held while Redis was away" in a.log(), a.log()


async def scenario(
    engine: Engine,
    redis_server: PrivateRedis,
    a: Server,
    b: Server,
    code: str,
    token: dict[str, str],
) -> None:
    moderator = token["mod1"]
    p001_on_a = LiveClient(a.ws_url(code), token["p001"])
    p002_on_b = LiveClient(b.ws_url(code), token["p002"])
    p001_on_b = LiveClient(b.ws_url(code), token["p001"])
    clients = [p001_on_a, p002_on_b, p001_on_b]
    on_b = [p002_on_b, p001_on_b]
    for client in clients:
        client.start()
    try:
        await asyncio.gather(*(c.wait_connected(timeout=CONNECT_WITHIN) for c in clients))
        for client in clients:
            await wait_frame(client, 0, is_state("stage", "main"), "the first state")
        await asyncio.sleep(1.5)

        # -- Redis goes away ---------------------------------------------------------------
        redis_server.kill()
        killed_at = time.time()
        for server in (a, b):
            await wait_log(server, LOST)
        mark = len(p001_on_a.frames)
        started = time.monotonic()
        sent = await asyncio.to_thread(
            a.post, f"/api/events/{code}/notices", moderator, {"text": "During the outage"}
        )
        assert sent.status_code == 202, sent.text
        assert time.monotonic() - started < ANSWER_WITHIN
        # A's own page has it at once (A delivered it itself).
        await wait_frame(p001_on_a, mark, is_notice("During the outage"), "the notice on A")

        started = time.monotonic()
        body = {"assignments": {"breakout-1": ["p001"], "breakout-2": ["p002"]}, "minutes": 30}
        url = f"/api/events/{code}/sessions/day1/breakouts"
        opened = await asyncio.to_thread(a.post, url, moderator, body)
        assert opened.status_code == 200, opened.text
        assert time.monotonic() - started < ANSWER_WITHIN
        await wait_frame(p001_on_a, mark, is_state("breakouts", "breakout-1"), "the room on A")

        await asyncio.sleep(max(0.0, OUTAGE - (time.time() - killed_at)))
        # -- Redis is back -------------------------------------------------------------------
        restarted_at = time.time()
        await asyncio.to_thread(redis_server.start)
        for client in clients:
            # Heartbeats were acked while Redis was away: the pages kept working.
            period = client.periods[-1]
            assert period.last_ack_at > killed_at + 1.0, (client.urls, period)
        for server in (a, b):
            await wait_log(server, BACK)

        # The round opened during the outage reaches B's pages; so does the held notice.
        for client, room in ((p002_on_b, "breakout-2"), (p001_on_b, "breakout-1")):
            await wait_frame(client, 0, is_state("breakouts", room), f"{room} on B")
        for client in on_b:
            await wait_frame(client, 0, is_notice("During the outage"), "the held notice on B")

        # Moves resume: a move and a notice through A reach B's pages over the bus.
        marks = {id(c): len(c.frames) for c in clients}
        moved = await asyncio.to_thread(
            a.post, f"{url}/move", moderator, {"person": "p002", "room": "breakout-1"}
        )
        assert moved.status_code == 200, moved.text
        await wait_frame(
            p002_on_b, marks[id(p002_on_b)], is_state("breakouts", "breakout-1"), "the move"
        )
        after = await asyncio.to_thread(
            a.post, f"/api/events/{code}/notices", moderator, {"text": "After the outage"}
        )
        assert after.status_code == 202, after.text
        for client in clients:
            await wait_frame(client, 0, is_notice("After the outage"), "the notice after")
        await asyncio.sleep(0.5)
        for client in clients:
            texts = [f["text"] for f in client.frames if f["type"] == "notice"]
            assert texts == ["During the outage", "After the outage"], (client.urls, texts)

        # No socket ever dropped: one connection each, still open, acked after the restart.
        periods: list[Period] = []
        for client in clients:
            assert len(client.periods) == 1 and client.connected, (client.urls, client.periods)
            assert client.periods[0].last_ack_at > restarted_at
            periods.append(client.periods[0])
    finally:
        for client in clients:
            await client.stop()
    spans = {"p001": periods[0::2], "p002": periods[1:2]}
    await presence_is_complete(engine, code, spans, across=OUTAGE * SCALE)


@pytest.mark.timeout(90)  # a frozen event loop would otherwise hang here for good
def test_redis_bus_holds_what_it_cannot_publish_and_never_freezes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bus alone, two processes' worth of it on one private Redis: while Redis is away
    the event loop keeps turning, a publish delivers here at once and is held; once Redis
    is back, each bus says so (on_reconnect) and the held message reaches the other bus
    exactly once, and this one not a second time."""
    need(PrivateRedis.available(), "redis-server is not on PATH")
    monkeypatch.setattr(bus_module, "RESUBSCRIBE_GRACE", 1.0)
    redis_server = PrivateRedis(tmp_path / "redis")
    with running(redis_server):
        redis_server.start()
        here, there, reconnects, stalls = run_async(bus_scenario(redis_server))
    assert [m["text"] for m in here] == ["before", "during", "after"]
    assert [m["text"] for m in there] == ["before", "during", "after"]
    assert all(bus_module.HELD_BY not in m for m in here + there)
    assert reconnects == {"a": 1, "b": 1}
    # The loop turned every 50 ms or so all along (a frozen loop shows as one long stall).
    assert max(stalls) < 2.0, stalls


async def bus_scenario(
    redis_server: PrivateRedis,
) -> tuple[list[Message], list[Message], dict[str, int], list[float]]:
    here: list[Message] = []
    there: list[Message] = []
    reconnects = {"a": 0, "b": 0}
    stalls: list[float] = [0.0]

    def collector(into: list[Message]) -> Callable[[Message], Awaitable[None]]:
        async def deliver(message: Message) -> None:
            into.append(message)

        return deliver

    def counter(name: str) -> Callable[[], Awaitable[None]]:
        async def count() -> None:
            reconnects[name] += 1

        return count

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            stalls.append(now - last)
            last = now

    async def until(condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 20.0
        while not condition():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.05)

    a, b = RedisBus(redis_server.url), RedisBus(redis_server.url)
    a.on_reconnect, b.on_reconnect = counter("a"), counter("b")
    ticking = asyncio.create_task(ticker())
    try:
        await a.start(collector(here))
        await b.start(collector(there))
        await a.publish({"kind": "notice", "event": "E", "text": "before"})
        await until(lambda: len(there) == 1, "before")
        redis_server.kill()
        await asyncio.sleep(0.5)
        started = time.monotonic()
        await a.publish({"kind": "notice", "event": "E", "text": "during"})
        assert time.monotonic() - started < 5.0
        assert [m["text"] for m in here] == ["before", "during"]  # delivered here at once
        await asyncio.sleep(2.0)
        await asyncio.to_thread(redis_server.start)
        await until(lambda: reconnects == {"a": 1, "b": 1}, "both subscribed again")
        await until(lambda: len(there) == 2, "the held message")
        await a.publish({"kind": "notice", "event": "E", "text": "after"})
        await until(lambda: len(there) == 3 and len(here) == 3, "after")
        await asyncio.sleep(0.3)
    finally:
        ticking.cancel()
        await a.stop()
        await b.stop()
    return here, there, reconnects, stalls


@pytest.mark.timeout(90)
def test_redis_bus_starts_without_redis_and_subscribes_once_it_is_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process started while Redis is down serves anyway (as without the database), and
    joins the bus once Redis is up; what it published meanwhile then goes out."""
    need(PrivateRedis.available(), "redis-server is not on PATH")
    monkeypatch.setattr(bus_module, "RESUBSCRIBE_GRACE", 1.0)
    redis_server = PrivateRedis(tmp_path / "redis")  # not started yet

    async def scenario() -> tuple[list[Message], list[Message], int]:
        here: list[Message] = []
        there: list[Message] = []
        reconnects = 0

        async def count() -> None:
            nonlocal reconnects
            reconnects += 1

        early = RedisBus(redis_server.url)
        early.on_reconnect = count
        await early.start(_into(here))
        try:
            await early.publish({"kind": "notice", "event": "E", "text": "alone"})
            assert [m["text"] for m in here] == ["alone"]
            await asyncio.to_thread(redis_server.start)
            later = RedisBus(redis_server.url)
            await later.start(_into(there))
            try:
                deadline = time.monotonic() + 20.0
                while not there:
                    assert time.monotonic() < deadline, "the held message never went out"
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.3)
            finally:
                await later.stop()
        finally:
            await early.stop()
        return here, there, reconnects

    with running(redis_server):
        here, there, reconnects = run_async(scenario())
    assert [m["text"] for m in here] == ["alone"]  # not a second time
    assert [m["text"] for m in there] == ["alone"]
    assert reconnects == 1


def _into(messages: list[Message]) -> Callable[[Message], Awaitable[None]]:
    async def deliver(message: Message) -> None:
        messages.append(message)

    return deliver

"""PostgreSQL is unreachable for 30 seconds mid-session: nothing is lost, and it shows.

The machine's PostgreSQL is shared, so the outage is made by a loopback TCP proxy between
the two server processes and PostgreSQL: cut, it resets every connection and each new one;
restored, it forwards again (the connections pooled before the cut are dead: the engine's
pre-ping replaces them). The test itself reads the database directly.

Time scale 10: an event minute is six real seconds, a heartbeat every 1.5 s, stale after
4.5 s. The 30 real seconds of outage are 300 event seconds: four or five minute flushes
fail, and their rows wait in memory.

What is certain, and asserted: the sockets open before the cut stay open and are acked
throughout (they never need the database); every second between a socket's first and last
ack is in the log once the database is back (acks are the server's own stamps, see
test_restart); a change of place made during the outage reaches the audit trail; while
the database is away /healthz answers 503 at once, says so and counts the rows waiting,
a new socket is refused with 503 (nobody can be identified) and an API call answers 503,
not 500; after it, /healthz is 200 and nothing is left waiting.
"""

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from studymission.db.events import get_event, get_person
from studymission.db.tables import ConnectionEvent
from tests.conftest import POSTGRES_URL, need
from tests.integration.faults import (  # noqa: F401 - postgres is a fixture
    CONNECT_WITHIN,
    PrivateRedis,
    TcpProxy,
    postgres,
    postgres_address,
    presence_is_complete,
    running,
    through,
    two_processes,
)
from tests.integration.helpers import run_async
from tests.integration.servers import LiveClient, Period, Server, auth
from tests.integration.test_two_processes import T0

pytestmark = pytest.mark.integration

SCALE = 10.0
#: Real seconds PostgreSQL is unreachable.
OUTAGE = 30.0
#: /healthz must answer within this (real seconds), database or not: a refused connect fails
#: at once, so this leaves the loaded machine its scheduling delays, and no more (a hanging
#: connect would take the 5 s connect timeout, the pool 30 s).
HEALTH_WITHIN = 4.0


@pytest.mark.timeout(600)  # two server starts on a loaded machine, and the 30 s outage
def test_postgres_outage_buffers_presence_and_loses_nothing(
    postgres: Engine,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    need(PrivateRedis.available(), "redis-server is not on PATH")
    redis_server = PrivateRedis(tmp_path / "redis")
    proxy = TcpProxy(*postgres_address(POSTGRES_URL))
    with running(redis_server, proxy):
        redis_server.start()
        proxy.start()
        with two_processes(
            postgres,
            tmp_path,
            "FLT-PG",
            database_url=through(proxy, POSTGRES_URL),
            redis_url=redis_server.url,
            scale=SCALE,
        ) as (a, b, code, token):
            run_async(scenario(postgres, proxy, a, b, code, token))
            assert [a.terminate(), b.terminate()] == [-signal.SIGTERM] * 2
    assert proxy.refused > 0  # the processes did try, and were refused
    for server in (a, b):
        log = server.log()
        # Said once when the database went away, and once when it came back.
        assert log.count("cannot write to the database") == 1, log
        assert "the database answers again" in log, log
        assert "Application shutdown complete." in log and "shutdown flush failed" not in log


async def health(server: Server) -> tuple[int, dict[str, Any], float]:
    """/healthz: (status, body, real seconds it took)."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=10.0) as http:
        response = await http.get(f"{server.url}/healthz")
    return response.status_code, response.json(), time.monotonic() - started


async def scenario(
    engine: Engine, proxy: TcpProxy, a: Server, b: Server, code: str, token: dict[str, str]
) -> None:
    p001_on_a = LiveClient(a.ws_url(code), token["p001"])
    p002_on_b = LiveClient(b.ws_url(code), token["p002"])
    clients = [p001_on_a, p002_on_b]
    for client in clients:
        client.start()
    try:
        await asyncio.gather(*(c.wait_connected(timeout=CONNECT_WITHIN) for c in clients))
        await asyncio.sleep(8.0)  # a minute flush or so while all is well
        for server in (a, b):
            status, body, _took = await health(server)
            assert (status, body["database"]) == (200, "ok"), body

        # -- PostgreSQL goes away ------------------------------------------------------------
        proxy.cut()
        cut_at = time.time()
        await asyncio.sleep(8.0)  # past at least one minute boundary: its flush failed
        waiting_early = await while_away(a, b, code, token)
        moved_at = await p001_on_a.move("site-visit")  # a change of place, to be written later
        await asyncio.sleep(max(0.0, cut_at + OUTAGE - 5.0 - time.time()))
        waiting_late = await while_away(a, b, code, token)
        for early, late in zip(waiting_early, waiting_late, strict=True):
            assert late >= early > 0  # more minutes wait as the outage goes on
        for client in clients:
            # The pages kept working: heartbeats acked all along.
            assert client.periods[-1].last_ack_at > time.time() - 10.0
        await asyncio.sleep(max(0.0, cut_at + OUTAGE - time.time()))

        # -- PostgreSQL is back --------------------------------------------------------------
        proxy.restore()
        restored_at = time.time()
        for server in (a, b):
            await until_healthy(server)
        await asyncio.sleep(8.0)  # the sockets stay on past another minute flush
        periods: list[Period] = []
        for client in clients:
            # One connection each, never dropped, acked after the outage.
            assert len(client.periods) == 1 and client.connected, client.periods
            assert client.periods[0].last_ack_at > restored_at
            periods.append(client.periods[0])
    finally:
        for client in clients:
            await client.stop()
    # Every acked second, the 300 event seconds of the outage included, reaches the log.
    spans = {"p001": periods[:1], "p002": periods[1:]}
    await presence_is_complete(engine, code, spans, across=OUTAGE * SCALE)
    change = moved_change(engine, code)
    assert change is not None and abs((change - moved_at).total_seconds()) < 2 * SCALE
    assert change > T0
    for server in (a, b):
        # The minute the clients closed in is written at its end (6 real seconds at this
        # scale); after that nothing may wait.
        deadline = time.time() + 3 * 60 / SCALE + 5.0
        while True:
            status, body, _took = await health(server)
            if (status, body["presence_rows_waiting"]) == (200, 0) or time.time() > deadline:
                break
            await asyncio.sleep(0.5)
        assert (status, body["presence_rows_waiting"]) == (200, 0), body


async def while_away(a: Server, b: Server, code: str, token: dict[str, str]) -> list[int]:
    """What each process answers while the database is away; returns its rows waiting."""
    waiting = []
    for server in (a, b):
        status, body, took = await health(server)
        assert status == 503 and body["database"] == "unreachable", body
        assert took < HEALTH_WITHIN, f"/healthz took {took:.1f} s"
        waiting.append(int(body["presence_rows_waiting"]))
    # A new socket cannot be identified: refused for now, with a reason to retry.
    with pytest.raises(InvalidStatus) as refusal:
        async with connect(b.ws_url(code), additional_headers=auth(token["p001"])):
            pass  # pragma: no cover - must not open
    assert refusal.value.response.status_code == 503
    assert refusal.value.response.headers.get("Retry-After") == "5"
    # An API call that needs the database: 503, try again, not a 500.
    async with httpx.AsyncClient(timeout=10.0) as http:
        roster = await http.get(f"{a.url}/api/events/{code}/roster", headers=auth(token["mod1"]))
    assert roster.status_code == 503, roster.text
    assert roster.json()["error"] == "unavailable" and roster.headers["Retry-After"] == "5"
    return waiting


async def until_healthy(server: Server, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status, body, _took = await health(server)
        if status == 200:
            return
        assert time.monotonic() < deadline, f"{server.name} stayed unhealthy: {body}"
        await asyncio.sleep(0.2)


def moved_change(engine: Engine, code: str) -> Any:
    """When p001's move to the site visit was logged (the audit trail), or None."""
    with Session(engine) as db:
        event = get_event(db, code)
        assert event is not None
        person = get_person(db, event, "p001")
        assert person is not None
        return db.exec(
            select(ConnectionEvent.at)
            .where(
                ConnectionEvent.person_id == person.id,
                ConnectionEvent.kind == "change",
                ConnectionEvent.room == "site-visit",
            )
            .order_by(col(ConnectionEvent.id))
        ).first()

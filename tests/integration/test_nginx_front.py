"""deploy/nginx/studymission.conf in a real nginx, in front of two real app processes.

The processes share PostgreSQL and Redis and one clock anchor, as in test_two_processes.py,
at time scale 30 (an event minute every two real seconds, a heartbeat every half second).
nginx runs the site file with only its ports, hosts and paths swapped (nginx_front.py).

1. Through nginx: requests reach both processes, each with the client's address
   (X-Forwarded-For) and nginx's request id; the port-80 server redirects to https and
   serves certificate challenges; TLS works with the site's settings; /metrics is refused
   to a public address; bodies are limited except on the recording upload; recordings are
   served by nginx itself to holders of the apps' media cookies only; WebSockets
   reach both processes, get their welcome and state, are logged minute by minute, and a
   notice sent through either process reaches them all.
2. One of the two processes is killed (SIGKILL: nothing written, sockets reset). Its
   clients reconnect through nginx to the other within seconds; afterwards the presence log
   of every client covers all the time its heartbeats were acknowledged, except at most the
   minute in progress at the kill, and the clients of the survivor lose nothing.

How the assertions stay independent of scheduling (see test_restart.py for the reasoning):
each heartbeat is followed by a ping whose pong carries the server's event time (its ack),
so coverage between a connection's first and last ack is certain; the kill is aimed at the
middle of an event minute, a quarter minute or more from either boundary.
"""

import asyncio
import copy
import json
import math
import os
import secrets
import signal
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from studymission.config import Settings
from studymission.db.events import get_event, get_person
from studymission.domain.clock import EventClock
from studymission.services.access import create_api_token
from studymission.services.clock import Clock
from tests.conftest import POSTGRES_URL, need
from tests.factories import BASE_SPEC, make_spec
from tests.integration.helpers import load_event, run_async
from tests.integration.media_helpers import PREFIX, cookie_header, segment_bytes, write_package
from tests.integration.nginx_front import NGINX, NginxFront
from tests.integration.servers import (
    SECRET,
    LiveClient,
    Period,
    Server,
    auth,
    clean_shutdown,
    free_port,
    fresh_postgres,
    need_redis,
    server_env,
)
from tests.integration.test_restart import covered, stored

pytestmark = pytest.mark.integration

#: 30: a heartbeat every half real second, an event minute every two real seconds.
SCALE = 30.0
#: Event time at the processes' start: day 1 of the factory spec begins.
T0 = datetime(2021, 11, 24, 4, 0, tzinfo=UTC)
#: Participants connected at once: enough that least_conn puts some on each process.
PARTICIPANTS = [f"p{n:03d}" for n in range(1, 7)]
REDIS_URL = os.environ.get("STUDYMISSION_TEST_REDIS_URL", "")


@pytest.fixture
def shared_engine() -> Iterator[Engine]:
    """A fresh PostgreSQL schema both processes share; Redis and nginx must be there."""
    need(NginxFront.available(), f"{NGINX} or openssl is not installed (apt-get install)")
    need_redis(REDIS_URL)
    with fresh_postgres() as engine:
        yield engine


def spec(code: str) -> dict[str, Any]:
    """The factory spec with participants p001 … p006."""
    people = [p for p in BASE_SPEC["people"] if p["role"] != "participant"]
    template = next(p for p in BASE_SPEC["people"] if p["role"] == "participant")
    for index, key in enumerate(PARTICIPANTS, start=1):
        person = copy.deepcopy(template)
        person.update(key=key, name=f"Participant {index}", email=f"{key}@example.org")
        people.append(person)
    return make_spec(code=code, people=people)


@dataclass
class Fronted:
    front: NginxFront
    a: Server
    b: Server
    code: str
    tokens: dict[str, str]

    def server_of(self, key: str) -> str:
        """Which process accepted `key`'s latest socket ("a" or "b"), from their logs."""
        latest: tuple[str, str] | None = None
        for server in (self.a, self.b):
            for line in json_lines(server.log()):
                if line.get("message") == "socket connected" and line.get("person") == key:
                    if latest is None or line["time"] > latest[0]:
                        latest = (line["time"], server.name)
        assert latest is not None, f"no process logged a socket of {key}"
        return latest[1]


@contextmanager
def fronted(engine: Engine, tmp_path: Path, prefix: str) -> Iterator[Fronted]:
    """An event of its own served by processes A and B behind nginx; yields them, then
    stops everything (each test asserts the shutdowns it cares about)."""
    code = f"{prefix}-{secrets.token_hex(4)}"
    settings = Settings(secret_key=SECRET, var_dir=tmp_path / "var")
    load_event(engine, settings, Clock(EventClock(T0, T0, 1.0)), spec(code))
    with Session(engine) as db:
        event = get_event(db, code)
        assert event is not None
        tokens = {}
        for key in [*PARTICIPANTS, "mod1"]:
            person = get_person(db, event, key)
            assert person is not None
            tokens[key] = create_api_token(db, person, now=T0)
        db.commit()
    a_port, b_port = free_port(), free_port()
    # The apps' media directory (server_env: tmp_path/media), served by nginx itself.
    front = NginxFront(tmp_path / "nginx", [a_port, b_port], media_dir=tmp_path / "media")
    env = server_env(
        POSTGRES_URL,
        tmp_path,
        time_scale=SCALE,
        clock_start=T0,
        clock_anchor=datetime.now(UTC),
        redis_url=REDIS_URL,
        base_url=front.url,  # the Origin of pages served through nginx
    )
    a = Server("a", a_port, env, tmp_path / "a")
    b = Server("b", b_port, env, tmp_path / "b")
    try:
        a.launch()
        b.launch()
        # Generous: on a loaded machine importing the app alone can take half a minute.
        a.wait_ready(timeout=180)
        b.wait_ready(timeout=180)
        front.start()
        yield Fronted(front, a, b, code, tokens)
    finally:
        front.stop()
        a.stop()
        b.stop()


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for raw in text.splitlines():
        if raw.startswith("{"):
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
    return lines


def seconds_of(instant: datetime) -> float:
    return (instant - T0).total_seconds()


def sure(period: Period, until: float | None = None) -> set[int]:
    """Session seconds certainly covered by a connection: from its first to its last ack
    (and before `until`, a session second, when given)."""
    assert period.first_ack is not None and period.last_ack is not None, period
    end = seconds_of(period.last_ack) if until is None else min(until, seconds_of(period.last_ack))
    return set(range(math.ceil(seconds_of(period.first_ack)), math.ceil(end)))


async def wait_logged(
    engine: Engine, code: str, expected: dict[str, set[int]], timeout: float = 15.0
) -> None:
    """Until every person's stored coverage holds the seconds expected of them."""
    deadline = time.monotonic() + timeout
    while True:
        missing = {
            key: sorted(seconds - covered(stored(engine, key, code)))[:5]
            for key, seconds in expected.items()
        }
        if not any(missing.values()):
            return
        assert time.monotonic() < deadline, f"never reached the log: {missing}"
        await asyncio.sleep(0.2)


async def next_notice(client: LiveClient, timeout: float = 5.0) -> dict[str, Any]:
    try:
        return await asyncio.wait_for(client.notices.get(), timeout)
    except TimeoutError:
        raise AssertionError(f"no notice reached {client.token[:6]}…") from None


# --- 1. requests and sockets through nginx ---------------------------------------------------


def test_requests_and_sockets_through_nginx_reach_both_processes(
    shared_engine: Engine, tmp_path: Path
) -> None:
    with fronted(shared_engine, tmp_path, "NGX-FRONT") as setup:
        http_through_nginx(setup, tmp_path)
        run_async(sockets_through_nginx(shared_engine, setup))
        assert (setup.a.terminate(), setup.b.terminate()) == (-signal.SIGTERM, -signal.SIGTERM)
        for server in (setup.a, setup.b):
            assert clean_shutdown(server.log()), server.log()


def http_through_nginx(setup: Fronted, tmp_path: Path) -> None:
    front, a, b = setup.front, setup.a, setup.b
    # Plain requests alternate between the processes (least_conn, nothing in flight).
    ids = set()
    with httpx.Client(base_url=front.url) as http:
        for _ in range(12):
            response = http.get("/healthz")
            assert response.status_code == 200, response.text
            assert response.headers["server"] == "nginx"  # and no version (server_tokens)
            ids.add(response.headers["x-request-id"])
    assert len(ids) == 12
    # nginx logged each of them as JSON, with the request id the app answered with, and
    # both processes answered some.
    served = access_lines(front, ids)
    assert {served[i]["upstream"] for i in ids} == {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"}

    # The client's own address reaches the app (X-Forwarded-For from nginx, which uvicorn
    # trusts on loopback): a request from 127.0.0.2 is logged by the app as from there.
    from_other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with from_other:
        response = from_other.get(f"{front.url}/healthz")
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        # /metrics only from private networks and the host itself: 127.0.0.2 is neither.
        refused = from_other.get(f"{front.url}/metrics")
        assert refused.status_code == 403
        assert "x-request-id" not in refused.headers  # nginx answered, not the app
    app_lines = [
        line
        for server in (a, b)
        for line in json_lines(server.log())
        if line.get("request_id") == request_id and line.get("logger") == "studymission.access"
    ]
    assert [(line["client"], line["path"]) for line in app_lines] == [("127.0.0.2", "/healthz")]
    metrics = httpx.get(f"{front.url}/metrics")
    assert metrics.status_code == 200
    assert "studymission_ws_connected_sockets" in metrics.text

    # Port 80: certificate challenges from the webroot, everything else to https.
    challenge = front.workdir / "acme" / ".well-known" / "acme-challenge"
    challenge.mkdir(parents=True)
    (challenge / "token-1").write_text("token-1.thumbprint")
    plain = f"http://127.0.0.1:{front.redirect_port}"
    assert httpx.get(f"{plain}/.well-known/acme-challenge/token-1").text == "token-1.thumbprint"
    moved = httpx.get(f"{plain}/events/X/live?x=1")
    assert (moved.status_code, moved.headers["location"]) == (
        301,
        "https://127.0.0.1/events/X/live?x=1",
    )

    # TLS with the site's settings (the throwaway certificate): 1.3, and 1.2 for older
    # browsers.
    context = ssl.create_default_context(cafile=str(front.certificate))
    with httpx.Client(verify=context) as tls:
        assert tls.get(f"{front.tls_url}/healthz").status_code == 200
    assert tls_version(front, None) == "TLSv1.3"
    assert tls_version(front, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"

    # Bodies: 2 MB at most, except the recording upload, which streams to the app.
    big = b"x" * (3 * 1024 * 1024)
    too_big = httpx.post(f"{front.url}/api/events/{setup.code}/notices", content=big)
    assert too_big.status_code == 413
    assert "x-request-id" not in too_big.headers  # refused by nginx
    part = b'--x\r\nContent-Disposition: form-data; name="file"; filename="visit.mp4"\r\n\r\n'
    upload = httpx.post(
        f"{front.url}/events/{setup.code}/media",
        content=part + big + b"\r\n--x--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    # The app answered (x-request-id): nobody is signed in, so the file is refused.
    assert "x-request-id" in upload.headers, upload.text
    assert upload.status_code in (401, 403), upload.status_code

    # Recordings come from disk, checked against the cookies the apps grant; the app
    # never sees these requests (no X-Request-ID).
    write_package(front.media_dir)
    segment = f"{front.url}{PREFIX}720p/seg_00001.ts"
    granted = httpx.get(segment, headers={"Cookie": cookie_header(front.media_secret)})
    assert granted.status_code == 200
    assert granted.content == segment_bytes(1)
    assert "x-request-id" not in granted.headers
    assert httpx.get(segment).status_code == 403
    forged = cookie_header("another-secret-altogether")
    assert httpx.get(segment, headers={"Cookie": forged}).status_code == 403

    # Styles and scripts may be kept an hour and revalidated.
    css = httpx.get(f"{front.url}/static/css/app.css")
    assert css.status_code == 200
    assert css.headers["cache-control"] == "public, max-age=3600"
    assert css.headers["etag"]


def access_lines(front: NginxFront, ids: set[str]) -> dict[str, dict[str, Any]]:
    """nginx's access lines of these request ids (nginx writes each just after answering)."""
    deadline = time.monotonic() + 10.0
    while True:
        lines = {line["request_id"]: line for line in json_lines(front.access_log())}
        if ids <= set(lines):
            return lines
        assert time.monotonic() < deadline, f"nginx never logged {ids - set(lines)}"
        time.sleep(0.05)


def tls_version(front: NginxFront, maximum: ssl.TLSVersion | None) -> str | None:
    """The protocol version a handshake with the front's TLS port settles on."""
    context = ssl.create_default_context(cafile=str(front.certificate))
    if maximum is not None:
        context.maximum_version = maximum
    with (
        socket.create_connection(("127.0.0.1", front.tls_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as wrapped,
    ):
        return wrapped.version()


async def sockets_through_nginx(engine: Engine, setup: Fronted) -> None:
    code, front = setup.code, setup.front
    clients = [LiveClient(front.ws_url(code), setup.tokens[key]) for key in PARTICIPANTS]
    try:
        for client in clients:
            client.start()
        periods = [await client.wait_connected() for client in clients]
        for client in clients:
            # The welcome, then the state of the event.
            assert [f["type"] for f in client.frames[:2]] == ["welcome", "state"]
        # Sockets are spread over both processes.
        held = {key: setup.server_of(key) for key in PARTICIPANTS}
        assert set(held.values()) == {"a", "b"}, held

        # A page of the site (Origin = BASE_URL) may connect through nginx; another may not.
        token = auth(setup.tokens["p001"])
        async with connect(front.ws_url(code), additional_headers=token, origin=front.url) as ws:
            assert json.loads(await ws.recv())["type"] == "welcome"
        with pytest.raises(InvalidStatus) as refusal:
            async with connect(
                front.ws_url(code),
                additional_headers=token,
                origin="http://elsewhere.example.org",
            ):
                pass  # pragma: no cover - must not open
        assert refusal.value.response.status_code == 403

        # A notice through either process, or through nginx, reaches every socket once.
        moderator = setup.tokens["mod1"]
        path = f"/api/events/{code}/notices"
        senders = {"Via A": setup.a.url, "Via B": setup.b.url, "Via nginx": front.url}
        for text, sender in senders.items():
            sent = await asyncio.to_thread(
                httpx.post, f"{sender}{path}", json={"text": text}, headers=auth(moderator)
            )
            assert sent.status_code == 202, sent.text
            for client in clients:
                assert (await next_notice(client))["text"] == text
        await asyncio.sleep(0.3)
        for client in clients:
            assert client.notices.empty()

        # Heartbeats through nginx are logged minute by minute.
        await asyncio.sleep(90 / SCALE)
        latest = [client.periods[-1] for client in clients]
        assert latest == periods  # nobody was disconnected
        await wait_logged(
            engine, code, {key: sure(p) for key, p in zip(PARTICIPANTS, periods, strict=True)}
        )
        for key, period in zip(PARTICIPANTS, periods, strict=True):
            assert len(sure(period)) >= 60, key
    finally:
        for client in clients:
            await client.stop()


# --- 2. one of the two processes killed -------------------------------------------------------


async def mid_minute(client: LiveClient) -> float:
    """Wait until event time is 30 s into a minute; returns that session second."""
    now = seconds_of(client.event_now(SCALE))
    wait = (30 - now % 60) % 60
    if wait < 15:  # not too close: at least half a real second to aim
        wait += 60
    await asyncio.sleep(wait / SCALE)
    return seconds_of(client.event_now(SCALE))


def written_until(
    engine: Engine, code: str, before: dict[str, Period], keys: list[str], second: int
) -> bool:
    """Whether every acked second before `second` of these people's sockets is stored."""
    return all(
        sure(before[key], until=second) <= covered(stored(engine, key, code)) for key in keys
    )


async def kill_mid_minute(
    engine: Engine,
    setup: Fronted,
    code: str,
    clients: dict[str, LiveClient],
    before: dict[str, Period],
    victims: list[str],
) -> float:
    """SIGKILL A in the middle of an event minute once A has written the minutes before it;
    returns the session second of the kill (by A's clock, from a victim's pongs).

    A writes each minute at its end; on a loaded machine that write can still be under way
    (or A not scheduled at all) half a minute later, and then the kill would take two
    minutes with it. So the minutes before are checked in the database first, and if they
    are not there yet, the next minute is aimed at: "the minute in progress" stays one.
    """
    probe = clients[victims[0]]
    for _ in range(10):
        aimed = await mid_minute(probe)
        start = int(aimed // 60) * 60
        written = await asyncio.to_thread(written_until, engine, code, before, victims, start)
        now = seconds_of(probe.event_now(SCALE))
        if written and start + 15 <= now < start + 45:
            assert await asyncio.to_thread(setup.a.kill) == -signal.SIGKILL
            return now
    raise AssertionError("A never had its minutes written half a minute after their end")


def test_killed_process_clients_reconnect_through_nginx_to_the_other(
    shared_engine: Engine, tmp_path: Path
) -> None:
    with fronted(shared_engine, tmp_path, "NGX-KILL") as setup:
        run_async(kill_one(shared_engine, setup))
        assert setup.a.process is not None and setup.a.process.poll() == -signal.SIGKILL
        assert setup.b.terminate() == -signal.SIGTERM
        assert clean_shutdown(setup.b.log()), setup.b.log()


async def kill_one(engine: Engine, setup: Fronted) -> None:
    code, front = setup.code, setup.front
    clients = {key: LiveClient(front.ws_url(code), setup.tokens[key]) for key in PARTICIPANTS}
    try:
        for client in clients.values():
            client.start()
        before = {key: await client.wait_connected() for key, client in clients.items()}
        held = {key: setup.server_of(key) for key in PARTICIPANTS}
        victims = [key for key in PARTICIPANTS if held[key] == "a"]
        others = [key for key in PARTICIPANTS if held[key] == "b"]
        assert victims and others, held
        await asyncio.sleep(150 / SCALE)  # two event minutes and more, on both processes

        kill_at = await kill_mid_minute(engine, setup, code, clients, before, victims)
        killed_at = time.time()
        kill_minute = int(kill_at // 60)

        # A's clients come back through nginx, to B, within seconds.
        after: dict[str, Period] = {}
        for key in victims:
            client = clients[key]
            deadline = time.monotonic() + 20.0
            while len(client.periods) < 2 or client.periods[-1].first_ack is None:
                assert time.monotonic() < deadline, f"{key} did not reconnect"
                await asyncio.sleep(0.02)
            after[key] = client.periods[-1]
            assert after[key].url == front.ws_url(code)
            assert setup.server_of(key) == "b"
            delay = after[key].first_ack_at - killed_at
            print(f"{key} reconnected through nginx {delay:.2f} s after the kill")
            assert delay < 10.0, (key, delay)
        # B's clients never noticed.
        for key in others:
            assert clients[key].periods == [before[key]], key
        # Requests through nginx keep working: the dead process is skipped.
        async with httpx.AsyncClient(base_url=front.url) as http:
            for _ in range(6):
                assert (await http.get("/healthz")).status_code == 200

        await asyncio.sleep(150 / SCALE)
        for client in clients.values():
            await client.stop()
        # Up to the kill minute, A wrote everything at the minute boundaries; B writes the
        # rest at the next boundary after the sockets closed.
        expected = {
            key: sure(before[key], until=kill_minute * 60) | sure(after[key]) for key in victims
        } | {key: sure(before[key]) for key in others}
        await wait_logged(engine, code, expected)
    finally:
        for client in clients.values():
            await client.stop()

    for key in PARTICIPANTS:
        minutes = stored(engine, key, code)
        connected = sure(before[key]) | (sure(after[key]) if key in after else set())
        missing = connected - covered(minutes)
        if key in victims:
            # Of all the acked time, only the minute in progress at the kill may be gone.
            assert {second // 60 for second in missing} <= {kill_minute}, (key, sorted(missing))
        else:
            assert not missing, (key, sorted(missing))
        # Every minute the client was connected for throughout is whole in the log.
        whole = [m for m in range(240) if set(range(m * 60, m * 60 + 60)) <= connected]
        assert len(whole) >= 3, (key, whole)
        assert [minutes.get(m, 0).bit_count() for m in whole] == [60] * len(whole), key

"""``GET /metrics``: what it reports is what happened (sockets, heartbeats, flushes, HTTP
requests, the bus), and the logs name each request and each socket.

Through the ASGI app with the controllable clock of conftest (scale 1, moved by hand), on
SQLite and PostgreSQL; the bus lag on real Redis.
"""

import io
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from studymission.app import create_app
from studymission.config import Settings
from studymission.db import presence as presence_store
from studymission.db.tables import ConnectionEvent
from studymission.domain.clock import EventClock
from studymission.observability.logs import JsonFormatter
from studymission.realtime.runtime import Realtime
from studymission.services.clock import Clock
from tests.conftest import RealTime, need
from tests.factories import make_spec
from tests.integration.helpers import bearer, load_event

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"
OTHER = "TEST-EVENT-2"
#: Ten minutes into day 1 of the factory spec (13:00 in Seoul).
IN_SESSION = datetime(2021, 11, 24, 4, 10, tzinfo=UTC)
REDIS_URL = os.environ.get("STUDYMISSION_TEST_REDIS_URL", "")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient, headers: dict[str, str] | None = None) -> Samples:
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; a labelled series not (or no longer) there is 0."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def realtime_of(client: TestClient) -> Realtime:
    app = client.app
    assert isinstance(app, FastAPI)
    realtime: Realtime = app.state.realtime
    return realtime


def fence(ws: Any) -> None:
    """Ping and wait for the pong: every frame sent before it has been handled."""
    ws.send_json({"type": "ping", "id": "fence"})
    while ws.receive_json().get("type") != "pong":
        pass


def beat(ws: Any) -> None:
    ws.send_json({"type": "heartbeat", "visible": True, "in_room": True, "room": "main"})
    fence(ws)


def hello(ws: Any) -> None:
    assert ws.receive_json()["type"] == "welcome"
    assert ws.receive_json()["type"] == "state"


class LogLines:
    """The package's log lines as the JSON formatter writes them."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.handler = logging.StreamHandler(self.buffer)
        self.handler.setFormatter(JsonFormatter())

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines()]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    logger = logging.getLogger("studymission")
    saved = (logger.level, logger.propagate)
    captured = LogLines()
    logger.addHandler(captured.handler)
    logger.setLevel(logging.INFO)
    try:
        yield captured
    finally:
        logger.removeHandler(captured.handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


# -- sockets, heartbeats, flushes -------------------------------------------------------------


def test_sockets_heartbeats_and_flushes_are_what_happened(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    load_event(engine, settings, clock, make_spec(code=OTHER))
    real_time.now = IN_SESSION
    first = [bearer(engine, clock, CODE, key) for key in ("p001", "p002", "rp1")]
    other = bearer(engine, clock, OTHER, "p001")
    realtime = realtime_of(client)
    before = scrape(client)
    assert value(before, "studymission_heartbeats_total") == 0
    assert value(before, "studymission_ws_connected_sockets", event=CODE) == 0
    assert value(before, "studymission_presence_flush_seconds_count") == 0

    with (
        client.websocket_connect(f"/ws/{CODE}", headers=first[0]) as a,
        client.websocket_connect(f"/ws/{CODE}", headers=first[1]) as b,
        client.websocket_connect(f"/ws/{CODE}", headers=first[2]) as c,
        client.websocket_connect(f"/ws/{OTHER}", headers=other) as d,
    ):
        for ws in (a, b, c, d):
            hello(ws)
        live = scrape(client)
        assert value(live, "studymission_ws_connected_sockets", event=CODE) == 3
        assert value(live, "studymission_ws_connected_sockets", event=OTHER) == 1
        # One heartbeat each, then four more from a every 15 s: 8 in all.
        for ws in (a, b, c, d):
            beat(ws)
        for _ in range(4):
            real_time.advance(seconds=15)
            beat(a)
        beaten = scrape(client)
        assert value(beaten, "studymission_heartbeats_total") == 8
        # a's minute 10 is complete and gathered (its heartbeat at 11:00 closed it); the
        # others' are gathered by the flush. Nothing is written yet.
        assert value(beaten, "studymission_presence_rows_waiting") == 1

        written = client.portal.call(realtime.flush_minutes)  # type: ignore[union-attr]
        assert written == 4  # minute 10 of each of the four sockets' people
        flushed = scrape(client)
        assert value(flushed, "studymission_presence_flush_seconds_count") == 1
        assert value(flushed, "studymission_presence_flush_seconds_sum") > 0
        assert value(flushed, "studymission_presence_flush_rows_total") == written
        assert value(flushed, "studymission_presence_flush_failures_total") == 0
        assert value(flushed, "studymission_presence_rows_waiting") == 0
        assert value(flushed, "studymission_heartbeats_total") == 8
        # The histogram's buckets add up: the one flush is in +Inf.
        assert value(flushed, "studymission_presence_flush_seconds_bucket", le="+Inf") == 1

    # Closed: the events have no sockets left here.
    gone = scrape(client)
    assert value(gone, "studymission_ws_connected_sockets", event=CODE) == 0
    assert value(gone, "studymission_ws_connected_sockets", event=OTHER) == 0


def test_a_failed_flush_is_counted_and_its_rows_wait(
    client: TestClient,
    engine: Engine,
    settings: Settings,
    clock: Clock,
    real_time: RealTime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load_event(engine, settings, clock)
    real_time.now = IN_SESSION
    realtime = realtime_of(client)
    with client.websocket_connect(f"/ws/{CODE}", headers=bearer(engine, clock, CODE, "p001")) as ws:
        hello(ws)
        for _ in range(5):
            beat(ws)
            real_time.advance(seconds=15)

        def refuse(*_args: object) -> None:
            raise OSError("the database went away")

        monkeypatch.setattr(presence_store, "upsert_minutes", refuse)
        with pytest.raises(OSError):
            client.portal.call(realtime.flush_minutes)  # type: ignore[union-attr]
        failed = scrape(client)
        assert value(failed, "studymission_presence_flush_failures_total") == 1
        assert value(failed, "studymission_presence_flush_seconds_count") == 0
        waiting = value(failed, "studymission_presence_rows_waiting")
        assert waiting >= 1
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["presence_rows_waiting"] == waiting

        monkeypatch.undo()
        written = client.portal.call(realtime.flush_minutes)  # type: ignore[union-attr]
        assert written == waiting
        assert value(scrape(client), "studymission_presence_rows_waiting") == 0


def test_refused_frames_and_abusive_sockets_are_counted(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    real_time.now = IN_SESSION
    with client.websocket_connect(f"/ws/{CODE}", headers=bearer(engine, clock, CODE, "p001")) as ws:
        hello(ws)
        ws.send_text("not json")
        assert ws.receive_json()["code"] == "bad_frame"
        ws.send_text("x" * (64 * 1024 + 1))
        assert ws.receive()["type"] == "websocket.close"
    samples = scrape(client)
    assert value(samples, "studymission_ws_frames_refused_total", reason="bad_frame") == 1
    assert value(samples, "studymission_ws_abuse_closes_total", reason="frame_too_large") == 1
    assert value(samples, "studymission_ws_abuse_closes_total", reason="too_many_frames") == 0


# -- HTTP ---------------------------------------------------------------------------------------


def test_http_latency_is_labelled_by_route_template_and_status_class(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock)
    staff = bearer(engine, clock, CODE, "mod1")
    presence = "/api/events/{code}/presence"
    for person in ("p001", "p002"):
        response = client.get(
            f"/api/events/{CODE}/presence",
            params={"person": person, "session": "day1"},
            headers=staff,
        )
        assert response.status_code == 200
    assert client.get("/no/such/page").status_code == 404
    assert client.get(f"/api/events/{CODE}/presence", params={"person": "p001"}).status_code == 401
    samples = scrape(client)
    count = "studymission_http_request_duration_seconds_count"
    assert value(samples, count, method="GET", route=presence, status="2xx") == 2
    assert value(samples, count, method="GET", route=presence, status="4xx") == 1
    assert value(samples, count, method="GET", route="unmatched", status="4xx") == 1
    # No series names a raw path.
    assert not [key for key in samples if any(v.startswith("/no/") for _k, v in key[1])]
    assert not [key for key in samples if any(CODE in v for _k, v in key[1] if _k == "route")]


def test_metrics_can_ask_for_a_bearer_token(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    guarded = Settings(**{**settings.model_dump(), "metrics_token": "scrape-token-1234"})
    with TestClient(create_app(guarded, engine=engine, clock=clock)) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == "Bearer"
        right = {"Authorization": "Bearer scrape-token-1234"}
        assert "studymission_heartbeats_total" in client.get("/metrics", headers=right).text


# -- request and connection ids in the logs -------------------------------------------------


def test_the_request_id_is_echoed_and_names_the_request_in_the_log(
    client: TestClient, log_lines: LogLines
) -> None:
    given = "0123456789abcdef0123456789abcdef"  # as nginx's $request_id looks
    response = client.get("/healthz", headers={"X-Request-ID": given})
    assert response.headers["x-request-id"] == given
    # Not an id: replaced by a fresh one (32 hex digits), never echoed.
    for bad in ("short", "has spaces in it", "x" * 129, 'quote"and\\slash'):
        echoed = client.get("/healthz", headers={"X-Request-ID": bad}).headers["x-request-id"]
        assert re.fullmatch("[0-9a-f]{32}", echoed), bad
    fresh = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch("[0-9a-f]{32}", fresh)

    access = [line for line in log_lines.lines() if line["logger"] == "studymission.access"]
    assert len(access) == 6
    first = access[0]
    assert first["request_id"] == given
    assert first["method"] == "GET"
    assert first["path"] == first["route"] == "/healthz"
    assert first["status"] == 200
    assert first["duration_ms"] >= 0
    assert first["client"] == "testclient"
    assert first["message"].startswith("GET /healthz 200 ")
    assert access[-1]["request_id"] == fresh


def test_a_join_token_never_reaches_the_log(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, log_lines: LogLines
) -> None:
    outcome = load_event(engine, settings, clock)
    token = outcome.join_tokens["p001"]
    assert client.get(f"/join/{token}", follow_redirects=False).status_code < 400
    text = "\n".join(json.dumps(line) for line in log_lines.lines())
    assert token not in text
    [line] = [x for x in log_lines.lines() if x["logger"] == "studymission.access"]
    assert line["path"] == "/join/[redacted]"
    assert line["route"] == "/join/{token}"


def test_each_socket_logs_its_connect_and_close_with_its_connection_id(
    client: TestClient,
    engine: Engine,
    settings: Settings,
    clock: Clock,
    real_time: RealTime,
    log_lines: LogLines,
) -> None:
    load_event(engine, settings, clock)
    real_time.now = IN_SESSION
    for count, key in enumerate(("p001", "p002"), start=1):
        headers = {**bearer(engine, clock, CODE, key), "X-Request-ID": key * 3}
        with client.websocket_connect(f"/ws/{CODE}", headers=headers) as ws:
            hello(ws)
            beat(ws)
        # Leaving the block closes the socket (1000); the server logs it as it notices.
        deadline = time.monotonic() + 10
        while (
            len([x for x in log_lines.lines() if x["message"].startswith("socket closed")]) < count
        ):
            assert time.monotonic() < deadline, "the close was never logged"
            time.sleep(0.01)
    lines = [x for x in log_lines.lines() if x["logger"] == "studymission.realtime.endpoint"]
    assert [x["message"] for x in lines] == [
        "socket connected",
        "socket closed with code 1000",
    ] * 2
    for (opened, closed), key in zip([lines[0:2], lines[2:4]], ("p001", "p002"), strict=True):
        assert opened["level"] == closed["level"] == "INFO"
        assert re.fullmatch("[0-9a-f]{16}", opened["connection_id"])
        assert closed["connection_id"] == opened["connection_id"]
        assert opened["event"] == closed["event"] == CODE
        assert opened["person"] == closed["person"] == key
        assert opened["request_id"] == key * 3  # the upgrade request's id
        assert opened["role"] == "participant"
        assert closed["close_code"] == 1000
    assert lines[0]["connection_id"] != lines[2]["connection_id"]
    # The id is the socket's id in the audit trail.
    client.portal.call(realtime_of(client).flush_changes)  # type: ignore[union-attr]
    with Session(engine) as db:
        sockets = db.exec(
            select(ConnectionEvent.socket)
            .where(ConnectionEvent.kind == "connect")
            .order_by(col(ConnectionEvent.id))
        ).all()
    assert list(sockets) == [lines[0]["connection_id"], lines[2]["connection_id"]]


# -- the bus ----------------------------------------------------------------------------------


def test_bus_lag_is_observed_when_a_notice_arrives_through_redis(
    settings: Settings, engine: Engine
) -> None:
    need(bool(REDIS_URL), "STUDYMISSION_TEST_REDIS_URL is not set (no Redis to test)")
    # The wall clock, not the hand-moved one: the lag is measured in real time.
    started = datetime.now(UTC)
    clock = Clock(EventClock(IN_SESSION, started, 1.0))
    load_event(engine, settings, clock)
    with_redis = Settings(**{**settings.model_dump(), "redis_url": REDIS_URL})
    app = create_app(with_redis, engine=engine, clock=clock)
    with TestClient(app, base_url="http://testserver") as client:
        staff = bearer(engine, clock, CODE, "mod1")
        with client.websocket_connect(
            f"/ws/{CODE}", headers=bearer(engine, clock, CODE, "p001")
        ) as ws:
            hello(ws)
            assert value(scrape(client), "studymission_bus_lag_seconds_count", kind="notice") == 0
            sent = client.post(f"/api/events/{CODE}/notices", json={"text": "hi"}, headers=staff)
            assert sent.status_code == 202
            frame = ws.receive_json()
            while frame["type"] != "notice":
                frame = ws.receive_json()
            assert frame["text"] == "hi"
        samples = scrape(client)
    assert value(samples, "studymission_bus_lag_seconds_count", kind="notice") == 1
    lag = value(samples, "studymission_bus_lag_seconds_sum", kind="notice")
    # Through Redis and back on one host: more than nothing, far less than the test took.
    assert 0 < lag < (datetime.now(UTC) - started).total_seconds()

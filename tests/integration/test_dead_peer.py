"""Transport pings find a peer that is gone without closing (a laptop that slept)."""

import base64
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from studymission.config import Settings
from studymission.db.engine import make_engine
from studymission.db.migrate import upgrade
from studymission.db.tables import ConnectionEvent
from studymission.domain.clock import EventClock
from studymission.services.clock import Clock
from tests.factories import make_spec
from tests.integration.helpers import bearer, load_event
from tests.integration.servers import SECRET, Server, free_port, server_env

pytestmark = pytest.mark.integration


def test_a_silent_peer_is_closed_by_transport_pings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dead-peer.db'}"
    engine = make_engine(url)
    upgrade(engine)
    t0 = datetime(2021, 11, 24, 4, 10, tzinfo=UTC)
    settings = Settings(secret_key=SECRET, var_dir=tmp_path / "var")
    clock = Clock(EventClock(t0, t0, 1.0))
    load_event(engine, settings, clock, make_spec())
    authorization = bearer(engine, clock, "TEST-EVENT-1", "p001")["Authorization"]
    env = server_env(url, tmp_path, clock_start=t0)
    env["STUDYMISSION_WS_PING_SECONDS"] = "0.5"
    server = Server("dead-peer", free_port(), env, tmp_path / "server")
    try:
        server.start()
        # A raw client that completes the handshake, then never reads again: its kernel
        # buffer takes the pings, but no pong ever goes back.
        peer = socket.create_connection(("127.0.0.1", server.port))
        key = base64.b64encode(os.urandom(16)).decode()
        peer.sendall(
            (
                "GET /ws/TEST-EVENT-1 HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{server.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Authorization: {authorization}\r\n\r\n"
            ).encode()
        )
        assert peer.recv(4096).startswith(b"HTTP/1.1 101")
        opened = time.monotonic()
        closed_by_server = None
        deadline = opened + 15
        while time.monotonic() < deadline:
            with Session(engine) as db:
                kinds = [e.kind for e in db.exec(select(ConnectionEvent)).all()]
            if "disconnect" in kinds:
                closed_by_server = time.monotonic() - opened
                break
            time.sleep(0.2)
        peer.close()
        assert closed_by_server is not None, f"the silent peer stayed: {kinds}\n{server.log()}"
        # One ping interval plus one timeout, and the next changes write (1 s): well under 5 s.
        assert closed_by_server < 5, closed_by_server
        with Session(engine) as db:
            events = db.exec(select(ConnectionEvent).order_by(col(ConnectionEvent.id))).all()
        assert [e.kind for e in events] == ["connect", "disconnect"]
        # No close frame ever came from the peer: no status, or an abnormal closure.
        assert events[1].detail["code"] in (1005, 1006, 1011), events[1].detail
    finally:
        server.stop()
        engine.dispose()

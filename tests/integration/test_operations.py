"""Operating a server: ``/healthz`` says what is wrong, ``serve`` logs JSON lines on stdout,
and a graceful shutdown (SIGTERM) writes the minute in progress and says so in its log."""

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from studymission.app import create_app
from studymission.config import Settings
from studymission.db.engine import make_engine
from studymission.services.clock import Clock
from tests.conftest import TEST_SECRET
from tests.integration.helpers import load_event, run_async
from tests.integration.servers import LiveClient, Server, clean_shutdown, free_port, server_env
from tests.integration.test_restart import (
    CODE,
    PEOPLE,
    SCALE,
    T0,
    covered,
    mid_minute,
    seconds_of,
    stored,
    sure,
    token_of,
)

pytestmark = pytest.mark.integration


# -- /healthz -----------------------------------------------------------------------------------


def test_healthz_is_ok_while_the_database_answers(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "presence_rows_waiting": 0}


def test_healthz_is_503_and_says_why_when_the_database_is_unreachable(
    tmp_path: Path, clock: Clock
) -> None:
    # A PostgreSQL URL to a port nobody listens on.
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    settings = Settings(
        database_url=dead,
        secret_key=TEST_SECRET,
        base_url="http://testserver",
        var_dir=tmp_path / "var",
        media_dir=tmp_path / "media",
    )
    app = create_app(settings, engine=make_engine(dead), clock=clock)
    # The server starts anyway (it serves and retries); health tells the truth.
    with TestClient(app, base_url="http://testserver") as client:
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json() == {
            "status": "error",
            "database": "unreachable",
            "detail": "OperationalError",
            "presence_rows_waiting": 0,
        }
        # The metrics still answer: they are what tells how long it has lasted.
        assert client.get("/metrics").status_code == 200


# -- serve: JSON logs, graceful shutdown ---------------------------------------------------------


class JsonServer(Server):
    """A `Server` whose stdout and stderr are kept apart: stdout must be JSON lines only."""

    @property
    def stdout_path(self) -> Path:
        return self.workdir / f"{self.name}-{self.launches}.stdout"

    def launch(self, env: dict[str, str] | None = None) -> None:
        if env is not None:
            self.env = env
        self.launches += 1
        self.log_path = self.workdir / f"{self.name}-{self.launches}.stderr"
        with self.stdout_path.open("wb") as out, self.log_path.open("wb") as err:
            self.launched_at = time.time()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "studymission", "serve", "--port", str(self.port)],
                cwd=self.workdir,
                env=self.env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )

    def stdout_lines(self) -> list[dict[str, Any]]:
        """Every line of stdout, parsed: a line that is not a JSON object fails here."""
        lines = []
        for number, text in enumerate(self.stdout_path.read_text().splitlines(), start=1):
            try:
                line = json.loads(text)
            except ValueError:
                raise AssertionError(f"stdout line {number} is not JSON: {text!r}") from None
            assert isinstance(line, dict), text
            lines.append(line)
        return lines


def test_serve_logs_json_lines_and_a_sigterm_writes_the_minute_in_progress(
    engine: Engine, database_url: str, settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    load_event(engine, settings, clock)
    tokens = {key: token_of(engine, key) for key in PEOPLE}
    env = server_env(database_url, tmp_path, time_scale=SCALE, clock_start=T0)
    server = JsonServer("server", free_port(), env, tmp_path / "server")
    try:
        server.start(timeout=120.0)  # a loaded machine starts Python slowly
        request_id = "0123456789abcdef0123456789abcdef"
        health = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": request_id})
        assert health.headers["x-request-id"] == request_id
        clients = [LiveClient(server.ws_url(CODE), tokens[key], reconnect=False) for key in PEOPLE]
        periods = run_async(connected_until_sigterm(server, clients))
    finally:
        server.stop()
    assert clean_shutdown(server.stdout_path.read_text()), server.stdout_path.read_text()
    lines = server.stdout_lines()
    assert {line["level"] for line in lines} <= {"DEBUG", "INFO", "WARNING"}, lines
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line)
        assert line["time"].endswith("Z")

    # uvicorn's own per-socket lines are left out: the endpoint's say more.
    assert not [x for x in lines if x["message"] in ("connection open", "connection closed")]

    # The request, by the id it came with.
    [access] = [x for x in lines if x.get("request_id") == request_id]
    assert access["logger"] == "studymission.access"
    assert (access["path"], access["status"]) == ("/healthz", 200)

    # Each socket: connected, then closed by the shutdown (1012, "service restart").
    sockets = [x for x in lines if x["logger"] == "studymission.realtime.endpoint"]
    for key in PEOPLE:
        mine = [x for x in sockets if x.get("person") == key]
        assert [x["message"] for x in mine] == ["socket connected", "socket closed with code 1012"]
        assert mine[0]["connection_id"] == mine[1]["connection_id"]
        assert mine[1]["close_code"] == 1012

    # The shutdown flush says how many minute rows it wrote: at least the minute in
    # progress of each person; and they are in the database.
    [flushed] = [x for x in lines if x["message"].startswith("presence: shutdown flush wrote")]
    assert flushed["logger"] == "studymission.realtime.runtime"
    assert flushed["rows"] >= len(PEOPLE)
    assert flushed["message"] == f"presence: shutdown flush wrote {flushed['rows']} minute rows"
    for key, period in zip(PEOPLE, periods, strict=True):
        minutes = stored(engine, key)
        assert period.last_ack is not None
        assert int(seconds_of(period.last_ack) // 60) in minutes, key
        assert sure(period) <= covered(minutes), key


async def connected_until_sigterm(server: JsonServer, clients: list[LiveClient]) -> list[Any]:
    for client in clients:
        client.start()
    try:
        periods = [await client.wait_connected(timeout=30.0) for client in clients]
        await asyncio.sleep(2.0)  # two event minutes
        # In the middle of a minute: the minute flush at the boundary before has had half a
        # second to finish, so the shutdown flush has the minute in progress to write.
        await mid_minute(clients[0])
        status = await asyncio.to_thread(server.terminate)
        assert status == -signal.SIGTERM
        return periods
    finally:
        for client in clients:
            await client.stop()

"""Real ``python -m studymission serve`` processes and real WebSocket clients, for the
integration tests that need them (two processes, restarts).

`Server` starts one process on a free port with settings in its environment (nothing from
the developer's environment or ``.env`` leaks in), waits for ``/healthz``, keeps its log,
and stops it with SIGTERM or SIGKILL; `stop()` is safe to call in ``finally`` whatever
happened. `LiveClient` behaves like the page's heartbeat worker: it heartbeats every
``heartbeat_seconds`` of the welcome, follows each heartbeat with a ping so that the
server's event time at which it was handled is known (the *ack*), and reconnects by itself.
"""

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis
from sqlalchemy import Engine
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from studymission.db.engine import make_engine
from studymission.db.migrate import upgrade
from tests.conftest import POSTGRES_URL, _reset_postgres, need

SECRET = "two-process-test-secret-of-enough-length"


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_env(
    database_url: str,
    workdir: Path,
    *,
    time_scale: float = 1.0,
    clock_start: datetime | None = None,
    clock_anchor: datetime | None = None,
    redis_url: str | None = None,
    base_url: str = "http://127.0.0.1",
) -> dict[str, str]:
    """The process environment: ours, minus every STUDYMISSION_ setting of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDYMISSION_")}
    env.update(
        PYTHONUNBUFFERED="1",
        STUDYMISSION_DATABASE_URL=database_url,
        STUDYMISSION_SECRET_KEY=SECRET,
        STUDYMISSION_BASE_URL=base_url,
        STUDYMISSION_TIME_SCALE=repr(time_scale),
        STUDYMISSION_VAR_DIR=str(workdir / "var"),
        STUDYMISSION_MEDIA_DIR=str(workdir / "media"),
    )
    if clock_start is not None:
        env["STUDYMISSION_CLOCK_START"] = clock_start.isoformat()
    if clock_anchor is not None:
        env["STUDYMISSION_CLOCK_ANCHOR"] = clock_anchor.isoformat()
    if redis_url:
        env["STUDYMISSION_REDIS_URL"] = redis_url
    return env


@dataclass
class Server:
    """One server process; `start()` may be called again after it stopped (a restart)."""

    name: str
    port: int
    env: dict[str, str]
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    launches: int = 0
    #: time.time() just before the latest launch, and once /healthz answered.
    launched_at: float = 0.0
    ready_at: float = 0.0
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, code: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/{code}"

    def start(self, env: dict[str, str] | None = None, timeout: float = 90.0) -> None:
        """Launch (with `env` replacing the environment, if given) and wait for /healthz."""
        self.launch(env)
        self.wait_ready(timeout)

    def launch(self, env: dict[str, str] | None = None) -> None:
        """Start the process without waiting for it (see `wait_ready`)."""
        assert self.process is None or self.process.poll() is not None, "already running"
        if env is not None:
            self.env = env
        self.launches += 1
        self.log_path = self.workdir / f"{self.name}-{self.launches}.log"
        with self.log_path.open("wb") as log:
            self.launched_at = time.time()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "studymission", "serve", "--port", str(self.port)],
                cwd=self.workdir,  # no .env of the checkout is read
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Until /healthz answers 200; fails with the log if the process dies or hangs.

        The bound is generous: a start on a busy machine can take tens of seconds, and the
        bound only limits how long a broken start takes to be reported."""
        assert self.process is not None, "not launched"
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited at start:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    self.ready_at = time.time()
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{self.name} not ready in {timeout} s:\n{self.log()}")
            time.sleep(0.05)

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM (graceful shutdown) and wait; returns the exit status.

        uvicorn re-raises the signal once it has shut down, so a clean exit is
        ``-SIGTERM``; `clean_shutdown` tells from the log whether it really was.
        """
        return self._signal(signal.SIGTERM, timeout)

    def kill(self) -> int:
        """SIGKILL: no shutdown at all."""
        return self._signal(signal.SIGKILL, 10.0)

    def _signal(self, number: signal.Signals, timeout: float) -> int:
        assert self.process is not None and self.process.poll() is None, f"{self.name} not running"
        self.process.send_signal(number)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"{self.name} ignored {number.name}:\n{self.log()}") from None

    def stop(self) -> None:
        """Make sure the process is gone (SIGTERM, then SIGKILL); never raises."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(Exception):
            process.terminate()
            process.wait(10)
        if process.poll() is None:
            with contextlib.suppress(Exception):
                process.kill()
                process.wait(10)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def get(self, path: str, token: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, headers=auth(token), timeout=10.0)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def post(self, path: str, token: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, headers=auth(token), timeout=10.0)


def clean_shutdown(log: str) -> bool:
    """The log shows a graceful shutdown: the application's shutdown (the final flush)
    completed, and nothing failed on the way."""
    return (
        "Application shutdown complete." in log
        and "Finished server process" in log
        and "Traceback" not in log
        and "shutdown flush failed" not in log
    )


@contextlib.contextmanager
def stopped_at_exit(*servers: Server) -> Iterator[None]:
    """Every server is stopped when the block exits, however it exits."""
    try:
        yield
    finally:
        for server in servers:
            server.stop()


def need_redis(url: str) -> None:
    """Skip (fail in CI) unless Redis answers at `url`."""
    need(bool(url), "STUDYMISSION_TEST_REDIS_URL is not set (no Redis)")
    try:
        client = redis.Redis.from_url(url)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as error:
        need(False, f"Redis at {url} is unreachable: {error}")


@contextlib.contextmanager
def fresh_postgres() -> Iterator[Engine]:
    """A freshly migrated, empty PostgreSQL schema (``STUDYMISSION_TEST_POSTGRES_URL``)
    for server processes to share; skipped (failed in CI) without one."""
    need(bool(POSTGRES_URL), "STUDYMISSION_TEST_POSTGRES_URL is not set (no PostgreSQL)")
    engine = make_engine(POSTGRES_URL)
    try:
        _reset_postgres(engine)
    except Exception as error:
        need(False, f"PostgreSQL at {POSTGRES_URL} is unreachable: {error}")
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Period:
    """One connection of a client: when the server acked its heartbeats (event time)."""

    url: str
    first_ack: datetime | None = None
    last_ack: datetime | None = None
    #: time.time() when the first and the last ack arrived
    first_ack_at: float = 0.0
    last_ack_at: float = 0.0
    close_code: int | None = None


class LiveClient:
    """One tab: heartbeats in a room, collects notices, reconnects when the socket drops."""

    def __init__(
        self,
        urls: str | list[str],
        token: str,
        *,
        room: str = "main",
        in_room: bool = True,
        reconnect: bool = True,
    ) -> None:
        self.urls = [urls] if isinstance(urls, str) else urls
        self.token = token
        self.room = room
        self.in_room = in_room
        self.reconnect = reconnect
        self.periods: list[Period] = []
        self.notices: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.frames: list[dict[str, Any]] = []
        #: (event time of the latest pong, time.time() when it arrived)
        self.last_pong: tuple[datetime, float] | None = None
        self.heartbeat_seconds = 15.0
        self._socket: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._beats = 0
        self._acks: dict[str, bool] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"client-{self.token[:6]}")

    async def stop(self) -> None:
        """Close the socket (code 1000) and stop reconnecting."""
        self._stopping = True
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5.0)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    @property
    def connected(self) -> bool:
        return self._socket is not None

    async def wait_connected(self, timeout: float = 20.0) -> Period:
        """Until the current connection has had a heartbeat acked."""
        deadline = time.monotonic() + timeout
        while not (self._socket is not None and self.periods and self.periods[-1].first_ack):
            assert time.monotonic() < deadline, "the client did not (re)connect"
            assert self._task is not None and not self._task.done(), "the client gave up"
            await asyncio.sleep(0.02)
        return self.periods[-1]

    async def move(self, room: str, in_room: bool = True) -> datetime:
        """Change place (a heartbeat at once); returns the event time it was acked at."""
        self.room, self.in_room = room, in_room
        ws = self._socket
        assert ws is not None, "not connected"
        ident = await self._beat(ws)
        deadline = time.monotonic() + 10.0
        while ident in self._acks:
            assert time.monotonic() < deadline, "no ack"
            await asyncio.sleep(0.005)
        assert self.last_pong is not None
        return self.last_pong[0]

    def event_now(self, scale: float) -> datetime:
        """The server's event time now, extrapolated from the latest pong."""
        assert self.last_pong is not None
        at, received = self.last_pong
        return at + timedelta(seconds=(time.time() - received) * scale)

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            url = self.urls[attempt % len(self.urls)]
            attempt += 1
            try:
                async with connect(url, additional_headers=auth(self.token), open_timeout=5) as ws:
                    await self._serve(ws, url)
            except (OSError, InvalidHandshake, InvalidStatus, TimeoutError):
                pass  # refused or reset while the server restarts
            except ConnectionClosed:
                pass
            finally:
                self._socket = None
            if not self.reconnect:
                return
            await asyncio.sleep(0.05)

    async def _serve(self, ws: ClientConnection, url: str) -> None:
        period = Period(url)
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        self.heartbeat_seconds = float(welcome["heartbeat_seconds"])
        self.frames.append(welcome)
        self.periods.append(period)
        self._socket = ws
        beater = asyncio.create_task(self._heartbeats(ws))
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "pong":
                    at = parse_time(frame["server_time"])
                    self.last_pong = (at, time.time())
                    if self._acks.pop(frame["id"], False):
                        if period.first_ack is None:
                            period.first_ack, period.first_ack_at = at, time.time()
                        period.last_ack, period.last_ack_at = at, time.time()
                    continue
                self.frames.append(frame)
                if frame["type"] == "notice":
                    self.notices.put_nowait(frame)
        finally:
            period.close_code = ws.close_code
            beater.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beater

    async def _heartbeats(self, ws: ClientConnection) -> None:
        while True:
            try:
                await self._beat(ws)
            except ConnectionClosed:
                return
            await asyncio.sleep(self.heartbeat_seconds)

    async def _beat(self, ws: ClientConnection) -> str:
        """A heartbeat and its ack ping; an in-room heartbeat's pong counts as its ack."""
        self._beats += 1
        ident = f"hb-{self._beats}"
        self._acks[ident] = self.in_room
        heartbeat = {"type": "heartbeat", "visible": True, "in_room": self.in_room,
                     "room": self.room}  # fmt: skip
        await ws.send(json.dumps(heartbeat))
        await ws.send(json.dumps({"type": "ping", "id": ident}))
        return ident

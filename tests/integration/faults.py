"""Faults the tests can cause: a private Redis to kill and start again, and a loopback TCP
proxy in front of PostgreSQL to cut and restore.

Nothing here touches the machine's shared services: the Redis is a ``redis-server`` of the
test's own on a free port, and the database outage is the proxy refusing to forward.
"""

import asyncio
import contextlib
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from studymission.config import Settings
from studymission.domain.clock import EventClock
from studymission.services.clock import Clock
from tests.factories import make_spec
from tests.integration.helpers import load_event
from tests.integration.servers import (
    SECRET,
    Period,
    Server,
    free_port,
    fresh_postgres,
    server_env,
)
from tests.integration.test_two_processes import T0, covered, second_range, stored, tokens

#: Real seconds a server process may take to start.
STARTUP_TIMEOUT = 120.0
#: Real seconds a client may take to connect: clients reconnect by themselves (a first
#: handshake can time out on a loaded machine); a socket that dropped later shows as a
#: second period, which the tests rule out.
CONNECT_WITHIN = 60.0


class PrivateRedis:
    """A ``redis-server`` for one test (no persistence), killed and started on one port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start (again) on the same port; returns once it answers PING."""
        assert self.process is None or self.process.poll() is not None, "already running"
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
                   "--save", "", "--appendonly", "no", "--dir", str(self.workdir)]  # fmt: skip
        with (self.workdir / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, "redis-server exited (port taken?)"
            client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
            try:
                if client.ping():
                    return
            except redis.RedisError:
                pass
            finally:
                client.close()
            assert time.monotonic() < deadline, "redis-server did not answer"
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: gone at once, like a crash; every connection is reset."""
        assert self.process is not None and self.process.poll() is None, "not running"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Make sure it is gone; never raises."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(Exception):
                self.process.kill()
                self.process.wait(10)


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target`, until `cut()`: then every connection is closed
    and each new one is closed as soon as it is accepted, until `restore()`.

    It runs an event loop of its own in a thread, so that it serves while the test's
    own loop (or a blocking call of the test) waits.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.cut_now = False
        self.accepted = 0
        self.refused = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> None:
        self._thread.start()
        self._call(self._start()).result(10)

    def cut(self) -> None:
        """Drop every connection and refuse new ones (as if the database went away)."""
        self._call(self._cut()).result(10)

    def restore(self) -> None:
        self.cut_now = False

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._stop()).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> Future[None]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        self.cut_now = True
        for writer in list(self._writers):
            writer.transport.abort()  # a reset, as when the server's process dies
        self._writers.clear()

    async def _stop(self) -> None:
        await self._cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_now:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        self._writers.update((writer, up_writer))
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for end in (writer, up_writer):
                self._writers.discard(end)
                end.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.transport.abort()


@contextlib.contextmanager
def running(*faults: PrivateRedis | TcpProxy) -> Iterator[None]:
    """Each fault's process or thread is stopped when the block exits, however it exits."""
    try:
        yield
    finally:
        for fault in faults:
            fault.stop()


@pytest.fixture
def postgres() -> Iterator[Engine]:
    """A fresh PostgreSQL schema (``STUDYMISSION_TEST_POSTGRES_URL``), reached directly."""
    with fresh_postgres() as engine:
        yield engine


def through(proxy: TcpProxy, database_url: str) -> str:
    """`database_url` with its host and port replaced by the proxy's."""
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


def postgres_address(database_url: str) -> tuple[str, int]:
    url = make_url(database_url)
    return url.host or "127.0.0.1", url.port or 5432


@contextlib.contextmanager
def two_processes(
    engine: Engine,
    workdir: Path,
    prefix: str,
    *,
    database_url: str,
    redis_url: str,
    scale: float,
) -> Iterator[tuple[Server, Server, str, dict[str, str]]]:
    """An event of its own served by two processes (one clock anchor, as in
    test_two_processes) on `database_url` and `redis_url`, with tokens for p001, p002 and
    mod1; yields (A, B, code, tokens). Both are stopped however the block exits; the
    caller checks their logs."""
    code = f"{prefix}-{secrets.token_hex(4)}"
    settings = Settings(secret_key=SECRET, var_dir=workdir / "var")
    load_event(engine, settings, Clock(EventClock(T0, T0, 1.0)), make_spec(code=code))
    token = tokens(engine, code, ["p001", "p002", "mod1"])
    env = server_env(
        database_url,
        workdir,
        time_scale=scale,
        clock_start=T0,
        clock_anchor=datetime.now(UTC),
        redis_url=redis_url,
    )
    a = Server("a", free_port(), env, workdir / "a")
    b = Server("b", free_port(), env, workdir / "b")
    try:
        a.launch()
        b.launch()
        # (Generous: on a loaded two-core machine importing the app alone takes seconds.)
        a.wait_ready(STARTUP_TIMEOUT)
        b.wait_ready(STARTUP_TIMEOUT)
        yield a, b, code, token
    finally:
        a.stop()
        b.stop()


async def wait_log(server: Server, text: str, timeout: float = 20.0) -> None:
    """Until `server`'s log contains `text`."""
    deadline = time.monotonic() + timeout
    while text not in server.log():
        assert time.monotonic() < deadline, f"{server.name} never logged {text!r}:\n{server.log()}"
        await asyncio.sleep(0.1)


async def presence_is_complete(
    engine: Engine, code: str, periods: dict[str, list[Period]], *, across: float
) -> None:
    """Every second between each socket's first and last ack reaches the log, within a few
    minute flushes; and each person's acked time spans more than `across` event seconds
    (the fault happened inside it)."""
    sure: dict[str, set[int]] = {}
    for person, spans in periods.items():
        sure[person] = set()
        for period in spans:
            assert period.first_ack is not None and period.last_ack is not None
            sure[person].update(second_range(period.first_ack, period.last_ack))
    deadline = time.monotonic() + 30.0
    while True:
        missing = {
            person: sorted(seconds - covered(stored(engine, code, person)))
            for person, seconds in sure.items()
        }
        if not any(missing.values()):
            break
        assert time.monotonic() < deadline, {k: v[:10] for k, v in missing.items()}
        await asyncio.sleep(0.2)
    for seconds in sure.values():
        assert max(seconds) - min(seconds) > across

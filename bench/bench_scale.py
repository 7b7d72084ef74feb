"""Two app processes behind nginx, against one: heartbeats held and a breakout round opened.

Run: ``.venv/bin/python bench/bench_scale.py [--participants 3000] [--processes 2,1]
[--direct] [--steady-seconds 45] [--opens 3]`` (``make bench`` runs it with the defaults).
Prints one Markdown table and writes every figure to a JSON file (``--json``; ``--table-of
FILE`` prints the table of a saved run).

For each setup in turn (2 processes behind nginx, 1 process behind nginx, and with
``--direct`` 1 process without nginx) a fresh event of N participants is loaded into
PostgreSQL (the ``public`` schema of ``--pg-url`` is emptied: give it a scratch database),
and the processes are started as `studymission serve` runs (bench/realtime_servers.py
``ours``: the same function, plus a log of every minute flush), all on PostgreSQL and Redis,
at time scale 10 and with one shared clock anchor so that they agree on event time. Then,
from this process (studymission.rehearsal.bots on uvloop, one task per socket):

- N sockets connect through nginx (nginx spreads them; each process's share is counted
  from the kernel's table of established connections) and heartbeat every 15 s of event
  time, 1.5 real s, as the live page does;
- over ``--steady-seconds`` every fifth socket follows each of its heartbeats with a
  ``ping``: the ``pong`` is the heartbeat's ack, its round trip the heartbeat's handling
  (the ping waits behind the heartbeat and everything queued before it);
- ``--opens`` times, a moderator opens a breakout round of N/20 rooms (``POST
  …/sessions/day1/breakouts {"rooms": R}``) on the first process; every socket's wait,
  from the request to the ``state`` frame that puts it in a breakout room, is timed, and
  its room is checked against the round the API answered; the round is then closed and
  every socket must be back in ``main`` before the next opening.

The ratios are 2 processes / 1 process, both behind nginx. nginx runs the site file
deploy/nginx/studymission.conf as tests/integration/nginx_front.py renders it for loopback,
with one worker per core (``worker_processes auto``) and enough ``worker_connections`` for
every socket twice (the client's connection and the upstream one): the defaults of nginx's
own nginx.conf (1,024 per worker) would hold about a thousand sockets on two cores.
"""

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvloop
from bench_realtime import SESSION_START, cpu_seconds, free_port, percentile, spec
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from studymission.db.engine import make_engine
from studymission.db.events import get_event, list_people
from studymission.db.migrate import upgrade
from studymission.rehearsal.bots import Bot, Fleet, Participant, Recorder
from studymission.rehearsal.plan import Plan
from studymission.rehearsal.timeline import sync_timeline
from studymission.services.access import create_api_token
from studymission.services.events import load_spec

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECRET = "bench-scale-secret-key-of-enough-length"
CODE = "BENCH-SCALE"
SESSION = "day1"
SCALE = 10.0
PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench")
#: Bots never end their plan on their own; the bench stops them.
FOREVER = Plan(joins_at=-1e6)
#: One socket in this many follows each heartbeat with a ping (the ack).
ACK_EVERY = 5
#: People per breakout room.
ROOM_SIZE = 20
#: The live page's target: a heartbeat handled within this (p99, ms).
HEARTBEAT_P99_TARGET_MS = 100.0


BEGAN = time.monotonic()


def say(message: str) -> None:
    """Progress on stderr, with the seconds since the bench began."""
    print(f"# {time.monotonic() - BEGAN:6.1f} s  {message}", file=sys.stderr, flush=True)


# -- the clients ----------------------------------------------------------------------------------


@dataclass
class Probe:
    """What the bench's bots saw, beyond what `Recorder` counts."""

    #: monotonic send time of every acked heartbeat's ping
    sent: list[float] = field(default_factory=list)
    #: (send time, round trip s) of every ack received
    acks: list[tuple[float, float]] = field(default_factory=list)


class BenchBot(Bot):
    """A bot that may ack its heartbeats with a ping, and notes when its room changes."""

    __slots__ = ("acks", "breakout", "breakout_frames", "main_at", "probe")

    def __init__(self, fleet: Fleet, participant: Participant, *, acks: bool, probe: Probe) -> None:
        super().__init__(fleet, participant, pinging=False)
        self.acks = acks
        self.probe = probe
        #: (room, monotonic time) of the first state frame in a breakout room since `arm`
        self.breakout: tuple[str, float] | None = None
        self.breakout_frames = 0
        #: when the first state frame back in ``main`` came since `arm`
        self.main_at: float | None = None

    def arm(self) -> None:
        self.breakout, self.breakout_frames, self.main_at = None, 0, None

    def _beat(self) -> None:
        link = self.link
        if not self.acks or link is None:
            super()._beat()
            return
        sent = time.monotonic()
        super()._beat()
        # The send time travels in the id: a late pong is still matched to its heartbeat.
        if link.send(f'{{"type":"ping","id":"hb{sent!r}"}}'):
            self.probe.sent.append(sent)

    def on_text(self, link: Any, data: bytes) -> None:
        if data.startswith(b'{"type":"pong"'):
            at = time.monotonic()
            ident = str(json.loads(data).get("id", ""))
            if ident.startswith("hb"):
                sent = float(ident[2:])
                self.probe.acks.append((sent, at - sent))
                return
        elif data.startswith(b'{"type":"state"'):
            at = time.monotonic()
            room = (json.loads(data).get("room") or {}).get("name")
            if isinstance(room, str) and room.startswith("breakout-"):
                self.breakout_frames += 1
                if self.breakout is None:
                    self.breakout = (room, at)
            elif room == "main" and self.main_at is None:
                self.main_at = at
        super().on_text(link, data)


# -- the servers ----------------------------------------------------------------------------------


@dataclass
class App:
    """One `studymission serve` process (bench/realtime_servers.py ``ours``)."""

    name: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def flush_log(self) -> Path:
        return self.workdir / f"flushes-{self.name}.jsonl"

    def launch(self, env: dict[str, str]) -> None:
        log = (self.workdir / f"{self.name}.log").open("wb")
        command = [sys.executable, str(HERE / "realtime_servers.py"), "ours"]
        command += ["--port", str(self.port)]
        self.process = subprocess.Popen(
            command,
            env={**env, "BENCH_FLUSH_LOG": str(self.flush_log)},
            cwd=self.workdir,  # no .env of the checkout is read
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the bench, which stops it in order
        )
        log.close()

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready in {timeout} s:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown writes the minute in progress), then SIGKILL."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log(self) -> str:
        path = self.workdir / f"{self.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def make_front(workdir: Path, ports: list[int], workers: int, connections: int) -> Any:
    """nginx running deploy/nginx/studymission.conf on loopback (tests/integration/
    nginx_front.py: the site file rendered for loopback ports, in a minimal nginx.conf)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.integration.nginx_front import NginxFront

    return NginxFront(workdir, ports, workers=workers, worker_connections=connections)


def nginx_pids(front: Any) -> list[int]:
    """The master and worker processes of `front`'s nginx."""
    master = front.process.pid
    children = Path(f"/proc/{master}/task/{master}/children")
    kids = [int(p) for p in children.read_text().split()] if children.exists() else []
    return [master, *kids]


def established(port: int) -> int:
    """Established TCP connections whose local end is `port` (on loopback: the server's)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as lines:
            next(lines)
            for line in lines:
                fields = line.split(None, 4)
                if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def total_cpu(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


# -- one setup ------------------------------------------------------------------------------------


@dataclass
class Opening:
    """One breakout round opened and closed."""

    api_ms: float
    p50_ms: float
    p99_ms: float
    last_ms: float
    reached: int
    right_room: int
    duplicate_frames: int
    close_last_ms: float = math.nan
    #: why the API call failed (a timeout, an error status), if it did
    error: str = ""

    @classmethod
    def failed(cls, error: str) -> "Opening":
        return cls(math.nan, math.nan, math.nan, math.nan, 0, 0, 0, error=error)


@dataclass
class Result:
    setup: str
    processes: int
    nginx: bool
    participants: int
    load_at_start: float
    nginx_workers: int = 0
    nginx_worker_connections: int = 0
    nginx_error_count: int = 0
    #: the first 50 of them
    nginx_errors: list[str] = field(default_factory=list)
    seed_seconds: float = math.nan
    connected: int = 0
    connect_seconds: float = math.nan
    spread: list[int] = field(default_factory=list)
    lost: int = 0
    failures: int = 0
    refused: int = 0
    errors: int = 0
    ack_samples: int = 0
    acks_missing: int = 0
    ack_p50_ms: float = math.nan
    ack_p99_ms: float = math.nan
    ack_max_ms: float = math.nan
    steady_seconds: float = math.nan
    app_cpu_percent: float = math.nan
    nginx_cpu_percent: float = math.nan
    client_cpu_percent: float = math.nan
    flushes: list[tuple[str, int, float]] = field(default_factory=list)
    openings: list[Opening] = field(default_factory=list)

    def opening(self, figure: Callable[[Opening], float]) -> float:
        """The median of `figure` over the openings that have it."""
        values = [v for v in map(figure, self.openings) if not math.isnan(v)]
        return statistics.median(values) if values else math.nan


@dataclass(frozen=True)
class Params:
    participants: int
    steady_seconds: float
    opens: int
    pg_url: str
    redis_url: str
    nginx_workers: int
    nginx_connections: int


@dataclass
class Seeded:
    tokens: list[str]
    keys: list[str]
    moderator: str
    secretariat: str


def seed(url: str, participants: int) -> Seeded:
    """A fresh schema with the bench's event of `participants` and a token for each."""
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public"))
    upgrade(engine)
    with Session(engine, expire_on_commit=False) as db:
        load_spec(
            db, spec(CODE, participants, 1, 8), secret=SECRET, now=SESSION_START, actor="bench"
        )
        event = get_event(db, CODE)
        assert event is not None
        people = {p.key: p for p in list_people(db, event)}
        keys = [f"x{i:05d}" for i in range(participants)]
        tokens = [create_api_token(db, people[k], now=SESSION_START) for k in keys]
        moderator = create_api_token(db, people["mod1"], now=SESSION_START)
        secretariat = create_api_token(db, people["sec1"], now=SESSION_START)
        db.commit()
    engine.dispose()
    return Seeded(tokens, keys, moderator, secretariat)


def app_env(params: Params, workdir: Path, anchor: datetime) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDYMISSION_")}
    env.update(
        PYTHONUNBUFFERED="1",
        STUDYMISSION_DATABASE_URL=params.pg_url,
        STUDYMISSION_REDIS_URL=params.redis_url,
        STUDYMISSION_SECRET_KEY=SECRET,
        STUDYMISSION_BASE_URL="http://127.0.0.1",
        STUDYMISSION_TIME_SCALE=repr(SCALE),
        # Every process counts event time from the session's start at the same instant.
        STUDYMISSION_CLOCK_START=SESSION_START.isoformat(),
        STUDYMISSION_CLOCK_ANCHOR=anchor.isoformat(),
        STUDYMISSION_VAR_DIR=str(workdir / "var"),
        STUDYMISSION_MEDIA_DIR=str(workdir / "media"),
    )
    return env


@contextlib.contextmanager
def servers(
    params: Params, workdir: Path, processes: int, nginx: bool
) -> Iterator[tuple[list[App], Any]]:
    """The app processes (and nginx in front), stopped however the block exits."""
    apps = [App(chr(ord("a") + i), free_port(), workdir) for i in range(processes)]
    front = None
    if nginx:
        front = make_front(
            workdir / "nginx",
            [a.port for a in apps],
            params.nginx_workers,
            params.nginx_connections,
        )
    try:
        env = app_env(params, workdir, datetime.now(UTC))
        if front is not None:  # what a browser's Origin would be
            env["STUDYMISSION_BASE_URL"] = front.url
        for app in apps:
            app.launch(env)
        for app in apps:
            app.wait_ready()
        if front is not None:
            front.start()
        say(f"{processes} app process(es) ready")
        yield apps, front
    finally:
        say("stopping the servers")
        if front is not None:
            front.stop()
        for app in apps:
            app.stop()


def run_setup(params: Params, workdir: Path, processes: int, nginx: bool) -> Result:
    setup = f"{processes} process{'es' if processes > 1 else ''}, {'nginx' if nginx else 'direct'}"
    workdir.mkdir(parents=True)
    started = time.monotonic()
    seeded = seed(params.pg_url, params.participants)
    seed_seconds = time.monotonic() - started
    with servers(params, workdir, processes, nginx) as (apps, front):
        result = Result(setup, processes, nginx, params.participants, os.getloadavg()[0])
        result.seed_seconds = seed_seconds
        if front is not None:
            result.nginx_workers = params.nginx_workers
            result.nginx_worker_connections = params.nginx_connections
        say(f"{setup}: load {result.load_at_start:.2f}, seeded in {seed_seconds:.1f} s")
        if front is not None:
            ws_url = front.ws_url(CODE)
        else:
            ws_url = f"ws://127.0.0.1:{apps[0].port}/ws/{CODE}"
        app_pids = [a.process.pid for a in apps if a.process is not None]
        # Read when the steady phase begins: nginx's workers are up by then.
        front_pids = (lambda: nginx_pids(front)) if front is not None else list

        def measured() -> None:
            """nginx's errors and alerts while the bench measured (not when the clients go)."""
            if front is not None:
                lines = front.log().splitlines()
                errors = [line for line in lines if "[error]" in line or "[alert]" in line]
                result.nginx_error_count, result.nginx_errors = len(errors), errors[:50]

        window = uvloop.run(
            drive(params, seeded, apps, ws_url, app_pids, front_pids, result, measured)
        )
    for app in apps:
        if app.flush_log.exists():
            for line in app.flush_log.read_text().splitlines():
                flush = json.loads(line)
                if window[0] <= flush["at"] <= window[1]:
                    result.flushes.append((app.name, flush["rows"], flush["ms"]))
    return result


async def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


async def connected_all(recorder: Recorder, n: int, stall: float = 60.0) -> None:
    """Until `n` sockets are open (or refused), or none has opened for `stall` seconds (nginx
    out of connections, a server that no longer answers): the bench then goes on with the
    sockets it has, and says so."""
    last, progressed = -1, time.monotonic()
    while recorder.connected + recorder.refused < n:
        if recorder.connected != last:
            last, progressed = recorder.connected, time.monotonic()
        elif time.monotonic() - progressed > stall:
            say(f"only {recorder.connected} of {n} connected; {recorder.failures} attempts failed")
            return
        await asyncio.sleep(0.05)


async def drive(
    params: Params,
    seeded: Seeded,
    apps: list[App],
    ws_url: str,
    app_pids: list[int],
    front_pids: Callable[[], list[int]],
    result: Result,
    measured: Callable[[], None],
) -> tuple[float, float]:
    """Connect, hold with heartbeats, open breakouts; returns the steady phase (monotonic).
    `measured` is called once the measures are taken, before the clients go."""
    n = params.participants
    timeline = await sync_timeline(ws_url, {"Authorization": f"Bearer {seeded.secretariat}"})
    participants = [
        Participant(k, t, FOREVER) for k, t in zip(seeded.keys, seeded.tokens, strict=True)
    ]
    recorder, probe = Recorder(), Probe()
    fleet = Fleet(
        ws_url,
        participants,
        timeline=timeline,
        session_start=SESSION_START,
        until=1e6,
        recorder=recorder,
        connect_limit=200,
        open_timeout=120,
    )
    bots = [
        BenchBot(fleet, p, acks=i % ACK_EVERY == 0, probe=probe) for i, p in enumerate(participants)
    ]
    fleet.bots = bots  # type: ignore[assignment]
    began = time.monotonic()
    fleet.start()
    try:
        await connected_all(recorder, n)
        result.connect_seconds = time.monotonic() - began
        result.connected = recorder.connected
        result.spread = [established(a.port) for a in apps]
        say(f"{result.connected} connected in {result.connect_seconds:.1f} s: {result.spread}")
        # The client's own collector would stall it (and every round trip) at this size.
        gc.collect()
        gc.freeze()
        await asyncio.sleep(3.0)

        # Steady heartbeats, every fifth acked.
        probe.sent.clear()
        probe.acks.clear()
        nginx = front_pids()
        app_cpu, front_cpu = total_cpu(app_pids), total_cpu(nginx)
        client_cpu, steady_began = time.process_time(), time.monotonic()
        await asyncio.sleep(params.steady_seconds)
        steady_ended = time.monotonic()
        elapsed = steady_ended - steady_began
        result.steady_seconds = elapsed
        result.app_cpu_percent = 100 * (total_cpu(app_pids) - app_cpu) / elapsed
        if nginx:
            result.nginx_cpu_percent = 100 * (total_cpu(nginx) - front_cpu) / elapsed
        result.client_cpu_percent = 100 * (time.process_time() - client_cpu) / elapsed
        await asyncio.sleep(3.0)  # the last acks of the window
        # Heartbeats sent in the window; an ack of one sent before it may arrive in it.
        rtts = [rtt for sent, rtt in probe.acks if steady_began <= sent <= steady_ended]
        sent = sum(1 for at in probe.sent if steady_began <= at <= steady_ended)
        result.ack_samples = len(rtts)
        result.acks_missing = sent - len(rtts)
        result.ack_p50_ms = 1000 * percentile(rtts, 0.5)
        result.ack_p99_ms = 1000 * percentile(rtts, 0.99)
        result.ack_max_ms = 1000 * max(rtts, default=math.nan)

        say(f"steady phase done: ack p99 {result.ack_p99_ms:.1f} ms")
        # Breakout rounds opened through the first process, closed again.
        rooms = max(2, n // ROOM_SIZE)
        path = f"/api/events/{CODE}/sessions/{SESSION}/breakouts"
        headers = {"Authorization": f"Bearer {seeded.moderator}"}
        async with httpx.AsyncClient(base_url=apps[0].url, headers=headers, timeout=120) as http:
            for _ in range(params.opens):
                opening = await open_round(http, path, rooms, bots, recorder)
                result.openings.append(opening)
                if opening.error:
                    say(f"a breakout call failed, no more openings: {opening.error}")
                    break
                await asyncio.sleep(2.0)
    finally:
        measured()
        say("stopping the clients")
        await fleet.stop()
        gc.unfreeze()
    result.lost, result.failures = recorder.lost, recorder.failures
    result.refused, result.errors = recorder.refused, recorder.errors
    return steady_began, steady_ended


async def open_round(
    http: httpx.AsyncClient, path: str, rooms: int, bots: list[BenchBot], recorder: Recorder
) -> Opening:
    """Open a round through the API, time it to every socket, close it again. A call that
    fails or takes over `http`'s timeout is noted in the result (the setup stops opening)."""
    for bot in bots:
        bot.arm()
    connected = recorder.connected
    sent = time.monotonic()
    try:
        response = await http.post(path, json={"rooms": rooms, "minutes": 30})
    except httpx.HTTPError as error:
        return Opening.failed(
            f"opening: {type(error).__name__} after {time.monotonic() - sent:.0f} s"
        )
    api_ms = 1000 * (time.monotonic() - sent)
    if response.status_code != 200:
        return Opening.failed(f"opening: {response.status_code} {response.text[:200]}")
    assigned = {key: room["name"] for room in response.json()["rooms"] for key in room["members"]}
    await wait_until(lambda: sum(b.breakout is not None for b in bots) >= connected, 60)
    waits = [1000 * (b.breakout[1] - sent) for b in bots if b.breakout is not None]
    right = sum(
        1
        for b in bots
        if b.breakout is not None and assigned.get(b.participant.key) == b.breakout[0]
    )
    opening = Opening(
        api_ms=api_ms,
        p50_ms=percentile(waits, 0.5),
        p99_ms=percentile(waits, 0.99),
        last_ms=max(waits, default=math.nan),
        reached=len(waits),
        right_room=right,
        duplicate_frames=sum(max(0, b.breakout_frames - 1) for b in bots),
    )
    for bot in bots:
        bot.main_at = None
    closing = time.monotonic()
    try:
        response = await http.post(f"{path}/close", json={})
    except httpx.HTTPError as error:
        opening.error = f"closing: {type(error).__name__} after {time.monotonic() - closing:.0f} s"
        return opening
    if response.status_code != 200:
        opening.error = f"closing: {response.status_code} {response.text[:200]}"
        return opening
    await wait_until(lambda: sum(b.main_at is not None for b in bots) >= connected, 60)
    back = [b.main_at - closing for b in bots if b.main_at is not None]
    if len(back) >= connected:
        opening.close_last_ms = 1000 * max(back, default=math.nan)
    return opening


# -- the table ------------------------------------------------------------------------------------


def fmt(value: float, digits: int = 0) -> str:
    return "–" if math.isnan(value) else f"{value:,.{digits}f}"


def ratio(two: Result | None, one: Result | None, figure: Callable[[Result], float]) -> str:
    if two is None or one is None:
        return "–"
    a, b = figure(two), figure(one)
    return "–" if math.isnan(a) or math.isnan(b) or b == 0 else f"{a / b:.2f}"


def table(results: list[Result]) -> str:
    two = next((r for r in results if r.processes == 2 and r.nginx), None)
    one = next((r for r in results if r.processes == 1 and r.nginx), None)
    head = " | ".join(r.setup for r in results)
    rows = [
        f"| measure | {head} | ratio 2 / 1 (nginx) | target |",
        "| --- |" + " ---: |" * len(results) + " ---: | --- |",
    ]

    def add(name: str, figure: Callable[[Result], float], digits: int, target: str = "") -> None:
        cells = " | ".join(fmt(figure(r), digits) for r in results)
        rows.append(f"| {name} | {cells} | {ratio(two, one, figure)} | {target} |")

    def text_row(name: str, figure: Callable[[Result], str]) -> None:
        cells = " | ".join(figure(r) for r in results)
        rows.append(f"| {name} | {cells} | – | |")

    text_row("load average at the start (1 min)", lambda r: f"{r.load_at_start:.1f}")
    text_row(
        "sockets held (per process)",
        lambda r: f"{r.connected:,}"
        + (f" of {r.participants:,}" if r.connected < r.participants else "")
        + (f" ({' / '.join(f'{s:,}' for s in r.spread)})"
                                         if r.processes > 1 else ""),
    )  # fmt: skip
    add("time to connect them all (s)", lambda r: r.connect_seconds, 1)
    add("heartbeat → ack p50 (ms)", lambda r: r.ack_p50_ms, 1)
    add(
        "heartbeat → ack p99 (ms)",
        lambda r: r.ack_p99_ms,
        1,
        f"< {HEARTBEAT_P99_TARGET_MS:.0f} ms",
    )
    add("heartbeat → ack max (ms)", lambda r: r.ack_max_ms, 1)
    text_row("acks timed (missing)", lambda r: f"{r.ack_samples:,} ({r.acks_missing})")
    add("app CPU, all processes, steady (% of a core)", lambda r: r.app_cpu_percent, 0)
    add("nginx CPU, steady (% of a core)", lambda r: r.nginx_cpu_percent, 0)
    text_row(
        "nginx errors and alerts while measuring",
        lambda r: f"{r.nginx_error_count:,}" if r.nginx else "–",
    )
    text_row("minute flushes in the steady phase, median / max (ms)", flushes)
    add("breakout open: the API's answer (ms)", lambda r: r.opening(lambda o: o.api_ms), 0)
    add("breakout open: p50 to a client (ms)", lambda r: r.opening(lambda o: o.p50_ms), 0)
    add("breakout open: p99 to a client (ms)", lambda r: r.opening(lambda o: o.p99_ms), 0)
    add("breakout open: the last client (ms)", lambda r: r.opening(lambda o: o.last_ms), 0)
    add("breakout close: the last client back in main (ms)",
        lambda r: r.opening(lambda o: o.close_last_ms), 0)  # fmt: skip
    text_row(
        "clients told their own room, every opening",
        lambda r: (
            " ".join(
                f"{o.right_room:,}/{r.connected:,}" if not o.error else f"failed ({o.error})"
                for o in r.openings
            )
            or "–"
        ),
    )
    return "\n".join(rows)


def flushes(result: Result) -> str:
    """The minute flushes of every process in the steady phase: median / max ms (rows)."""
    if not result.flushes:
        return "–"
    times = [ms for _app, _rows, ms in result.flushes]
    rows = statistics.median(rows for _app, rows, _ms in result.flushes)
    return f"{statistics.median(times):.0f} / {max(times):.0f} ({rows:,.0f} rows each)"


def details(result: Result) -> str:
    openings = "; ".join(
        f"api {o.api_ms:.0f} p50 {o.p50_ms:.0f} p99 {o.p99_ms:.0f} last {o.last_ms:.0f} "
        f"close {o.close_last_ms:.0f} ms, {o.right_room}/{o.reached} right, "
        f"{o.duplicate_frames} repeated frames{' ' + o.error if o.error else ''}"
        for o in result.openings
    )
    return (
        f"{result.setup}: {result.connected} connected in {result.connect_seconds:.1f} s, "
        f"spread {result.spread}; acks p50/p99/max {result.ack_p50_ms:.1f}/"
        f"{result.ack_p99_ms:.1f}/{result.ack_max_ms:.1f} ms ({result.ack_samples} timed, "
        f"{result.acks_missing} missing); CPU app {result.app_cpu_percent:.0f} % nginx "
        f"{result.nginx_cpu_percent:.0f} % client {result.client_cpu_percent:.0f} %; lost "
        f"{result.lost} failed {result.failures} refused {result.refused} errors "
        f"{result.errors}; seeded in {result.seed_seconds:.1f} s; nginx "
        f"{result.nginx_workers} × {result.nginx_worker_connections} connections, "
        f"{result.nginx_error_count} errors {result.nginx_errors[:2]}; "
        f"flushes {[(a, n, round(ms)) for a, n, ms in result.flushes]}; "
        f"openings: {openings}"
    )


# -- the command ----------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database of `url` if it does not exist."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        found = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
        ).first()
        if found is None:
            connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


@contextlib.contextmanager
def redis_server(url: str | None, workdir: Path) -> Iterator[str]:
    """`url`, or a Redis of the bench's own on a free port (stopped at the end)."""
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is missing: apt-get install -y redis-server, or give --redis-url")
    port = free_port()
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly"]
    command += ["no", "--dir", str(workdir)]
    log = (workdir / "redis.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)  # fmt: skip
    log.close()
    try:
        deadline = time.monotonic() + 10
        while not listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server did not start: {(workdir / 'redis.log').read_text()}"
                )
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def load_results(path: Path) -> list[Result]:
    """The results of a run as `main` wrote them."""
    results = []
    for saved in json.loads(path.read_text())["results"]:
        result = Result(**saved)
        result.openings = [Opening(**o) for o in saved["openings"]]
        result.flushes = [(app, rows, ms) for app, rows, ms in saved["flushes"]]
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=3000, help="sockets (default 3,000)")
    parser.add_argument(
        "--processes", default="2,1", help="setups behind nginx, in order (default 2,1)"
    )
    parser.add_argument("--direct", action="store_true", help="also 1 process without nginx")
    parser.add_argument("--steady-seconds", type=float, default=45.0)
    parser.add_argument("--opens", type=int, default=3, help="breakout rounds per setup")
    parser.add_argument("--pg-url", default=PG_URL, help="a scratch database (BENCH_POSTGRES_URL)")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL"),
        help="default: a redis-server of the bench's own (BENCH_REDIS_URL)",
    )
    parser.add_argument(
        "--nginx-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker_processes (default: one per core, as `auto`)",
    )
    parser.add_argument(
        "--nginx-worker-connections",
        type=int,
        default=0,
        help="worker_connections (default: 2 × participants + 1,024)",
    )
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--table-of", type=Path, help="print the table of a saved run, no more")
    args = parser.parse_args()
    if args.table_of:
        print(table(load_results(args.table_of)))
        return
    setups = [(int(p), True) for p in args.processes.split(",")]
    if args.direct:
        setups.append((1, False))
    if any(p not in (1, 2) for p, _nginx in setups):
        sys.exit("--processes takes 1 and/or 2")
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it
    if hard < 2 * args.participants + 1000:
        sys.exit(f"the open-file limit is {hard}: too low for {args.participants} sockets")
    # A Ctrl-C or a kill stops every process of the bench on the way out (SIGINT too when
    # a shell started the bench in the background, which ignores it by default).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ensure_database(args.pg_url)
    except SQLAlchemyError as error:
        sys.exit(f"PostgreSQL at {args.pg_url} is unreachable (--pg-url): {error}")
    workdir = Path(tempfile.mkdtemp(prefix="sm-bench-scale-"))
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}; work in {workdir}", file=sys.stderr)  # fmt: skip
    results: list[Result] = []
    with redis_server(args.redis_url, workdir) as redis_url:
        # Each socket is two connections in nginx (the client's and the upstream one), and
        # nothing makes the workers share them evenly: one worker may have to hold all.
        connections = args.nginx_worker_connections or 2 * args.participants + 1024
        params = Params(
            args.participants,
            args.steady_seconds,
            args.opens,
            args.pg_url,
            redis_url,
            args.nginx_workers,
            connections,
        )
        out = args.json or workdir / "bench_scale.json"
        for number, (processes, nginx) in enumerate(setups):
            result = run_setup(params, workdir / f"setup-{number}", processes, nginx)
            results.append(result)
            print(details(result), file=sys.stderr, flush=True)
            save(out, results)  # after each setup: a long run interrupted keeps what it has
    say(f"figures in {out}")
    print(table(results))


def save(path: Path, results: list[Result]) -> None:
    path.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "cores": os.cpu_count(),
                "load_at_end": os.getloadavg()[0],
                "time_scale": SCALE,
                "heartbeat_seconds": 15 / SCALE,
                "results": [asdict(r) for r in results],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: every process the bench started is stopped")

"""Speed of the realtime layer, beside bare servers measured in the same run.

Run: ``.venv/bin/python bench/bench_realtime.py [--quick]`` (``make bench`` runs it too).
Prints a Markdown table for bench/README.md.

Sockets: each server runs alone in its own process (realtime_servers.py) while this
process holds every client: the simulated participants of studymission.rehearsal.bots,
one asyncio task each, on uvloop. A run connects the bots, lets them heartbeat every
15 s of event time at time scale 10 while a tenth of them ping once a real second
(round trips measure heartbeat handling under that load), sends notices to all, then
floods heartbeats to find the peak ingest. Each server is run `--repeats` times (3)
and every figure is the median of the runs. For studymission the presence log is read
afterwards: every bot must have every minute of the steady phase, all 60 seconds.

Database: the minute flush (`db.presence.upsert_minutes` with 10,000 cells) and the
attendance report (1,000 people × 2 sessions × 180 minutes) are timed directly, on
SQLite and on PostgreSQL (a database of its own, `bench`, created if absent: the
`public` schema of the database given is emptied).
"""

import argparse
import asyncio
import gc
import json
import math
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvloop
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session
from websockets.asyncio.client import connect

from studymission.db.engine import make_engine
from studymission.db.events import get_event, list_people, read_programme
from studymission.db.migrate import upgrade
from studymission.db.presence import MINUTES, MinuteCell, upsert_minutes
from studymission.domain.presence import FULL_MINUTE
from studymission.rehearsal.bots import Fleet, Participant, Recorder, client_frames, heartbeat_text
from studymission.rehearsal.plan import Plan
from studymission.rehearsal.timeline import EventTimeline, sync_timeline
from studymission.services.access import create_api_token
from studymission.services.attendance import attendance_report
from studymission.services.events import load_spec

HERE = Path(__file__).resolve().parent
SECRET = "bench-secret-key-of-enough-length"
CODE = "BENCH-REALTIME"
SCALE = 10.0
#: 13:00 in Seoul; the bench's session lasts 8 hours (48 real minutes at scale 10).
SESSION_START = datetime(2021, 11, 24, 4, 0, tzinfo=UTC)
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench"
#: Bots never end their plan on their own; the bench stops them.
FOREVER = Plan(joins_at=-1e6)
KINDS = ("websockets", "fastapi", "ours")


@dataclass(frozen=True)
class Params:
    bots: int
    repeats: int
    steady_seconds: float
    notices: int
    rounds: int
    flood_frames: int
    flush_rows: int
    report_people: int


FULL = Params(10_000, 3, 30.0, 20, 3, 8, 10_000, 1_000)
QUICK = Params(2_000, 1, 15.0, 5, 2, 8, 10_000, 1_000)


# -- helpers --------------------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """The `q` quantile (0-1) of `samples`, nearest rank; NaN when there are none."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def median(values: Sequence[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else math.nan


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def raise_file_limit() -> int:
    """Sockets are files: lift the soft limit to the hard one (children inherit it)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def person(key: str, role: str = "participant") -> dict[str, str]:
    return {
        "key": key,
        "name": f"Delegate {key}",
        "email": f"{key}@example.org",
        "country": "IN",
        "organization": "NPC",
        "role": role,
        "origin": "overseas",
    }


def spec(code: str, participants: int, days: int, hours: int) -> dict[str, Any]:
    """An event of `participants` (keys x00000…), a moderator and a secretariat person,
    `days` sessions of `hours` hours from 13:00 Seoul, each with a 15-minute break."""
    sessions = []
    for day in range(days):
        date = (SESSION_START + timedelta(days=day)).date().isoformat()
        half = 13 + hours // 2
        sessions.append(
            {
                "key": f"day{day + 1}",
                "title": f"Day {day + 1}",
                "start": f"{date}T13:00",
                "end": f"{date}T{13 + hours}:00",
                "agenda": [
                    {"key": f"d{day}-a", "kind": "presentation", "title": "Talk",
                     "start": "13:00", "end": f"{half}:00"},
                    {"key": f"d{day}-b", "kind": "break", "title": "Break",
                     "start": f"{half}:00", "end": f"{half}:15"},
                    {"key": f"d{day}-c", "kind": "discussion", "title": "Discussion",
                     "start": f"{half}:15", "end": f"{13 + hours}:00"},
                ],
            }
        )  # fmt: skip
    people = [person(f"x{i:05d}") for i in range(participants)]
    people += [person("mod1", "moderator"), person("sec1", "secretariat")]
    return {
        "code": code,
        "title": "Realtime benchmark",
        "timezone": "Asia/Seoul",
        "sessions": sessions,
        "people": people,
    }


# -- one server, its sockets ----------------------------------------------------------------------


@dataclass
class SocketRun:
    """The figures of one run of one server."""

    kind: str
    connected: int = 0
    connect_seconds: float = math.nan
    rss_per_connection_kib: float = math.nan
    rtt_p50_ms: float = math.nan
    rtt_p99_ms: float = math.nan
    rtt_samples: int = 0
    frames_per_second_steady: float = math.nan
    server_cpu_percent: float = math.nan
    client_cpu_percent: float = math.nan
    notice_ms: list[float] = field(default_factory=list)
    notices_incomplete: int = 0
    ingest_per_round: list[float] = field(default_factory=list)
    lost: int = 0
    lost_minutes: int = -1
    checked_minutes: int = 0
    #: (rows, ms) of every minute flush of the server, and of those in the steady phase
    flushes: list[tuple[int, float]] = field(default_factory=list)
    steady_flushes: list[tuple[int, float]] = field(default_factory=list)
    steady_window: tuple[float, float] = (0.0, 0.0)
    refused: int = 0
    failures: int = 0
    errors: int = 0

    @property
    def ingest(self) -> float:
        return median(self.ingest_per_round)


@dataclass
class Prepared:
    """What a studymission run needs: its database, tokens and environment."""

    database_url: str
    tokens: list[str]
    moderator: str
    secretariat: str
    session_id: int
    person_ids: list[int]


def prepare_ours(workdir: Path, bots: int) -> Prepared:
    database_url = f"sqlite:///{workdir / 'realtime.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    now = SESSION_START
    with Session(engine, expire_on_commit=False) as db:
        load_spec(db, spec(CODE, bots, 1, 8), secret=SECRET, now=now, actor="bench")
        event = get_event(db, CODE)
        assert event is not None
        people = {p.key: p for p in list_people(db, event)}
        crowd = [people[f"x{i:05d}"] for i in range(bots)]
        tokens = [create_api_token(db, p, now=now) for p in crowd]
        moderator = create_api_token(db, people["mod1"], now=now)
        secretariat = create_api_token(db, people["sec1"], now=now)
        ((session_id, _session),) = read_programme(db, event)
        db.commit()
    engine.dispose()
    return Prepared(
        database_url,
        tokens,
        moderator,
        secretariat,
        session_id,
        [p.id or 0 for p in crowd],
    )


def start_server(
    kind: str, port: int, workdir: Path, prepared: Prepared | None
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if prepared is not None:
        env.update(
            STUDYMISSION_DATABASE_URL=prepared.database_url,
            STUDYMISSION_SECRET_KEY=SECRET,
            STUDYMISSION_TIME_SCALE=str(SCALE),
            # The clock starts with the session, so every heartbeat counts.
            STUDYMISSION_CLOCK_START=SESSION_START.isoformat(),
            STUDYMISSION_BASE_URL=f"http://127.0.0.1:{port}",
            STUDYMISSION_VAR_DIR=str(workdir / "var"),
            BENCH_FLUSH_LOG=str(workdir / "flushes.jsonl"),
        )
    log = (workdir / f"{kind}.log").open("wb")
    command = [sys.executable, str(HERE / "realtime_servers.py"), kind, "--port", str(port)]
    command += ["--heartbeat-seconds", str(15 / SCALE)]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{kind} server exited: {(workdir / f'{kind}.log').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{kind} server did not listen on {port} within 60 s")


def stop_server(process: subprocess.Popen[bytes], kind: str) -> None:
    """A graceful stop (uvicorn writes the minute in progress on SIGINT)."""
    process.send_signal(signal.SIGINT if kind != "websockets" else signal.SIGTERM)
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


async def drive(
    kind: str, port: int, pid: int, params: Params, prepared: Prepared | None, result: SocketRun
) -> tuple[datetime, datetime] | None:
    """Every client-side phase of one run; returns the steady phase's event-time window."""
    loop = asyncio.get_running_loop()
    url = f"ws://127.0.0.1:{port}/ws/{CODE}"
    tokens = prepared.tokens if prepared else ["-"] * params.bots
    if prepared is not None:
        bearer = {"Authorization": f"Bearer {prepared.secretariat}"}
        timeline = await sync_timeline(url, bearer)
    else:
        timeline = EventTimeline(SESSION_START, loop.time(), SCALE)
    participants = [Participant(f"x{i:05d}", t, FOREVER) for i, t in enumerate(tokens)]
    recorder = Recorder()
    warm = min(100, params.bots // 10)

    def fleet(part: Sequence[Participant], pingers: int) -> Fleet:
        return Fleet(
            url,
            part,
            timeline=timeline,
            session_start=SESSION_START,
            until=1e6,
            recorder=recorder,
            ping_every=1.0,
            pingers=pingers,
            connect_limit=200,
            open_timeout=120,
        )

    fleets = [fleet(participants[:warm], 0), fleet(participants[warm:], params.bots // 10)]
    fleets[0].start()
    await wait_until(lambda: recorder.connected >= warm, 60)
    await asyncio.sleep(1.0)
    rss_before = rss_kib(pid)
    started = time.monotonic()
    fleets[1].start()
    await wait_until(lambda: recorder.connected + recorder.refused >= params.bots, 600)
    result.connect_seconds = time.monotonic() - started
    result.connected = recorder.connected
    all_connected = timeline.event_at(loop.time())
    # The client's own collector would stall it (and every round trip) at this size.
    gc.collect()
    gc.freeze()
    await asyncio.sleep(3.0)

    # Steady heartbeats, with round trips.
    recorder.rtts.clear()
    beats, pings = recorder.beats, recorder.pings
    server_cpu, client_cpu, began = cpu_seconds(pid), time.process_time(), time.monotonic()
    await asyncio.sleep(params.steady_seconds)
    elapsed = time.monotonic() - began
    result.steady_window = (began, began + elapsed)
    steady_end = timeline.event_at(loop.time())
    result.server_cpu_percent = 100 * (cpu_seconds(pid) - server_cpu) / elapsed
    result.client_cpu_percent = 100 * (time.process_time() - client_cpu) / elapsed
    result.frames_per_second_steady = (recorder.beats - beats + recorder.pings - pings) / elapsed
    rtts = list(recorder.rtts)
    result.rtt_samples = len(rtts)
    result.rtt_p50_ms = 1000 * percentile(rtts, 0.5)
    result.rtt_p99_ms = 1000 * percentile(rtts, 0.99)
    result.rss_per_connection_kib = (rss_kib(pid) - rss_before) / max(1, recorder.connected - warm)

    # Notices to everyone.
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        control = None
        if prepared is None:
            control = await connect(url, compression=None, proxy=None, max_queue=None)
            await control.recv()  # welcome
        for number in range(params.notices):
            await asyncio.sleep(0.5)
            notice = f"bench notice {number}: the next session starts at 13:00 sharp, please."
            expected = recorder.connected
            sent = time.monotonic()
            if control is not None:
                await control.send(json.dumps({"type": "broadcast", "text": notice}))
            else:
                assert prepared is not None
                response = await http.post(
                    f"/api/events/{CODE}/notices",
                    json={"text": notice},
                    headers={"Authorization": f"Bearer {prepared.moderator}"},
                )
                assert response.status_code == 202, response.text
            tally = await recorder.wait_for(recorder.notices, notice, expected, 30)
            if tally is None:
                result.notices_incomplete += 1
                tally = recorder.notices.get(notice)
            if tally is not None:
                result.notice_ms.append(1000 * (tally.last - sent))
        if control is not None:
            await control.close()

    # Peak ingest: every socket sends `flood_frames` heartbeats and a ping at once; the
    # server has read them all when the last pong is back.
    beat = client_frames([heartbeat_text(True, True, "main")])
    for number in range(params.rounds):
        await asyncio.sleep(1.5)  # a fresh rate-limit window for every socket
        ping_id = f"flood-{number}"
        ping = client_frames([json.dumps({"type": "ping", "id": ping_id})])
        beats, pings = recorder.beats, recorder.pings
        sent = time.monotonic()
        writers = 0
        for _ in range(params.flood_frames):
            writers = sum(f.write_raw(beat) for f in fleets)
            await asyncio.sleep(0)
        sum(f.write_raw(ping) for f in fleets)
        tally = await recorder.wait_for(recorder.pongs, ping_id, writers, 120)
        if tally is None:
            continue
        frames = writers * (params.flood_frames + 1)
        frames += recorder.beats - beats + recorder.pings - pings
        result.ingest_per_round.append(frames / (tally.last - sent))

    for one in fleets:
        await one.stop()
    gc.unfreeze()
    result.lost, result.refused, result.failures = (
        recorder.lost,
        recorder.refused,
        recorder.failures,
    )
    result.errors = recorder.errors
    return all_connected, steady_end


def check_minutes(prepared: Prepared, window: tuple[datetime, datetime]) -> tuple[int, int]:
    """(minutes not fully covered, minutes checked) of every bot over the steady window."""
    first = math.ceil((window[0] - SESSION_START).total_seconds() / 60)
    last = math.floor((window[1] - SESSION_START).total_seconds() / 60)  # exclusive
    minutes = range(first, last)
    engine = make_engine(prepared.database_url)
    covered: dict[tuple[int, int], int] = {}
    with engine.connect() as connection:
        query = select(MINUTES.c.person_id, MINUTES.c.minute, MINUTES.c.covered).where(
            MINUTES.c.session_id == prepared.session_id,
            MINUTES.c.minute >= first,
            MINUTES.c.minute < last,
        )
        for person_id, minute, bits in connection.execute(query):
            covered[person_id, minute] = covered.get((person_id, minute), 0) | bits
    engine.dispose()
    lost = sum(
        1
        for pid in prepared.person_ids
        for minute in minutes
        if covered.get((pid, minute), 0) != FULL_MINUTE
    )
    return lost, len(prepared.person_ids) * len(minutes)


def socket_run(kind: str, params: Params, workdir: Path) -> SocketRun:
    result = SocketRun(kind)
    prepared = prepare_ours(workdir, params.bots) if kind == "ours" else None
    port = free_port()
    process = start_server(kind, port, workdir, prepared)
    try:
        window = uvloop.run(drive(kind, port, process.pid, params, prepared, result))
    finally:
        stop_server(process, kind)
    flush_log = workdir / "flushes.jsonl"
    if flush_log.exists():
        began, ended = result.steady_window
        for line in flush_log.read_text().splitlines():
            flush = json.loads(line)
            result.flushes.append((flush["rows"], flush["ms"]))
            if began <= flush["at"] <= ended:
                result.steady_flushes.append((flush["rows"], flush["ms"]))
    if prepared is not None and window is not None:
        result.lost_minutes, result.checked_minutes = check_minutes(prepared, window)
    return result


# -- the database -------------------------------------------------------------------------------


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


def fresh_engine(url: str) -> Engine:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public"))
    upgrade(engine)
    return engine


def timed_ms(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


@dataclass
class DatabaseRun:
    backend: str
    flush_new_ms: list[float] = field(default_factory=list)
    flush_merge_ms: list[float] = field(default_factory=list)
    report_ms: list[float] = field(default_factory=list)
    report_rows: int = 0


def database_run(url: str, params: Params) -> DatabaseRun:
    engine = fresh_engine(url)
    result = DatabaseRun(engine.dialect.name)
    now = SESSION_START
    with Session(engine, expire_on_commit=False) as db:
        load_spec(
            db, spec("BENCH-FLUSH", params.flush_rows, 1, 3), secret=SECRET, now=now, actor="b"
        )
        load_spec(
            db, spec("BENCH-REPORT", params.report_people, 2, 3), secret=SECRET, now=now, actor="b"
        )
        flush_event = get_event(db, "BENCH-FLUSH")
        report_event = get_event(db, "BENCH-REPORT")
        assert flush_event is not None and report_event is not None
        flush_people = [p.id or 0 for p in list_people(db, flush_event) if p.role == "participant"]
        ((flush_session, _s),) = read_programme(db, flush_event)
        report_sessions = [sid for sid, _s in read_programme(db, report_event)]
        report_people = [p.id or 0 for p in list_people(db, report_event)]

    def flush(minute: int) -> None:
        cells: list[MinuteCell] = [
            (flush_session, pid, minute, "main", FULL_MINUTE, FULL_MINUTE) for pid in flush_people
        ]
        with engine.begin() as connection:
            upsert_minutes(connection, cells)

    # A minute boundary writes rows that do not exist yet; a restart's flush merges.
    result.flush_new_ms = [timed_ms(lambda m=m: flush(m)) for m in range(3)]  # type: ignore[misc]
    result.flush_merge_ms = [timed_ms(lambda m=m: flush(m)) for m in range(3)]  # type: ignore[misc]

    # Every person has 180 minutes of each session, most of them fully covered.
    with engine.begin() as connection:
        for sid in report_sessions:
            for minute in range(180):
                cells = [
                    (sid, pid, minute, "main", FULL_MINUTE if (pid + minute) % 17 else 0xFFFF, 0)
                    for pid in report_people
                ]
                upsert_minutes(connection, cells)
                result.report_rows += len(cells)
    after = SESSION_START + timedelta(days=2)

    def report() -> None:
        with Session(engine) as db:
            event = get_event(db, "BENCH-REPORT")
            assert event is not None
            built = attendance_report(db, event, now=after)
            assert len(built.people) == len(report_people)

    result.report_ms = [timed_ms(report) for _ in range(3)]
    engine.dispose()
    return result


# -- the table ------------------------------------------------------------------------------------


def fmt(value: float, digits: int = 0) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:,.{digits}f}"


def ratio(ours: float, bare: float) -> str:
    if math.isnan(ours) or math.isnan(bare) or bare == 0:
        return "–"
    return f"{ours / bare:.2f}"


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("yes" if ok else "**no**")


def table(runs: dict[str, list[SocketRun]], databases: list[DatabaseRun], params: Params) -> str:
    def med(kind: str, figure: Callable[[SocketRun], float]) -> float:
        return median([figure(r) for r in runs.get(kind, [])])

    n = f"{params.bots:,}"
    rows = [
        "| figure | ours | bare websockets | ratio | bare FastAPI | target | pass |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]

    def add(
        name: str,
        figure: Callable[[SocketRun], float],
        digits: int,
        target: str,
        ok: Callable[[float, float], bool] | None,
    ) -> None:
        ours, bare, fast = med("ours", figure), med("websockets", figure), med("fastapi", figure)
        passed = None if ok is None or math.isnan(ours) else ok(ours, bare)
        rows.append(
            f"| {name} | {fmt(ours, digits)} | {fmt(bare, digits)} | {ratio(ours, bare)} | "
            f"{fmt(fast, digits)} | {target} | {verdict(passed)} |"
        )

    add(
        "peak heartbeat ingest (frames/s)",
        lambda r: r.ingest,
        0,
        "≥ 0.5 × bare",
        lambda o, b: o >= 0.5 * b,
    )
    add(f"heartbeat round trip p50 at {n} sockets (ms)", lambda r: r.rtt_p50_ms, 1, "", None)
    add(
        f"heartbeat round trip p99 at {n} sockets (ms)",
        lambda r: r.rtt_p99_ms,
        1,
        "< 50 ms",
        lambda o, b: o < 50,
    )
    add("steady frames/s (heartbeats + pings)", lambda r: r.frames_per_second_steady, 0, "", None)
    add("server CPU during steady heartbeats (%)", lambda r: r.server_cpu_percent, 0, "", None)
    add(f"notice to all {n}, p50 (ms)", lambda r: percentile(r.notice_ms, 0.5), 0, "", None)
    add(
        f"notice to all {n}, p99 (ms)",
        lambda r: percentile(r.notice_ms, 0.99),
        0,
        "< 400 ms",
        lambda o, b: o < 400,
    )
    add(
        "memory per connection (KiB)",
        lambda r: r.rss_per_connection_kib,
        1,
        "< 48 KiB",
        lambda o, b: o < 48,
    )
    add(f"time to connect {n} (s)", lambda r: r.connect_seconds, 1, "", None)
    ours = runs.get("ours", [])
    lost = sum(max(0, r.lost_minutes) for r in ours)
    checked = sum(r.checked_minutes for r in ours)
    rows.append(
        f"| minutes lost over the steady phase (bot-minutes) | {lost} of {checked:,} | – | – | – "
        f"| 0 | {verdict(checked > 0 and lost == 0)} |"
    )
    steady = [ms for r in ours for _rows, ms in r.steady_flushes]
    rows_per_flush = median([rows for r in ours for rows, _ms in r.steady_flushes])
    rows.append(
        f"| server's minute flush during steady heartbeats ({fmt(rows_per_flush)} rows), "
        f"median / max (ms) | {fmt(median(steady), 1)} / {fmt(max(steady, default=math.nan), 1)} "
        f"| – | – | – | < 100 ms | {verdict(None if not steady else median(steady) < 100)} |"
    )
    limits = {"sqlite": (100, 2000), "postgresql": (250, 2000)}
    for db in databases:
        flush_limit, report_limit = limits[db.backend]
        new, merge, report = (
            median(db.flush_new_ms),
            median(db.flush_merge_ms),
            median(db.report_ms),
        )
        rows.append(
            f"| upsert_minutes, {params.flush_rows:,} new rows, {db.backend} (ms) | {fmt(new, 1)} "
            f"| – | – | – | < {flush_limit} ms | {verdict(new < flush_limit)} |"
        )
        rows.append(
            f"| upsert_minutes, {params.flush_rows:,} rows merged, {db.backend} (ms) "
            f"| {fmt(merge, 1)} | – | – | – | < {flush_limit} ms | {verdict(merge < flush_limit)} |"
        )
        rows.append(
            f"| attendance report, {params.report_people:,} people × 2 × 180 min, {db.backend} "
            f"(ms) | {fmt(report, 0)} | – | – | – | < {report_limit} ms "
            f"| {verdict(report < report_limit)} |"
        )
    return "\n".join(rows)


def details(runs: dict[str, list[SocketRun]]) -> str:
    """Every run's raw figures, for the README's notes and for spotting noise."""
    lines = []
    for kind, results in runs.items():
        for r in results:
            lines.append(
                f"{kind}: connected {r.connected} in {r.connect_seconds:.1f} s; "
                f"rtt p50/p99 {r.rtt_p50_ms:.1f}/{r.rtt_p99_ms:.1f} ms ({r.rtt_samples} samples); "
                f"steady {r.frames_per_second_steady:.0f} frames/s, server CPU "
                f"{r.server_cpu_percent:.0f} %, client CPU {r.client_cpu_percent:.0f} %; "
                f"notices p50/p99 {percentile(r.notice_ms, 0.5):.0f}/"
                f"{percentile(r.notice_ms, 0.99):.0f} ms ({r.notices_incomplete} incomplete); "
                f"ingest {[round(x) for x in r.ingest_per_round]} frames/s; "
                f"{r.rss_per_connection_kib:.1f} KiB/conn; lost sockets {r.lost}, refused "
                f"{r.refused}, failed {r.failures}, error frames {r.errors}; minutes lost "
                f"{r.lost_minutes} of {r.checked_minutes}; steady flushes (rows, ms) "
                f"{[(n, round(ms)) for n, ms in r.steady_flushes]}, all "
                f"{[(n, round(ms)) for n, ms in r.flushes]}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 sockets, one run each")
    parser.add_argument("--bots", type=int, help="sockets per server (default 10,000)")
    parser.add_argument("--repeats", type=int, help="runs per server (default 3)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="servers to run")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL database for the flush")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sockets", action="store_true")
    args = parser.parse_args()
    params = QUICK if args.quick else FULL
    if args.bots:
        params = Params(**{**params.__dict__, "bots": args.bots})
    if args.repeats:
        params = Params(**{**params.__dict__, "repeats": args.repeats})
    limit = raise_file_limit()
    if limit < params.bots + 1000:
        sys.exit(f"the open-file limit is {limit}: too low for {params.bots} sockets")
    workdir = Path(tempfile.mkdtemp(prefix="sm-bench-realtime-"))
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}; work in {workdir}", file=sys.stderr)  # fmt: skip
    runs: dict[str, list[SocketRun]] = {}
    if not args.no_sockets:
        for repeat in range(params.repeats):
            for kind in args.kinds.split(","):
                rundir = workdir / f"{kind}-{repeat}"
                rundir.mkdir()
                result = socket_run(kind, params, rundir)
                runs.setdefault(kind, []).append(result)
                print(details({kind: [result]}), file=sys.stderr, flush=True)
    databases = [database_run(f"sqlite:///{workdir / 'db-bench.db'}", params)]
    if not args.no_postgres:
        try:
            ensure_database(args.pg_url)
            databases.append(database_run(args.pg_url, params))
        except Exception as error:  # PostgreSQL is optional for a local run
            print(f"PostgreSQL skipped: {error}", file=sys.stderr)
    print(table(runs, databases, params))


if __name__ == "__main__":
    main()

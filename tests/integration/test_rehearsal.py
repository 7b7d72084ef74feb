"""A rehearsal at time scale 60: scripted WebSocket clients against a real server process.

Eight participants follow scripts (on time, late, a 7-minute drop, a tab closed at the
break, a hidden tab, a silent socket, a change of room, a short absence from the room)
through a 20-minute session with a 5-minute break, in two events that differ only in
``require_visible``. Afterwards the per-minute log read from ``/presence`` must equal the
log that a brute-force, second-by-second reading of CONTRACT §4 gives for the scripts,
and ``/attendance`` must follow from it.

Why some seconds are compared within ±2: the server stamps every heartbeat with its own
event time when it reads it, and at scale 60 a millisecond of real time is 60 ms of event
time. A heartbeat or a close reaches the server a few real milliseconds after the moment
the script names (a new socket's handshake, with its token check, takes 10-25 ms: up to
1.5 event seconds). So in a minute where something happens the covered seconds may differ
from the script's by a second or two, while minutes that nothing happens in are compared
exactly, and so are ``present`` and ``room`` everywhere: every scripted change falls
mid-minute, at half a second (a late stamp rarely crosses a whole second), and at least
3 s from the 30-second threshold (checked below, so the scripts cannot drift there).
"""

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from studymission.db.engine import make_engine
from studymission.db.events import get_event, get_person
from studymission.db.migrate import upgrade
from studymission.db.tables import Credential
from studymission.rehearsal.bots import Fleet, Participant, Recorder
from studymission.rehearsal.plan import Plan
from studymission.rehearsal.timeline import sync_timeline
from studymission.services.access import create_api_token
from studymission.services.attendance import attendance_report
from studymission.services.events import load_spec
from tests.conftest import TEST_SECRET
from tests.integration.helpers import run_async

pytestmark = pytest.mark.integration

SCALE = 60
#: 13:00 in Seoul; the session runs 13:00-13:20 with a break 13:10-13:15.
SESSION_START = datetime(2021, 11, 24, 4, 0, tzinfo=UTC)
MINUTES = 20
BREAK_MINUTES = frozenset(range(10, 15))
#: The server's clock starts this long before the session: time for it to start (15 real
#: seconds at scale 60: the app's imports alone take several on a busy machine).
LEAD = timedelta(minutes=15)
#: Every bot closes its socket one minute after the session's end.
UNTIL = MINUTES + 1.0
STALE = 45
THRESHOLD = 30
EVENTS = {"REHEARSAL-SEEN": False, "REHEARSAL-VISIBLE": True}  # code → require_visible


def at(minute: int, second: float) -> float:
    """Event minutes from the session's start."""
    return minute + second / 60


SCRIPTS: dict[str, Plan] = {
    "p001": Plan(joins_at=-1.0, label="on time"),
    "p002": Plan(joins_at=at(3, 20.5), label="3 minutes late"),
    "p003": Plan(joins_at=-1.0, drops=((at(5, 40.5), 7.0),), label="drops out for 7 minutes"),
    "p004": Plan(joins_at=-1.0, closes_at=at(10, 20.5), label="closes the tab at the break"),
    "p005": Plan(joins_at=-1.0, hidden=((at(4, 20.5), 2.0),), label="hides the tab 2 minutes"),
    "p006": Plan(joins_at=-1.0, silent_from=at(6, 10.5), label="silent, socket left open"),
    "p007": Plan(joins_at=-1.0, rooms=((at(15, 40.5), "breakout-1"),), label="changes room"),
    "p008": Plan(joins_at=-1.0, away=((at(7, 40.5), 1.5),), label="leaves the room 1.5 min"),
}

#: Who is eligible: 14 of the 15 required minutes are needed (0.9 × 15 = 13.5).
ELIGIBLE = {
    "REHEARSAL-SEEN": {"p001", "p005", "p007", "p008"},
    # With require_visible the hidden tab's minutes 4-6 drop to 21, 0 and 39 seconds.
    "REHEARSAL-VISIBLE": {"p001", "p007", "p008"},
}


# -- the expected log: CONTRACT §4 read second by second -----------------------------------


@dataclass(frozen=True)
class ExpectedMinute:
    minute: int
    seconds: int
    visible_seconds: int
    present: bool
    room: str | None
    is_break: bool
    #: no scripted change falls in this minute: its seconds are compared exactly
    exact: bool


def _transitions(plan: Plan) -> list[float]:
    """Every instant (event minutes) where the script changes what the server logs."""
    moments = [plan.joins_at]
    for start, length in (*plan.drops, *plan.hidden, *plan.away):
        moments += [start, start + length]
    moments += [start for start, _room in plan.rooms]
    if plan.silent_from is not None:
        moments += [plan.silent_from, plan.silent_from + STALE / 60]
    if plan.closes_at is not None:
        moments.append(plan.closes_at)
    return moments


def expected_log(plan: Plan, require_visible: bool) -> list[ExpectedMinute]:
    """Second `k` is covered when the instant start + k s is qualifying time (CONTRACT §4)."""
    covered = [0] * MINUTES
    visible = [0] * MINUTES
    rooms: list[dict[str, int]] = [{} for _ in range(MINUTES)]
    for k in range(MINUTES * 60):
        minute_of_event = k / 60
        if not plan.connected_at(minute_of_event, UNTIL):
            continue
        if plan.silent_from is not None and minute_of_event >= plan.silent_from:
            # The last heartbeat went at silent_from; it holds for STALE seconds.
            place = plan.place_at(plan.silent_from)
            if k >= plan.silent_from * 60 + STALE:
                continue
        else:
            place = plan.place_at(minute_of_event)
        if not place.in_room or (require_visible and not place.visible):
            continue
        minute = k // 60
        covered[minute] += 1
        visible[minute] += place.visible
        rooms[minute][place.room] = rooms[minute].get(place.room, 0) + 1
    moving = {int(moment) for moment in _transitions(plan) if 0 <= moment < MINUTES}
    return [
        ExpectedMinute(
            minute=m,
            seconds=covered[m],
            visible_seconds=visible[m],
            present=covered[m] >= THRESHOLD,
            room=min(rooms[m], key=lambda r: (-rooms[m][r], r)) if rooms[m] else None,
            is_break=m in BREAK_MINUTES,
            exact=m not in moving,
        )
        for m in range(MINUTES)
    ]


def test_the_scripts_keep_clear_of_the_threshold() -> None:
    """A guard on the scripts: where seconds may jitter, they stay 3 s from 30."""
    for plan in SCRIPTS.values():
        for moment in (m for m in _transitions(plan) if 0 <= m < MINUTES):
            second = round((moment * 60) % 60, 3)
            assert 3 <= second <= 57, f"{plan.label}: a change at {moment} is near a minute's edge"
        for require_visible in (False, True):
            for minute in expected_log(plan, require_visible):
                if not minute.exact:
                    assert abs(minute.seconds - THRESHOLD) >= 3, (plan.label, minute)


# -- the server and the bots ------------------------------------------------------------------


def _spec(code: str, require_visible: bool) -> dict[str, Any]:
    people = [
        {
            "key": key,
            "name": f"Participant {key}",
            "email": f"{key}@example.org",
            "country": "VN",
            "organization": "VNPI",
            "role": "participant",
            "origin": "overseas",
        }
        for key in SCRIPTS
    ]
    for key, role in (("mod1", "moderator"), ("sec1", "secretariat")):
        people.append(
            {
                "key": key,
                "name": key,
                "email": f"{key}@example.org",
                "country": "JP",
                "organization": "APO",
                "role": role,
                "origin": "overseas",
            }
        )
    return {
        "code": code,
        "title": "A rehearsed session",
        "timezone": "Asia/Seoul",
        "attendance": {
            "session_threshold": 0.9,
            "minute_threshold_seconds": THRESHOLD,
            "stale_after_seconds": STALE,
            "require_visible": require_visible,
        },
        "sessions": [
            {
                "key": "day1",
                "title": "Day 1",
                "start": "2021-11-24T13:00",
                "end": "2021-11-24T13:20",
                "agenda": [
                    {
                        "key": "talk",
                        "kind": "presentation",
                        "title": "Talk",
                        "start": "13:00",
                        "end": "13:10",
                    },
                    {
                        "key": "pause",
                        "kind": "break",
                        "title": "Break",
                        "start": "13:10",
                        "end": "13:15",
                    },
                    {
                        "key": "qa",
                        "kind": "discussion",
                        "title": "Questions",
                        "start": "13:15",
                        "end": "13:20",
                    },
                ],
            }
        ],
        "people": people,
    }


def _load_events(database_url: str) -> dict[tuple[str, str], str]:
    """Both events in a fresh database; a bearer token for every person of each."""
    engine = make_engine(database_url)
    upgrade(engine)
    now = SESSION_START - LEAD
    tokens: dict[tuple[str, str], str] = {}
    try:
        with Session(engine, expire_on_commit=False) as db:
            for code, require_visible in EVENTS.items():
                load_spec(
                    db, _spec(code, require_visible), secret=TEST_SECRET, now=now, actor="test"
                )
                event = get_event(db, code)
                assert event is not None
                for key in [*SCRIPTS, "sec1"]:
                    person = get_person(db, event, key)
                    assert person is not None
                    tokens[code, key] = create_api_token(db, person, now=now)
            db.commit()
    finally:
        engine.dispose()
    return tokens


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[tuple[str, str], str]]]:
    """`studymission serve` at scale 60 on the two events; (base URL, tokens)."""
    database_url = f"sqlite:///{tmp_path / 'rehearsal.db'}"
    tokens = _load_events(database_url)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "STUDYMISSION_DATABASE_URL": database_url,
        "STUDYMISSION_SECRET_KEY": TEST_SECRET,
        "STUDYMISSION_TIME_SCALE": str(SCALE),
        "STUDYMISSION_CLOCK_START": (SESSION_START - LEAD).isoformat(),
        "STUDYMISSION_BASE_URL": base_url,
        "STUDYMISSION_VAR_DIR": str(tmp_path / "var"),
    }
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "studymission", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log_path.read_text(errors="replace")
                assert time.monotonic() < deadline, "the server did not come up in 60 s"
                try:
                    if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            yield base_url, tokens
        finally:
            process.terminate()
            process.wait(timeout=15)


async def _rehearse(base_url: str, tokens: dict[tuple[str, str], str]) -> list[Recorder]:
    ws_base = base_url.replace("http://", "ws://")
    first = next(iter(EVENTS))
    timeline = await sync_timeline(
        f"{ws_base}/ws/{first}", {"Authorization": f"Bearer {tokens[first, 'sec1']}"}
    )
    assert timeline.scale == pytest.approx(SCALE)
    loop = asyncio.get_running_loop()
    started_at = (timeline.event_at(loop.time()) - SESSION_START).total_seconds() / 60
    assert started_at < -1.5, f"the server started late: event minute {started_at:.2f}"
    fleets = [
        Fleet(
            f"{ws_base}/ws/{code}",
            [Participant(key, tokens[code, key], plan) for key, plan in SCRIPTS.items()],
            timeline=timeline,
            session_start=SESSION_START,
            until=UNTIL,
        )
        for code in EVENTS
    ]
    for fleet in fleets:
        fleet.start()
    await asyncio.gather(*(fleet.wait() for fleet in fleets))
    # Two more minute boundaries: the minute flush has then written every row.
    await asyncio.sleep(max(0.0, fleets[0].loop_time_at(UNTIL + 2) - loop.time()))
    return [fleet.recorder for fleet in fleets]


def test_the_per_minute_log_equals_the_scripts_and_eligibility_follows(
    server: tuple[str, dict[tuple[str, str], str]],
) -> None:
    base_url, tokens = server
    recorders = run_async(_rehearse(base_url, tokens))
    for recorder in recorders:
        # Nothing went wrong on the wire: every socket opened, none was dropped on us.
        connects = len(SCRIPTS) + 1  # p003 comes back once
        assert (recorder.connects, recorder.refused, recorder.lost) == (connects, 0, 0)
        assert (recorder.failures, recorder.errors) == (0, 0), recorder.last_error

    for code, require_visible in EVENTS.items():
        headers = {"Authorization": f"Bearer {tokens[code, 'sec1']}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
            for key, plan in SCRIPTS.items():
                response = client.get(
                    f"/api/events/{code}/presence", params={"person": key, "session": "day1"}
                )
                assert response.status_code == 200, response.text
                _assert_log(f"{code} {key} ({plan.label})", response.json(), plan, require_visible)
            report = client.get(f"/api/events/{code}/attendance").json()
        people = {p["key"]: p for p in report["people"]}
        eligible = {key for key in SCRIPTS if people[key]["eligible"]}
        assert eligible == ELIGIBLE[code], code
        for key, plan in SCRIPTS.items():
            expected = expected_log(plan, require_visible)
            present = sum(1 for m in expected if m.present and not m.is_break)
            (day1,) = people[key]["sessions"]
            assert (day1["required_minutes"], day1["present_minutes"]) == (15, present), key
            assert day1["attended"] is (present >= 14), key
        assert people["sec1"]["sessions"][0]["present_minutes"] == 0  # synced, never in the room


def _assert_log(who: str, log: list[dict[str, Any]], plan: Plan, require_visible: bool) -> None:
    expected = expected_log(plan, require_visible)
    assert [m["minute"] for m in log] == list(range(MINUTES)), who
    for got, want in zip(log, expected, strict=True):
        where = f"{who}, minute {want.minute}: got {got}, want {want}"
        assert (got["present"], got["room"], got["break"]) == (
            want.present,
            want.room,
            want.is_break,
        ), where
        if want.exact:
            assert (got["seconds"], got["visible_seconds"]) == (
                want.seconds,
                want.visible_seconds,
            ), where
        else:
            assert abs(got["seconds"] - want.seconds) <= 2, where
            assert abs(got["visible_seconds"] - want.visible_seconds) <= 2, where


def test_the_rehearse_command_runs_a_session_and_reports_it(tmp_path: Path) -> None:
    """`studymission rehearse` at scale 120 on the 20-minute session, asking for more bots
    than the event has participants."""
    database_url = f"sqlite:///{tmp_path / 'rehearse.db'}"
    _load_events(database_url)
    code = next(iter(EVENTS))
    env = {
        **os.environ,
        "STUDYMISSION_DATABASE_URL": database_url,
        "STUDYMISSION_SECRET_KEY": TEST_SECRET,
        "STUDYMISSION_VAR_DIR": str(tmp_path / "var"),
    }
    env.pop("STUDYMISSION_BASE_URL", None)
    port = _free_port()
    command = [sys.executable, "-m", "studymission", "rehearse", code, "--scale", "120"]
    command += ["--bots", "50", "--port", str(port), "--session", "day1", "--exit"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "note: 50 bots asked, 8 simulated: the rehearsal plays the event's own participants "
        "and never adds people to an event"
    )
    progress = [line for line in lines if " minute " in line]
    assert [line.split()[2] for line in progress] == [f"{m}/20" for m in range(1, 21)]
    assert progress[0].startswith("13:00 ") and progress[-1].startswith("13:19 ")
    assert f"http://127.0.0.1:{port}/events/{code}/roster" in done.stdout
    summary = next(line for line in lines if line.startswith("Attendance of day1: "))

    engine = make_engine(database_url)
    try:
        with Session(engine) as db:
            event = get_event(db, code)
            assert event is not None
            report = attendance_report(db, event, now=SESSION_START + timedelta(days=1))
            credentials = db.exec(select(Credential).where(Credential.kind == "api")).all()
    finally:
        engine.dispose()
    bots = [p for p in report.people if p.role == "participant"]
    attended = sum(p.sessions[0].attended for p in bots)
    eligible = sum(p.eligibility.eligible for p in bots)
    assert summary == (
        f"Attendance of day1: {attended} of 8 simulated participants attended "
        f"(present ≥ 0.9 × 15 required minutes); {eligible} eligible for the certificate."
    )
    # Everyone played, most attended (on time, late, dropping out: 5 of the 8 patterns).
    assert all(p.sessions[0].present_minutes > 0 for p in bots)
    assert 4 <= attended < 8
    # The bots' tokens are revoked: nobody holds them once the rehearsal is over.
    minted = [c for c in credentials if c.created_at >= SESSION_START - LEAD]
    assert len([c for c in minted if c.revoked_at is not None]) >= 8

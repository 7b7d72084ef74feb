"""Cost of opening a breakout round for a big event: the API call to the last page in its room.

Run: ``.venv/bin/python bench/bench_breakouts_open.py [--participants 10000 --rooms 500
--repeats 5] [--jaas] [--database-url postgresql+psycopg://…]``. Prints Markdown tables.

An event of N participants from the 21 member countries (built from the demo spec, its
people replaced) is loaded; N stand-in sockets (QuietSocket: takes the frame, does nothing)
are connected to one `Realtime` and given their first state (on the stage, in the main room).
Then, per Jitsi mode, each repeat times what a moderator's ``POST …/breakouts {"rooms": R}``
sets off in the process that serves it:

(a) `services.breakouts.open_breakouts` in a worker thread, as the API runs it (the balanced
    plan and the database write of the round and its N members);
(b) reading the event's snapshot again (what every process does on the bus's ``state``);
(c) `Realtime.push_state` until the last socket has the frame with its breakout room (every
    socket's token for its new room is minted, in worker threads).

Beside it a 10 ms timer measures the longest the event loop left every other socket waiting.
The round is closed (and everyone pushed back to the main room) between repeats, and the
breakout rooms' cached tokens are dropped, so that every repeat mints as the first round does.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from bench_stage import SECRET, QuietSocket, adapters
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from studymission.db.engine import make_engine
from studymission.db.events import get_event
from studymission.db.migrate import upgrade
from studymission.db.tables import Person
from studymission.domain.clock import EventClock
from studymission.integrations.jitsi import JitsiAdapter
from studymission.realtime.bus import InProcessBus
from studymission.realtime.hub import Connection
from studymission.realtime.runtime import Realtime
from studymission.services.breakouts import OpenRequest, close_breakouts, open_breakouts
from studymission.services.clock import Clock
from studymission.services.demo import _member_country_codes, build_demo_spec
from studymission.services.events import load_spec

T = TypeVar("T")

FIRST_DAY = date(2026, 11, 27)
#: Day 1, 14:20 in Seoul: the session is on (a presentation), 100 minutes are left.
NOW = datetime(2026, 11, 27, 5, 20, tzinfo=UTC)
SESSION = "day1"
STEPS = ("open", "snapshot", "push", "total")


def big_spec(participants: int) -> dict[str, Any]:
    """The demo event with `participants` participants spread over the 21 member countries
    (a few organisations each), and the demo's staff."""
    spec = build_demo_spec(first_day=FIRST_DAY)
    spec["code"] = f"BENCH-BREAKOUTS-{participants}"
    staff = [p for p in spec["people"] if p["role"] != "participant"]
    countries = _member_country_codes()
    people = []
    for index in range(participants):
        country = countries[index % len(countries)]
        people.append(
            {
                "key": f"b{index:05d}",
                "name": f"Participant {index:05d}",
                "email": f"b{index:05d}@example.org",
                "country": country,
                "organization": f"{country} Organisation {index // len(countries) % 7}",
                "role": "participant",
                "origin": "local" if country == "KR" else "overseas",
            }
        )
    spec["people"] = [*people, *staff]
    return spec


def prepare(database_url: str | None, tmp: Path, participants: int) -> tuple[Engine, str, float]:
    """A migrated database with the big event loaded; its code and the load's seconds."""
    if database_url:
        engine = make_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    else:
        engine = make_engine(f"sqlite:///{tmp / 'breakouts-open.db'}")
    upgrade(engine)
    spec = big_spec(participants)
    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as db:
        load_spec(db, spec, secret=SECRET, now=NOW, actor="bench")
    return engine, spec["code"], time.perf_counter() - started


async def probe(lateness: list[tuple[float, float]], stop: asyncio.Event) -> None:
    """How late a 10 ms timer fires: how long the loop left every other socket waiting.
    Each sample: (when the timer was due, ms late)."""
    while not stop.is_set():
        due = time.perf_counter() + 0.010
        await asyncio.sleep(0.010)
        lateness.append((due, (time.perf_counter() - due) * 1000))


async def watched(
    work: Callable[[], Awaitable[T]],
) -> tuple[T, list[tuple[float, float]]]:
    """`work`'s result and the event-loop lateness samples taken while it ran."""
    lateness: list[tuple[float, float]] = []
    stop = asyncio.Event()
    watcher = asyncio.create_task(probe(lateness, stop))
    await asyncio.sleep(0)
    try:
        result = await work()
    finally:
        stop.set()
        await watcher
    return result, lateness


async def open_costs(
    engine: Engine, code: str, adapter: JitsiAdapter, rooms: int, repeats: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    clock = Clock(EventClock(NOW, datetime.now(UTC), 1.0), lambda: datetime.now(UTC))
    realtime = Realtime(engine, clock, InProcessBus(), adapter)
    with Session(engine, expire_on_commit=False) as db:
        event = get_event(db, code)
        assert event is not None
        people = db.exec(select(Person).where(Person.event_id == event.id)).all()
    participants = [p for p in people if p.role == "participant"]
    await realtime.snapshot(code)
    for person in participants:
        realtime.hub.add(
            Connection(
                socket=f"s{person.id}",
                websocket=QuietSocket(),  # type: ignore[arg-type]
                event_code=code,
                person_id=person.id or 0,
                person_key=person.key,
                role=person.role,
                person_name=person.name,
                person_email=person.email,
            )
        )
    connections = realtime.hub.connections(code)
    # Everyone connected: on the stage, in the main room, with a token for it.
    await realtime.push_state(code, only_changed=True)
    assert all(c.room == "main" for c in connections)

    async def reload() -> None:
        realtime.snapshots.pop(code, None)
        await realtime.snapshot(code)

    costs: dict[str, list[float]] = {step: [] for step in STEPS}
    stalls: dict[str, list[float]] = {step: [] for step in STEPS}
    for _ in range(repeats):
        sent_before = QuietSocket.sent

        async def open_round() -> list[float]:
            marks = [time.perf_counter()]
            await asyncio.to_thread(
                lambda: _open(engine, event_code=code, rooms=rooms, now=clock.now())
            )
            marks.append(time.perf_counter())
            await reload()
            marks.append(time.perf_counter())
            await realtime.push_state(code, only_changed=True)
            marks.append(time.perf_counter())
            return marks

        marks, lateness = await watched(open_round)
        # The last socket has its frame: every one was sent a new state, in a breakout room.
        assert QuietSocket.sent - sent_before == len(connections), QuietSocket.sent - sent_before
        placed = {c.room for c in connections}
        assert all(room.startswith("breakout-") for room in placed), sorted(placed)[:3]
        assert len(placed) == rooms, len(placed)
        for step, start, end in zip(STEPS, marks, marks[1:], strict=False):
            costs[step].append((end - start) * 1000)
            # The longest stall that began in this step.
            stalls[step].append(max((ms for due, ms in lateness if start <= due < end), default=0))
        costs["total"].append((marks[-1] - marks[0]) * 1000)
        stalls["total"].append(max((ms for _due, ms in lateness), default=0.0))

        # Close: everyone back to the main room; a fresh round mints its rooms' tokens again.
        await asyncio.to_thread(lambda: _close(engine, event_code=code, now=clock.now()))
        await reload()
        await realtime.push_state(code, only_changed=True)
        assert all(c.room == "main" for c in connections)
        for connection in connections:
            for key in [k for k in connection.video if k[1].startswith("breakout-")]:
                del connection.video[key]
    return costs, stalls


def _open(engine: Engine, *, event_code: str, rooms: int, now: datetime) -> None:
    with Session(engine, expire_on_commit=False) as db:
        event = get_event(db, event_code)
        assert event is not None
        view = open_breakouts(
            db, event, SESSION, OpenRequest(minutes=30, rooms=rooms), actor="bench", now=now
        )
        assert len(view["rooms"]) == rooms


def _close(engine: Engine, *, event_code: str, now: datetime) -> None:
    with Session(engine, expire_on_commit=False) as db:
        event = get_event(db, event_code)
        assert event is not None
        close_breakouts(db, event, SESSION, actor="bench", now=now)


def p99(values: list[float]) -> float:
    """The 99th percentile (nearest rank): with few repeats, the maximum."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--jaas", action="store_true", help="also RS256 (JaaS): slow")
    parser.add_argument(
        "--database-url", default="", help="a PostgreSQL database to use (it is emptied!)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        modes = adapters(tmp)
        if not args.jaas:
            del modes["jaas"]
        engine, code, load_seconds = prepare(args.database_url or None, tmp, args.participants)
        backend = engine.dialect.name
        print(
            f"{args.participants:,} participants, {args.rooms} rooms, {args.repeats} repeats, "
            f"{backend}; event loaded in {load_seconds:.1f} s"
        )
        print()
        print(
            "| mode | (a) open_breakouts median ms | (b) snapshot median ms "
            "| (c) push_state median ms | total median ms | total p99 ms "
            "| longest event-loop stall ms (in a, b, c) |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, adapter in modes.items():
            costs, stalls = asyncio.run(open_costs(engine, code, adapter, args.rooms, args.repeats))
            print(
                f"| {name} | {statistics.median(costs['open']):.0f} "
                f"| {statistics.median(costs['snapshot']):.0f} "
                f"| {statistics.median(costs['push']):.0f} "
                f"| {statistics.median(costs['total']):.0f} | {p99(costs['total']):.0f} "
                f"| {max(stalls['total']):.0f} ({max(stalls['open']):.0f}, "
                f"{max(stalls['snapshot']):.0f}, {max(stalls['push']):.0f}) |"
            )
        engine.dispose()


if __name__ == "__main__":
    main()

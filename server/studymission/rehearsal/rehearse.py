"""``studymission rehearse``: serve an event on a fast event clock and run one whole session
with simulated participants over real WebSockets.

The event clock starts a few event minutes before the session, at the chosen scale (60:
a three-hour session in three minutes). The bots are the event's own participants (the
rehearsal never adds people to an event), each with a fresh bearer token that is revoked
when the rehearsal ends, following `realistic_plans`. A line per event minute says how
many people are connected and how many were present that minute; at the end come the
session's attendance and eligibility, and the pages and join links to look at them.

The presence the bots log is written to the event's real log: rehearse a live event on a
copy of its database (``STUDYMISSION_DATABASE_URL``), never on the one it runs on.
"""

import asyncio
import socket
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import FrameType
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import uvicorn
from sqlalchemy import Connection, Engine, distinct, func, select
from sqlmodel import Session
from starlette.routing import BaseRoute, Match

from studymission.app import create_app
from studymission.config import Settings
from studymission.db import credentials as credential_store
from studymission.db.events import attendance_rules, list_people, read_programme
from studymission.db.presence import MINUTES
from studymission.db.tables import Event
from studymission.domain.clock import EventClock
from studymission.domain.errors import InvalidInputError, NotFoundError
from studymission.domain.presence import SessionGrid
from studymission.domain.run_of_show import current_session
from studymission.domain.values import ItemKind, Problem, Role, SessionSpec
from studymission.realtime.endpoint import RATE_LIMIT
from studymission.realtime.runtime import HEARTBEAT_EVENT_SECONDS, Realtime
from studymission.rehearsal.bots import Fleet, Participant
from studymission.rehearsal.plan import break_spans, realistic_plans
from studymission.rehearsal.timeline import EventTimeline
from studymission.services.access import create_api_token, ensure_join_links, hash_token, join_url
from studymission.services.attendance import attendance_report
from studymission.services.clock import Clock, wall_clock
from studymission.services.events import require_event
from studymission.services.live_state import session_grid

Echo = Callable[[str], None]

#: Heartbeats go every 15 event seconds, but the server allows each socket 20 frames a
#: real second: beyond this scale the bots' heartbeats would be refused as too many.
MAX_SCALE = HEARTBEAT_EVENT_SECONDS * RATE_LIMIT / 2

#: Pages worth opening during a rehearsal, if this version of the app has them.
PAGES = (
    ("live page", "/events/{code}"),
    ("roster", "/events/{code}/roster"),
    ("attendance", "/events/{code}/attendance"),
    ("secretariat", "/events/{code}/secretariat"),
)


@dataclass(frozen=True)
class RehearsalOptions:
    code: str
    scale: float = 60.0
    #: simulated participants; None: every participant of the event
    bots: int | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    #: session key; None: the session running now, else the next, else the last
    session: str | None = None
    #: event minutes between the clock's start and the session's
    lead_minutes: float = 3.0
    #: keep serving after the session until Ctrl-C
    stay: bool = True
    seed: int = 7


@dataclass
class Cast:
    """Everything the rehearsal needs from the database, read and minted up front."""

    event: Event
    session_id: int
    session: SessionSpec
    grid: SessionGrid
    participants: list[Participant]
    #: (role, key, join URL) of one moderator and one secretariat person
    links: list[tuple[str, str, str]]
    token_hashes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def rehearse(
    settings: Settings,
    engine: Engine,
    options: RehearsalOptions,
    echo: Echo,
    uvicorn_options: Mapping[str, Any] | None = None,
) -> int:
    """Run the rehearsal; returns the exit status (0, or 130 when interrupted).

    `uvicorn_options` are those ``serve`` runs with, so the rehearsal serves the same way.
    """
    if not 0 < options.scale <= MAX_SCALE:
        raise InvalidInputError(
            f"the time scale must be above 0 and at most {MAX_SCALE:g}",
            [
                Problem(
                    "scale",
                    f"{options.scale:g}",
                    f"heartbeats every {HEARTBEAT_EVENT_SECONDS:g} event seconds must stay "
                    f"within half the server's {RATE_LIMIT} frames a second per socket",
                )
            ],
        )
    _check_port(options.host, options.port)
    settings = settings.model_copy(update={"base_url": _base_url(settings, options)})
    started = wall_clock()
    with Session(engine, expire_on_commit=False) as db:
        event = require_event(db, options.code)
        session_id, session = _choose_session(db, event, options.session, started)
        clock = Clock(
            EventClock(
                session.start - timedelta(minutes=options.lead_minutes), started, options.scale
            )
        )
        cast = _cast(db, settings, event, session_id, session, options, clock.now())
        logged = _people_logged(db.connection(), session_id)
    if logged:
        cast.notes.append(
            f"the log of {session.key} already holds presence of {logged} people (an earlier "
            "rehearsal, or the session itself): the bots' presence adds to it, and the counts "
            "below include it"
        )
    for note in cast.notes:
        echo(f"note: {note}")
    try:
        interrupted = asyncio.run(
            _run(settings, engine, clock, cast, options, echo, dict(uvicorn_options or {}))
        )
    finally:
        _revoke(engine, cast.token_hashes, clock.now())
    return 130 if interrupted else 0


# -- before: who plays, on which session ------------------------------------------------------


def _check_port(host: str, port: int) -> None:
    with socket.socket() as probe:
        # As uvicorn binds: a port whose last connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise InvalidInputError(
                f"cannot serve on {host}:{port}: {error.strerror}",
                [Problem("port", str(port), "in use or not allowed; choose another with --port")],
            ) from error


def _base_url(settings: Settings, options: RehearsalOptions) -> str:
    """The configured base URL, unless it is a loopback one: then this host and port, so
    that the printed links and the pages' socket origin match where the rehearsal serves."""
    parts = urlsplit(settings.base_url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return settings.base_url
    host = options.host if options.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{host}:{options.port}"


def _choose_session(
    db: Session, event: Event, key: str | None, now: datetime
) -> tuple[int, SessionSpec]:
    programme = read_programme(db, event)
    if not programme:
        raise NotFoundError(f"the event {event.code} has no sessions to rehearse")
    if key is None:
        chosen = current_session([s for _id, s in programme], now)
        return next((sid, s) for sid, s in programme if s is chosen)
    for sid, candidate in programme:
        if candidate.key == key:
            return sid, candidate
    known = ", ".join(s.key for _sid, s in programme)
    raise NotFoundError(f"no session {key!r} in {event.code}; its sessions: {known}")


def _cast(
    db: Session,
    settings: Settings,
    event: Event,
    session_id: int,
    session: SessionSpec,
    options: RehearsalOptions,
    now: datetime,
) -> Cast:
    people = list_people(db, event)
    participants = [p for p in people if p.role == Role.PARTICIPANT]
    if not participants:
        raise InvalidInputError(
            f"the event {event.code} has no participants to simulate",
            [Problem("people", "0 participants", "add participants to the event first")],
        )
    wanted = options.bots if options.bots is not None else len(participants)
    notes = []
    if wanted > len(participants):
        notes.append(
            f"{wanted} bots asked, {len(participants)} simulated: the rehearsal plays the "
            "event's own participants and never adds people to an event"
        )
    chosen = participants[:wanted]
    grid = session_grid(session)
    plans = realistic_plans(
        len(chosen),
        minutes=grid.minute_count,
        breaks=break_spans(grid.break_minutes),
        seed=options.seed,
    )
    tokens = [create_api_token(db, person, now=now) for person in chosen]
    join_tokens = ensure_join_links(db, event, secret=settings.signing_key(), now=now)
    db.commit()
    links = []
    for role in (Role.MODERATOR, Role.SECRETARIAT):
        person = next((p for p in people if p.role == role), None)
        if person is not None:
            links.append(
                (role.value, person.key, join_url(settings.base_url, join_tokens[person.key]))
            )
    return Cast(
        event=event,
        session_id=session_id,
        session=session,
        grid=grid,
        participants=[
            Participant(person.key, token, plan)
            for person, token, plan in zip(chosen, tokens, plans, strict=True)
        ],
        links=links,
        token_hashes=[hash_token(token) for token in tokens],
        notes=notes,
    )


def _people_logged(connection: Connection, session_id: int) -> int:
    query = select(func.count(distinct(MINUTES.c.person_id))).where(
        MINUTES.c.session_id == session_id
    )
    return int(connection.execute(query).scalar_one())


def _revoke(engine: Engine, token_hashes: Sequence[str], now: datetime) -> None:
    """Revoke the bots' tokens: nobody holds them once the rehearsal is over."""
    with Session(engine) as db:
        found = [credential_store.find_by_hash(db, h) for h in token_hashes]
        credential_store.revoke(db, [pair[0] for pair in found if pair is not None], now=now)
        db.commit()


# -- during: the server, the bots, a line per minute -------------------------------------------


class _Server(uvicorn.Server):
    """uvicorn's server; Ctrl-C also stops the bots, before the server closes their sockets."""

    on_exit: Callable[[], None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.on_exit is not None:
            self.on_exit()
        super().handle_exit(sig, frame)


async def _run(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    cast: Cast,
    options: RehearsalOptions,
    echo: Echo,
    uvicorn_options: dict[str, Any],
) -> bool:
    """Serve, rehearse, report; returns whether Ctrl-C cut the session short."""
    app = create_app(settings, engine=engine, clock=clock)
    uvicorn_options.setdefault("ws", "websockets-sansio")
    # Progress lines, not access logs: uvicorn says only what goes wrong.
    uvicorn_options.update(host=options.host, port=options.port, log_level="warning")
    config = uvicorn.Config(app, lifespan="on", **uvicorn_options)
    server = _Server(config)
    loop = asyncio.get_running_loop()
    serving = asyncio.create_task(server.serve(), name="uvicorn")
    while not server.started:
        if serving.done():
            await serving
            return True
        await asyncio.sleep(0.02)
    realtime: Realtime = app.state.realtime
    timeline = EventTimeline.of_clock(clock.event_clock, loop_time=loop.time(), wall=wall_clock())
    fleet = Fleet(
        f"ws://127.0.0.1:{options.port}/ws/{cast.event.code}",
        cast.participants,
        timeline=timeline,
        session_start=cast.session.start,
        # Everyone leaves a few event seconds after the end, as people do.
        until=cast.grid.minute_count + 0.2,
    )
    _introduce(cast, options, settings, app.routes, echo)
    rehearsal = asyncio.create_task(_rehearse(engine, realtime, fleet, cast, echo))

    def stop_bots() -> None:
        # Called from the signal handler: hand the cancellation to the loop.
        loop.call_soon_threadsafe(rehearsal.cancel)

    server.on_exit = stop_bots
    interrupted = False
    try:
        await rehearsal
    except asyncio.CancelledError:
        interrupted = True
    server.on_exit = None
    if interrupted:
        echo("Interrupted: stopping the bots and the server (the minute in progress is written).")
    elif options.stay:
        echo(f"Still serving on {settings.base_url}: press Ctrl-C to stop.")
    else:
        server.should_exit = True
    # Ctrl-C ends serving; uvicorn then passes the signal on, which may cancel this task.
    while not serving.done():
        try:
            await asyncio.wait({serving})
        except asyncio.CancelledError:
            server.should_exit = True
    if interrupted:
        await asyncio.to_thread(_summarise, engine, cast, clock.now(), echo)
    return interrupted


def _introduce(
    cast: Cast,
    options: RehearsalOptions,
    settings: Settings,
    routes: Sequence[BaseRoute],
    echo: Echo,
) -> None:
    zone = ZoneInfo(cast.event.timezone)
    minutes = cast.grid.minute_count
    real_minutes = minutes / options.scale
    echo(
        f"Rehearsing {cast.session.key} ({cast.session.title}) of {cast.event.code}: "
        f"{minutes} event minutes in {real_minutes:.1f} real minutes (scale {options.scale:g}), "
        f"{len(cast.participants)} simulated participants."
    )
    start = cast.session.start.astimezone(zone)
    echo(
        f"The event clock starts {options.lead_minutes:g} event minutes before "
        f"{start:%H:%M} ({cast.event.timezone}); serving on {settings.base_url}"
    )
    _print_links(cast, settings, routes, echo)


def _print_links(cast: Cast, settings: Settings, routes: Sequence[BaseRoute], echo: Echo) -> None:
    echo("Sign in with a join link, then open the pages:")
    for role, key, url in cast.links:
        echo(f"  {role:<12} {key:<6} {url}")
    for label, path in PAGES:
        page = path.format(code=cast.event.code)
        scope = {"type": "http", "method": "GET", "path": page, "root_path": "", "headers": []}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            echo(f"  {label:<19} {settings.base_url}{page}")


async def _rehearse(
    engine: Engine, realtime: Realtime, fleet: Fleet, cast: Cast, echo: Echo
) -> None:
    fleet.start()
    progress = asyncio.create_task(_progress(engine, realtime, fleet, cast, echo))
    try:
        await fleet.wait()
        await progress
    finally:
        progress.cancel()
        await fleet.stop()
    await realtime.flush_minutes()
    await asyncio.to_thread(_summarise, engine, cast, realtime.clock.now(), echo)
    seen = fleet.recorder
    if seen.lost or seen.refused or seen.failures or seen.errors:
        echo(
            f"  the bots saw trouble: {seen.lost} sockets lost, {seen.refused} refused, "
            f"{seen.failures} failed to connect, {seen.errors} error frames "
            f"{seen.last_error}".rstrip()
        )


async def _progress(
    engine: Engine, realtime: Realtime, fleet: Fleet, cast: Cast, echo: Echo
) -> None:
    """A line per event minute of the session: connected now, present in the minute past."""
    loop = asyncio.get_running_loop()
    zone = ZoneInfo(cast.event.timezone)
    threshold = attendance_rules(cast.event).minute_threshold_seconds
    count = cast.grid.minute_count
    people = len(cast.participants)
    for minute in range(count):
        # Three event seconds after it ends, so that its last seconds are in.
        await asyncio.sleep(max(0.0, fleet.loop_time_at(minute + 1.05) - loop.time()))
        await realtime.flush_minutes()

        def read(connection: Connection, minute: int = minute) -> int:
            return present_in_minute(connection, cast.session_id, minute, threshold)

        present = await asyncio.to_thread(_with_connection, engine, read)
        connected = len({c.person_id for c in realtime.hub.connections(cast.event.code)})
        at = (cast.session.start + timedelta(minutes=minute)).astimezone(zone)
        what = _item_at(cast.session, cast.session.start + timedelta(minutes=minute, seconds=30))
        echo(
            f"{at:%H:%M}  minute {minute + 1:>3}/{count}  connected {connected:>4}  "
            f"present {present:>4}/{people}  {what}"
        )


def _with_connection(engine: Engine, work: Callable[[Connection], int]) -> int:
    with engine.connect() as connection:
        return work(connection)


def present_in_minute(connection: Connection, session_id: int, minute: int, threshold: int) -> int:
    """How many people the log says were present in `minute` of the session (any room)."""
    query = select(MINUTES.c.person_id, MINUTES.c.covered).where(
        MINUTES.c.session_id == session_id, MINUTES.c.minute == minute
    )
    covered: dict[int, int] = {}
    for person_id, bits in connection.execute(query):
        covered[person_id] = covered.get(person_id, 0) | bits
    return sum(1 for bits in covered.values() if bits.bit_count() >= threshold)


def _item_at(session: SessionSpec, instant: datetime) -> str:
    for item in session.agenda:
        if item.start <= instant < item.end:
            return f"{item.title} (break)" if item.kind is ItemKind.BREAK else item.title
    return ""


# -- after: what the log says -------------------------------------------------------------------


def _summarise(engine: Engine, cast: Cast, now: datetime, echo: Echo) -> None:
    with Session(engine) as db:
        report = attendance_report(db, cast.event, now=now)
    bots = {p.key: p.plan.label for p in cast.participants}
    rows = [p for p in report.people if p.key in bots]
    attended: Counter[str] = Counter()
    eligible: Counter[str] = Counter()
    played: Counter[str] = Counter(bots.values())
    required = 0
    for person in rows:
        label = bots[person.key]
        for session in person.sessions:
            if session.key == cast.session.key:
                required = session.required_minutes
                attended[label] += session.attended
        eligible[label] += person.eligibility.eligible
    echo(
        f"Attendance of {cast.session.key}: {sum(attended.values())} of {len(rows)} simulated "
        f"participants attended (present ≥ {float(report.session_threshold):g} × {required} "
        f"required minutes); {sum(eligible.values())} eligible for the certificate."
    )
    if len(report.sessions) > 1:
        echo("  (eligibility needs every session of the event attended; one was rehearsed)")
    for label, total in sorted(played.items(), key=lambda item: -item[1]):
        counts = f"attended {attended[label]:>4}   eligible {eligible[label]:>4}"
        echo(f"  {label:<16} {total:>4}   {counts}")
    for role, key, url in cast.links:
        echo(f"  {role:<12} {key:<6} {url}")

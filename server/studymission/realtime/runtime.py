"""The realtime layer of one process: hub, bus, presence tracker and their timers.

Timers run on event time: the minute flush fires at each event-minute boundary (every
real second at time scale 60), so a rehearsal at scale 60 logs a three-hour session in
three minutes exactly as a real one. Database work runs in worker threads so that the
event loop keeps serving sockets while a flush is written.
"""

import asyncio
import logging
import os
import socket as socket_module
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from studymission.db import presence as store
from studymission.db.events import get_event
from studymission.db.tables import Person
from studymission.domain.playback import Playback
from studymission.domain.run_of_show import ShowState
from studymission.domain.values import Role
from studymission.integrations.jitsi import TOKEN_LIFETIME, JitsiAdapter, VideoUser
from studymission.observability.logs import FIELDS
from studymission.observability.metrics import LiveCounts, Metrics
from studymission.realtime import protocol
from studymission.realtime.bus import Bus, Message
from studymission.realtime.hub import Connection, Hub
from studymission.realtime.presence import PresenceTracker
from studymission.services.breakouts import TimerOutcome, place_late, timer_tick
from studymission.services.clock import Clock
from studymission.services.live_state import (
    EventSnapshot,
    load_snapshot,
    playback_body,
    room_for,
    state_body,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Event time between heartbeats (CONTRACT §3: 15 s of event time).
HEARTBEAT_EVENT_SECONDS = 15.0
#: How often socket changes reach the roster, and the process says it is alive (real s).
CHANGES_EVERY = 1.0
#: A minute flush slower than this is logged as a warning (the others at debug level).
SLOW_FLUSH_MS = 500.0
#: A process not seen for this long (real time) is gone; its sockets leave the roster.
PROCESS_TIMEOUT = timedelta(seconds=30)
#: A socket's video token is reused while younger than this (real time); a page that
#: reconnects, or is moved after it, gets a fresh one.
TOKEN_REUSE = TOKEN_LIFETIME / 2
#: Event seconds between two ticks of the breakout timer (at most a real second).
ROUND_TICK_EVENT_SECONDS = 2.0
#: A broadcast to many sockets gives the event loop a turn after this many.
YIELD_EVERY = 500
#: Tokens minted per worker-thread call when many sockets need one at once.
MINT_SLICE = 200
#: Roles whose video token carries the moderator claim (CONTRACT §6).
VIDEO_MODERATORS = frozenset({Role.MODERATOR.value, Role.RESOURCE_PERSON.value})
#: The key of a bus message's publishing instant (wall clock, POSIX seconds).
SENT_AT = "sent_at"


@dataclass(slots=True)
class FlushStats:
    """What the last flushes cost; logged, and read by the benchmark."""

    flushes: int = 0
    rows: int = 0
    last_rows: int = 0
    last_ms: float = 0.0
    max_ms: float = 0.0
    failures: int = 0
    durations_ms: list[float] = field(default_factory=list)

    def record(self, rows: int, ms: float) -> None:
        self.flushes += 1
        self.rows += rows
        self.last_rows = rows
        self.last_ms = ms
        self.max_ms = max(self.max_ms, ms)
        self.durations_ms.append(ms)
        del self.durations_ms[:-100]


class Realtime:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        bus: Bus,
        jitsi: JitsiAdapter,
        metrics: Metrics | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.bus = bus
        self.jitsi = jitsi
        self.process = uuid.uuid4().hex[:16]
        self.host = socket_module.gethostname()
        self.hub = Hub()
        self.tracker = PresenceTracker(self.process)
        self.snapshots: dict[str, EventSnapshot] = {}
        self.flush_stats = FlushStats()
        #: Heartbeat frames received; a plain count on the hot path, read at scrape time.
        self.heartbeats = 0
        self.metrics = metrics or Metrics()
        self.metrics.watch(self.live_counts)
        self._tasks: list[asyncio.Task[None]] = []
        self._started_real: datetime | None = None
        self._flush_lock = asyncio.Lock()
        self._prefix_cache: tuple[ShowState, Playback | None, str] | None = None
        #: One socket-changes write at a time, in order: a disconnect never lands before its
        #: connect, and a flush returns only once everything queued before it is written.
        self._changes_lock = asyncio.Lock()
        # Messages published while this process was cut off from Redis never arrive: when
        # it listens again it re-reads the run of show, rounds and playback of its events
        # and sends each page the state that changed meanwhile.
        bus.on_reconnect = self._refresh_snapshots
        #: Real time since which the database refuses writes (None while it answers);
        #: meanwhile presence waits in memory (see docs/operations.md, "Faults").
        self.database_away_since: datetime | None = None
        self._database_back_at: datetime | None = None

    @property
    def heartbeat_seconds(self) -> float:
        return HEARTBEAT_EVENT_SECONDS / self.clock.scale

    def rows_waiting(self) -> int:
        """Minute rows gathered in memory and not yet written (a flush failed: they wait)."""
        return sum(len(coverage.cells) for coverage in self.tracker.coverage.values())

    def live_counts(self) -> LiveCounts:
        """What /metrics reports of the live state (read on the event loop)."""
        return LiveCounts(
            sockets={code: len(sockets) for code, sockets in self.hub.events.items()},
            heartbeats=self.heartbeats,
            rows_waiting=self.rows_waiting(),
            changes_waiting=len(self.tracker.changes),
        )

    # -- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        self._started_real = self.clock.real_now()
        try:
            await self._db(self._touch_process)
        except Exception:
            # Serve anyway (/healthz says what is wrong); the changes loop retries each second.
            self.database_away_since = self.clock.real_now()
            log.exception("presence: cannot reach the database at start")
        await self.bus.start(self.deliver)
        self._tasks = [
            asyncio.create_task(self._minute_loop(), name="presence-minute"),
            asyncio.create_task(self._changes_loop(), name="presence-changes"),
            asyncio.create_task(self._round_loop(), name="breakout-timer"),
        ]

    async def stop(self) -> None:
        """Stop timers; close what is still open; write everything (graceful shutdown)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []
        now = self.clock.now()
        for socket in list(self.tracker.sockets):
            self.tracker.close(socket, now, {"reason": "server shutdown"})
        try:
            rows = await self.flush_minutes()
            log.info(
                "presence: shutdown flush wrote %d minute rows",
                rows,
                extra={FIELDS: {"rows": rows}},
            )
            await self.flush_changes()
            await self._db(lambda c: store.end_process(c, self.process))
        except Exception:
            log.exception("presence: the shutdown flush failed")
        finally:
            await self.bus.stop()

    # -- sockets ------------------------------------------------------------------------

    async def snapshot(self, code: str) -> EventSnapshot | None:
        snapshot = self.snapshots.get(code)
        if snapshot is None:
            snapshot = await self._in_thread(partial(self._load_snapshot, code))
            if snapshot is not None:
                self.snapshots[code] = snapshot
        return snapshot

    def _load_snapshot(self, code: str) -> EventSnapshot | None:
        with Session(self.engine) as db:
            return load_snapshot(db, code)

    def show(self, code: str) -> ShowState | None:
        snapshot = self.snapshots.get(code)
        return snapshot.show(self.clock.now()) if snapshot is not None else None

    def state_frame(self, connection: Connection, show: ShowState | None = None) -> str:
        """The connection's ``state`` frame: the event's show, and this person's room."""
        snapshot = self.snapshots.get(connection.event_code)
        show = show or self.show(connection.event_code)
        if show is None or snapshot is None:
            return protocol.state({"session": None, "mode": "waiting", "item": None, "room": None})
        name, video = self._place(snapshot, show, connection)
        jitsi = self._video(connection, show.session, name) if video and show.session else None
        round_ = snapshot.rounds.get(show.session or "")
        ends_at = protocol.iso(round_.ends_at) if round_ and name.startswith("breakout-") else None
        return protocol.state_with_room(
            self._state_prefix(show, snapshot.playback(show)),
            {"name": name, "jitsi": jitsi},
            ends_at,
        )

    def _state_prefix(self, show: ShowState, playback: Playback | None) -> str:
        """The part of the ``state`` frame that is the same for every socket of `show`
        (serialised once per show, not once per socket: ten thousand sockets in a switch)."""
        cached = self._prefix_cache
        if cached is None or cached[0] != show or cached[1] != playback:
            body = state_body(show, playback_body(playback, 1 / self.clock.scale))
            cached = self._prefix_cache = (show, playback, protocol.state_prefix(body))
        return cached[2]

    @staticmethod
    def _place(
        snapshot: EventSnapshot, show: ShowState, connection: Connection
    ) -> tuple[str, bool]:
        """Where the connection's person belongs in `show`; notices to a room follow it."""
        assigned, _round = snapshot.assigned(show, connection.person_id)
        name, video = room_for(show, assigned)
        connection.room = name
        return name, video

    def _video(self, connection: Connection, session: str, room: str) -> dict[str, Any]:
        """The Jitsi room and token for the connection, minted once per room and socket."""
        now = self.clock.real_now()
        cached = connection.video.get((session, room))
        if cached is not None and now - cached[1] < TOKEN_REUSE:
            return cached[0]
        user = VideoUser(
            key=connection.person_key,
            name=connection.person_name,
            email=connection.person_email,
            moderator=connection.role in VIDEO_MODERATORS,
        )
        frame = self.jitsi.frame(user, self.jitsi.room(connection.event_code, session, room), now)
        connection.video[(session, room)] = (frame, now)
        return frame

    def _needs_token(self, connection: Connection, show: ShowState) -> bool:
        snapshot = self.snapshots.get(connection.event_code)
        if show.session is None or snapshot is None:
            return False
        name, video = self._place(snapshot, show, connection)
        cached = connection.video.get((show.session, name))
        return video and (cached is None or self.clock.real_now() - cached[1] >= TOKEN_REUSE)

    async def mint_ahead(self, connections: list[Connection], show: ShowState | None) -> None:
        """Mint the tokens `connections` lack for `show`, in worker threads.

        An RS256 signature (JaaS) costs about a millisecond: minted in the event loop, ten
        thousand sockets joining a call at once would stop every other socket for seconds.
        In threads, in slices, the loop keeps serving between them.
        """
        if show is None or show.session is None:
            return
        session = show.session
        needed = [c for c in connections if self._needs_token(c, show)]
        if self.jitsi.mode == "none":
            # Nothing to sign: naming the room is cheaper than a trip to a thread.
            for connection in needed:
                self._video(connection, session, connection.room)
            return
        for start in range(0, len(needed), MINT_SLICE):
            chunk = needed[start : start + MINT_SLICE]

            def mint(chunk: list[Connection] = chunk) -> None:
                for connection in chunk:
                    self._video(connection, session, connection.room)

            await self._in_thread(mint)

    async def first_state(self, connection: Connection) -> str:
        """The state frame a socket gets on connect, its token minted off the event loop."""
        await self.snapshot(connection.event_code)
        show = self.show(connection.event_code)
        await self.mint_ahead([connection], show)
        return self.state_frame(connection, show)

    async def push_state(self, code: str, *, only_changed: bool) -> int:
        """Send each of the event's sockets its state; with `only_changed`, if it changed."""
        sent = 0
        show = self.show(code)
        await self.mint_ahead(self.hub.connections(code), show)
        for index, connection in enumerate(self.hub.connections(code), start=1):
            if index % YIELD_EVERY == 0:
                # Let heartbeats and other sockets in between slices of a big broadcast.
                await asyncio.sleep(0)
            text = self.state_frame(connection, show)
            if only_changed and text == connection.last_state:
                continue
            connection.last_state = text
            sent += await self.hub.send([connection], text)
        return sent

    # -- the bus --------------------------------------------------------------------------

    async def publish(self, message: Message) -> None:
        # Stamped with the wall clock (not event time) so that delivery can tell the lag,
        # in this process or another on the same host.
        await self.bus.publish({**message, SENT_AT: self.clock.real_now().timestamp()})

    async def deliver(self, message: Message) -> None:
        """A message from the bus, for the sockets this process holds."""
        code = message.get("event")
        kind = message.get("kind")
        sent_at = message.get(SENT_AT)
        if isinstance(sent_at, (int, float)):
            self.metrics.observe_bus_lag(kind, self.clock.real_now().timestamp() - sent_at)
        if kind == "state" and isinstance(code, str) and code not in self.hub.events:
            # No page of the event here now: forget the run of show read before, so that the
            # next page to connect is not told a state that has since changed.
            self.snapshots.pop(code, None)
        if not isinstance(code, str) or code not in self.hub.events:
            return
        if kind == "notice":
            room = message.get("room")
            text = protocol.notice(
                str(message.get("text", "")),
                room if isinstance(room, str) else None,
                str(message.get("from", "")),
                self.clock.now(),
            )
            targets = self.hub.connections(code, room if isinstance(room, str) else None)
            await self.hub.send(targets, text)
        elif kind == "questions":
            # The session's Q&A changed: pages fetch the queue again (each after its own
            # short random delay, so that a vote does not bring every page at once).
            session = message.get("session")
            text = protocol.questions(session if isinstance(session, str) else None)
            await self.hub.send(self.hub.connections(code), text)
        elif kind == "notes":
            # A breakout room's shared notes changed: its members' pages fetch them again.
            room = message.get("room")
            if isinstance(room, str):
                await self.hub.send(self.hub.connections(code, room), protocol.notes(room))
        elif kind == "state":
            # The programme or the run of show changed: read it again, tell whoever it
            # concerns. The old one stays in place while the new one is read, so that a page
            # connecting meanwhile is never left without one.
            fresh = await self._in_thread(partial(self._load_snapshot, code))
            if fresh is None:
                self.snapshots.pop(code, None)
            else:
                self.snapshots[code] = fresh
            await self.push_state(code, only_changed=True)

    # -- timers ---------------------------------------------------------------------------

    async def _minute_loop(self) -> None:
        while True:
            now = self.clock.now()
            boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
            await asyncio.sleep(
                self.clock.event_clock.real_seconds((boundary - now).total_seconds())
            )
            try:
                # Up to the boundary, not a little past it: the minute that just began is
                # not written half-empty now and again in a minute.
                await self.flush_minutes(until=boundary)
                await self._refresh_snapshots()
            except Exception:
                if self.database_away_since is None:
                    log.exception("presence: the minute flush failed; its rows stay queued")
                else:  # said once when it went away; now only how much waits
                    log.warning("presence: database away; %d minute rows wait", self.rows_waiting())

    async def _changes_loop(self) -> None:
        beats = 0
        while True:
            await asyncio.sleep(CHANGES_EVERY)
            beats += 1
            try:
                await self.flush_changes()
                self._database_answers()
                if beats % 10 == 0:
                    await self._forget_gone_processes()
            except Exception:
                self._database_away()

    def _database_away(self) -> None:
        """Said once per outage, with the error; the changes loop says when it is over."""
        if self.database_away_since is None:
            self.database_away_since = self.clock.real_now()
            log.exception(
                "presence: cannot write to the database; presence waits in memory "
                "and is written when it answers"
            )

    def _database_answers(self) -> None:
        if self.database_away_since is None:
            return
        away = (self.clock.real_now() - self.database_away_since).total_seconds()
        log.warning(
            "presence: the database answers again after %.0f s; %d minute rows waiting",
            away,
            self.rows_waiting(),
        )
        self.database_away_since = None
        self._database_back_at = self.clock.real_now()

    async def _round_loop(self) -> None:
        # Every few seconds of event time (at most every real second): a round ends on time
        # at a rehearsal's scale too.
        while True:
            await asyncio.sleep(min(1.0, ROUND_TICK_EVENT_SECONDS / self.clock.scale))
            try:
                await self.round_tick()
            except OperationalError:
                self._database_away()  # the round closes on the first tick once it is back
            except Exception:
                log.exception("breakouts: the timer tick failed; it runs again shortly")

    async def round_tick(self) -> TimerOutcome:
        """Close the rounds whose end has come, warn those a minute from it, and announce
        what this process did (the database gives each to one process only)."""
        now = self.clock.now()

        def tick() -> TimerOutcome:
            with Session(self.engine, expire_on_commit=False) as db:
                return timer_tick(db, now)

        outcome = await self._in_thread(tick)
        for code, _session, ends_at in outcome.warned:
            await self.publish(
                {
                    "kind": "notice",
                    "event": code,
                    "text": "One minute left in the breakout rooms; then everyone returns "
                    "to the main room.",
                    "room": None,
                    "from": "studymission",
                    "ends_at": protocol.iso(ends_at),
                }
            )
        for code, _session in outcome.closed:
            await self.publish({"kind": "state", "event": code})
        return outcome

    async def place_late(self, connection: Connection) -> str | None:
        """A participant arriving during a round with no room gets the smallest one."""

        def place() -> str | None:
            with Session(self.engine, expire_on_commit=False) as db:
                event = get_event(db, connection.event_code)
                person = db.get(Person, connection.person_id)
                if event is None or person is None:
                    return None
                return place_late(db, event, person, now=self.clock.now())

        room = await self._in_thread(place)
        if room is not None:
            self.snapshots.pop(connection.event_code, None)
            await self.snapshot(connection.event_code)
            await self.publish({"kind": "state", "event": connection.event_code})
        return room

    async def _forget_gone_processes(self) -> None:
        back = self._database_back_at
        if back is not None and self.clock.real_now() - back < PROCESS_TIMEOUT:
            # Just back from an outage, every process's last sign of life is old and the
            # others may not have renewed theirs yet: forgetting them now would drop their
            # live sockets from the roster.
            return
        cutoff = self.clock.real_now() - PROCESS_TIMEOUT

        def forget(connection: Any) -> int:
            return store.forget_processes(connection, cutoff)

        await self._db(forget)

    async def _refresh_snapshots(self) -> None:
        for code in list(self.hub.events):
            fresh = await self._in_thread(partial(self._load_snapshot, code))
            if fresh is not None:
                self.snapshots[code] = fresh
                for connection in self.hub.connections(code):
                    socket = self.tracker.sockets.get(connection.socket)
                    if socket is not None:
                        socket.frame = fresh.frame
            await self.push_state(code, only_changed=True)

    async def flush_minutes(self, until: datetime | None = None) -> int:
        """Write the coverage gathered up to `until` (default: now); returns the rows written."""
        async with self._flush_lock:
            now = self.clock.now()
            self.tracker.advance(min(until, now) if until is not None else now)
            cells = self.tracker.take_cells()
            if not cells:
                return 0
            started = time.perf_counter()
            try:
                await self._db(lambda c: store.upsert_minutes(c, cells))
            except Exception:
                self.tracker.restore_cells(cells)
                self.flush_stats.failures += 1
                self.metrics.flush_failures.inc()
                raise
            elapsed = (time.perf_counter() - started) * 1000
            self.flush_stats.record(len(cells), elapsed)
            self.metrics.flush_seconds.observe(elapsed / 1000)
            self.metrics.flush_rows.inc(len(cells))
            level = logging.WARNING if elapsed > SLOW_FLUSH_MS else logging.DEBUG
            log.log(level, "presence: flushed %d minute rows in %.1f ms", len(cells), elapsed)
            return len(cells)

    async def flush_changes(self) -> None:
        async with self._changes_lock:
            changes = self.tracker.take_changes()

            def write(connection: Any) -> None:
                self._touch_process(connection)
                store.record_socket_changes(connection, changes)

            try:
                await self._db(write)
            except Exception:
                self.tracker.restore_changes(changes)
                raise

    def _touch_process(self, connection: Any) -> None:
        store.touch_process(
            connection,
            self.process,
            self.host,
            os.getpid(),
            self._started_real or self.clock.real_now(),
            self.clock.real_now(),
        )

    async def _db(self, work: Callable[[Any], T]) -> T:
        def run() -> T:
            with self.engine.begin() as connection:
                return work(connection)

        return await self._in_thread(run)

    async def _in_thread(self, run: Callable[[], T]) -> T:
        # A thread cannot be interrupted: when the caller is cancelled (stop() cancels the
        # timers), wait for the write to end, so that stop()'s own flush, end_process and
        # the engine's disposal never run beside it.
        pending = asyncio.ensure_future(run_in_threadpool(run))
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            await asyncio.wait([pending])
            if not pending.cancelled():
                pending.exception()  # retrieved: the cancelled caller will not look at it
            raise

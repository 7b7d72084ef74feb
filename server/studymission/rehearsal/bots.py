"""Simulated participants: WebSocket clients that follow a `Plan` on the server's event time.

One `Bot` is one person's browser tab, as the realtime protocol sees it (CONTRACT §3):
it opens ``ws://HOST:PORT/ws/CODE`` with a bearer token, reads ``welcome``, sends a
heartbeat at once and then every ``heartbeat_seconds``, and another at once whenever
what it says changes; it follows the room its ``state`` frames assign (unless its plan
names rooms), and reconnects with backoff and jitter when the server or the network
closes its socket. A `Fleet` runs thousands of them in one process, sharing their
configuration and one `Recorder`, so that a bot costs little more than its socket. The
rehearsal, the rehearsal test and the realtime benchmark all drive the server through
this code. A fleet that keeps a journal (``journal=True``, for tests that reason about
the presence log) also follows each heartbeat with a ping, so that it knows, per socket,
the server's event time by which each heartbeat was handled (its *ack*).

Each bot is one asyncio task that sleeps until its next heartbeat, ping or plan step.
Its socket is websockets' sans-I/O client protocol on an asyncio transport: frames are
parsed and handled in the transport's callback, with no task switch per frame. That
keeps the client cheap (about 10 µs a frame rather than 50-70 µs through the asyncio
client): a benchmark's ten thousand sockets receiving a notice must measure the server,
not the client.
"""

import asyncio
import json
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import cast

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import WebSocketURI, parse_uri

from studymission.rehearsal.plan import Place, Plan, Step
from studymission.rehearsal.timeline import EventTimeline, parse_instant

INFINITY = float("inf")
#: How long a closing socket waits for the server to close the connection (real s).
CLOSE_TIMEOUT = 2.0


@lru_cache(maxsize=256)
def heartbeat_text(visible: bool, in_room: bool, room: str) -> str:
    """The heartbeat frame for a place; cached, since a crowd says the same few things."""
    return json.dumps(
        {"type": "heartbeat", "visible": visible, "in_room": in_room, "room": room},
        separators=(",", ":"),
    )


def client_frames(texts: Iterable[str]) -> bytes:
    """Text frames as a client puts them on the wire (masked), ready to write in one go.

    For load generation: writing these bytes costs the client almost nothing, so the
    server, not the generator, limits how many frames a second go through.
    """
    return b"".join(
        Frame(Opcode.TEXT, text.encode()).serialize(mask=True, extensions=[]) for text in texts
    )


@dataclass(slots=True)
class Tally:
    """How many bots received one frame (a notice, a pong), and when the first and last did
    (``time.monotonic()``)."""

    count: int = 0
    first: float = 0.0
    last: float = 0.0


@dataclass(slots=True)
class Recorder:
    """What a fleet saw, counted once for all its bots (no per-bot lists)."""

    connected: int = 0
    connects: int = 0
    #: handshakes the server refused (bad or expired token): the bot gives up
    refused: int = 0
    #: connection attempts that failed otherwise (retried with backoff)
    failures: int = 0
    #: sockets closed by the server or the network while the plan wanted them open
    lost: int = 0
    beats: int = 0
    pings: int = 0
    errors: int = 0
    last_error: str = ""
    #: round trips of the bots' own pings (real seconds)
    rtts: list[float] = field(default_factory=list)
    #: ``pong`` frames of pings written by `Fleet.write_raw`, by id
    pongs: dict[str, Tally] = field(default_factory=dict)
    #: ``notice`` frames by text
    notices: dict[str, Tally] = field(default_factory=dict)

    @staticmethod
    def tally(table: dict[str, Tally], key: str, at: float) -> None:
        entry = table.get(key)
        if entry is None:
            entry = table[key] = Tally(0, at, at)
        entry.count += 1
        entry.last = at

    async def wait_for(
        self, table: dict[str, Tally], key: str, count: int, timeout: float
    ) -> Tally | None:
        """Wait until `count` bots received `key`; the tally, or None after `timeout` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = table.get(key)
            if entry is not None and entry.count >= count:
                return entry
            await asyncio.sleep(0.005)
        return None


@dataclass(slots=True)
class Beat:
    """A heartbeat of a journaling bot, in event time."""

    #: the bot's reading of event time just before it sent the heartbeat: the server cannot
    #: have stamped it earlier
    sent: datetime
    #: the server's event time in the ``pong`` of the ping sent right after it: the server
    #: stamped the heartbeat no later (one socket's frames are handled in order); None
    #: when no pong came (the socket closed first)
    acked: datetime | None = None


@dataclass(slots=True)
class Visit:
    """One socket of a journaling bot, from its opening to its close, in event time as the
    bot's timeline reads it."""

    opened: datetime
    beats: list[Beat] = field(default_factory=list)
    #: when the bot began to close it (its plan): the server closed it no earlier
    closing: datetime | None = None
    #: when the bot saw the connection gone (the server had answered the close by then)
    closed: datetime | None = None
    #: closed by the server or the network, not by the plan
    lost: bool = False


@dataclass(frozen=True, slots=True)
class Participant:
    """Who a bot is (person key and bearer token) and what it does."""

    key: str
    token: str
    plan: Plan


class _Link(asyncio.Protocol):
    """One socket: websockets' sans-I/O client protocol on an asyncio transport."""

    __slots__ = ("bot", "closed", "opened", "protocol", "transport")

    def __init__(self, bot: "Bot", uri: WebSocketURI, token: str) -> None:
        self.bot = bot
        self.protocol = ClientProtocol(uri)
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        #: resolved by the ``welcome`` frame (True), or False if the handshake failed
        self.opened: asyncio.Future[bool] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        request = self.protocol.connect()
        request.headers["Authorization"] = f"Bearer {token}"
        self.protocol.send_request(request)

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        self._flush()

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Response):
                if protocol.handshake_exc is not None and not self.opened.done():
                    self.opened.set_exception(protocol.handshake_exc)
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self.bot.on_text(self, bytes(event.data))
        self._flush()
        if protocol.state is State.CLOSED or (
            protocol.close_expected() and protocol.close_rcvd is not None
        ):
            self._drop()

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)
        self.bot.on_closed(self)

    # -- used by the bot ----------------------------------------------------------------------

    def send(self, text: str) -> bool:
        if self.transport is None or self.protocol.state is not State.OPEN:
            return False
        self.protocol.send_text(text.encode())
        self._flush()
        return True

    def write_raw(self, blob: bytes) -> bool:
        if self.transport is None or self.protocol.state is not State.OPEN:
            return False
        self.transport.write(blob)
        return True

    async def close(self) -> None:
        """Close the WebSocket (1000), and the connection once the server has answered."""
        if self.transport is None:
            return
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(1000)
            self._flush()
            try:
                await asyncio.wait_for(asyncio.shield(self.closed), CLOSE_TIMEOUT)
            except TimeoutError:
                pass
        self._drop()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()

    def _drop(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class Bot:
    """One simulated browser tab; see the module's docstring. Run by a `Fleet`."""

    __slots__ = (
        "assigned",
        "beating",
        "fleet",
        "journal",
        "link",
        "next_beat",
        "next_ping",
        "participant",
        "period",
        "ping_id",
        "ping_sent",
        "pinging",
        "place",
        "retries",
        "retry_at",
        "waker",
        "wanted",
    )

    def __init__(self, fleet: "Fleet", participant: Participant, *, pinging: bool) -> None:
        self.fleet = fleet
        self.participant = participant
        self.pinging = pinging
        self.link: _Link | None = None
        self.place = Place()
        self.assigned = "main"
        self.wanted = False
        self.beating = False
        self.period = 1.0
        self.next_beat = INFINITY
        self.next_ping = INFINITY
        self.ping_id = ""
        self.ping_sent = 0.0
        self.retry_at = 0.0
        self.retries = 0
        self.waker: asyncio.Future[None] | None = None
        #: this bot's sockets, when its fleet keeps a journal
        self.journal: list[Visit] | None = [] if fleet.journal else None

    @property
    def connected(self) -> bool:
        return self.link is not None

    async def run(self) -> None:
        """Follow the plan to its end; the socket is closed however this ends."""
        fleet = self.fleet
        try:
            for step in self.participant.plan.steps(fleet.until):
                await self._serve_until(fleet.loop_time_at(step.at))
                await self._act(step)
        finally:
            self.wanted = False
            await self._close()

    def write_raw(self, blob: bytes) -> bool:
        """Write ready-made frames (`client_frames`) on the socket, if it is open."""
        return self.link is not None and self.link.write_raw(blob)

    # -- the plan ---------------------------------------------------------------------------

    async def _act(self, step: Step) -> None:
        self.place = step.place
        if step.action == "connect":
            self.wanted = True
            self.beating = not step.silent
            self.retry_at = 0.0
            await self._open()
        elif step.action == "place":
            if self.beating:
                self._beat()
        elif step.action == "silence":
            if self.beating:
                self._beat()
            self.beating = False
        else:
            self.wanted = False
            await self._close()

    async def _serve_until(self, at: float) -> None:
        """Until loop time `at`: heartbeat, ping and reconnect as they fall due."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if now >= at:
                return
            if self.link is None:
                if self.wanted and self.retry_at <= now:
                    await self._open()
                    continue
                wake = min(at, self.retry_at) if self.wanted else at
            else:
                if self.beating and now >= self.next_beat:
                    self._beat()
                if now >= self.next_ping:
                    self._ping()
                wake = min(at, self.next_beat if self.beating else INFINITY, self.next_ping)
            await self._sleep_until(wake)

    async def _sleep_until(self, when: float) -> None:
        """Sleep until loop time `when`, or until the socket is lost."""
        loop = asyncio.get_running_loop()
        waker = self.waker = loop.create_future()
        timer = loop.call_at(when, _wake, waker)
        try:
            await waker
        finally:
            timer.cancel()
            self.waker = None

    # -- the socket ---------------------------------------------------------------------------

    async def _open(self) -> None:
        fleet = self.fleet
        recorder = fleet.recorder
        link = _Link(self, fleet.uri, self.participant.token)
        loop = asyncio.get_running_loop()
        try:
            async with fleet.gate:
                await asyncio.wait_for(
                    loop.create_connection(lambda: link, fleet.uri.host, fleet.uri.port),
                    fleet.open_timeout,
                )
                # The handshake, and the welcome frame that tells the heartbeat period.
                await asyncio.wait_for(link.opened, fleet.open_timeout)
        except asyncio.CancelledError:
            link.abort()
            raise
        except InvalidStatus:
            recorder.refused += 1
            self.wanted = False
            await link.close()
            return
        except (OSError, TimeoutError, ConnectionError, ValueError):
            recorder.failures += 1
            await link.close()
            self._backoff()
            return
        if link.transport is None or link.transport.is_closing():
            recorder.failures += 1
            self._backoff()
            return
        self.link = link
        self.retries = 0
        recorder.connected += 1
        recorder.connects += 1
        now = loop.time()
        if self.journal is not None:
            self.journal.append(Visit(fleet.timeline.event_at(now)))
        if self.beating:
            self._beat()
        if self.pinging and fleet.ping_every:
            self.next_ping = now + random.uniform(0, fleet.ping_every)

    def _backoff(self) -> None:
        delay = min(5.0, 0.25 * 2**self.retries) * random.uniform(0.5, 1.5)
        self.retries += 1
        self.retry_at = asyncio.get_running_loop().time() + delay

    async def _close(self) -> None:
        link, self.link = self.link, None
        if link is None:
            return
        self.fleet.recorder.connected -= 1
        self.next_ping = INFINITY
        visit = self.journal[-1] if self.journal else None
        if visit is not None:
            visit.closing = self._event_now()
        await link.close()
        if visit is not None:
            visit.closed = self._event_now()

    def on_closed(self, link: _Link) -> None:
        """The connection of `link` is gone; if it was ours and wanted, reconnect later."""
        if link is not self.link:
            return
        self.link = None
        self.fleet.recorder.connected -= 1
        self.next_ping = INFINITY
        if self.journal:
            self.journal[-1].closed = self._event_now()
            self.journal[-1].lost = True
        if self.wanted:
            self.fleet.recorder.lost += 1
            self._backoff()
        if self.waker is not None and not self.waker.done():
            self.waker.set_result(None)

    def _beat(self) -> None:
        place = self.place
        room = self.assigned if not self.participant.plan.rooms else place.room
        now = asyncio.get_running_loop().time()
        self.next_beat = now + self.period
        link = self.link
        if link is not None and link.send(heartbeat_text(place.visible, place.in_room, room)):
            self.fleet.recorder.beats += 1
            if self.journal:
                visit = self.journal[-1]
                visit.beats.append(Beat(self.fleet.timeline.event_at(now)))
                link.send(
                    f'{{"type":"ping","id":"ack-{len(self.journal) - 1}-{len(visit.beats) - 1}"}}'
                )

    def _event_now(self) -> datetime:
        return self.fleet.timeline.event_at(asyncio.get_running_loop().time())

    def _acked(self, frame_id: str, server_time: object) -> None:
        """The pong of a journaling bot's heartbeat ping (id ``ack-VISIT-BEAT``)."""
        assert self.journal is not None
        try:
            _ack, visit, beat = frame_id.split("-")
            self.journal[int(visit)].beats[int(beat)].acked = parse_instant(str(server_time))
        except (ValueError, IndexError) as error:
            self.fleet.recorder.errors += 1
            self.fleet.recorder.last_error = f"a bad ack {frame_id!r}: {error}"

    def _ping(self) -> None:
        fleet = self.fleet
        fleet.recorder.pings += 1
        self.ping_id = f"bot-{fleet.recorder.pings}"
        self.ping_sent = time.monotonic()
        self.next_ping = asyncio.get_running_loop().time() + (fleet.ping_every or INFINITY)
        if self.link is not None:
            self.link.send(f'{{"type":"ping","id":"{self.ping_id}"}}')

    def on_text(self, link: _Link, data: bytes) -> None:
        """A text frame from the server, handled as it arrives."""
        recorder = self.fleet.recorder
        if data.startswith(b'{"type":"pong"'):
            at = time.monotonic()
            pong = json.loads(data)
            frame_id = str(pong.get("id", ""))
            if frame_id == self.ping_id:
                recorder.rtts.append(at - self.ping_sent)
                self.ping_id = ""
            elif self.journal is not None and frame_id.startswith("ack-"):
                self._acked(frame_id, pong.get("server_time"))
            else:
                recorder.tally(recorder.pongs, frame_id, at)
        elif data.startswith(b'{"type":"notice"'):
            at = time.monotonic()
            recorder.tally(recorder.notices, str(json.loads(data).get("text", "")), at)
        elif data.startswith(b'{"type":"state"'):
            room = (json.loads(data).get("room") or {}).get("name")
            if isinstance(room, str) and room != self.assigned:
                self.assigned = room
                if link is self.link and self.beating and not self.participant.plan.rooms:
                    self._beat()
        elif data.startswith(b'{"type":"welcome"'):
            if not link.opened.done():
                try:
                    self.period = float(json.loads(data)["heartbeat_seconds"])
                except (ValueError, KeyError, TypeError) as error:
                    link.opened.set_exception(ValueError(f"a bad welcome frame: {error}"))
                else:
                    link.opened.set_result(True)
        elif data.startswith(b'{"type":"error"'):
            recorder.errors += 1
            recorder.last_error = data.decode(errors="replace")


def _wake(waker: "asyncio.Future[None]") -> None:
    if not waker.done():
        waker.set_result(None)


class Fleet:
    """Bots of one event on one server, one asyncio task each, sharing what they can.

    `until` (event minutes from `session_start`) is when every plan ends and its socket
    closes. `pingers` bots (the first ones) also send a ``ping`` every `ping_every` real
    seconds and record its round trip. At most `connect_limit` handshakes run at once.
    With `journal`, every bot keeps a `Visit` per socket (``bot.journal``) and acks its
    heartbeats with pings (twice the frames: for tests, not for load).
    """

    def __init__(
        self,
        url: str,
        participants: Sequence[Participant],
        *,
        timeline: EventTimeline,
        session_start: datetime,
        until: float,
        recorder: Recorder | None = None,
        ping_every: float | None = None,
        pingers: int = 0,
        connect_limit: int = 64,
        open_timeout: float = 60.0,
        journal: bool = False,
    ) -> None:
        self.url = url
        self.uri = parse_uri(url)
        self.timeline = timeline
        self.session_start = session_start
        self.until = until
        self.recorder = recorder or Recorder()
        self.ping_every = ping_every
        self.open_timeout = open_timeout
        self.journal = journal
        self.gate = asyncio.Semaphore(connect_limit)
        self.bots = [Bot(self, p, pinging=i < pingers) for i, p in enumerate(participants)]
        self._tasks: list[asyncio.Task[None]] = []

    def loop_time_at(self, minute: float) -> float:
        """The loop time at `minute` event minutes from the session's start."""
        return self.timeline.loop_time_at(self.session_start + timedelta(minutes=minute))

    def minute_now(self) -> float:
        """Event minutes from the session's start, now."""
        now = self.timeline.event_at(asyncio.get_running_loop().time())
        return (now - self.session_start).total_seconds() / 60

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(bot.run(), name=f"bot-{bot.participant.key}") for bot in self.bots
        ]

    async def wait(self) -> None:
        """Until every bot's plan has ended; a bot's failure is raised here."""
        await asyncio.gather(*self._tasks)

    async def stop(self) -> None:
        """Stop every bot now; their sockets close."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def write_raw(self, blob: bytes) -> int:
        """Write ready-made frames on every open socket; returns how many took them."""
        return sum(1 for bot in self.bots if bot.write_raw(blob))

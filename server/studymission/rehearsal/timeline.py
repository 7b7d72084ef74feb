"""Event time as a client sees it: the server's event clock mapped onto the loop's clock.

Bots act at event instants (a plan says "drop at minute 8:20") but sleep on the event
loop's clock (``loop.time()``, real monotonic seconds). An `EventTimeline` is the line
between the two: one reference pair (event instant, loop time) and the time scale.
In-process callers build it from the server's `EventClock`; a client in another process
syncs it with `sync_timeline`, from the ``server_time`` of ``pong`` frames.
"""

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from websockets.asyncio.client import connect

from studymission.domain.clock import EventClock

#: Event seconds between heartbeats (CONTRACT §3); ``welcome.heartbeat_seconds`` is this
#: divided by the time scale, which is how a client learns the scale.
HEARTBEAT_EVENT_SECONDS = 15.0


def parse_instant(text: str) -> datetime:
    """An ISO instant as the server writes it (``...Z`` or with an offset), aware."""
    instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class EventTimeline:
    """Event time ``event_ref + (loop_time - real_ref) × scale``; ``real_ref`` is a
    ``loop.time()`` value of the loop the bots run on."""

    event_ref: datetime
    real_ref: float
    scale: float

    @classmethod
    def of_clock(cls, clock: EventClock, *, loop_time: float, wall: datetime) -> "EventTimeline":
        """The timeline of an in-process `clock`, given one loop time and the wall time
        read at the same moment."""
        return cls(clock.at(wall), loop_time, clock.scale)

    def event_at(self, loop_time: float) -> datetime:
        return self.event_ref + timedelta(seconds=(loop_time - self.real_ref) * self.scale)

    def loop_time_at(self, instant: datetime) -> float:
        return self.real_ref + (instant - self.event_ref).total_seconds() / self.scale


async def sync_timeline(url: str, headers: Mapping[str, str], *, rounds: int = 5) -> EventTimeline:
    """Sync with the server at `url` (a ``ws://…/ws/CODE`` URL) over one socket.

    The scale comes from ``welcome.heartbeat_seconds``; the reference from the ping
    whose round trip was shortest, its ``server_time`` taken at the middle of the trip,
    so the timeline is off by at most half that round trip. Use the token of a person
    whose presence does not matter (the socket sends no heartbeat, so it logs none).
    """
    loop = asyncio.get_running_loop()
    async with connect(url, additional_headers=dict(headers), compression=None, proxy=None) as ws:
        welcome = json.loads(await ws.recv())
        if welcome.get("type") != "welcome":
            raise RuntimeError(f"expected a welcome frame, got {welcome!r}")
        scale = HEARTBEAT_EVENT_SECONDS / float(welcome["heartbeat_seconds"])
        best: tuple[float, datetime, float] | None = None
        for number in range(rounds):
            sent = loop.time()
            await ws.send(json.dumps({"type": "ping", "id": f"sync-{number}"}))
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("type") == "pong" and frame.get("id") == f"sync-{number}":
                    break
            received = loop.time()
            trip = received - sent
            if best is None or trip < best[0]:
                best = (trip, parse_instant(frame["server_time"]), (sent + received) / 2)
    assert best is not None
    return EventTimeline(best[1], best[2], scale)

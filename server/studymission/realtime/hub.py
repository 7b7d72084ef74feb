"""The sockets this process holds, grouped by event, and delivery to them.

A broadcast serialises its frame once and writes it to each socket in a plain loop:
the ASGI server queues the bytes without waiting for the peer, so one slow client does
not hold up the rest, and the loop costs half the CPU of a ``gather`` per delivery.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.websockets import WebSocket

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class Connection:
    socket: str
    websocket: WebSocket
    event_code: str
    person_id: int
    person_key: str
    role: str
    person_name: str = ""
    person_email: str = ""
    #: Where this person belongs now (main, breakout-N, site-visit).
    room: str = "main"
    #: The last state frame sent, so that only changes go out.
    last_state: str | None = None
    #: Video rooms this socket was let into: (session, room) -> (jitsi frame, minted at, real).
    video: dict[tuple[str, str], tuple[dict[str, Any], datetime]] = field(default_factory=dict)


@dataclass(slots=True)
class Hub:
    events: dict[str, dict[str, Connection]] = field(default_factory=dict)

    def add(self, connection: Connection) -> None:
        self.events.setdefault(connection.event_code, {})[connection.socket] = connection

    def remove(self, connection: Connection) -> None:
        sockets = self.events.get(connection.event_code)
        if sockets is not None:
            sockets.pop(connection.socket, None)
            if not sockets:
                del self.events[connection.event_code]

    def connections(self, event_code: str, room: str | None = None) -> list[Connection]:
        sockets = self.events.get(event_code, {})
        if room is None:
            return list(sockets.values())
        return [c for c in sockets.values() if c.room == room]

    def __len__(self) -> int:
        return sum(len(sockets) for sockets in self.events.values())

    async def send(self, connections: list[Connection], text: str) -> int:
        """Write `text` to each connection; returns how many took it."""
        sent = 0
        for connection in connections:
            try:
                await connection.websocket.send_text(text)
            except Exception:  # a socket closing mid-send is not an error of ours
                continue
            sent += 1
        return sent

"""This process's part of the presence log: its sockets, their heartbeats, their minutes.

Each process tracks only the sockets it holds. Heartbeats fold into per-minute coverage
bits as they arrive (domain.presence); at every minute boundary, and on shutdown, the
bits are written as OR-upserts, so two tabs or two processes holding one person never
double-count, and a flush repeated after a failure never does harm. Connects,
disconnects and changes of place are queued for the audit trail and the live roster.
"""

from dataclasses import dataclass, field
from datetime import datetime

from studymission.db.presence import MinuteCell, SocketChange
from studymission.domain.presence import (
    Heartbeat,
    Interval,
    MinuteCoverage,
    SessionGrid,
    SocketPresence,
)
from studymission.domain.values import AttendanceRules


@dataclass(frozen=True, slots=True)
class EventFrame:
    """What presence tracking needs to know of an event: its rules and session grids."""

    event_id: int
    code: str
    rules: AttendanceRules
    #: (session id, session key, grid), in time order
    sessions: tuple[tuple[int, str, SessionGrid], ...]


@dataclass(slots=True)
class TrackedSocket:
    socket: str
    person_id: int
    frame: EventFrame
    presence: SocketPresence
    #: (room, in_room, visible) of the latest heartbeat, to log changes of place only
    place: tuple[str, bool, bool] | None = None


@dataclass(slots=True)
class PresenceTracker:
    process: str
    sockets: dict[str, TrackedSocket] = field(default_factory=dict)
    coverage: dict[tuple[int, int], MinuteCoverage] = field(default_factory=dict)
    changes: list[SocketChange] = field(default_factory=list)

    def open(self, socket: str, frame: EventFrame, person_id: int, now: datetime) -> None:
        self.sockets[socket] = TrackedSocket(socket, person_id, frame, SocketPresence(frame.rules))
        self.changes.append(
            SocketChange(frame.event_id, person_id, socket, self.process, "connect", now)
        )

    def heartbeat(self, socket: str, heartbeat: Heartbeat) -> None:
        tracked = self.sockets.get(socket)
        if tracked is None:
            return
        self._fold(tracked, tracked.presence.heartbeat(heartbeat))
        place = (heartbeat.room, heartbeat.in_room, heartbeat.visible)
        if place != tracked.place:
            tracked.place = place
            self.changes.append(
                SocketChange(
                    tracked.frame.event_id,
                    tracked.person_id,
                    socket,
                    self.process,
                    "change",
                    heartbeat.at,
                    room=heartbeat.room,
                    in_room=heartbeat.in_room,
                    visible=heartbeat.visible,
                )
            )

    def close(self, socket: str, now: datetime, detail: dict[str, object]) -> None:
        tracked = self.sockets.pop(socket, None)
        if tracked is None:
            return
        self._fold(tracked, tracked.presence.close(now))
        self.changes.append(
            SocketChange(
                tracked.frame.event_id,
                tracked.person_id,
                socket,
                self.process,
                "disconnect",
                now,
                detail=dict(detail),
            )
        )

    def advance(self, now: datetime) -> None:
        """Fold the qualifying time every open socket accrued up to `now`."""
        for tracked in self.sockets.values():
            accrued = tracked.presence.advance(now)
            if accrued:
                self._fold(tracked, accrued)

    def take_cells(self) -> list[MinuteCell]:
        """The coverage gathered since the last take, as rows to OR into the log."""
        cells = [
            (session_id, person_id, minute, room, bits[0], bits[1])
            for (session_id, person_id), coverage in self.coverage.items()
            for (minute, room), bits in coverage.cells.items()
        ]
        self.coverage = {}
        return cells

    def restore_cells(self, cells: list[MinuteCell]) -> None:
        """Put back cells whose write failed; they go out with the next flush."""
        for session_id, person_id, minute, room, covered, visible in cells:
            coverage = self.coverage.setdefault((session_id, person_id), MinuteCoverage())
            coverage.merge(minute, room, covered, visible)

    def take_changes(self) -> list[SocketChange]:
        changes, self.changes = self.changes, []
        return changes

    def restore_changes(self, changes: list[SocketChange]) -> None:
        self.changes[:0] = changes

    def _fold(self, tracked: TrackedSocket, intervals: list[Interval]) -> None:
        for interval in intervals:
            for session_id, _key, grid in tracked.frame.sessions:
                if interval.end <= grid.start or interval.start >= grid.end:
                    continue
                key = (session_id, tracked.person_id)
                coverage = self.coverage.get(key)
                if coverage is None:
                    coverage = self.coverage[key] = MinuteCoverage()
                coverage.add(grid, interval)

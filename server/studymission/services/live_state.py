"""What a connected client is told: the event's programme as the realtime layer needs it,
and the ``state`` frame's body (CONTRACT §3)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from studymission.db.events import attendance_rules, get_event, read_programme
from studymission.domain.presence import SessionGrid
from studymission.domain.run_of_show import scheduled_state
from studymission.domain.values import ItemKind, SessionSpec
from studymission.realtime.presence import EventFrame


@dataclass(frozen=True, slots=True)
class EventSnapshot:
    """An event's programme and presence rules, read once and shared by its sockets."""

    frame: EventFrame
    sessions: tuple[SessionSpec, ...]


def session_grid(session: SessionSpec) -> SessionGrid:
    breaks = [(i.start, i.end) for i in session.agenda if i.kind is ItemKind.BREAK]
    return SessionGrid.of(session.start, session.end, breaks)


def load_snapshot(db: Session, code: str) -> EventSnapshot | None:
    event = get_event(db, code)
    if event is None:
        return None
    programme = read_programme(db, event)
    frame = EventFrame(
        event_id=event.id or 0,
        code=event.code,
        rules=attendance_rules(event),
        sessions=tuple((sid, s.key, session_grid(s)) for sid, s in programme),
    )
    return EventSnapshot(frame, tuple(s for _sid, s in programme))


def state_body(snapshot: EventSnapshot, now: datetime) -> dict[str, Any]:
    """The ``state`` frame for everyone in the main room, from the schedule."""
    scheduled = scheduled_state(snapshot.sessions, now)
    return {
        "session": scheduled.session,
        "mode": scheduled.mode.value,
        "item": scheduled.item,
        "room": {"name": "main", "jitsi": None},
        "playback": None,
        "ends_at": None,
    }

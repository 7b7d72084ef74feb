"""What a connected client is told: the event's programme and run of show as the realtime
layer needs them, and the ``state`` frame's body (CONTRACT §3)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from studymission.db.events import attendance_rules, get_event, read_programme
from studymission.db.run_of_show import read_controls
from studymission.domain.presence import SessionGrid
from studymission.domain.run_of_show import Control, ShowState, show_state
from studymission.domain.values import ItemKind, Mode, SessionSpec
from studymission.realtime.presence import EventFrame

#: The room of the recorded site visit: a stream, not a conference.
SITE_VISIT_ROOM = "site-visit"


@dataclass(frozen=True, slots=True)
class EventSnapshot:
    """An event's programme, presence rules and run of show, read once and shared by its
    sockets; read again whenever a moderator changes the run of show."""

    frame: EventFrame
    sessions: tuple[SessionSpec, ...]
    controls: dict[str, Control]

    def show(self, now: datetime) -> ShowState:
        return show_state(self.sessions, self.controls, now)


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
    return EventSnapshot(frame, tuple(s for _sid, s in programme), read_controls(db, event.id or 0))


def room_for(show: ShowState, assigned: str) -> tuple[str, bool]:
    """Where a person assigned to room `assigned` belongs in `show`, and whether that room
    is a video conference (the site visit is a stream; an ended session has no call)."""
    if show.mode is Mode.SITE_VISIT:
        return SITE_VISIT_ROOM, False
    return assigned, show.session is not None and show.mode is not Mode.ENDED


def state_body(show: ShowState) -> dict[str, Any]:
    """The parts of the ``state`` frame shared by everyone; the caller adds ``room``."""
    return {
        "session": show.session,
        "mode": show.mode.value,
        "item": show.item,
        "manual": show.manual,
        "room": None,
        "playback": None,
        "ends_at": None,
    }

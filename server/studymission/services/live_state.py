"""What a connected client is told: the event's programme and run of show as the realtime
layer needs them, and the ``state`` frame's body (CONTRACT §3)."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from studymission.db.breakouts import open_rounds, rooms_by_person
from studymission.db.events import attendance_rules, get_event, read_programme
from studymission.db.playback import read_playbacks
from studymission.db.run_of_show import read_controls
from studymission.domain.playback import Playback
from studymission.domain.presence import SessionGrid
from studymission.domain.run_of_show import Control, ShowState, show_state
from studymission.domain.values import ItemKind, Mode, SessionSpec
from studymission.realtime.presence import EventFrame
from studymission.realtime.protocol import iso

#: The room of the recorded site visit: a stream, not a conference.
SITE_VISIT_ROOM = "site-visit"


@dataclass(frozen=True, slots=True)
class OpenRound:
    """A breakout round open now: who is in which room, until when (event time)."""

    id: int
    ends_at: datetime
    rooms: dict[int, str]


@dataclass(frozen=True, slots=True)
class EventSnapshot:
    """An event's programme, presence rules and run of show, read once and shared by its
    sockets; read again whenever a moderator changes the run of show."""

    frame: EventFrame
    sessions: tuple[SessionSpec, ...]
    controls: dict[str, Control]
    #: Open breakout rounds, by session key.
    rounds: dict[str, OpenRound] = field(default_factory=dict)
    #: Site-visit playback clocks, by session key.
    playbacks: dict[str, Playback] = field(default_factory=dict)

    def show(self, now: datetime) -> ShowState:
        return show_state(self.sessions, self.controls, now)

    def assigned(self, show: ShowState, person_id: int) -> tuple[str, OpenRound | None]:
        """The room `show` puts the person in (their breakout room during a round)."""
        round_ = self.rounds.get(show.session or "") if show.mode is Mode.BREAKOUTS else None
        if round_ is None:
            return "main", None
        return round_.rooms.get(person_id, "main"), round_

    def playback(self, show: ShowState) -> Playback | None:
        """The clock every page plays during the site visit (none in other modes)."""
        if show.mode is not Mode.SITE_VISIT or show.session is None:
            return None
        return self.playbacks.get(show.session)


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
    rounds = {
        key: OpenRound(r.id or 0, r.ends_at, rooms_by_person(db, r.id or 0))
        for r, key in open_rounds(db, event.id or 0)
    }
    return EventSnapshot(
        frame,
        tuple(s for _sid, s in programme),
        read_controls(db, event.id or 0),
        rounds,
        read_playbacks(db, event.id or 0),
    )


def room_for(show: ShowState, assigned: str) -> tuple[str, bool]:
    """Where a person assigned to room `assigned` belongs in `show`, and whether that room
    is a video conference (the site visit is a stream; an ended session has no call)."""
    if show.mode is Mode.SITE_VISIT:
        return SITE_VISIT_ROOM, False
    return assigned, show.session is not None and show.mode is not Mode.ENDED


def playback_body(playback: Playback | None, rate: float) -> dict[str, Any] | None:
    """The ``playback`` field of the state frame (CONTRACT §3, with ``duration``, ``rate``
    — seconds of recording per second of event time — and ``live`` added)."""
    if playback is None:
        return None
    recording = playback.recording
    url = recording_url(recording.asset, recording.version) if recording else playback.live_url
    return {
        "asset": recording.asset if recording else None,
        "url": url,
        "state": playback.state.value,
        "position": round(playback.position, 3),
        "at": iso(playback.at),
        "duration": recording.duration if recording else None,
        "rate": rate,
        "live": playback.live,
    }


def recording_url(asset: str, version: str) -> str:
    """The master playlist of a packaged recording (served by the app or by nginx)."""
    return f"/media/{asset}/{version}/master.m3u8"


def state_body(show: ShowState, playback: dict[str, Any] | None = None) -> dict[str, Any]:
    """The parts of the ``state`` frame shared by everyone; the caller adds ``room``."""
    return {
        "session": show.session,
        "mode": show.mode.value,
        "item": show.item,
        "manual": show.manual,
        "room": None,
        "playback": playback,
        "ends_at": None,
    }

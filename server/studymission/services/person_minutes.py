"""One person's minutes: the per-minute strip and log of each session, their connections,
and a participant's own minutes so far, from the same services as the JSON API."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from sqlmodel import Session

from studymission.db import events as store
from studymission.db import presence as presence_store
from studymission.db.tables import Event, Person
from studymission.domain.attendance import (
    Eligibility,
    SessionAttendance,
    eligibility,
    session_attendance,
)
from studymission.domain.errors import NotFoundError
from studymission.domain.presence import PresenceMinute
from studymission.services import attendance as attendance_service
from studymission.services.attendance_report_page import TrailLine, override_trail

PRESENT, PARTIAL, ABSENT, BREAK, LATER = "present", "partial", "absent", "break", "later"


@dataclass(frozen=True)
class StripRun:
    """Consecutive minutes in one state: present, partial, absent, break, or later (not
    reached yet)."""

    state: str
    start: int
    length: int


@dataclass(frozen=True)
class SessionMinutes:
    """One person's minutes of one session: the log, its summary and its strip."""

    key: str
    title: str
    start: datetime
    end: datetime
    attendance: SessionAttendance
    needed: int
    minute_count: int
    reached: int
    log: tuple[PresenceMinute, ...]
    strip: tuple[StripRun, ...]

    @property
    def started(self) -> bool:
        return self.reached > 0

    @property
    def running(self) -> bool:
        return 0 < self.reached and not self.ended

    @property
    def ended(self) -> bool:
        return self.reached >= self.minute_count

    def minute_start(self, minute: int) -> datetime:
        return self.start + timedelta(minutes=minute)


def person_minutes(
    db: Session, event: Event, person: Person, *, now: datetime
) -> tuple[SessionMinutes, ...]:
    """`person`'s log of every session reached by `now`, read for them alone (not the whole
    report: a participant's page asks every 30 seconds)."""
    rules = store.attendance_rules(event)
    out = []
    for frame in attendance_service.session_frames(db, event):
        grid = frame.grid
        reached = grid.minutes_reached(now)
        log = attendance_service.presence_log(db, event, person.key, frame.key, now=now)
        required = grid.required_minutes
        out.append(
            SessionMinutes(
                key=frame.key,
                title=frame.title,
                start=grid.start,
                end=grid.end,
                attendance=session_attendance(frame.key, required, log, rules.session_threshold),
                needed=math.ceil(rules.session_threshold * required),
                minute_count=grid.minute_count,
                reached=reached,
                log=tuple(log),
                strip=minute_strip(log, grid.minute_count),
            )
        )
    return tuple(out)


def minute_strip(log: Sequence[PresenceMinute], minute_count: int) -> tuple[StripRun, ...]:
    """The log as runs of states, minutes not reached yet included as ``later``."""
    states = [
        BREAK if m.is_break else PRESENT if m.present else PARTIAL if m.seconds else ABSENT
        for m in log
    ]
    states.extend([LATER] * max(0, minute_count - len(states)))
    runs = []
    start = 0
    for state, run in groupby(states):
        length = sum(1 for _ in run)
        runs.append(StripRun(state, start, length))
        start += length
    return tuple(runs)


@dataclass(frozen=True)
class MyAttendance:
    """What a person's own page shows: their current session and how the others went."""

    sessions: tuple[SessionMinutes, ...]
    #: The session running now, else the next, else the last (as the live state picks it).
    current: SessionMinutes | None
    minute_threshold_seconds: int


def my_attendance(db: Session, event: Event, person: Person, *, now: datetime) -> MyAttendance:
    """The signed-in person's own minutes; nobody else's data is read."""
    sessions = person_minutes(db, event, person, now=now)
    ordered = sorted(sessions, key=lambda s: s.start)
    current = next((s for s in ordered if now < s.end), ordered[-1] if ordered else None)
    return MyAttendance(sessions, current, event.minute_threshold_seconds)


@dataclass(frozen=True)
class Connection:
    kind: str
    at: datetime
    room: str | None
    detail: str


@dataclass(frozen=True)
class PersonDetail:
    person: Person
    sessions: tuple[SessionMinutes, ...]
    eligibility: Eligibility
    connections: tuple[Connection, ...]
    trail: tuple[TrailLine, ...]
    minute_threshold_seconds: int

    @property
    def finished(self) -> bool:
        return all(session.ended for session in self.sessions)


def person_detail(db: Session, event: Event, person_key: str, *, now: datetime) -> PersonDetail:
    """One person's minutes of every session, eligibility, sockets and override history."""
    person = store.get_person(db, event, person_key)
    if person is None:
        raise NotFoundError(f"no person {person_key!r} in {event.code}")
    sessions = person_minutes(db, event, person, now=now)
    override = attendance_service.active_overrides(db, event).get(person.id or 0)
    decided = eligibility([s.attendance for s in sessions], override)
    history = presence_store.socket_history(db.connection(), event.id or 0, person.id or 0)
    return PersonDetail(
        person=person,
        sessions=sessions,
        eligibility=decided,
        connections=tuple(
            Connection(kind, at, room, _connection_detail(kind, in_room, visible, detail))
            for kind, at, room, in_room, visible, detail in history
        ),
        trail=override_trail(db, event, [person], person),
        minute_threshold_seconds=event.minute_threshold_seconds,
    )


#: What a close code means to a person reading the history (RFC 6455 and the endpoint's own).
CLOSE_CODES = {
    1000: "closed by the page",
    1001: "tab closed or page left",
    1005: "stopped answering (no close frame)",
    1006: "connection lost",
    1008: "refused: sign-in or too many messages",
    1011: "stopped answering pings",
    1012: "server restarting",
}


def _connection_detail(
    kind: str, in_room: bool | None, visible: bool | None, detail: dict[str, object]
) -> str:
    if kind == "change":
        place = "in the room" if in_room else "not in the room"
        tab = "tab visible" if visible else "tab hidden"
        return f"{place}, {tab}"
    if kind == "disconnect":
        code = detail.get("code")
        meaning = CLOSE_CODES.get(code) if isinstance(code, int) else None
        reason = detail.get("reason")
        parts = [f"code {code}" + (f" ({meaning})" if meaning else "")] if code else []
        if reason:
            parts.append(str(reason))
        return "; ".join(parts)
    return ""

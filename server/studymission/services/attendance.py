"""Attendance use cases: the per-minute log, the report, eligibility and its overrides.

Reports read the stored minute rows (whatever process wrote them) and apply the domain
rules; nothing here decides presence on its own.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from studymission.db import events as store
from studymission.db import presence as presence_store
from studymission.db.tables import AttendanceOverride, AuditEntry, Event, Person
from studymission.domain.attendance import (
    AttendanceReport,
    Override,
    PersonAttendance,
    attendance_of,
    eligibility,
)
from studymission.domain.errors import InvalidInputError, NotFoundError
from studymission.domain.presence import (
    PresenceMinute,
    SessionGrid,
    count_present_minutes,
    presence_minutes,
)
from studymission.domain.values import Problem
from studymission.services.live_state import session_grid

MAX_REASON = 2000


@dataclass(frozen=True, slots=True)
class SessionFrame:
    id: int
    key: str
    title: str
    grid: SessionGrid


def session_frames(db: Session, event: Event) -> list[SessionFrame]:
    return [
        SessionFrame(sid, s.key, s.title, session_grid(s))
        for sid, s in store.read_programme(db, event)
    ]


def _session(db: Session, event: Event, key: str) -> SessionFrame:
    for frame in session_frames(db, event):
        if frame.key == key:
            return frame
    raise NotFoundError(f"no session {key!r} in {event.code}")


def _person(db: Session, event: Event, key: str) -> Person:
    person = store.get_person(db, event, key)
    if person is None:
        raise NotFoundError(f"no person {key!r} in {event.code}")
    return person


def presence_log(
    db: Session, event: Event, person_key: str, session_key: str, *, now: datetime
) -> list[PresenceMinute]:
    """One person's minutes of one session reached by `now`, break minutes included."""
    person = _person(db, event, person_key)
    frame = _session(db, event, session_key)
    rows = presence_store.read_minutes(db.connection(), [frame.id], person.id)
    cells = [(minute, room, covered, visible) for _s, _p, minute, room, covered, visible in rows]
    rules = store.attendance_rules(event)
    return presence_minutes(frame.grid, cells, rules, frame.grid.minutes_reached(now))


#: (person id, session id) → {minute: covered bits}, the rooms of each minute merged
Coverage = dict[tuple[int, int], dict[int, int]]


def read_coverage(db: Session, frames: Sequence[SessionFrame]) -> Coverage:
    """Every stored minute of the sessions, read once for the report and the heat map."""
    coverage: Coverage = {}
    rows = presence_store.read_minutes(db.connection(), [f.id for f in frames])
    for sid, pid, minute, _room, covered, _visible in rows:
        minutes = coverage.setdefault((pid, sid), {})
        minutes[minute] = minutes.get(minute, 0) | covered
    return coverage


def seconds_by_minute(
    frames: Sequence[SessionFrame], coverage: Coverage, *, now: datetime
) -> dict[tuple[int, str], list[int]]:
    """(person id, session key) → covered seconds of each minute reached so far."""
    by_id = {f.id: f for f in frames}
    seconds: dict[tuple[int, str], list[int]] = {}
    for (pid, sid), minutes in coverage.items():
        frame = by_id[sid]
        reached = frame.grid.minutes_reached(now)
        for minute, bits in minutes.items():
            if minute < reached:
                row = seconds.setdefault((pid, frame.key), [0] * reached)
                row[minute] = bits.bit_count()
    return seconds


def active_overrides(db: Session, event: Event) -> dict[int, Override]:
    query = select(AttendanceOverride).where(
        AttendanceOverride.event_id == event.id, col(AttendanceOverride.withdrawn_at).is_(None)
    )
    return {
        o.person_id: Override(o.eligible, o.reason, o.author, o.created_at)
        for o in db.exec(query.order_by(col(AttendanceOverride.created_at)))
    }


def attendance_report(
    db: Session,
    event: Event,
    *,
    now: datetime,
    frames: Sequence[SessionFrame] | None = None,
    coverage: Coverage | None = None,
) -> AttendanceReport:
    """Every active person against every session, as of `now` (event time).

    A caller that also needs the sessions or the minutes (the report page's heat map)
    passes what it read, so that nothing is read twice.
    """
    rules = store.attendance_rules(event)
    frames = session_frames(db, event) if frames is None else frames
    coverage = read_coverage(db, frames) if coverage is None else coverage
    overrides = active_overrides(db, event)
    people = []
    for person in store.list_people(db, event):
        pid = person.id or 0
        sessions = []
        for frame in frames:
            minutes = coverage.get((pid, frame.id), {})
            present = count_present_minutes(
                frame.grid, minutes.items(), rules, frame.grid.minutes_reached(now)
            )
            sessions.append(
                attendance_of(
                    frame.key, frame.grid.required_minutes, present, rules.session_threshold
                )
            )
        people.append(
            PersonAttendance(
                key=person.key,
                name=person.name,
                role=person.role,
                country=person.country,
                origin=person.origin,
                sessions=tuple(sessions),
                eligibility=eligibility(sessions, overrides.get(pid)),
            )
        )
    return AttendanceReport(
        event=event.code,
        title=event.title,
        session_threshold=rules.session_threshold,
        sessions=tuple((f.key, f.title, f.grid.required_minutes) for f in frames),
        people=tuple(people),
    )


def set_override(
    db: Session,
    event: Event,
    person_key: str,
    *,
    eligible: bool,
    reason: str,
    author: str,
    now: datetime,
) -> AttendanceOverride:
    """Record the secretariat's decision; it replaces (withdraws) any earlier one."""
    reason = reason.strip()
    problems = []
    if not reason:
        problems.append(Problem("reason", reason, "say why: the reason is kept with the decision"))
    elif len(reason) > MAX_REASON:
        problems.append(Problem("reason", f"{len(reason)} characters", f"at most {MAX_REASON}"))
    person = store.get_person(db, event, person_key)
    if person is None:
        problems.append(Problem("person", person_key, "no such person in this event"))
    if problems or person is None:
        raise InvalidInputError("the override was not recorded", problems)
    store.lock_event(db, event)
    for current in _active(db, event, person):
        current.withdrawn_at = now
        current.withdrawn_by = author
    override = AttendanceOverride(
        event_id=event.id or 0,
        person_id=person.id or 0,
        eligible=eligible,
        reason=reason,
        author=author,
        created_at=now,
    )
    db.add(override)
    db.add(
        AuditEntry(
            event_id=event.id or 0,
            at=now,
            actor=author,
            action="override.set",
            detail={"person": person.key, "eligible": eligible, "reason": reason},
        )
    )
    db.commit()
    return override


def withdraw_override(
    db: Session, event: Event, person_key: str, *, author: str, now: datetime
) -> int:
    """Withdraw the person's override in force; returns how many were withdrawn (0 or 1)."""
    person = _person(db, event, person_key)
    store.lock_event(db, event)
    active = _active(db, event, person)
    for current in active:
        current.withdrawn_at = now
        current.withdrawn_by = author
    if active:
        db.add(
            AuditEntry(
                event_id=event.id or 0,
                at=now,
                actor=author,
                action="override.withdraw",
                detail={"person": person.key},
            )
        )
    db.commit()
    return len(active)


def _active(db: Session, event: Event, person: Person) -> Sequence[AttendanceOverride]:
    query = select(AttendanceOverride).where(
        AttendanceOverride.event_id == event.id,
        AttendanceOverride.person_id == person.id,
        col(AttendanceOverride.withdrawn_at).is_(None),
    )
    return db.exec(query).all()

"""Breakout rounds of the group discussion (CONTRACT §4b ``breakouts``, ``breakouts/close``).

A round puts participants into rooms ``breakout-1`` … ``breakout-N`` until its end (event
time); the session's mode is ``breakouts`` while it is open. Every change is one transaction
with its audit entry; the caller then announces ``{"kind": "state"}`` on the bus, and every
process sends each socket the room it belongs to now. The timer (``close_due``) closes a
round with a conditional update, so that of several processes exactly one closes it.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from studymission.db import breakouts as store
from studymission.db.events import lock_event, read_programme
from studymission.db.run_of_show import get_control
from studymission.db.tables import AuditEntry, BreakoutMember, BreakoutRound, Event, Person
from studymission.domain.breakouts import (
    Member,
    PlanError,
    balanced_plan,
    room_names,
    smallest_room,
)
from studymission.domain.errors import InvalidInputError
from studymission.domain.run_of_show import scheduled_item
from studymission.domain.values import ItemKind, Mode, Problem, Role, SessionSpec
from studymission.realtime.protocol import iso
from studymission.services.breakout_plan import ROOM_NAME, active_person, read_plan
from studymission.services.run_of_show import find_session, take_control

#: The warning before a round ends.
WARNING_BEFORE = timedelta(minutes=1)
#: balanced: groups made now; plan: the groups prepared for the session (breakout_plan).
STRATEGIES = ("balanced", "plan")


@dataclass(frozen=True, slots=True)
class OpenRequest:
    minutes: float
    rooms: int | None = None
    strategy: str | None = None
    assignments: Mapping[str, Sequence[str]] | None = None


def round_view(db: Session, round_: BreakoutRound) -> dict[str, Any]:
    """The round as the API answers it: id, end, and each room's members."""
    rooms: dict[str, list[str]] = {name: [] for name in room_names(round_.rooms)}
    for room, key in store.room_keys(db, round_.id or 0):
        rooms.setdefault(room, []).append(key)
    return {
        "round": round_.id,
        "ends_at": iso(round_.ends_at),
        "closed_at": iso(round_.closed_at) if round_.closed_at else None,
        "rooms": [{"name": name, "members": keys} for name, keys in _ordered(rooms)],
    }


def _ordered(rooms: Mapping[str, list[str]]) -> list[tuple[str, list[str]]]:
    def number(name: str) -> int:
        match = ROOM_NAME.match(name)
        return int(match.group(1)) if match else 0

    return sorted(rooms.items(), key=lambda pair: (number(pair[0]), pair[0]))


def session_of(db: Session, event: Event, key: str) -> tuple[int, SessionSpec]:
    return find_session(read_programme(db, event), key)


def _breakout_item(session: SessionSpec, now: datetime) -> str | None:
    """The agenda item a round belongs to: the one on now, else the session's breakout item."""
    on_now = scheduled_item(session, now)
    if on_now is not None:
        return on_now
    return next((i.key for i in session.agenda if i.kind is ItemKind.BREAKOUT), None)


def open_breakouts(
    db: Session, event: Event, session_key: str, request: OpenRequest, *, actor: str, now: datetime
) -> dict[str, Any]:
    """Open a round and move its members at once; commits. Every problem is listed; on any,
    nothing is written."""
    session_id, session = session_of(db, event, session_key)
    people = store.seatable_people(db, event.id or 0)
    participants = [p for p in people if p.role == Role.PARTICIPANT.value]
    by_key = {p.key: p for p in people}
    problems: list[Problem] = []
    remaining = (session.end - max(now, session.start)).total_seconds() / 60
    if not request.minutes > 0:
        problems.append(Problem("minutes", request.minutes, "must be more than 0"))
    elif request.minutes > remaining:
        problems.append(
            Problem(
                "minutes",
                request.minutes,
                f"longer than the {remaining:g} minutes left in the session {session.key}",
            )
        )
    plan: dict[str, list[str]] = {}
    if request.assignments is not None:
        strategy = "assignments"
        if not request.assignments:
            problems.append(Problem("assignments", {}, "name at least one room"))
        seen: dict[str, str] = {}
        for room, keys in request.assignments.items():
            if not ROOM_NAME.match(room):
                problems.append(Problem(f"assignments.{room}", room, "rooms are named breakout-N"))
            for key in keys:
                if key not in by_key:
                    problems.append(Problem(f"assignments.{room}", key, "no such person"))
                elif key in seen:
                    problems.append(Problem(f"assignments.{room}", key, f"already in {seen[key]}"))
                else:
                    seen[key] = room
            plan[room] = list(keys)
        if request.rooms is not None and request.rooms != len(request.assignments):
            problems.append(
                Problem("rooms", request.rooms, "differs from the number of rooms assigned")
            )
        rooms = max((int(m.group(1)) for r in plan if (m := ROOM_NAME.match(r))), default=0)
    else:
        strategy = request.strategy or "balanced"
        rooms = request.rooms or 0
        if strategy not in STRATEGIES:
            problems.append(Problem("strategy", strategy, "must be balanced or plan"))
        elif strategy == "plan":
            prepared = read_plan(db, event, session.key).assignments
            if not any(prepared.values()):
                problems.append(Problem("strategy", strategy, "no groups are prepared for it"))
            plan = prepared
            rooms = len(prepared)
        elif rooms < 1:
            problems.append(Problem("rooms", request.rooms, "must be at least 1"))
        elif strategy == "balanced" and rooms > len(participants):
            problems.append(
                Problem(
                    "rooms",
                    rooms,
                    f"more rooms than the {len(participants)} participants of the event",
                )
            )
        elif not problems:
            members = [Member(p.key, p.country, p.organization) for p in participants]
            try:
                groups = balanced_plan(members, rooms)
            except PlanError as error:
                problems += [Problem("rooms", rooms, text) for text in error.problems]
            else:
                plan = dict(zip(room_names(rooms), (list(g) for g in groups), strict=True))
    lock_event(db, event)
    current = store.open_round(db, session_id)
    if current is not None:
        problems.append(
            Problem("round", current.id, "a round is already open in this session; close it first")
        )
    if problems:
        db.rollback()
        raise InvalidInputError("no breakout round was opened", problems)
    round_ = BreakoutRound(
        event_id=event.id or 0,
        session_id=session_id,
        rooms=rooms,
        strategy=strategy,
        opened_at=now,
        opened_by=actor,
        ends_at=now + timedelta(minutes=request.minutes),
    )
    db.add(round_)
    db.flush()
    store.add_members(
        db,
        [
            {
                "round_id": round_.id,
                "person_id": by_key[key].id,
                "room": room,
                "placed": "plan",
                "placed_at": now,
            }
            for room, keys in plan.items()
            for key in keys
        ],
    )
    item = _breakout_item(session, now)
    take_control(db, event, session_id, actor=actor, now=now, mode=Mode.BREAKOUTS, item=item)
    _audit(db, event, actor, now, "breakouts.open", session.key, round_, rooms=rooms)
    db.commit()
    return round_view(db, round_)


def close_breakouts(
    db: Session, event: Event, session_key: str, *, actor: str, now: datetime
) -> dict[str, Any]:
    """Close the session's open round; everyone returns to the main room; commits."""
    session_id, session = session_of(db, event, session_key)
    lock_event(db, event)
    round_ = store.open_round(db, session_id)
    if round_ is None:
        db.rollback()
        raise InvalidInputError(
            "no breakout round was closed",
            [Problem("round", None, f"no round is open in the session {session.key}")],
        )
    _close(db, event, session_id, session, round_, actor=actor, now=now)
    db.commit()
    db.refresh(round_)
    return round_view(db, round_)


def _close(
    db: Session,
    event: Event,
    session_id: int,
    session: SessionSpec,
    round_: BreakoutRound,
    *,
    actor: str,
    now: datetime,
) -> bool:
    if not store.claim_close(db, round_.id or 0, at=now, by=actor):
        return False
    control = get_control(db, session_id)
    # Back to the stage, unless a moderator has already moved the session on.
    if control is None or control.mode == Mode.BREAKOUTS.value:
        take_control(
            db,
            event,
            session_id,
            actor=actor,
            now=now,
            mode=Mode.STAGE,
            item=control.item if control else None,
        )
    _audit(db, event, actor, now, "breakouts.close", session.key, round_)
    return True


def change_end(
    db: Session, event: Event, session_key: str, minutes: float, *, actor: str, now: datetime
) -> dict[str, Any]:
    """Extend (positive) or shorten (negative) the open round by `minutes`; commits."""
    session_id, session = session_of(db, event, session_key)
    lock_event(db, event)
    round_ = store.open_round(db, session_id)
    problems: list[Problem] = []
    if round_ is None:
        problems.append(Problem("round", None, f"no round is open in the session {session.key}"))
    elif not math.isfinite(minutes):
        problems.append(Problem("minutes", minutes, "must be a number of minutes"))
    elif abs(minutes) > (session.end - session.start).total_seconds() / 60:
        # Decided before any date arithmetic, which a huge number would overflow: no change
        # longer than the whole session can keep the round inside it.
        reason = (
            f"the round would outlast the session {session.key}"
            if minutes > 0
            else "the round would end in the past"
        )
        problems.append(Problem("minutes", minutes, reason))
    else:
        ends_at = round_.ends_at + timedelta(minutes=minutes)
        if minutes == 0:
            problems.append(Problem("minutes", minutes, "must not be 0"))
        elif ends_at <= now:
            problems.append(Problem("minutes", minutes, "the round would end in the past"))
        elif ends_at > session.end:
            problems.append(
                Problem("minutes", minutes, f"the round would outlast the session {session.key}")
            )
    if problems or round_ is None:
        db.rollback()
        raise InvalidInputError("the round's time was not changed", problems)
    round_.ends_at = ends_at
    if ends_at - now > WARNING_BEFORE:
        round_.warned_at = None  # a new warning a minute before the new end
    db.add(round_)
    _audit(db, event, actor, now, "breakouts.time", session.key, round_, minutes=minutes)
    db.commit()
    db.refresh(round_)
    return round_view(db, round_)


def move_person(
    db: Session,
    event: Event,
    session_key: str,
    person_key: str,
    room: str,
    *,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    """Put one person (a participant, or a moderator visiting) into `room` of the open round,
    or back to ``main``; commits."""
    session_id, session = session_of(db, event, session_key)
    lock_event(db, event)
    round_ = store.open_round(db, session_id)
    person = active_person(db, event, person_key)
    problems: list[Problem] = []
    if round_ is None:
        problems.append(Problem("round", None, f"no round is open in the session {session.key}"))
    if person is None:
        problems.append(Problem("person", person_key, "no such person"))
    valid = set(room_names(round_.rooms)) | {"main"} if round_ is not None else {"main"}
    if room not in valid:
        problems.append(
            Problem("room", room, f"must be main or breakout-1 … breakout-{len(valid) - 1}")
        )
    if problems or round_ is None or person is None:
        db.rollback()
        raise InvalidInputError("nobody was moved", problems)
    member = db.get(BreakoutMember, (round_.id, person.id))
    if room == "main":
        if member is not None:
            db.delete(member)
    else:
        if member is None:
            member = BreakoutMember(
                round_id=round_.id or 0,
                person_id=person.id or 0,
                room=room,
                placed="moved",
                placed_at=now,
            )
        member.room, member.placed, member.placed_at = room, "moved", now
        db.add(member)
    _audit(
        db, event, actor, now, "breakouts.move", session.key, round_, person=person.key, room=room
    )
    db.commit()
    return round_view(db, round_)


def place_late(db: Session, event: Event, person: Person, *, now: datetime) -> str | None:
    """A participant who connects during an open round and is in no room goes to the
    smallest room; returns it (None when nothing was to be done). Commits."""
    if person.role != Role.PARTICIPANT.value:
        return None
    for round_, session_key in store.open_rounds(db, event.id or 0):
        rooms = store.rooms_by_person(db, round_.id or 0)
        if (person.id or 0) in rooms:
            return None
        lock_event(db, event)
        rooms = store.rooms_by_person(db, round_.id or 0)  # again, under the lock
        if (person.id or 0) in rooms:
            db.rollback()
            return None
        names = room_names(round_.rooms)
        sizes = [sum(1 for r in rooms.values() if r == name) for name in names]
        room = names[smallest_room(sizes)]
        db.add(
            BreakoutMember(
                round_id=round_.id or 0,
                person_id=person.id or 0,
                room=room,
                placed="late",
                placed_at=now,
            )
        )
        _audit(
            db,
            event,
            "studymission",
            now,
            "breakouts.late",
            session_key,
            round_,
            person=person.key,
            room=room,
        )
        db.commit()
        return room
    return None


@dataclass(frozen=True, slots=True)
class TimerOutcome:
    """What one timer tick did: rounds closed and warnings sent, by event code."""

    closed: tuple[tuple[str, str], ...] = ()
    warned: tuple[tuple[str, str, datetime], ...] = ()


def timer_tick(db: Session, now: datetime) -> TimerOutcome:
    """Close every round whose end has come and claim the one-minute warnings due; commits.

    Several processes run this at once; the conditional updates give each round's close and
    warning to exactly one of them, which then announces it.
    """
    closed: list[tuple[str, str]] = []
    warned: list[tuple[str, str, datetime]] = []
    for round_, event, session_key in store.due_rounds(db, now + WARNING_BEFORE):
        if round_.ends_at <= now:
            session_id = round_.session_id
            session = dict(read_programme(db, event)).get(session_id)
            if session is not None and _close(
                db, event, session_id, session, round_, actor="timer", now=round_.ends_at
            ):
                closed.append((event.code, session_key))
        elif round_.warned_at is None and store.claim_warning(db, round_.id or 0, at=now):
            warned.append((event.code, session_key, round_.ends_at))
        db.commit()
    return TimerOutcome(tuple(closed), tuple(warned))


def _audit(
    db: Session,
    event: Event,
    actor: str,
    now: datetime,
    action: str,
    session_key: str,
    round_: BreakoutRound,
    **detail: object,
) -> None:
    db.add(
        AuditEntry(
            event_id=event.id or 0,
            at=now,
            actor=actor,
            action=action,
            detail={"session": session_key, "round": round_.id, **detail},
        )
    )

"""Breakout groups prepared before the day (table ``breakout_plan``): generated balanced,
edited by hand, people pinned to a room; a round opened with ``strategy: "plan"`` takes them.

Editable until a round of the session opens; while one is open, people are moved in the
round itself (services/breakouts.py ``move_person``).
"""

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, delete, select

from studymission.db import breakouts as rounds
from studymission.db.events import get_person, list_people, lock_event, read_programme
from studymission.db.tables import AuditEntry, BreakoutPlan, Event, Person
from studymission.domain.breakouts import Member, PlanError, balanced_plan, room_names
from studymission.domain.errors import InvalidInputError
from studymission.domain.values import Problem, Role, SessionSpec
from studymission.services.run_of_show import find_session

MAX_ROOMS = 1000
ROOM_NAME = re.compile(r"^breakout-([1-9][0-9]{0,3})$")


def session_of(db: Session, event: Event, key: str) -> tuple[int, SessionSpec]:
    return find_session(read_programme(db, event), key)


def active_person(db: Session, event: Event, key: str) -> Person | None:
    """The person `key` of the event, unless a later spec withdrew them."""
    person = get_person(db, event, key)
    return person if person is not None and person.withdrawn_at is None else None


@dataclass(frozen=True)
class PlannedRoom:
    name: str
    members: tuple[tuple[Person, bool], ...]  # (person, pinned)


@dataclass(frozen=True)
class PlanView:
    session: str
    rooms: tuple[PlannedRoom, ...]
    unplanned: tuple[Person, ...]
    #: A round of the session is open: the plan cannot change now.
    locked: bool

    @property
    def assignments(self) -> dict[str, list[str]]:
        return {r.name: [p.key for p, _pinned in r.members] for r in self.rooms}


def _rows(db: Session, session_id: int) -> list[tuple[BreakoutPlan, Person]]:
    query = (
        select(BreakoutPlan, Person)
        .join(Person, col(Person.id) == BreakoutPlan.person_id)
        .where(BreakoutPlan.session_id == session_id)
        .order_by(col(Person.key))
    )
    return list(db.exec(query).all())


def _number(name: str) -> int:
    match = ROOM_NAME.match(name)
    return int(match.group(1)) if match else 0


def read_plan(db: Session, event: Event, session_key: str) -> PlanView:
    session_id, session = session_of(db, event, session_key)
    rows = _rows(db, session_id)
    count = max((_number(plan.room) for plan, _p in rows), default=0)
    by_room: dict[str, list[tuple[Person, bool]]] = {name: [] for name in room_names(count)}
    for plan, person in rows:
        by_room.setdefault(plan.room, []).append((person, plan.pinned))
    planned = {person.id for _plan, person in rows}
    participants = [p for p in list_people(db, event) if p.role == Role.PARTICIPANT.value]
    return PlanView(
        session=session.key,
        rooms=tuple(PlannedRoom(name, tuple(m)) for name, m in by_room.items()),
        unplanned=tuple(p for p in participants if p.id not in planned),
        locked=rounds.open_round(db, session_id) is not None,
    )


#: Roles placed one per room when the groups are generated with `staff`.
STAFF_IN_ROOMS = frozenset({Role.RESOURCE_PERSON.value, Role.MODERATOR.value})


def generate_plan(
    db: Session,
    event: Event,
    session_key: str,
    rooms: int,
    *,
    staff: bool = False,
    actor: str,
    now: datetime,
) -> PlanView:
    """Balanced groups of every participant over `rooms` rooms (with `staff`, resource
    persons and moderators too, one per room while there are rooms enough), keeping pinned
    people where they are pinned; replaces the plan; commits."""
    session_id, session = session_of(db, event, session_key)
    people = list_people(db, event)
    participants = [p for p in people if p.role == Role.PARTICIPANT.value]
    placed = participants + [p for p in people if staff and p.role in STAFF_IN_ROOMS]
    pinned = {person.key: plan.room for plan, person in _rows(db, session_id) if plan.pinned}
    problems: list[Problem] = []
    if not 1 <= rooms <= min(MAX_ROOMS, max(len(participants), 1)):
        problems.append(
            Problem("rooms", rooms, f"must be 1 to {min(MAX_ROOMS, len(participants))}")
        )
    pins = {key: _number(room) - 1 for key, room in pinned.items()}
    for key, index in pins.items():
        if index >= rooms:
            problems.append(
                Problem("rooms", rooms, f"{key} is pinned to breakout-{index + 1}; unpin first")
            )
    groups: tuple[tuple[str, ...], ...] = ()
    if not problems:
        members = [
            Member(p.key, p.country, p.organization, staff=p.role in STAFF_IN_ROOMS) for p in placed
        ]
        try:
            groups = balanced_plan(members, rooms, pins=pins)
        except PlanError as error:
            problems += [Problem("rooms", rooms, text) for text in error.problems]
    lock_event(db, event)
    if rounds.open_round(db, session_id) is not None:
        problems.append(Problem("session", session.key, "a round is open: move people in it"))
    if problems:
        db.rollback()
        raise InvalidInputError("the plan was not changed", problems)
    by_key = {p.key: p for p in placed}
    db.exec(delete(BreakoutPlan).where(col(BreakoutPlan.session_id) == session_id))
    for name, keys in zip(room_names(rooms), groups, strict=True):
        for key in keys:
            db.add(
                BreakoutPlan(
                    session_id=session_id,
                    person_id=by_key[key].id or 0,
                    room=name,
                    pinned=key in pinned,
                    updated_at=now,
                    updated_by=actor,
                )
            )
    _audit(db, event, actor, now, {"session": session.key, "generated": rooms, "staff": staff})
    db.commit()
    return read_plan(db, event, session_key)


def assign(
    db: Session,
    event: Event,
    session_key: str,
    person_key: str,
    room: str | None,
    *,
    pinned: bool,
    actor: str,
    now: datetime,
) -> PlanView:
    """Put one person in `room` of the plan (pinned there if asked), or out of it; commits."""
    session_id, session = session_of(db, event, session_key)
    person = active_person(db, event, person_key)
    problems: list[Problem] = []
    if person is None:
        problems.append(Problem("person", person_key, "no such person"))
    if room is not None and not ROOM_NAME.match(room):
        problems.append(Problem("room", room, "rooms are named breakout-N"))
    lock_event(db, event)
    if rounds.open_round(db, session_id) is not None:
        problems.append(Problem("session", session.key, "a round is open: move people in it"))
    if problems or person is None:
        db.rollback()
        raise InvalidInputError("the plan was not changed", problems)
    row = db.get(BreakoutPlan, (session_id, person.id))
    if room is None:
        if row is not None:
            db.delete(row)
    else:
        row = row or BreakoutPlan(
            session_id=session_id,
            person_id=person.id or 0,
            room=room,
            updated_at=now,
            updated_by=actor,
        )
        row.room, row.pinned, row.updated_at, row.updated_by = room, pinned, now, actor
        db.add(row)
    _audit(
        db,
        event,
        actor,
        now,
        {"session": session.key, "person": person.key, "room": room, "pinned": pinned},
    )
    db.commit()
    return read_plan(db, event, session_key)


def _audit(db: Session, event: Event, actor: str, now: datetime, detail: dict[str, object]) -> None:
    db.add(
        AuditEntry(
            event_id=event.id or 0, at=now, actor=actor, action="breakouts.plan", detail=detail
        )
    )

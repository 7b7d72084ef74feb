"""Breakout rounds and their members (tables ``breakout_round``, ``breakout_member``)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from studymission.db.tables import BreakoutMember, BreakoutRound, Event, EventSession, Person


def open_round(db: Session, session_id: int) -> BreakoutRound | None:
    query = select(BreakoutRound).where(
        BreakoutRound.session_id == session_id, col(BreakoutRound.closed_at).is_(None)
    )
    return db.exec(query.order_by(col(BreakoutRound.id).desc())).first()


def open_rounds(db: Session, event_id: int) -> Sequence[tuple[BreakoutRound, str]]:
    """The event's open rounds with their session's key."""
    query = (
        select(BreakoutRound, EventSession.key)
        .join(EventSession, col(EventSession.id) == BreakoutRound.session_id)
        .where(BreakoutRound.event_id == event_id, col(BreakoutRound.closed_at).is_(None))
    )
    return db.exec(query).all()


def members(db: Session, round_id: int) -> Sequence[tuple[BreakoutMember, Person]]:
    query = (
        select(BreakoutMember, Person)
        .join(Person, col(Person.id) == BreakoutMember.person_id)
        .where(BreakoutMember.round_id == round_id)
        .order_by(col(BreakoutMember.room), col(Person.key))
    )
    return db.exec(query).all()


@dataclass(frozen=True, slots=True)
class Seatable:
    """The columns of a person a plan needs (ten thousand ORM objects cost half a second)."""

    id: int
    key: str
    country: str
    organization: str
    role: str


def seatable_people(db: Session, event_id: int) -> list[Seatable]:
    query = (
        sa_select(
            col(Person.id),
            col(Person.key),
            col(Person.country),
            col(Person.organization),
            col(Person.role),
        )
        .where(col(Person.event_id) == event_id, col(Person.withdrawn_at).is_(None))
        .order_by(col(Person.key))
    )
    return [Seatable(*row) for row in db.execute(query).all()]


def add_members(db: Session, rows: list[dict[str, object]]) -> None:
    """Insert many members in one statement (executemany), without ORM objects."""
    if rows:
        db.execute(insert(BreakoutMember), rows)


def room_keys(db: Session, round_id: int) -> list[tuple[str, str]]:
    """(room, person key) of every member of the round, by room then key."""
    query = (
        select(BreakoutMember.room, Person.key)
        .join(Person, col(Person.id) == BreakoutMember.person_id)
        .where(BreakoutMember.round_id == round_id)
        .order_by(col(BreakoutMember.room), col(Person.key))
    )
    return list(db.exec(query).all())


def rooms_by_person(db: Session, round_id: int) -> dict[int, str]:
    query = select(BreakoutMember.person_id, BreakoutMember.room).where(
        BreakoutMember.round_id == round_id
    )
    return dict(db.exec(query).all())


def due_rounds(db: Session, before: datetime) -> Sequence[tuple[BreakoutRound, Event, str]]:
    """Open rounds of every event whose end (or warning time) is before `before`."""
    query = (
        select(BreakoutRound, Event, EventSession.key)
        .join(Event, col(Event.id) == BreakoutRound.event_id)
        .join(EventSession, col(EventSession.id) == BreakoutRound.session_id)
        .where(col(BreakoutRound.closed_at).is_(None), col(BreakoutRound.ends_at) <= before)
    )
    return db.exec(query).all()


def claim_close(db: Session, round_id: int, *, at: datetime, by: str) -> bool:
    """Close the round if it is still open; True for the one caller that closed it."""
    result = db.execute(
        update(BreakoutRound)
        .where(col(BreakoutRound.id) == round_id, col(BreakoutRound.closed_at).is_(None))
        .values(closed_at=at, closed_by=by)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def claim_warning(db: Session, round_id: int, *, at: datetime) -> bool:
    """Mark the one-minute warning sent if nobody has; True for the one caller that did."""
    result = db.execute(
        update(BreakoutRound)
        .where(
            col(BreakoutRound.id) == round_id,
            col(BreakoutRound.closed_at).is_(None),
            col(BreakoutRound.warned_at).is_(None),
        )
        .values(warned_at=at)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]

"""Queries over deliveries and invitation issues; the services own the commits."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from studymission.db.tables import Delivery, InvitationIssue, Person


def insert_if_absent(db: Session, values: dict[str, Any]) -> tuple[Delivery, bool]:
    """The delivery with `values`' unique key, inserting it unless it exists; flushes.

    ``ON CONFLICT DO NOTHING`` keeps two sessions queueing at once from failing or
    creating a second row: the loser just reads the winner's.
    """
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(Delivery).values(**values).on_conflict_do_nothing().returning(col(Delivery.id))
    )
    # RETURNING gives the new id, or nothing when the row existed (rowcount is not reliable
    # through the ORM's execute on every driver).
    created = db.execute(statement).scalar_one_or_none() is not None
    found = db.exec(
        select(Delivery).where(
            Delivery.event_id == values["event_id"],
            Delivery.person_id == values["person_id"],
            Delivery.kind == values["kind"],
            Delivery.key == values["key"],
        )
    ).one()
    return found, created


def set_message_id(db: Session, delivery: Delivery, value: str) -> None:
    delivery.message_id = value
    db.add(delivery)
    db.flush()


def event_deliveries(db: Session, event_id: int) -> Sequence[tuple[Delivery, Person]]:
    """Every delivery of the event with its person, newest first per person."""
    rows = db.exec(
        select(Delivery, Person)
        .join(Person, col(Person.id) == col(Delivery.person_id))
        .where(Delivery.event_id == event_id)
        .order_by(col(Person.key), col(Delivery.kind), col(Delivery.id).desc())
    ).all()
    return [(delivery, person) for delivery, person in rows]


def due_deliveries(
    db: Session,
    *,
    max_attempts: int,
    failed_before: datetime,
    stale_before: datetime,
    limit: int,
    event_id: int | None = None,
) -> Sequence[Delivery]:
    """Rows worth claiming: queued, failed and rested, or stuck in ``sending``."""
    due = or_(
        col(Delivery.status) == "queued",
        and_(
            col(Delivery.status) == "failed",
            col(Delivery.attempts) < max_attempts,
            col(Delivery.updated_at) <= failed_before,
        ),
        and_(col(Delivery.status) == "sending", col(Delivery.updated_at) <= stale_before),
    )
    query = select(Delivery).where(due)
    if event_id is not None:
        query = query.where(Delivery.event_id == event_id)
    return db.exec(query.order_by(col(Delivery.id)).limit(limit)).all()


def claim(
    db: Session,
    delivery_id: int,
    *,
    status: str,
    attempts: int,
    updated_at: datetime,
    now: datetime,
) -> bool:
    """Move the row to ``sending`` unless it changed since it was read; no commit.

    The WHERE repeats what was read (status, attempts, updated_at): of two processes
    that read the same row, exactly one update matches.
    """
    result = db.execute(
        update(Delivery)
        .where(
            col(Delivery.id) == delivery_id,
            col(Delivery.status) == status,
            col(Delivery.attempts) == attempts,
            col(Delivery.updated_at) == updated_at,
        )
        .values(status="sending", attempts=attempts + 1, updated_at=now)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def get_delivery(db: Session, delivery_id: int) -> Delivery | None:
    """The row as stored now (not as this session last saw it)."""
    return db.get(Delivery, delivery_id, populate_existing=True)


def finish(db: Session, delivery_id: int, *, attempt: int, values: dict[str, Any]) -> None:
    """Record the outcome of attempt number `attempt`; a newer claim is left alone."""
    db.execute(
        update(Delivery)
        .where(
            col(Delivery.id) == delivery_id,
            col(Delivery.status) == "sending",
            col(Delivery.attempts) == attempt,
        )
        .values(**values)
    )


def requeue_failed(db: Session, event_id: int, *, now: datetime) -> int:
    """Failed deliveries of the event back to ``queued`` (retry now, even given up)."""
    result = db.execute(
        update(Delivery)
        .where(col(Delivery.event_id) == event_id, col(Delivery.status) == "failed")
        .values(status="queued", updated_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def latest_issue(db: Session, event_id: int) -> InvitationIssue | None:
    return db.exec(
        select(InvitationIssue)
        .where(InvitationIssue.event_id == event_id)
        .order_by(col(InvitationIssue.sequence).desc())
        .limit(1)
    ).first()

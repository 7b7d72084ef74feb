"""Storage of the video service's joins and leaves (table ``video_evidence``)."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from studymission.db.tables import Event, EventSession, Person, VideoEvidence

EVIDENCE = VideoEvidence.__table__  # type: ignore[attr-defined]


def insert_once(db: Session, row: VideoEvidence) -> bool:
    """Insert `row` unless (source, key) is stored already; True when it was inserted.

    One statement, ``ON CONFLICT DO NOTHING``: a call delivered twice at the same moment to
    two processes is stored once, and neither sees an error.
    """
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        insert: Any = postgresql.insert(EVIDENCE)
    elif dialect == "sqlite":
        insert = sqlite.insert(EVIDENCE)
    else:
        raise NotImplementedError(f"no insert-once for the {dialect} dialect")
    values = row.model_dump(exclude={"id"})
    statement = insert.values(**values).on_conflict_do_nothing(index_elements=["source", "key"])
    # RETURNING, not rowcount: with RETURNING (which PostgreSQL adds for the id anyway)
    # psycopg reports no row count.
    result = db.connection().execute(statement.returning(EVIDENCE.c.id))
    return result.first() is not None


def event_evidence(db: Session, event_id: int) -> Sequence[VideoEvidence]:
    """Every stored join and leave of the event, matched or not, in event-time order."""
    query = select(VideoEvidence).where(VideoEvidence.event_id == event_id)
    return db.exec(query.order_by(col(VideoEvidence.event_at), col(VideoEvidence.id))).all()


def session_places(db: Session) -> list[tuple[int, str, int, str]]:
    """(event id, event code, session id, session key) of every session, in id order."""
    query = select(Event.id, Event.code, EventSession.id, EventSession.key).join(
        EventSession, col(EventSession.event_id) == col(Event.id)
    )
    return [
        (e or 0, code, s or 0, key)
        for e, code, s, key in db.exec(query.order_by(col(EventSession.id)))
    ]


def person_by_key(db: Session, event_id: int, key: str) -> Person | None:
    """The event's person whose key is `key` (withdrawn or not: their rows stay theirs)."""
    query = select(Person).where(Person.event_id == event_id, Person.key == key)
    return db.exec(query).first()

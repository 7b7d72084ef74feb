"""Reading and writing the moderators' hand on each session (table ``session_control``)."""

from sqlmodel import Session, select

from studymission.db.tables import EventSession, SessionControl
from studymission.domain.run_of_show import Control
from studymission.domain.values import Mode


def read_controls(db: Session, event_id: int) -> dict[str, Control]:
    """Every session's control of the event, by session key."""
    query = (
        select(EventSession.key, SessionControl)
        .join(SessionControl, SessionControl.session_id == EventSession.id)  # type: ignore[arg-type]
        .where(EventSession.event_id == event_id)
    )
    return {
        key: Control(
            manual=row.manual,
            mode=Mode(row.mode),
            item=row.item,
            changed_at=row.changed_at,
            changed_by=row.changed_by,
        )
        for key, row in db.exec(query).all()
    }


def get_control(db: Session, session_id: int) -> SessionControl | None:
    return db.get(SessionControl, session_id)

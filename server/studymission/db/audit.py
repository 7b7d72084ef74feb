"""Reading the audit trail: who changed what in an event, and when."""

from collections.abc import Sequence

from sqlmodel import Session, col, select

from studymission.db.tables import AuditEntry, Event


def list_audit(db: Session, event: Event, limit: int) -> Sequence[AuditEntry]:
    """The event's latest `limit` audit entries, newest first."""
    query = select(AuditEntry).where(AuditEntry.event_id == event.id)
    query = query.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
    return db.exec(query.limit(limit)).all()

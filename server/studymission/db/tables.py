"""Tables (``table=True`` only). Datetimes are stored as naive UTC and read back aware.

Rows are keyed by surrogate ids; the keys people use (event code, session key, agenda
key, person key) are unique within their event.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, TypeDecorator, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the backend keeps."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


def _utc(**kwargs: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), **kwargs))


class Event(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    title: str
    timezone: str = Field(max_length=64)
    host_country: str | None = Field(default=None, max_length=2)
    modality: str | None = None
    implementing_organizations: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    # Kept as "numerator/denominator" so that 0.9 stays exactly 9/10 (CONTRACT §4).
    session_threshold: str = "9/10"
    minute_threshold_seconds: int = 30
    stale_after_seconds: int = 45
    require_visible: bool = False
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)


class EventSession(SQLModel, table=True):
    """One day's session of an event (the contract's "session")."""

    __tablename__ = "session"
    __table_args__ = (UniqueConstraint("event_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=64)
    title: str
    start: datetime = _utc(nullable=False)
    end: datetime = _utc(nullable=False)


class AgendaItem(SQLModel, table=True):
    __tablename__ = "agenda_item"
    __table_args__ = (UniqueConstraint("event_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True, ondelete="CASCADE")
    session_id: int = Field(foreign_key="session.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    title: str
    start: datetime = _utc(nullable=False)
    end: datetime = _utc(nullable=False)
    # Person keys, in the order the programme names them.
    speakers: list[str] = Field(default_factory=list, sa_column=Column(JSON))


class Person(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("event_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=64)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    country: str = Field(max_length=2)
    organization: str = ""
    role: str = Field(max_length=16)
    origin: str = Field(max_length=16)
    #: The time zone the person chose for the programme; None until they choose.
    timezone: str | None = Field(default=None, max_length=64)
    #: Set when a later spec no longer lists the person: their rows stay, their links stop.
    withdrawn_at: datetime | None = _utc(nullable=True)


class Credential(SQLModel, table=True):
    """A personal join link (``join``) or a script's bearer token (``api``), stored as a hash."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=8)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    #: Join links only: random input of the keyed derivation that reprints the same link.
    salt: str | None = Field(default=None, max_length=64)
    created_at: datetime = _utc(nullable=False)
    revoked_at: datetime | None = _utc(nullable=True)


class AuditEntry(SQLModel, table=True):
    """Who changed what in an event, and when (spec loads, imports, revocations)."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True, ondelete="CASCADE")
    at: datetime = _utc(nullable=False)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))

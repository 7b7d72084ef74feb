"""Values of the event's own language: plain, frozen, and free of I/O.

Enums live here (not beside their users) so that every layer can import them
without cycles. Datetimes in these values are always timezone-aware (UTC).
"""

import enum
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction


class Role(enum.StrEnum):
    PARTICIPANT = "participant"
    RESOURCE_PERSON = "resource_person"
    MODERATOR = "moderator"
    SECRETARIAT = "secretariat"


class ItemKind(enum.StrEnum):
    OPENING = "opening"
    PRESENTATION = "presentation"
    DISCUSSION = "discussion"
    BREAKOUT = "breakout"
    SITE_VISIT = "site_visit"
    BREAK = "break"
    CLOSING = "closing"


class Origin(enum.StrEnum):
    OVERSEAS = "overseas"
    LOCAL = "local"


class Mode(enum.StrEnum):
    WAITING = "waiting"
    STAGE = "stage"
    BREAKOUTS = "breakouts"
    SITE_VISIT = "site_visit"
    BREAK = "break"
    ENDED = "ended"


#: Roles that run the event; they may call every moderator action.
STAFF_ROLES = frozenset({Role.MODERATOR, Role.SECRETARIAT})


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input: where (`path`), what was there, and why it is wrong."""

    path: str
    value: object
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.value!r}: {self.reason}"


@dataclass(frozen=True, slots=True)
class AttendanceRules:
    """The presence rule's parameters (CONTRACT §4); the defaults are the contract's."""

    session_threshold: Fraction = Fraction(9, 10)
    minute_threshold_seconds: int = 30
    stale_after_seconds: int = 45
    require_visible: bool = False


@dataclass(frozen=True, slots=True)
class AgendaItemSpec:
    key: str
    kind: ItemKind
    title: str
    start: datetime
    end: datetime
    speakers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionSpec:
    key: str
    title: str
    start: datetime
    end: datetime
    agenda: tuple[AgendaItemSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class PersonSpec:
    key: str
    name: str
    email: str
    country: str
    organization: str
    role: Role
    origin: Origin


@dataclass(frozen=True, slots=True)
class EventSpec:
    """A whole event as the spec describes it (CONTRACT §2), validated."""

    code: str
    title: str
    timezone: str
    attendance: AttendanceRules = field(default_factory=AttendanceRules)
    sessions: tuple[SessionSpec, ...] = ()
    people: tuple[PersonSpec, ...] = ()
    # Optional details from the project notification; shown on pages and certificates.
    host_country: str | None = None
    modality: str | None = None
    implementing_organizations: tuple[str, ...] = ()

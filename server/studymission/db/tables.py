"""Tables (``table=True`` only). Datetimes are stored as naive UTC and read back aware.

Rows are keyed by surrogate ids; the keys people use (event code, session key, agenda
key, person key) are unique within their event.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, TypeDecorator, UniqueConstraint, false
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
    #: The person asked for video off and the lowest resolution on the live page.
    low_bandwidth: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
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


class PresenceMinute(SQLModel, table=True):
    """Covered seconds of one person, in one minute of a session, in one room.

    ``covered`` and ``visible`` hold one bit per second of the minute. Every writer ORs
    its bits into the row, so repeated flushes, several tabs and several processes merge
    exactly; seconds, presence and the minute's room are read off the bits (domain.presence).
    """

    __tablename__ = "presence_minute"

    session_id: int = Field(foreign_key="session.id", primary_key=True, ondelete="CASCADE")
    person_id: int = Field(
        foreign_key="person.id", primary_key=True, index=True, ondelete="CASCADE"
    )
    minute: int = Field(primary_key=True)
    room: str = Field(primary_key=True, max_length=64)
    covered: int = Field(sa_column=Column(BigInteger, nullable=False))
    visible: int = Field(sa_column=Column(BigInteger, nullable=False))


class ConnectionEvent(SQLModel, table=True):
    """The raw audit trail of sockets: every connect, disconnect and change of place."""

    __tablename__ = "connection_event"

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True, ondelete="CASCADE")
    person_id: int = Field(foreign_key="person.id", index=True, ondelete="CASCADE")
    socket: str = Field(max_length=32, index=True)
    process: str = Field(max_length=32)
    #: connect | change | disconnect
    kind: str = Field(max_length=16)
    at: datetime = _utc(nullable=False, index=True)
    room: str | None = Field(default=None, max_length=64)
    in_room: bool | None = None
    visible: bool | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class LiveSocket(SQLModel, table=True):
    """A socket open now, on some process: what the moderators' live roster shows."""

    __tablename__ = "live_socket"

    socket: str = Field(primary_key=True, max_length=32)
    process: str = Field(max_length=32, index=True)
    event_id: int = Field(foreign_key="event.id", index=True, ondelete="CASCADE")
    person_id: int = Field(foreign_key="person.id", index=True, ondelete="CASCADE")
    connected_at: datetime = _utc(nullable=False)
    room: str | None = Field(default=None, max_length=64)
    in_room: bool = False
    visible: bool = False
    last_heartbeat_at: datetime | None = _utc(nullable=True)


class ServerProcess(SQLModel, table=True):
    """A running server process; its live sockets count only while it is seen (real time)."""

    __tablename__ = "server_process"

    id: str = Field(primary_key=True, max_length=32)
    host: str = Field(max_length=255)
    pid: int
    started_at: datetime = _utc(nullable=False)
    seen_at: datetime = _utc(nullable=False)


class AttendanceOverride(SQLModel, table=True):
    """The secretariat's decision on a person's eligibility; withdrawn, never deleted."""

    __tablename__ = "attendance_override"

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True, ondelete="CASCADE")
    person_id: int = Field(foreign_key="person.id", index=True, ondelete="CASCADE")
    eligible: bool
    reason: str
    author: str = Field(max_length=200)
    created_at: datetime = _utc(nullable=False)
    withdrawn_at: datetime | None = _utc(nullable=True)
    withdrawn_by: str | None = Field(default=None, max_length=200)


class SessionControl(SQLModel, table=True):
    """The moderators' run of show for one session: what every page shows now.

    Without a row, or with ``manual`` false, the session follows its timetable
    (domain.run_of_show); a moderator's switch sets ``manual`` and the mode and item.
    """

    __tablename__ = "session_control"

    session_id: int = Field(foreign_key="session.id", primary_key=True, ondelete="CASCADE")
    event_id: int = Field(foreign_key="event.id", index=True, ondelete="CASCADE")
    manual: bool = False
    mode: str = Field(default="waiting", max_length=16)
    #: Agenda item key, or None.
    item: str | None = Field(default=None, max_length=64)
    changed_at: datetime = _utc(nullable=False)
    changed_by: str = Field(max_length=200)


class Question(SQLModel, table=True):
    """A participant's question for the Q&A of one session."""

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True, ondelete="CASCADE")
    session_id: int = Field(foreign_key="session.id", index=True, ondelete="CASCADE")
    person_id: int = Field(foreign_key="person.id", index=True, ondelete="CASCADE")
    text: str
    created_at: datetime = _utc(nullable=False)
    pinned: bool = False
    hidden_at: datetime | None = _utc(nullable=True)
    hidden_by: str | None = Field(default=None, max_length=200)
    answered_at: datetime | None = _utc(nullable=True)


class QuestionVote(SQLModel, table=True):
    """One person's upvote of one question (the key makes it once each)."""

    __tablename__ = "question_vote"

    question_id: int = Field(foreign_key="question.id", primary_key=True, ondelete="CASCADE")
    person_id: int = Field(
        foreign_key="person.id", primary_key=True, index=True, ondelete="CASCADE"
    )
    created_at: datetime = _utc(nullable=False)


class VideoEvidence(SQLModel, table=True):
    """A join or leave the video service itself reported (JaaS webhook, Prosody event_sync).

    Kept beside the presence log: the browser's heartbeats say a person was in the room;
    this says the video service saw them there. ``key`` deduplicates redelivered calls.
    """

    __tablename__ = "video_evidence"
    __table_args__ = (UniqueConstraint("source", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    #: jaas | prosody
    source: str = Field(max_length=16)
    #: The call's idempotency key (JaaS) or a digest of its content (Prosody).
    key: str = Field(max_length=128)
    event_id: int = Field(foreign_key="event.id", index=True, ondelete="CASCADE")
    session_id: int | None = Field(
        default=None, foreign_key="session.id", index=True, ondelete="CASCADE"
    )
    person_id: int | None = Field(
        default=None, foreign_key="person.id", index=True, ondelete="CASCADE"
    )
    #: joined | left
    kind: str = Field(max_length=16)
    #: The platform room (main, breakout-N) the conference belongs to.
    room: str = Field(max_length=64)
    #: When the video service says it happened (its wall clock) ...
    occurred_at: datetime = _utc(nullable=False)
    #: ... and that instant on the event clock, which the presence log runs on.
    event_at: datetime = _utc(nullable=False, index=True)
    received_at: datetime = _utc(nullable=False)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class BreakoutRound(SQLModel, table=True):
    """A round of the group discussion: participants in breakout rooms until `ends_at`.

    Open while ``closed_at`` is null; closing is a conditional update, so that of several
    server processes whose timers see the end at once exactly one closes it.
    """

    __tablename__ = "breakout_round"

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True, ondelete="CASCADE")
    session_id: int = Field(foreign_key="session.id", index=True, ondelete="CASCADE")
    rooms: int
    #: balanced | assignments
    strategy: str = Field(max_length=16)
    opened_at: datetime = _utc(nullable=False)
    opened_by: str = Field(max_length=200)
    #: Event time the round ends (the timer closes it then).
    ends_at: datetime = _utc(nullable=False)
    #: When the one-minute warning went out (once).
    warned_at: datetime | None = _utc(nullable=True)
    closed_at: datetime | None = _utc(nullable=True, index=True)
    closed_by: str | None = Field(default=None, max_length=200)


class BreakoutMember(SQLModel, table=True):
    """Which breakout room a person is in during a round (planned, placed late or moved)."""

    __tablename__ = "breakout_member"

    round_id: int = Field(foreign_key="breakout_round.id", primary_key=True, ondelete="CASCADE")
    person_id: int = Field(
        foreign_key="person.id", primary_key=True, index=True, ondelete="CASCADE"
    )
    room: str = Field(max_length=64)
    #: plan | late | moved
    placed: str = Field(max_length=16)
    placed_at: datetime = _utc(nullable=False)


class BreakoutNote(SQLModel, table=True):
    """The shared notes of one breakout room in one round: a rapporteur writes, the room's
    members read them live, and they are shown at the report-back and kept with the event."""

    __tablename__ = "breakout_note"

    round_id: int = Field(foreign_key="breakout_round.id", primary_key=True, ondelete="CASCADE")
    room: str = Field(primary_key=True, max_length=64)
    text: str = ""
    #: Counts saves, so that a save made from an outdated copy is refused, not lost.
    version: int = 0
    updated_at: datetime = _utc(nullable=False)
    updated_by: str = Field(max_length=200)


class BreakoutPlan(SQLModel, table=True):
    """Groups prepared for a session before its round opens (by hand or generated)."""

    __tablename__ = "breakout_plan"

    session_id: int = Field(foreign_key="session.id", primary_key=True, ondelete="CASCADE")
    person_id: int = Field(
        foreign_key="person.id", primary_key=True, index=True, ondelete="CASCADE"
    )
    room: str = Field(max_length=64)
    #: Kept in this room when the plan is generated again.
    pinned: bool = False
    updated_at: datetime = _utc(nullable=False)
    updated_by: str = Field(max_length=200)


class SessionPlayback(SQLModel, table=True):
    """The site visit's playback clock for one session (CONTRACT §3 ``playback``).

    A recorded visit names a packaged asset and its version; a live visit names an external
    stream instead. ``position`` is the recording's second at event time ``at``; while
    ``state`` is ``playing`` it advances from there (domain.playback).
    """

    __tablename__ = "session_playback"

    session_id: int = Field(foreign_key="session.id", primary_key=True, ondelete="CASCADE")
    event_id: int = Field(foreign_key="event.id", index=True, ondelete="CASCADE")
    asset: str | None = Field(default=None, max_length=64)
    version: str | None = Field(default=None, max_length=64)
    live_url: str | None = Field(default=None, max_length=2000)
    #: The recording's length in seconds (None for a live stream).
    duration: float | None = None
    state: str = Field(default="paused", max_length=16)
    position: float = 0.0
    at: datetime = _utc(nullable=False)
    changed_by: str = Field(max_length=200)


class MediaJob(SQLModel, table=True):
    """An uploaded recording being packaged for the site visit.

    One worker thread of the process that took the upload runs it; any process shows its
    state from this row. A ``running`` row that stops being updated belongs to a process
    that died (services/media_jobs.py reads it as interrupted).
    """

    __tablename__ = "media_job"

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True, ondelete="CASCADE")
    #: The package's name (``media package --name``).
    name: str = Field(max_length=64)
    #: queued | running | done | failed
    status: str = Field(default="queued", max_length=16)
    #: 0.0 to 1.0
    progress: float = 0.0
    #: Why it failed: plain-English problems, one per line.
    problems: str = ""
    #: The package version it produced (done only).
    version: str | None = Field(default=None, max_length=64)
    #: Real time (not event time): staleness is judged in real seconds.
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)
    created_by: str = Field(max_length=200)


class Certificate(SQLModel, table=True):
    """A certificate of attendance issued to one person: its public code never changes;
    a re-issue (a corrected name, say) raises ``revision`` and keeps the old text in
    ``certificate_revision``."""

    __tablename__ = "certificate"
    __table_args__ = (UniqueConstraint("event_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True, ondelete="CASCADE")
    person_id: int = Field(foreign_key="person.id", index=True, ondelete="CASCADE")
    #: Unguessable, in the verification URL (/verify/{code}).
    code: str = Field(max_length=32, unique=True, index=True)
    revision: int = 1
    #: As printed: the person's name and country at issue time.
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    #: Hours attended (present minutes / 60, all sessions) and the sessions, as printed.
    hours: float = 0.0
    sessions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    #: True when a secretariat override (not attendance alone) made the person eligible.
    by_override: bool = False
    issued_at: datetime = _utc(nullable=False)
    issued_by: str = Field(max_length=200)
    revoked_at: datetime | None = _utc(nullable=True)
    revoked_by: str | None = Field(default=None, max_length=200)
    revoke_reason: str | None = Field(default=None, max_length=1000)


class CertificateRevision(SQLModel, table=True):
    """What a certificate said in each earlier revision, and why it was issued again."""

    __tablename__ = "certificate_revision"

    certificate_id: int = Field(foreign_key="certificate.id", primary_key=True, ondelete="CASCADE")
    revision: int = Field(primary_key=True)
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    hours: float = 0.0
    issued_at: datetime = _utc(nullable=False)
    issued_by: str = Field(max_length=200)
    reason: str = Field(default="", max_length=1000)


class CertificateDesign(SQLModel, table=True):
    """An event's certificate: its template (HTML and CSS, rendered sandboxed), its
    signature blocks and its images. Without a row the built-in design is used."""

    __tablename__ = "certificate_design"

    event_id: int = Field(foreign_key="event.id", primary_key=True, ondelete="CASCADE")
    #: None: the built-in template.
    html: str | None = None
    css: str | None = None
    #: Up to three: {"name", "title", "image": asset name or null}.
    signatories: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    #: Asset name of the logo, or None.
    logo: str | None = Field(default=None, max_length=64)
    updated_at: datetime = _utc(nullable=False)
    updated_by: str = Field(max_length=200)


class CertificateAsset(SQLModel, table=True):
    """An image the secretariat uploaded for its certificate (a logo, a signature)."""

    __tablename__ = "certificate_asset"

    event_id: int = Field(foreign_key="event.id", primary_key=True, ondelete="CASCADE")
    name: str = Field(primary_key=True, max_length=64)
    content_type: str = Field(max_length=64)
    data: bytes
    updated_at: datetime = _utc(nullable=False)


class Delivery(SQLModel, table=True):
    """One e-mail to one person: an invitation or a certificate. The unique key makes
    sending twice never mail twice; ``status`` is what the secretariat sees per person."""

    __tablename__ = "delivery"
    __table_args__ = (UniqueConstraint("event_id", "person_id", "kind", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True, ondelete="CASCADE")
    person_id: int = Field(foreign_key="person.id", index=True, ondelete="CASCADE")
    #: invitation | certificate
    kind: str = Field(max_length=16)
    #: What is sent: the invitation's calendar sequence, or the certificate's code and
    #: revision ("CODE/r2"); a new one is a new e-mail, the same one is never sent twice.
    key: str = Field(max_length=64)
    #: queued | sending | sent | failed
    status: str = Field(default="queued", max_length=16)
    attempts: int = 0
    last_error: str = Field(default="", max_length=1000)
    #: The Message-ID of the mail, kept so that a retry after an unknown outcome is recognised.
    message_id: str = Field(default="", max_length=200)
    to_address: str = Field(default="", max_length=320)
    subject: str = Field(default="", max_length=300)
    #: The message as sent (the dev outbox shows it when no SMTP server is set).
    body: str = ""
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)
    sent_at: datetime | None = _utc(nullable=True)


class InvitationIssue(SQLModel, table=True):
    """One sending of the invitations: the programme as it stood (its digest) and the
    calendar ``SEQUENCE`` its .ics events carry. A changed programme sent again is a new
    issue with the next sequence, which calendars take as an update of the same events."""

    __tablename__ = "invitation_issue"
    __table_args__ = (UniqueConstraint("event_id", "sequence"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True, ondelete="CASCADE")
    sequence: int
    programme_digest: str = Field(max_length=64)
    created_at: datetime = _utc(nullable=False)
    created_by: str = Field(max_length=200)

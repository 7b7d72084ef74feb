"""E-mail deliveries: queue once, claim, send, retry with backoff, never mail twice.

A delivery is keyed by (event, person, kind, key): queueing the same invitation or
certificate revision again finds the existing row, so "send" pressed twice mails once.
Sending claims a row with a conditional update (``queued``/rested ``failed`` →
``sending``), commits, and only then talks to the mail server, so two processes never
send the same row. The outcome is recorded as ``sent`` (with ``sent_at``) or ``failed``
(with the reason); a failed row is tried again after a growing pause and given up after
``max_attempts`` attempts, keeping its last error for the secretariat to read.

One window remains: a process that dies after the server accepted a message but before
``sent`` was written leaves the row in ``sending``; after ``STALE_SENDING`` it is sent
again. That second copy carries the same ``Message-ID`` (derived from the delivery's id
and key), which mail servers and clients use to recognise and drop the duplicate.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlmodel import Session

from studymission.db import deliveries as store
from studymission.db.tables import Delivery, Event, Person
from studymission.services.mail import OUTBOX_NOTE, Attachment, Mail, Mailer, message_id

#: A row left in ``sending`` this long belongs to a process that died (real time).
STALE_SENDING = timedelta(minutes=5)
#: Pause after the first failure; it doubles with each further one, up to `MAX_BACKOFF`.
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
MAX_ATTEMPTS = 5
#: Rows looked at per call; the background loop comes back for the rest.
BATCH = 200

#: The files of one delivery, made when it is sent (not stored with the row).
Attach = Callable[[Session, Delivery], Sequence[Attachment]]


@dataclass(frozen=True)
class SendReport:
    sent: int
    failed: int
    #: Rows another sender claimed first.
    lost: int


@dataclass(frozen=True)
class DeliveryRow:
    """One line of the per-person status table."""

    person_key: str
    name: str
    email: str
    kind: str
    key: str
    status: str
    attempts: int
    last_error: str
    sent_at: datetime | None
    in_outbox: bool
    given_up: bool


def mail_domain(base_url: str) -> str:
    return urlsplit(base_url).hostname or "localhost"


def queue_delivery(
    db: Session,
    *,
    event: Event,
    person: Person,
    kind: str,
    key: str,
    subject: str,
    body: str,
    now: datetime,
    domain: str,
) -> tuple[Delivery, bool]:
    """The delivery of (person, kind, key), created ``queued`` unless it exists; no commit."""
    values = {
        "event_id": event.id,
        "person_id": person.id,
        "kind": kind,
        "key": key,
        "status": "queued",
        "attempts": 0,
        "last_error": "",
        "message_id": "",
        "to_address": person.email,
        "subject": subject[:300],
        "body": body,
        "created_at": now,
        "updated_at": now,
    }
    delivery, created = store.insert_if_absent(db, values)
    if created:
        store.set_message_id(db, delivery, message_id(delivery.id or 0, key, domain=domain))
    return delivery, created


def backoff(attempts: int) -> timedelta:
    """The pause before attempt ``attempts + 1`` after a failed one."""
    return min(FIRST_BACKOFF * (1 << max(attempts - 1, 0)), MAX_BACKOFF)


def send_pending(
    db: Session,
    mailer: Mailer,
    *,
    now: datetime,
    attach: Attach,
    max_attempts: int = MAX_ATTEMPTS,
    event_id: int | None = None,
) -> SendReport:
    """Send every due delivery once (real time `now`); commits after each row."""
    due = store.due_deliveries(
        db,
        max_attempts=max_attempts,
        failed_before=now - FIRST_BACKOFF,
        stale_before=now - STALE_SENDING,
        limit=BATCH,
        event_id=event_id,
    )
    # What was read, kept apart from the ORM objects: a later rollback would reload
    # them, and a claim must compare against what this sender saw, not what is there now.
    seen = [(r.id or 0, r.status, r.attempts, r.updated_at) for r in due]
    db.commit()
    sent = failed = lost = 0
    for delivery_id, status, attempts, updated_at in seen:
        if status == "failed" and now < updated_at + backoff(attempts):
            continue
        claimed = store.claim(
            db, delivery_id, status=status, attempts=attempts, updated_at=updated_at, now=now
        )
        db.commit()
        if not claimed:
            lost += 1
            continue
        if _send_one(db, mailer, delivery_id, attempt=attempts + 1, now=now, attach=attach):
            sent += 1
        else:
            failed += 1
    return SendReport(sent=sent, failed=failed, lost=lost)


def _send_one(
    db: Session, mailer: Mailer, delivery_id: int, *, attempt: int, now: datetime, attach: Attach
) -> bool:
    try:
        row = store.get_delivery(db, delivery_id)
        if row is None:
            raise LookupError(f"delivery {delivery_id} is gone")
        mail = Mail(
            to=row.to_address,
            subject=row.subject,
            body=row.body,
            message_id=row.message_id,
            attachments=tuple(attach(db, row)),
        )
        db.commit()  # no transaction stays open while the mail server answers
        mailer.send(mail)
    except Exception as error:
        db.rollback()
        values = {"status": "failed", "last_error": describe(error)[:1000], "updated_at": now}
        store.finish(db, delivery_id, attempt=attempt, values=values)
        db.commit()
        return False
    note = OUTBOX_NOTE if mailer.is_outbox else ""
    values = {"status": "sent", "last_error": note, "sent_at": now, "updated_at": now}
    store.finish(db, delivery_id, attempt=attempt, values=values)
    db.commit()
    return True


def describe(error: Exception) -> str:
    """The mail server's answer (``451 try later``) or the exception, for the status table."""
    code = getattr(error, "smtp_code", None)
    text = getattr(error, "smtp_error", None)
    if isinstance(code, int) and isinstance(text, bytes):
        return f"{code} {text.decode(errors='replace')}"
    return f"{type(error).__name__}: {error}"


def retry_failed(db: Session, event: Event, *, now: datetime) -> int:
    """Put the event's failed deliveries (given up ones too) back in the queue; commits."""
    count = store.requeue_failed(db, event.id or 0, now=now)
    db.commit()
    return count


def delivery_rows(
    db: Session, event: Event, *, max_attempts: int = MAX_ATTEMPTS
) -> list[DeliveryRow]:
    """Every delivery of the event with its person, for the status table and the API."""
    return [
        DeliveryRow(
            person_key=person.key,
            name=person.name,
            email=delivery.to_address,
            kind=delivery.kind,
            key=delivery.key,
            status=delivery.status,
            attempts=delivery.attempts,
            last_error="" if delivery.last_error == OUTBOX_NOTE else delivery.last_error,
            sent_at=delivery.sent_at,
            in_outbox=delivery.last_error == OUTBOX_NOTE,
            given_up=delivery.status == "failed" and delivery.attempts >= max_attempts,
        )
        for delivery, person in store.event_deliveries(db, event.id or 0)
    ]


def outbox(db: Session, event: Event) -> list[tuple[Delivery, Person]]:
    """The event's deliveries that went to the dev outbox, newest first."""
    rows = [
        (delivery, person)
        for delivery, person in store.event_deliveries(db, event.id or 0)
        if delivery.last_error == OUTBOX_NOTE
    ]
    return sorted(rows, key=lambda pair: pair[0].sent_at or pair[0].updated_at, reverse=True)


def status_counts(rows: Sequence[DeliveryRow]) -> dict[str, int]:
    """How many deliveries are in each status, for the page's summary."""
    counts = dict.fromkeys(("queued", "sending", "sent", "failed"), 0)
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


def attachment_name(delivery: Delivery) -> str:
    """The file a delivery carries, named without rendering it."""
    if delivery.kind == "certificate":
        return f"certificate-{delivery.key.partition('/')[0]}.pdf"
    return "invitation.ics"

"""JSON API of invitations and certificate mail, with the per-person delivery status."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel

from studymission.db.tables import Event
from studymission.domain.values import Role
from studymission.services import deliveries as delivery_service
from studymission.services.access import Identity, require_event, require_role
from studymission.services.certificate_mail import send_certificates
from studymission.services.dispatch import dispatch
from studymission.services.invitations import send_invitations
from studymission.web.deps import ClockDep, CurrentIdentity, SessionDep, SettingsDep

router = APIRouter(prefix="/api/events/{code}", tags=["deliveries"])

SECRETARIAT = {Role.SECRETARIAT}


class Chosen(BaseModel):
    #: Person keys; absent or null: everyone concerned.
    people: list[str] | None = None


class QueueResult(BaseModel):
    queued: int
    already: int
    queued_people: list[str]
    already_people: list[str]
    sequence: int | None = None


class SendResult(BaseModel):
    sent: int
    failed: int
    lost: int
    requeued: int = 0


class DeliveryOut(BaseModel):
    person: str
    name: str
    email: str
    kind: str
    key: str
    status: str
    attempts: int
    last_error: str
    sent_at: datetime | None
    outbox: bool
    given_up: bool


def _event(identity: Identity, code: str, action: str) -> Event:
    event = require_event(identity, code)
    require_role(identity, SECRETARIAT, action=action)
    return event


@router.post("/invitations")
def invite(
    code: str,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    chosen: Annotated[Chosen | None, Body()] = None,
) -> QueueResult:
    """Queue the invitation (join link, programme, .ics) for everyone or the people chosen."""
    event = _event(identity, code, "sending invitations")
    outcome = send_invitations(
        db,
        event,
        people=chosen.people if chosen else None,
        actor=identity.person.key,
        now=clock.real_now(),
        base_url=settings.base_url,
        secret=settings.signing_key(),
    )
    return _result(outcome.queued, outcome.already, sequence=outcome.sequence)


@router.post("/certificates/mail")
def mail_certificates(
    code: str,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    chosen: Annotated[Chosen | None, Body()] = None,
) -> QueueResult:
    """Queue the mail of every certificate in force (or the people chosen), PDF attached."""
    event = _event(identity, code, "mailing certificates")
    outcome = send_certificates(
        db,
        event,
        people=chosen.people if chosen else None,
        actor=identity.person.key,
        now=clock.real_now(),
        base_url=settings.base_url,
    )
    return _result(outcome.queued, outcome.already)


def _result(
    queued: tuple[str, ...], already: tuple[str, ...], *, sequence: int | None = None
) -> QueueResult:
    return QueueResult(
        queued=len(queued),
        already=len(already),
        queued_people=list(queued),
        already_people=list(already),
        sequence=sequence,
    )


@router.post("/deliveries/send")
def send_now(
    code: str,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    retry_failed: bool = False,
) -> SendResult:
    """Send the event's due deliveries now; `retry_failed` first puts failed ones back."""
    event = _event(identity, code, "sending mail")
    now = clock.real_now()
    requeued = delivery_service.retry_failed(db, event, now=now) if retry_failed else 0
    report = dispatch(db, settings, now=now, event_id=event.id)
    return SendResult(sent=report.sent, failed=report.failed, lost=report.lost, requeued=requeued)


@router.get("/deliveries")
def list_deliveries(code: str, identity: CurrentIdentity, db: SessionDep) -> list[DeliveryOut]:
    """Every delivery of the event per person: status, attempts, last error, sent at."""
    event = _event(identity, code, "reading the delivery status")
    return [
        DeliveryOut(
            person=row.person_key,
            name=row.name,
            email=row.email,
            kind=row.kind,
            key=row.key,
            status=row.status,
            attempts=row.attempts,
            last_error=row.last_error,
            sent_at=row.sent_at,
            outbox=row.in_outbox,
            given_up=row.given_up,
        )
        for row in delivery_service.delivery_rows(db, event)
    ]

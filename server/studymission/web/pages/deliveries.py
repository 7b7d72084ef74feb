"""The secretariat's mail pages: send the invitations and the certificates, follow each
person's delivery, and read the dev outbox; and a person's own calendar file.

Writes are real form posts that htmx enhances: htmx gets the `mail_page` block back, a
plain post the whole page. A chosen person who cannot be mailed is listed as a problem
(422) and nothing is queued.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from studymission.db.tables import Event
from studymission.domain.errors import InvalidInputError
from studymission.domain.values import Problem
from studymission.services import deliveries as delivery_service
from studymission.services.access import require_event
from studymission.services.certificate_mail import send_certificates
from studymission.services.dispatch import dispatch
from studymission.services.invitations import calendar_for, people_to_invite, send_invitations
from studymission.web.deps import ClockDep, CurrentIdentity, SessionDep, SettingsDep
from studymission.web.pages.desk import Desk, DeskDep
from studymission.web.templating import render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Notice:
    """What the last action did, said once above the status table."""

    text: str
    problems: tuple[Problem, ...] = ()


@router.get("/events/{code}/invitations")
def mail_page(code: str, desk: DeskDep) -> HTMLResponse:
    """Send invitations and certificates; every person's delivery status."""
    event = desk.event(code, action="sending invitations")
    return _page(desk, event, None)


@router.post("/events/{code}/invitations")
def invite(
    code: str,
    desk: DeskDep,
    scope: Annotated[str, Form()] = "all",
    people: Annotated[list[str] | None, Form()] = None,
) -> HTMLResponse:
    """Queue the invitations for everyone or the people ticked."""
    event = desk.event(code, action="sending invitations")

    def queue(chosen: list[str] | None) -> str:
        outcome = send_invitations(
            desk.db,
            event,
            people=chosen,
            actor=desk.identity.person.key,
            now=desk.clock.real_now(),
            base_url=desk.settings.base_url,
            secret=desk.settings.signing_key(),
        )
        return f"Invitations (calendar sequence {outcome.sequence}): " + _counted(outcome)

    return _queue(desk, event, _chosen(scope, people), queue, everyone="invite everyone")


@router.post("/events/{code}/invitations/certificates")
def mail_certificates(
    code: str,
    desk: DeskDep,
    scope: Annotated[str, Form()] = "all",
    people: Annotated[list[str] | None, Form()] = None,
) -> HTMLResponse:
    """Queue the certificates in force for mailing, PDF attached."""
    event = desk.event(code, action="mailing certificates")

    def queue(chosen: list[str] | None) -> str:
        outcome = send_certificates(
            desk.db,
            event,
            people=chosen,
            actor=desk.identity.person.key,
            now=desk.clock.real_now(),
            base_url=desk.settings.base_url,
        )
        return "Certificates: " + _counted(outcome)

    return _queue(desk, event, _chosen(scope, people), queue, everyone="mail everyone")


class _Queued(Protocol):
    @property
    def queued(self) -> tuple[str, ...]: ...
    @property
    def already(self) -> tuple[str, ...]: ...


def _counted(outcome: _Queued) -> str:
    return (
        f"{len(outcome.queued)} queued, "
        f"{len(outcome.already)} already queued or sent and not mailed again."
    )


def _queue(
    desk: Desk,
    event: Event,
    chosen: list[str] | None,
    queue: Callable[[list[str] | None], str],
    *,
    everyone: str,
) -> HTMLResponse:
    """Queue mail for everyone (`chosen` None) or the people ticked; the page again, with
    what was queued or every problem (nothing queued then)."""
    if chosen == []:
        return _refused(desk, event, "people", f"tick at least one person, or {everyone}")
    try:
        text = queue(chosen)
    except InvalidInputError as error:
        desk.db.rollback()
        return _page(desk, event, Notice(error.detail, error.problems), status_code=422)
    return _page(desk, event, Notice(text))


@router.post("/events/{code}/invitations/send")
def send_now(
    code: str, desk: DeskDep, retry_failed: Annotated[bool, Form()] = False
) -> HTMLResponse:
    """Send what is due now; with `retry_failed`, failed deliveries are tried again first."""
    event = desk.event(code, action="sending mail")
    now = desk.clock.real_now()
    requeued = delivery_service.retry_failed(desk.db, event, now=now) if retry_failed else 0
    report = dispatch(desk.db, desk.settings, now=now, event_id=event.id)
    text = f"Sent {report.sent}, failed {report.failed}"
    if retry_failed:
        text += f" ({requeued} failed deliveries tried again)"
    return _page(desk, event, Notice(text + "."))


@router.get("/events/{code}/outbox")
def outbox_page(code: str, desk: DeskDep) -> HTMLResponse:
    """What would have been mailed while no SMTP server is set (the dev outbox)."""
    event = desk.event(code, action="reading the outbox")
    rows = delivery_service.outbox(desk.db, event)
    context = desk.context(
        event,
        "invitations",
        rows=rows,
        smtp_set=bool(desk.settings.smtp_url),
        attachment_name=delivery_service.attachment_name,
    )
    return render(desk.request, "pages/deliveries/outbox.html", context, block="outbox")


@router.get("/events/{code}/calendar.ics")
def own_calendar(
    code: str,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> Response:
    """The signed-in person's programme as an .ics file, with their own join link."""
    event = require_event(identity, code)
    data = calendar_for(
        db,
        event,
        identity.person,
        sequence=None,
        base_url=settings.base_url,
        secret=settings.signing_key(),
        sender=settings.mail_from,
        now=clock.real_now(),
    )
    return Response(
        data,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{event.code}.ics"'},
    )


def _chosen(scope: str, people: list[str] | None) -> list[str] | None:
    return None if scope == "all" else [key for key in (people or []) if key]


def _refused(desk: Desk, event: Event, path: str, reason: str) -> HTMLResponse:
    notice = Notice("nobody was chosen", (Problem(path, "", reason),))
    return _page(desk, event, notice, status_code=422)


def _page(desk: Desk, event: Event, notice: Notice | None, status_code: int = 200) -> HTMLResponse:
    rows = delivery_service.delivery_rows(desk.db, event)
    context = desk.context(
        event,
        "invitations",
        notice=notice,
        rows=rows,
        people=people_to_invite(desk.db, event),
        smtp_set=bool(desk.settings.smtp_url),
        counts=delivery_service.status_counts(rows),
    )
    return render(
        desk.request,
        "pages/deliveries/invitations.html",
        context,
        block="mail_page",
        status_code=status_code,
    )

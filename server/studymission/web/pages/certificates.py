"""Certificates in the browser: the secretariat's page (issue, revoke, downloads) and a
participant's own certificate (the home page's section and the PDF).

Writes are real form posts that htmx enhances: a plain post gets the whole page, an htmx
one the page's block; every problem is listed (422) and nothing is written then.
"""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from studymission.db.tables import Event
from studymission.domain.errors import InvalidInputError, NotFoundError
from studymission.domain.values import Problem
from studymission.services import certificates as service
from studymission.services.access import require_event
from studymission.web.deps import CurrentIdentity, SessionDep, SettingsDep
from studymission.web.pages.desk import Desk, DeskDep
from studymission.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

PAGE = "pages/certificates/certificates.html"


@router.get("/events/{code}/certificates")
def certificates_page(code: str, desk: DeskDep) -> HTMLResponse:
    """Eligibility beside certificates: issue to all or chosen, revoke, download."""
    event = desk.event(code, action="managing certificates")
    return _page(desk, event)


@router.post("/events/{code}/certificates/issue")
def issue_form(
    code: str,
    desk: DeskDep,
    people: Annotated[list[str] | None, Form()] = None,
    chosen: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Issue to every eligible participant, or (``chosen``) to the people ticked."""
    event = desk.event(code, action="issuing certificates")
    try:
        outcome = service.issue_certificates(
            desk.db,
            event,
            people=(people or []) if chosen else None,
            actor=desk.identity.person.name,
            now=desk.clock.now(),
            base_url=desk.settings.base_url,
        )
    except InvalidInputError as error:
        desk.db.rollback()
        return _page(desk, event, problems=error.problems, status_code=422)
    return _page(desk, event, outcome=outcome)


@router.post("/events/{code}/certificates/{key}/revoke")
def revoke_form(
    code: str, key: str, desk: DeskDep, reason: Annotated[str, Form()] = ""
) -> HTMLResponse:
    """Revoke a person's certificate; the reason is required and kept."""
    event = desk.event(code, action="revoking certificates")
    try:
        service.revoke(
            desk.db,
            event,
            key,
            reason=reason,
            actor=desk.identity.person.name,
            now=desk.clock.now(),
        )
    except InvalidInputError as error:
        desk.db.rollback()
        problems = tuple(Problem(f"{key}: {p.path}", p.value, p.reason) for p in error.problems)
        return _page(desk, event, problems=problems, status_code=422)
    return _page(desk, event, revoked=key)


def _page(
    desk: Desk,
    event: Event,
    *,
    outcome: service.IssueOutcome | None = None,
    revoked: str | None = None,
    problems: tuple[Problem, ...] = (),
    status_code: int = 200,
) -> HTMLResponse:
    overview = service.certificate_overview(desk.db, event, now=desk.clock.now())
    context = desk.context(
        event,
        "certificates",
        overview=overview,
        outcome=outcome,
        revoked=revoked,
        problems=problems,
    )
    return render(desk.request, PAGE, context, block="certificates_page", status_code=status_code)


# --- a participant's own ---------------------------------------------------------------


@router.get("/events/{code}/certificate")
def my_certificate(
    request: Request, code: str, identity: CurrentIdentity, db: SessionDep
) -> HTMLResponse:
    """The person's certificate section (the home page loads it), or a page of its own."""
    event = require_event(identity, code)
    certificate = service.own_certificate(db, event, identity.person)
    context = {
        "event": event,
        "identity": identity,
        "certificate": certificate,
        "nav": "home",
        "is_fragment": is_htmx(request),
    }
    return render(request, "pages/certificates/mine.html", context, block="my_certificate")


@router.get("/events/{code}/certificate.pdf")
def my_certificate_pdf(
    code: str, identity: CurrentIdentity, db: SessionDep, settings: SettingsDep
) -> Response:
    """The person's own certificate as PDF; 404 until issued, and once revoked."""
    event = require_event(identity, code)
    certificate = service.own_certificate(db, event, identity.person)
    if certificate is None:
        raise NotFoundError("you have no certificate of attendance (yet)")
    data = service.certificate_pdf(db, event, certificate, base_url=settings.base_url)
    filename = f"{event.code}-certificate-{identity.person.key}.pdf"
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )

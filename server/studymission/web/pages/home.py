"""The person's home: the programme in their time zone and the event's, with now / next."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studymission.domain.values import Role
from studymission.services.access import require_event
from studymission.services.person_minutes import my_attendance
from studymission.services.programme import programme_view, set_timezone
from studymission.services.stage import stage_view
from studymission.web.deps import ClockDep, CurrentIdentity, MaybeIdentity, SessionDep
from studymission.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)


@router.get("/")
def landing(request: Request, identity: MaybeIdentity) -> Response:
    """Signed-in people go to their event; others learn how to sign in."""
    if identity is not None:
        return RedirectResponse(f"/events/{identity.event.code}", status_code=303)
    return render(request, "pages/landing.html", {})


@router.get("/events/{code}")
def home(
    request: Request,
    code: str,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    tz: str | None = None,
) -> HTMLResponse:
    """The programme page every person of the event lands on."""
    event = require_event(identity, code)
    now = clock.now()
    view = programme_view(db, event, identity.person, asked_tz=tz, now=now)
    # The person's own minutes only (pages/live/my_attendance.html); it polls for updates.
    mine = my_attendance(db, event, identity.person, now=now)
    context = {
        "stage": stage_view(db, event, now),
        "event": event,
        "identity": identity,
        "view": view,
        "Role": Role,
        "my": mine,
        "tz": view.viewer_tz,
    }
    return render(request, "pages/home.html", context, block="programme")


@router.post("/events/{code}/timezone")
def choose_timezone(
    request: Request,
    code: str,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    tz: Annotated[str, Form()],
) -> Response:
    """Save the person's time zone; htmx gets the programme again, a form post a redirect."""
    event = require_event(identity, code)
    set_timezone(db, identity.person, tz)
    if not is_htmx(request):
        return RedirectResponse(f"/events/{code}", status_code=303)
    view = programme_view(db, event, identity.person, asked_tz=None, now=clock.now())
    context = {"event": event, "identity": identity, "view": view, "Role": Role}
    return render(request, "pages/home.html", context, block="programme")

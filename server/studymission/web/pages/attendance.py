"""The attendance pages: the secretariat's report (moderators read it too) with filters,
heat map, overrides and their audit trail; one person's minutes and connections; and a
person's own minutes, which their event page polls.

Filters are a GET form that htmx sends on change and pushes into the address bar, so a
filtered view is a link. Overrides are real form posts (CSRF token in a field, or htmx's
header): a plain post is redirected back, an htmx one gets the part of the page it changed,
and invalid input re-renders the form with every problem (422), nothing written.
"""

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from studymission.db.tables import Event
from studymission.domain.errors import InvalidInputError
from studymission.domain.values import Problem, Role
from studymission.services import attendance as attendance_service
from studymission.services.access import require_event, require_role
from studymission.services.attendance_report_page import ReportFilter, report_view
from studymission.services.person_minutes import my_attendance, person_detail
from studymission.services.programme import viewer_timezone
from studymission.web.pages.desk import Desk, DeskDep
from studymission.web.pages.roster import staff_event, wants_fragment
from studymission.web.templating import render

router = APIRouter(include_in_schema=False)

SECRETARIAT = {Role.SECRETARIAT}
REPORT = "pages/secretariat/attendance.html"
PERSON = "pages/secretariat/attendance_person.html"
CHOICES = {"yes": True, "no": False}
REASON_MISSING = "say why: the reason is kept with the decision"


@dataclass(frozen=True)
class Refused:
    """A decision that was not recorded: what was submitted for whom, and every problem."""

    key: str
    eligible: str
    reason: str
    problems: tuple[Problem, ...]


def _filter(country: str, role: str, q: str, not_eligible: str) -> ReportFilter:
    return ReportFilter(
        country=country.strip().upper(),
        role=role if role in {r.value for r in Role} else "",
        query=q,
        not_eligible=not_eligible not in ("", "0", "false"),
    )


@router.get("/events/{code}/attendance")
def attendance_page(
    code: str,
    desk: DeskDep,
    country: str = "",
    role: str = "",
    q: str = "",
    not_eligible: str = "",
    saved: str = "",
) -> HTMLResponse:
    """The attendance report with its heat map; htmx filter changes get the results only."""
    event = staff_event(desk, code, action="reading the attendance report")
    wanted = _filter(country, role, q, not_eligible)
    return _report(desk, event, wanted, saved=saved, block="attendance_results")


@router.post("/events/{code}/attendance/overrides/{person}")
def set_override(
    code: str,
    person: str,
    desk: DeskDep,
    eligible: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    view: Annotated[str, Form()] = "report",
    country: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    q: Annotated[str, Form()] = "",
    not_eligible: Annotated[str, Form()] = "",
) -> Response:
    """Record the secretariat's decision on a person's eligibility, with its reason."""
    event = require_event(desk.identity, code)
    require_role(desk.identity, SECRETARIAT, action="overriding eligibility")
    wanted = _filter(country, role, q, not_eligible)
    try:
        if eligible not in CHOICES:
            # The service is not called without a decision, so its check of the reason is
            # repeated here: the form lists every problem at once.
            problems = [Problem("eligible", eligible, "choose “eligible” or “not eligible”")]
            if not reason.strip():
                problems.append(Problem("reason", "", REASON_MISSING))
            raise InvalidInputError("the override was not recorded", problems)
        attendance_service.set_override(
            desk.db,
            event,
            person,
            eligible=CHOICES[eligible],
            reason=reason,
            author=desk.identity.person.name,
            now=desk.clock.now(),
        )
    except InvalidInputError as error:
        desk.db.rollback()
        failed = Refused(person, eligible, reason, error.problems)
        return _after_decision(desk, event, person, view, wanted, failed=failed)
    return _after_decision(desk, event, person, view, wanted)


@router.post("/events/{code}/attendance/overrides/{person}/withdraw")
def withdraw_override(
    code: str,
    person: str,
    desk: DeskDep,
    view: Annotated[str, Form()] = "report",
    country: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    q: Annotated[str, Form()] = "",
    not_eligible: Annotated[str, Form()] = "",
) -> Response:
    """Withdraw the person's override; eligibility follows attendance again."""
    event = require_event(desk.identity, code)
    require_role(desk.identity, SECRETARIAT, action="withdrawing an override")
    attendance_service.withdraw_override(
        desk.db, event, person, author=desk.identity.person.name, now=desk.clock.now()
    )
    wanted = _filter(country, role, q, not_eligible)
    return _after_decision(desk, event, person, view, wanted)


@router.get("/events/{code}/attendance/{person}")
def person_page(code: str, person: str, desk: DeskDep) -> HTMLResponse:
    """One person's minutes of every session, their connections and override history."""
    event = staff_event(desk, code, action="reading a person's attendance")
    return _person(desk, event, person)


@router.get("/events/{code}/my-attendance")
def my_minutes(code: str, desk: DeskDep) -> Response:
    """The signed-in person's own minutes (their event page polls it); others' never."""
    event = require_event(desk.identity, code)
    if not wants_fragment(desk.request):
        return RedirectResponse(f"/events/{code}#my-attendance", status_code=303)
    tz, _source = viewer_timezone(event, desk.identity.person, None)
    mine = my_attendance(desk.db, event, desk.identity.person, now=desk.clock.now())
    context = {"event": event, "identity": desk.identity, "my": mine, "tz": tz}
    return render(desk.request, "pages/live/my_attendance.html", context, block="my_minutes")


# --- helpers -------------------------------------------------------------------------------


def _after_decision(
    desk: Desk,
    event: Event,
    person: str,
    view: str,
    wanted: ReportFilter,
    *,
    failed: Refused | None = None,
) -> Response:
    """What a decision's form gets back: the part it changed (htmx), a redirect (saved), or
    the whole page with the form's problems (422)."""
    status = 422 if failed else 200
    fragment = wants_fragment(desk.request)
    if view == "person":
        if not failed and not fragment:
            return RedirectResponse(f"/events/{event.code}/attendance/{person}", status_code=303)
        block = "person_decision" if fragment else None
        return _person(desk, event, person, failed=failed, saved=not failed, block=block)
    if not failed and not fragment:
        query = urlencode({**wanted.as_query(), "saved": person})
        url = f"/events/{event.code}/attendance?{query}#person-{person}"
        return RedirectResponse(url, status_code=303)
    return _report(
        desk,
        event,
        wanted,
        saved="" if failed else person,
        failed=failed,
        oob=fragment and not failed,
        block="attendance_results" if fragment else None,
        status_code=status,
    )


def _report(
    desk: Desk,
    event: Event,
    wanted: ReportFilter,
    *,
    saved: str = "",
    failed: Refused | None = None,
    oob: bool = False,
    block: str | None,
    status_code: int = 200,
) -> HTMLResponse:
    view = report_view(desk.db, event, wanted, now=desk.clock.now())
    tz, _source = viewer_timezone(event, desk.identity.person, None)
    context = desk.context(
        event,
        "attendance",
        view=view,
        # render_heatmap escapes every name and title it writes (exporters/heatmap.py).
        heatmap=Markup(view.heatmap),
        tz=tz,
        can_decide=desk.identity.role is Role.SECRETARIAT,
        saved=view.person(saved) if saved else None,
        failed=failed,
        oob=oob,
        filter_query=view.filter.as_query(),
    )
    if block is not None and not wants_fragment(desk.request):
        block = None
    return render(desk.request, REPORT, context, block=block, status_code=status_code)


def _person(
    desk: Desk,
    event: Event,
    person: str,
    *,
    failed: Refused | None = None,
    saved: bool = False,
    block: str | None = None,
) -> HTMLResponse:
    detail = person_detail(desk.db, event, person, now=desk.clock.now())
    tz, _source = viewer_timezone(event, desk.identity.person, None)
    context = desk.context(
        event,
        "attendance",
        detail=detail,
        tz=tz,
        can_decide=desk.identity.role is Role.SECRETARIAT,
        failed=failed,
        saved=saved,
    )
    status = 422 if failed else 200
    return render(desk.request, PERSON, context, block=block, status_code=status)

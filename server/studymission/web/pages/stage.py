"""The moderator console (run of show, notices, Q&A) and the presenter view.

Both follow the live session: their regions fetch themselves again when the page's socket
hears a ``state`` frame (``sm:live-state``). The console's buttons call the same service
as the JSON API (services/run_of_show.py), so a script and a moderator cannot disagree.
"""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from studymission.db.tables import Event
from studymission.domain.values import STAFF_ROLES, ItemKind, Mode, Problem, Role
from studymission.realtime.runtime import Realtime
from studymission.services.access import require_event, require_role
from studymission.services.notices import send_notice
from studymission.services.programme import viewer_timezone
from studymission.services.run_of_show import ModeChange, change_mode
from studymission.services.stage import MODE_LABELS, presenter_view, stage_view
from studymission.web.api.attendance import NoticeIn
from studymission.web.pages.console_action import answer, apply_change
from studymission.web.pages.desk import Desk, DeskDep
from studymission.web.pages.roster import wants_fragment
from studymission.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

PRESENTERS = frozenset({Role.RESOURCE_PERSON, *STAFF_ROLES})

#: The mode an agenda item is shown in when a moderator puts it on.
MODE_OF_KIND = {
    ItemKind.BREAK: Mode.BREAK,
    ItemKind.BREAKOUT: Mode.BREAKOUTS,
    ItemKind.SITE_VISIT: Mode.SITE_VISIT,
}


def _console(
    desk: Desk, code: str, *, problems: tuple[Problem, ...] = (), sent: str = ""
) -> tuple[Event, dict[str, object]]:
    event = require_event(desk.identity, code)
    require_role(desk.identity, STAFF_ROLES, action="running the show")
    view = stage_view(desk.db, event, desk.clock.now())
    tz, _source = viewer_timezone(event, desk.identity.person, None)
    return event, desk.context(
        event,
        "console",
        view=view,
        tz=tz,
        modes=[(m.value, label) for m, label in MODE_LABELS.items()],
        mode_of_kind={k.value: m.value for k, m in MODE_OF_KIND.items()},
        problems=problems,
        sent=sent,
        now=desk.clock.now(),
        time_scale=desk.clock.scale,
    )


@router.get("/events/{code}/console")
def console_page(code: str, desk: DeskDep) -> Response:
    """The moderators' run of show; htmx refreshes get the show block only."""
    _event, context = _console(desk, code)
    block = "show" if wants_fragment(desk.request) else None
    return render(desk.request, "pages/console/console.html", context, block=block)


@router.post("/events/{code}/console/mode")
async def console_mode(
    code: str,
    desk: DeskDep,
    session: Annotated[str, Form()],
    mode: Annotated[str | None, Form()] = None,
    item: Annotated[str | None, Form()] = None,
    follow_timetable: Annotated[bool, Form()] = False,
) -> Response:
    event = require_event(desk.identity, code)
    require_role(desk.identity, STAFF_ROLES, action="switching the run of show")
    change = ModeChange(mode=mode or None, item=item or None, follow_timetable=follow_timetable)
    problems = await apply_change(
        desk,
        code,
        lambda: change_mode(
            desk.db, event, session, change, actor=desk.identity.person.name, now=desk.clock.now()
        ),
    )

    def show(problems: tuple[Problem, ...], status: int) -> Response:
        _event, context = _console(desk, code, problems=problems)
        return render(
            desk.request, "pages/console/console.html", context, block="show", status_code=status
        )

    return await answer(desk, code, problems, show)


@router.post("/events/{code}/console/notice")
async def console_notice(
    code: str,
    desk: DeskDep,
    text: Annotated[str, Form()] = "",
    room: Annotated[str, Form()] = "",
) -> Response:
    """A notice from the console: the same checks and delivery as the JSON API's."""
    require_event(desk.identity, code)
    require_role(desk.identity, STAFF_ROLES, action="sending a notice")
    problems: tuple[Problem, ...] = ()
    try:
        notice = NoticeIn(text=text, room=room.strip() or None)
    except ValidationError as error:
        problems = tuple(
            Problem(".".join(str(p) for p in e["loc"]), e.get("input"), e["msg"])
            for e in error.errors(include_url=False)
        )
    else:
        realtime: Realtime = desk.request.app.state.realtime
        await send_notice(realtime, code, notice.text, notice.room, desk.identity.person.name)
    if not is_htmx(desk.request) and not problems:
        return RedirectResponse(f"/events/{code}/console", status_code=303)
    _event, context = await run_in_threadpool(
        _console, desk, code, problems=problems, sent="" if problems else text.strip()
    )
    context["notice_text"] = text if problems else ""
    return render(
        desk.request,
        "pages/console/console.html",
        context,
        block="notice_form",
        status_code=422 if problems else 200,
    )


@router.get("/events/{code}/presenter")
def presenter_page(code: str, desk: DeskDep) -> Response:
    """A resource person's view: their slots, the countdown, questions, what comes next."""
    event = require_event(desk.identity, code)
    require_role(desk.identity, PRESENTERS, action="the presenter view")
    view = presenter_view(desk.db, event, desk.identity.person, desk.clock.now())
    tz, _source = viewer_timezone(event, desk.identity.person, None)
    context = desk.context(
        event, "presenter", view=view, tz=tz, now=desk.clock.now(), time_scale=desk.clock.scale
    )
    block = "presenter_now" if wants_fragment(desk.request) else None
    return render(desk.request, "pages/presenter/presenter.html", context, block=block)


@router.post("/events/{code}/low-bandwidth")
def low_bandwidth(
    code: str, request: Request, desk: DeskDep, on: Annotated[bool, Form()] = False
) -> Response:
    """Keep the person's low-bandwidth choice (video off, lowest resolution) for next time."""
    require_event(desk.identity, code)
    person = desk.identity.person
    person.low_bandwidth = on
    desk.db.add(person)
    desk.db.commit()
    if is_htmx(request) or request.headers.get("accept", "").startswith("application/json"):
        return Response(status_code=204)
    return RedirectResponse(f"/events/{code}", status_code=303)

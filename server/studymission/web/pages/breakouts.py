"""The breakout rooms in the moderator console, and the page that prepares the groups.

The console panel refreshes itself (every few seconds, and whenever the run of show
changes) so that a moderator sees live who is in which room. Its buttons call the same
service as the JSON API (services/breakouts.py), then announce the change on the bus.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from studymission.domain.errors import InvalidInputError
from studymission.domain.values import STAFF_ROLES, Problem
from studymission.services import breakout_plan, breakouts
from studymission.services.access import require_event, require_role
from studymission.services.breakouts_console import breakouts_view
from studymission.services.programme import viewer_timezone
from studymission.web.pages.console_action import answer, apply_change
from studymission.web.pages.desk import Desk, DeskDep
from studymission.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

PANEL = "pages/console/_breakouts.html"
POLL_SECONDS = 5


def _panel(
    desk: Desk, code: str, problems: tuple[Problem, ...] = (), status: int = 200
) -> Response:
    event = require_event(desk.identity, code)
    require_role(desk.identity, STAFF_ROLES, action="running the breakout rooms")
    clock = desk.clock
    view = breakouts_view(desk.db, event, now=clock.now(), real_now=clock.real_now())
    tz, _source = viewer_timezone(event, desk.identity.person, None)
    context = desk.context(
        event, "console", view=view, tz=tz, problems=problems, poll_seconds=POLL_SECONDS
    )
    return render(desk.request, PANEL, context, status_code=status)


@router.get("/events/{code}/console/breakouts")
def breakouts_panel(code: str, desk: DeskDep) -> Response:
    return _panel(desk, code)


async def _act(desk: Desk, code: str, action: Callable[[], Any]) -> Response:
    require_event(desk.identity, code)
    require_role(desk.identity, STAFF_ROLES, action="running the breakout rooms")
    problems = await apply_change(desk, code, action)
    return await answer(desk, code, problems, lambda p, status: _panel(desk, code, p, status))


@router.post("/events/{code}/console/breakouts/open")
async def open_rooms(
    code: str,
    desk: DeskDep,
    session: Annotated[str, Form()],
    minutes: Annotated[float, Form()],
    strategy: Annotated[str, Form()] = "balanced",
    rooms: Annotated[int | None, Form()] = None,
) -> Response:
    event = require_event(desk.identity, code)
    request = breakouts.OpenRequest(
        minutes=minutes, rooms=rooms if strategy == "balanced" else None, strategy=strategy
    )
    return await _act(
        desk,
        code,
        lambda: breakouts.open_breakouts(
            desk.db, event, session, request, actor=desk.identity.person.name, now=desk.clock.now()
        ),
    )


@router.post("/events/{code}/console/breakouts/close")
async def close_rooms(code: str, desk: DeskDep, session: Annotated[str, Form()]) -> Response:
    event = require_event(desk.identity, code)
    return await _act(
        desk,
        code,
        lambda: breakouts.close_breakouts(
            desk.db, event, session, actor=desk.identity.person.name, now=desk.clock.now()
        ),
    )


@router.post("/events/{code}/console/breakouts/time")
async def change_time(
    code: str, desk: DeskDep, session: Annotated[str, Form()], minutes: Annotated[float, Form()]
) -> Response:
    event = require_event(desk.identity, code)
    return await _act(
        desk,
        code,
        lambda: breakouts.change_end(
            desk.db, event, session, minutes, actor=desk.identity.person.name, now=desk.clock.now()
        ),
    )


@router.post("/events/{code}/console/breakouts/move")
async def move(
    code: str,
    desk: DeskDep,
    session: Annotated[str, Form()],
    person: Annotated[str, Form()],
    room: Annotated[str, Form()],
) -> Response:
    event = require_event(desk.identity, code)
    return await _act(
        desk,
        code,
        lambda: breakouts.move_person(
            desk.db,
            event,
            session,
            person,
            room,
            actor=desk.identity.person.name,
            now=desk.clock.now(),
        ),
    )


# -- preparing the groups ------------------------------------------------------------------


def _plan_page(
    desk: Desk, code: str, session: str, problems: tuple[Problem, ...] = (), status: int = 200
) -> Response:
    event = require_event(desk.identity, code)
    require_role(desk.identity, STAFF_ROLES, action="preparing breakout groups")
    view = breakout_plan.read_plan(desk.db, event, session)
    context = desk.context(event, "console", plan=view, problems=problems)
    block = "plan" if is_htmx(desk.request) else None
    return render(desk.request, "pages/console/plan.html", context, block=block, status_code=status)


@router.get("/events/{code}/breakouts/plan/{session}")
def plan_page(code: str, session: str, desk: DeskDep) -> Response:
    """The groups prepared for a session: generate them balanced, move and pin people."""
    return _plan_page(desk, code, session)


def _plan_act(desk: Desk, code: str, session: str, action: Callable[[], Any]) -> Response:
    require_event(desk.identity, code)
    require_role(desk.identity, STAFF_ROLES, action="preparing breakout groups")
    try:
        action()
    except InvalidInputError as error:
        return _plan_page(desk, code, session, error.problems, 422)
    if not is_htmx(desk.request):
        return RedirectResponse(f"/events/{code}/breakouts/plan/{session}", status_code=303)
    return _plan_page(desk, code, session)


@router.post("/events/{code}/breakouts/plan/{session}/generate")
def generate(
    code: str,
    session: str,
    desk: DeskDep,
    rooms: Annotated[int, Form()],
    staff: Annotated[bool, Form()] = False,
) -> Response:
    event = require_event(desk.identity, code)
    return _plan_act(
        desk,
        code,
        session,
        lambda: breakout_plan.generate_plan(
            desk.db,
            event,
            session,
            rooms,
            staff=staff,
            actor=desk.identity.person.name,
            now=desk.clock.now(),
        ),
    )


@router.post("/events/{code}/breakouts/plan/{session}/assign")
def assign(
    code: str,
    session: str,
    desk: DeskDep,
    person: Annotated[str, Form()],
    room: Annotated[str, Form()] = "",
    pinned: Annotated[bool, Form()] = False,
) -> Response:
    event = require_event(desk.identity, code)
    return _plan_act(
        desk,
        code,
        session,
        lambda: breakout_plan.assign(
            desk.db,
            event,
            session,
            person,
            room or None,
            pinned=pinned,
            actor=desk.identity.person.name,
            now=desk.clock.now(),
        ),
    )

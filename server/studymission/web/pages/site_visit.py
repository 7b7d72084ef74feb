"""The site visit in the moderator console: choose a recording, play, pause and seek it for
every page, or show a live stream instead. The buttons call the same service as the JSON
API (services/playback.py), then announce the change on the bus.
"""

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response

from studymission.domain.values import STAFF_ROLES, Problem
from studymission.services.access import require_event, require_role
from studymission.services.playback import PlaybackCommand, change_playback
from studymission.services.site_visit_console import clock_text, parse_clock, site_visit_view
from studymission.web.pages.console_action import answer, apply_change
from studymission.web.pages.desk import Desk, DeskDep
from studymission.web.templating import render

router = APIRouter(include_in_schema=False)

PANEL = "pages/console/_site_visit.html"


def _panel(
    desk: Desk, code: str, problems: tuple[Problem, ...] = (), status: int = 200
) -> Response:
    event = require_event(desk.identity, code)
    require_role(desk.identity, STAFF_ROLES, action="running the site visit")
    view = site_visit_view(
        desk.db,
        event,
        media_dir=desk.settings.media_dir,
        now=desk.clock.now(),
        rate=1 / desk.clock.scale,
    )
    context = desk.context(event, "console", visit=view, problems=problems, clock_text=clock_text)
    return render(desk.request, PANEL, context, status_code=status)


@router.get("/events/{code}/console/site-visit")
def site_visit_panel(code: str, desk: DeskDep) -> Response:
    return _panel(desk, code)


@router.post("/events/{code}/console/site-visit")
async def drive(
    code: str,
    desk: DeskDep,
    session: Annotated[str, Form()],
    action: Annotated[str, Form()],
    asset: Annotated[str, Form()] = "",
    position: Annotated[str, Form()] = "",
    step: Annotated[float | None, Form()] = None,
    url: Annotated[str, Form()] = "",
) -> Response:
    """One button of the panel. `step` seeks relative to where the recording stands now;
    `position` is typed as ``m:ss``."""
    event = require_event(desk.identity, code)
    require_role(desk.identity, STAFF_ROLES, action="running the site visit")
    problems: tuple[Problem, ...] = ()
    seconds = parse_clock(position) if position.strip() else None
    if position.strip() and seconds is None:
        problems = (Problem("position", position, "type it as m:ss, e.g. 12:30"),)
    if not problems:
        command = PlaybackCommand(
            action, asset.strip() or None, seconds, url.strip() or None, step=step
        )
        problems = await apply_change(
            desk,
            code,
            lambda: change_playback(
                desk.db,
                event,
                session,
                command,
                media_dir=desk.settings.media_dir,
                live_origins=desk.settings.live_stream_origins,
                rate=1 / desk.clock.scale,
                actor=desk.identity.person.name,
                now=desk.clock.now(),
            ),
        )
    return await answer(desk, code, problems, lambda p, status: _panel(desk, code, p, status))

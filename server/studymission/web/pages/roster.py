"""The moderators' live roster: who is connected now, where and since when, who dropped,
who has not joined. The page polls its own table every 5 s (htmx); a poll that carries the
version it already shows gets 204 and nothing moves on the screen.
"""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from studymission.db.tables import Event
from studymission.domain.values import STAFF_ROLES
from studymission.services.access import require_event, require_role
from studymission.services.programme import viewer_timezone
from studymission.services.roster import DROPPED_WITHIN
from studymission.services.roster_page import ROSTER_STATUSES, RosterFilter, roster_view
from studymission.web.pages.desk import Desk, DeskDep
from studymission.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

POLL_SECONDS = 5


def staff_event(desk: Desk, code: str, *, action: str) -> Event:
    """The event `code`, if it is the identity's and they are a moderator or secretariat."""
    event = require_event(desk.identity, code)
    require_role(desk.identity, STAFF_ROLES, action=action)
    return event


def wants_fragment(request: Request) -> bool:
    """An htmx request for one block; a history restore (back button after the cache was
    emptied) also says HX-Request but needs the whole page."""
    return is_htmx(request) and request.headers.get("hx-history-restore-request") != "true"


@router.get("/events/{code}/roster")
def roster_page(
    code: str, desk: DeskDep, room: str = "", status: str = "", v: str = "", rooms: str = ""
) -> Response:
    """Who is connected, in which room and since when; htmx polls get the table only."""
    event = staff_event(desk, code, action="reading the live roster")
    known = {value for value, _label in ROSTER_STATUSES}
    wanted = RosterFilter(room=room.strip(), status=status if status in known else "")
    clock = desk.clock
    view = roster_view(desk.db, event, wanted, now=clock.now(), real_now=clock.real_now())
    fragment = wants_fragment(desk.request)
    if fragment and v == view.version:
        return Response(status_code=204, headers={"Vary": "HX-Request"})
    tz, _source = viewer_timezone(event, desk.identity.person, None)
    context = desk.context(
        event,
        "roster",
        view=view,
        tz=tz,
        statuses=ROSTER_STATUSES,
        dropped_minutes=DROPPED_WITHIN.seconds // 60,
        poll_seconds=POLL_SECONDS,
        fragment=fragment,
        # A poll (it carries `v`) finds rooms other than those the page offers (`rooms`):
        # it gets a new select. Not a filter change: it would take the focus from the select.
        rooms_changed=fragment and bool(v) and rooms != ",".join(view.rooms),
    )
    block = "roster_live" if fragment else None
    return render(desk.request, "pages/secretariat/roster.html", context, block=block)

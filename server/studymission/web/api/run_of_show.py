"""``POST /api/events/{code}/sessions/{key}/mode`` (CONTRACT §4b): the run of show.

The change is written first, then announced on the bus: every process re-reads the run
of show and sends each of its pages the state that concerns it.
"""

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from studymission.domain.run_of_show import ShowState
from studymission.domain.values import STAFF_ROLES
from studymission.realtime.runtime import Realtime
from studymission.services.access import require_event, require_role
from studymission.services.run_of_show import ModeChange, change_mode
from studymission.web.deps import ClockDep, CurrentIdentity, SessionDep

router = APIRouter(prefix="/api/events/{code}", tags=["run of show"])


class ModeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: str | None = None
    item: str | None = None
    #: Hand the session back to its timetable (instead of a mode).
    follow_timetable: bool = False


def show_out(show: ShowState) -> dict[str, Any]:
    return {
        "session": show.session,
        "mode": show.mode.value,
        "item": show.item,
        "manual": show.manual,
    }


async def announce(request: Request, code: str) -> None:
    """Tell every process that the run of show of `code` changed."""
    realtime: Realtime = request.app.state.realtime
    await realtime.publish({"kind": "state", "event": code})


@router.post("/sessions/{key}/mode")
async def switch_mode(
    code: str,
    key: str,
    body: ModeIn,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    request: Request,
) -> dict[str, Any]:
    """Switch the session's mode and item for every page (moderators, secretariat)."""
    event = require_event(identity, code)
    require_role(identity, STAFF_ROLES, action="switching the run of show")
    change = ModeChange(mode=body.mode, item=body.item, follow_timetable=body.follow_timetable)
    show = await run_in_threadpool(
        change_mode, db, event, key, change, actor=identity.person.name, now=clock.now()
    )
    await announce(request, code)
    return show_out(show)

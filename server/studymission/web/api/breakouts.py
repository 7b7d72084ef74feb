"""Breakout rounds (CONTRACT §4b): open, close, and, during a round, change its time or move
one person. The console calls the same service; every change is announced on the bus."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from studymission.db.breakouts import open_round
from studymission.db.tables import Event
from studymission.domain.errors import NotFoundError
from studymission.domain.values import STAFF_ROLES
from studymission.services import breakout_plan
from studymission.services import breakouts as service
from studymission.services.access import Identity, require_event, require_role
from studymission.web.api.run_of_show import announce
from studymission.web.deps import ClockDep, CurrentIdentity, SessionDep

router = APIRouter(prefix="/api/events/{code}/sessions/{key}/breakouts", tags=["breakouts"])


class OpenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: float
    rooms: int | None = None
    strategy: str | None = None
    assignments: dict[str, list[str]] | None = None


class TimeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Positive: longer; negative: shorter.
    minutes: float


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person: Annotated[str, Field(min_length=1, max_length=64)]
    room: Annotated[str, Field(min_length=1, max_length=64)]


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def _change(
    request: Request,
    identity: Identity,
    code: str,
    action: str,
    work: Callable[[Event], dict[str, Any]],
) -> dict[str, Any]:
    """A change to the round by a moderator or the secretariat: checked, written in a worker
    thread, then announced on the bus so that every page follows."""
    event = require_event(identity, code)
    require_role(identity, STAFF_ROLES, action=action)
    view = await run_in_threadpool(work, event)
    await announce(request, code)
    return view


@router.post("")
async def open_breakouts(
    code: str,
    key: str,
    body: OpenIn,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    request: Request,
) -> dict[str, Any]:
    """Open a round; its members are moved at once (moderators, secretariat)."""
    wanted = service.OpenRequest(
        minutes=body.minutes, rooms=body.rooms, strategy=body.strategy, assignments=body.assignments
    )
    return await _change(
        request,
        identity,
        code,
        "opening breakout rooms",
        lambda event: service.open_breakouts(
            db, event, key, wanted, actor=identity.person.name, now=clock.now()
        ),
    )


@router.get("")
def current_breakouts(
    code: str, key: str, identity: CurrentIdentity, db: SessionDep
) -> dict[str, Any]:
    """The open round of the session with each room's members (moderators, secretariat)."""
    event = require_event(identity, code)
    require_role(identity, STAFF_ROLES, action="reading the breakout rooms")
    session_id, _session = service.session_of(db, event, key)
    round_ = open_round(db, session_id)
    if round_ is None:
        raise NotFoundError(f"no breakout round is open in the session {key}")
    return service.round_view(db, round_)


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rooms: Annotated[int, Field(ge=1)]
    #: Resource persons and moderators too, one per room.
    staff: bool = False


class PlanSeatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: breakout-N, or null: out of the plan.
    room: str | None
    pinned: bool = False


def plan_out(view: breakout_plan.PlanView) -> dict[str, Any]:
    return {
        "session": view.session,
        "locked": view.locked,
        "rooms": [
            {
                "name": room.name,
                "members": [{"key": p.key, "pinned": pinned} for p, pinned in room.members],
            }
            for room in view.rooms
        ],
        "unplanned": [p.key for p in view.unplanned],
    }


@router.get("/plan")
def read_plan(code: str, key: str, identity: CurrentIdentity, db: SessionDep) -> dict[str, Any]:
    """The groups prepared for the session (moderators, secretariat)."""
    event = require_event(identity, code)
    require_role(identity, STAFF_ROLES, action="reading breakout groups")
    return plan_out(breakout_plan.read_plan(db, event, key))


@router.post("/plan")
def generate_plan(
    code: str, key: str, body: PlanIn, identity: CurrentIdentity, db: SessionDep, clock: ClockDep
) -> dict[str, Any]:
    """Generate balanced groups over `rooms` rooms, keeping pinned people in their room."""
    event = require_event(identity, code)
    require_role(identity, STAFF_ROLES, action="preparing breakout groups")
    view = breakout_plan.generate_plan(
        db, event, key, body.rooms, staff=body.staff, actor=identity.person.name, now=clock.now()
    )
    return plan_out(view)


@router.put("/plan/{person}")
def place_in_plan(
    code: str,
    key: str,
    person: str,
    body: PlanSeatIn,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    """Put one person in a room of the plan (pinned there if asked), or out of it."""
    event = require_event(identity, code)
    require_role(identity, STAFF_ROLES, action="preparing breakout groups")
    view = breakout_plan.assign(
        db,
        event,
        key,
        person,
        body.room,
        pinned=body.pinned,
        actor=identity.person.name,
        now=clock.now(),
    )
    return plan_out(view)


@router.post("/close")
async def close_breakouts(
    code: str,
    key: str,
    body: CloseIn,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    request: Request,
) -> dict[str, Any]:
    """Close the round: mode returns to stage, everyone returns to main."""
    return await _change(
        request,
        identity,
        code,
        "closing breakout rooms",
        lambda event: service.close_breakouts(
            db, event, key, actor=identity.person.name, now=clock.now()
        ),
    )


@router.post("/time")
async def change_time(
    code: str,
    key: str,
    body: TimeIn,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    request: Request,
) -> dict[str, Any]:
    """Extend or shorten the open round by `minutes`."""
    return await _change(
        request,
        identity,
        code,
        "changing a round's time",
        lambda event: service.change_end(
            db, event, key, body.minutes, actor=identity.person.name, now=clock.now()
        ),
    )


@router.post("/move")
async def move(
    code: str,
    key: str,
    body: MoveIn,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    request: Request,
) -> dict[str, Any]:
    """Move one person to another room of the round (or to main); their page follows."""
    return await _change(
        request,
        identity,
        code,
        "moving people between rooms",
        lambda event: service.move_person(
            db, event, key, body.person, body.room, actor=identity.person.name, now=clock.now()
        ),
    )

"""JSON API of attendance (CONTRACT §4), the live roster, overrides and notices (§4b)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from studymission.domain.errors import NotFoundError
from studymission.domain.run_of_show import current_session
from studymission.domain.values import STAFF_ROLES, Role
from studymission.exporters.attendance_tables import (
    attendance_csv,
    attendance_json,
    attendance_xlsx,
)
from studymission.realtime.protocol import ROOM_PATTERN
from studymission.realtime.runtime import Realtime
from studymission.services import attendance as attendance_service
from studymission.services import notices
from studymission.services.access import require_event, require_role
from studymission.services.live_state import load_snapshot
from studymission.services.roster import live_roster
from studymission.web.deps import ClockDep, CurrentIdentity, SessionDep

router = APIRouter(prefix="/api/events/{code}", tags=["attendance"])

SECRETARIAT = {Role.SECRETARIAT}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: The 200 answer's other formats, for the OpenAPI schema.
DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}, XLSX: {}}, "description": "JSON, CSV or XLSX"}
}


@router.get("/attendance", response_model=None, responses=DOWNLOADS)
def attendance(
    code: str,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
) -> Response | dict[str, Any]:
    """The attendance report: every person, every session, eligibility (moderators, secretariat)."""
    event = require_event(identity, code)
    require_role(identity, STAFF_ROLES, action="reading the attendance report")
    report = attendance_service.attendance_report(db, event, now=clock.now())
    if format == "csv":
        # The byte-order mark makes spreadsheet programs read the names as UTF-8.
        return Response(
            "\ufeff" + attendance_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{code}-attendance.csv"'},
        )
    if format == "xlsx":
        return Response(
            attendance_xlsx(report),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{code}-attendance.xlsx"'},
        )
    return attendance_json(report)


class MinuteOut(BaseModel):
    minute: int
    seconds: int
    present: bool
    room: str | None
    # "break" is a keyword; the JSON field keeps the contract's name.
    is_break: bool = Field(serialization_alias="break")
    visible_seconds: int


@router.get("/presence", response_model=list[MinuteOut], response_model_by_alias=True)
def presence(
    code: str,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    person: str | None = None,
    session: str | None = None,
) -> list[MinuteOut]:
    """One person's per-minute log of one session (default: yours, the current session)."""
    event = require_event(identity, code)
    person_key = person or identity.person.key
    if person_key != identity.person.key:
        require_role(identity, STAFF_ROLES, action="reading another person's presence")
    now = clock.now()
    if session is None:
        snapshot = load_snapshot(db, code)
        running = current_session(snapshot.sessions, now) if snapshot else None
        if running is None:
            raise NotFoundError("the event has no sessions")
        session = running.key
    log = attendance_service.presence_log(db, event, person_key, session, now=now)
    return [
        MinuteOut(
            minute=m.minute,
            seconds=m.seconds,
            present=m.present,
            room=m.room,
            is_break=m.is_break,
            visible_seconds=m.visible_seconds,
        )
        for m in log
    ]


class RosterOut(BaseModel):
    key: str
    name: str
    role: str
    country: str
    status: str
    room: str | None
    in_room: bool
    visible: bool
    since: datetime | None
    sockets: int
    dropped_at: datetime | None
    last_heartbeat_at: datetime | None


@router.get("/roster")
def roster(
    code: str, identity: CurrentIdentity, db: SessionDep, clock: ClockDep
) -> list[RosterOut]:
    """Who is connected now, where and since when; who dropped in the last minutes."""
    event = require_event(identity, code)
    require_role(identity, STAFF_ROLES, action="reading the live roster")
    entries = live_roster(db, event, now=clock.now(), real_now=clock.real_now())
    return [RosterOut.model_validate(entry, from_attributes=True) for entry in entries]


class OverrideIn(BaseModel):
    eligible: bool
    reason: str


class OverrideOut(BaseModel):
    person: str
    eligible: bool
    reason: str
    author: str
    at: datetime


@router.put("/overrides/{person}")
def put_override(
    code: str,
    person: str,
    body: OverrideIn,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
) -> OverrideOut:
    """Record the secretariat's decision on a person's eligibility, with its reason."""
    event = require_event(identity, code)
    require_role(identity, SECRETARIAT, action="overriding eligibility")
    override = attendance_service.set_override(
        db,
        event,
        person,
        eligible=body.eligible,
        reason=body.reason,
        author=identity.person.name,
        now=clock.now(),
    )
    return OverrideOut(
        person=person,
        eligible=override.eligible,
        reason=override.reason,
        author=override.author,
        at=override.created_at,
    )


@router.delete("/overrides/{person}")
def delete_override(
    code: str, person: str, identity: CurrentIdentity, db: SessionDep, clock: ClockDep
) -> dict[str, Any]:
    """Withdraw the person's override; eligibility follows attendance again."""
    event = require_event(identity, code)
    require_role(identity, SECRETARIAT, action="withdrawing an override")
    withdrawn = attendance_service.withdraw_override(
        db, event, person, author=identity.person.name, now=clock.now()
    )
    return {"person": person, "withdrawn": withdrawn}


class NoticeIn(BaseModel):
    text: Annotated[str, Field(min_length=1, max_length=1000)]
    room: Annotated[str | None, Field(pattern=ROOM_PATTERN)] = None


@router.post("/notices", status_code=202)
async def send_notice(
    code: str, body: NoticeIn, identity: CurrentIdentity, request: Request, clock: ClockDep
) -> dict[str, Any]:
    """A notice to everyone, or to one room, on every process (moderators, secretariat)."""
    require_event(identity, code)
    require_role(identity, STAFF_ROLES, action="sending a notice")
    realtime: Realtime = request.app.state.realtime
    text = await notices.send_notice(realtime, code, body.text, body.room, identity.person.name)
    return {"text": text, "room": body.room, "from": identity.person.name, "at": clock.now()}

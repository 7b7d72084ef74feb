"""Shared notes of the breakout rooms (docs/breakout-notes.md): read and save one room's
notes during a round, and every room's notes of the latest round for the report-back.
Each save is announced to the room's pages (``{"type": "notes"}``)."""

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from studymission.domain.errors import NotFoundError
from studymission.domain.values import STAFF_ROLES
from studymission.realtime.protocol import iso
from studymission.services import breakout_notes as service
from studymission.services.access import require_event, require_role
from studymission.web.deps import ClockDep, CurrentIdentity, SessionDep

router = APIRouter(prefix="/api/events/{code}/sessions/{key}/breakouts", tags=["breakouts"])


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    #: The version the text was written from (0 before the first save).
    version: int


async def publish_notes(request: Request, code: str, room: str) -> None:
    """Tell the pages in `room` that its notes changed."""
    await request.app.state.realtime.publish({"kind": "notes", "event": code, "room": room})


def report_json(report: service.Report) -> dict[str, Any]:
    return {
        "round": report.round,
        "session": report.session,
        "closed_at": iso(report.closed_at) if report.closed_at else None,
        "rooms": [note.as_json() for note in report.notes],
    }


@router.get("/notes")
def every_room(code: str, key: str, identity: CurrentIdentity, db: SessionDep) -> dict[str, Any]:
    """Every room's notes of the session's latest round, open or closed (staff)."""
    event = require_event(identity, code)
    require_role(identity, STAFF_ROLES, action="reading the notes of every room")
    report = service.report_back(db, event, key)
    if report is None:
        raise NotFoundError(f"no breakout round has been held in the session {key}")
    return report_json(report)


@router.get("/notes/{room}")
def read_note(
    code: str, key: str, room: str, identity: CurrentIdentity, db: SessionDep
) -> dict[str, Any]:
    """One room's notes in the open round (its members, staff)."""
    require_event(identity, code)
    return service.read_note(db, identity, key, room).as_json()


@router.put("/notes/{room}")
async def save_note(
    code: str,
    key: str,
    room: str,
    body: NoteIn,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    request: Request,
) -> dict[str, Any]:
    """Save one room's notes from `version`; 422 with the text given back if it is outdated."""
    require_event(identity, code)
    note = await run_in_threadpool(
        lambda: service.save_note(
            db, identity, key, room, text=body.text, version=body.version, now=clock.now()
        )
    )
    await publish_notes(request, code, room)
    return note.as_json()

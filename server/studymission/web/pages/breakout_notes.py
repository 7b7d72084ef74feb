"""The breakout-notes panels other pages include (docs/breakout-notes.md):

- ``GET /events/{code}/breakouts/notes``: the caller's room's notes during an open round
  (an empty ``#breakout-notes`` otherwise). With ``?at=`` naming the room it was drawn for,
  an unchanged placement gets 204, so that a refresh on ``sm:live-state`` keeps a
  half-typed text; a new round or room draws the panel again.
- ``GET /events/{code}/breakouts/notes/latest``: the "latest saved version" part alone,
  refreshed on ``sm:notes`` (204 while the version shown is still the latest).
- ``POST /events/{code}/breakouts/notes``: save from the panel's form.
- ``GET /events/{code}/breakouts/report``: every room's notes of the latest round, for the
  report-back (staff at any time; participants once the round has closed).

htmx requests get the fragment; plain requests get a small page around it, and a plain
form post that saved is redirected to the event's page.
"""

import hashlib
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from studymission.domain.errors import InvalidInputError
from studymission.domain.values import STAFF_ROLES, Problem
from studymission.services import breakout_notes as service
from studymission.services.access import Identity, require_event
from studymission.services.programme import viewer_timezone
from studymission.web.api.breakout_notes import publish_notes
from studymission.web.deps import ClockDep, CurrentIdentity, SessionDep
from studymission.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

#: Fallback refresh when no socket frame arrives (a move between rooms sends none).
POLL_SECONDS = 30

PANEL = "pages/live/_breakout_notes.html"
REPORT = "pages/console/_breakout_report.html"


@router.get("/events/{code}/breakouts/notes")
def notes_panel(code: str, request: Request, identity: CurrentIdentity, db: SessionDep) -> Response:
    """The caller's room's notes with a form to save them (empty outside a round)."""
    require_event(identity, code)
    note = service.read_own_note(db, identity)
    if request.query_params.get("at") == _placement(note):
        return _unchanged()
    return render(request, PANEL, _context(identity, note), block="breakout_notes")


@router.get("/events/{code}/breakouts/notes/latest")
def notes_latest(
    code: str, request: Request, identity: CurrentIdentity, db: SessionDep
) -> Response:
    """The latest saved version of the caller's room's notes (204 when already shown)."""
    require_event(identity, code)
    note = service.read_own_note(db, identity)
    if note is None or request.query_params.get("shown") == str(note.version):
        return _unchanged()
    context = _context(identity, note, based_on=_int(request.query_params.get("version")))
    return render(request, PANEL, context, block="notes_latest")


@router.post("/events/{code}/breakouts/notes")
async def save_notes(
    code: str,
    request: Request,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    session: Annotated[str, Form()] = "",
    room: Annotated[str, Form()] = "",
    round: Annotated[int | None, Form()] = None,
    version: Annotated[int, Form()] = 0,
    text: Annotated[str, Form()] = "",
) -> Response:
    """Save the notes from the panel's form; the panel comes back (with the text on refusal)."""
    require_event(identity, code)
    problems: tuple[Problem, ...] = ()
    try:
        await run_in_threadpool(
            lambda: service.save_note(
                db,
                identity,
                session,
                room,
                text=text,
                version=version,
                now=clock.now(),
                round_id=round,
            )
        )
    except InvalidInputError as error:
        # The refused text is in the form again; list only why it was refused.
        problems = tuple(p for p in error.problems if not (p.path == "text" and p.value == text))
    else:
        await publish_notes(request, code, room)
        if not is_htmx(request):
            return RedirectResponse(f"/events/{code}", status_code=303)
    note = await run_in_threadpool(service.read_own_note, db, identity)
    context = _context(identity, note, saved=not problems)
    if problems:
        # The form now starts from the latest version: the next save, after merging,
        # replaces it on purpose.
        context.update(problems=problems, draft=text)
    return render(
        request,
        PANEL,
        context,
        block="breakout_notes",
        status_code=422 if problems else 200,
    )


@router.get("/events/{code}/breakouts/report")
def report_back(code: str, request: Request, identity: CurrentIdentity, db: SessionDep) -> Response:
    """Every room's notes of the latest round, read-only, for the report-back."""
    event = require_event(identity, code)
    session = request.query_params.get("session", "").strip()
    report = service.report_back(db, event, session or None)
    shown = report if report is not None and service.may_see_report(identity, report) else None
    digest = hashlib.sha256(repr(shown).encode()).hexdigest()[:16]
    if request.query_params.get("v") == digest:
        return _unchanged()
    tz, _source = viewer_timezone(identity.event, identity.person, None)
    context = {
        "identity": identity,
        "event": identity.event,
        "base": f"/events/{code}",
        "report": shown,
        "version": digest,
        "session_query": f"&{urlencode({'session': session})}" if session else "",
        "tz": tz,
        "poll_seconds": POLL_SECONDS,
        "is_staff": identity.role in STAFF_ROLES,
    }
    return render(request, REPORT, context, block="breakout_report")


# -- rendering ---------------------------------------------------------------------------------


def _placement(note: service.Note | None) -> str:
    """Which round and room a panel was drawn for ("none" outside a round)."""
    return f"{note.round}:{note.room}" if note is not None else "none"


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _context(
    identity: Identity,
    note: service.Note | None,
    *,
    based_on: int | None = None,
    saved: bool = False,
) -> dict[str, Any]:
    tz, _source = viewer_timezone(identity.event, identity.person, None)
    return {
        "identity": identity,
        "event": identity.event,
        "base": f"/events/{identity.event.code}",
        "note": note,
        "at": _placement(note),
        # The version the form's text starts from.
        "based_on": (note.version if note else 0) if based_on is None else based_on,
        "draft": note.text if note else "",
        "problems": (),
        "saved": saved,
        "tz": tz,
        "max_length": service.MAX_LENGTH,
        "poll_seconds": POLL_SECONDS,
    }


def _unchanged() -> Response:
    return Response(status_code=204, headers={"Vary": "HX-Request"})

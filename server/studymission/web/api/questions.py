"""JSON API of the session Q&A (docs/questions.md): the queue, asking, votes, moderation.

Every change is published on the realtime bus once committed, so every open page fetches
the queue again; the routes are async for that and run the database work in a thread.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from studymission.domain.values import STAFF_ROLES, Role
from studymission.exporters.questions_tables import questions_csv, questions_xlsx
from studymission.services import questions as service
from studymission.services.access import Identity, require_event, require_role
from studymission.services.questions import Change, QuestionItem, Queue
from studymission.web.deps import ClockDep, CurrentIdentity, SessionDep

router = APIRouter(prefix="/api/events/{code}", tags=["questions"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: The 200 answer's other formats, for the OpenAPI schema.
DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}, XLSX: {}}, "description": "JSON, CSV or XLSX"}
}


class QuestionIn(BaseModel):
    # Length is checked by the service, so that every problem is listed in one answer.
    text: str
    session: str | None = None


class ModerateIn(BaseModel):
    action: Literal["hide", "unhide", "pin", "unpin", "answer", "reopen"]


async def publish_questions(request: Request, code: str, session: str) -> None:
    """Tell every page of the event that the session's queue changed."""
    await request.app.state.realtime.publish(
        {"kind": "questions", "event": code, "session": session}
    )


def item_json(item: QuestionItem, *, role: Role) -> dict[str, Any]:
    """One question; staff also see the author's key and who hid it."""
    body: dict[str, Any] = {
        "id": item.id,
        "session": item.session,
        "text": item.text,
        "author": {"name": item.author_name, "country": item.author_country},
        "created_at": _iso(item.created_at),
        "votes": item.votes,
        "voted": item.voted,
        "mine": item.mine,
        "pinned": item.pinned,
        "answered": item.answered,
        "answered_at": _iso(item.answered_at),
        "hidden": item.hidden,
        "status": item.status,
    }
    if role in STAFF_ROLES:
        body["author"]["key"] = item.author_key
        body["hidden_at"] = _iso(item.hidden_at)
        body["hidden_by"] = item.hidden_by
    return body


def queue_json(queue: Queue) -> dict[str, Any]:
    return {
        "event": queue.event,
        "session": queue.session.key,
        "questions": [item_json(item, role=queue.role) for item in queue.items],
    }


@router.get("/questions", response_model=None, responses=DOWNLOADS)
def list_questions(
    code: str,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    session: Annotated[str | None, Query()] = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
) -> Response | dict[str, Any]:
    """The session's queue as you may see it; CSV/XLSX: every question (moderators, secretariat)."""
    event = require_event(identity, code)
    if format == "json":
        return queue_json(service.read_queue(db, identity, session_key=session, now=clock.now()))
    require_role(identity, STAFF_ROLES, action="exporting the questions")
    items = service.export_items(db, event, session_key=session)
    name = f"{code}-questions" + (f"-{session}" if session else "")
    if format == "csv":
        # The byte-order mark makes spreadsheet programs read the names as UTF-8.
        return Response(
            "\ufeff" + questions_csv(items),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return Response(
        questions_xlsx(items, title=f"{event.title} — questions"),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )


@router.post("/questions", status_code=201)
async def post_question(
    code: str,
    body: QuestionIn,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    request: Request,
) -> dict[str, Any]:
    """Ask a question in the session (default: the one running now, or the next)."""
    require_event(identity, code)
    item = await run_in_threadpool(
        lambda: service.post_question(
            db, identity, text=body.text, session_key=body.session, now=clock.now()
        )
    )
    await publish_questions(request, code, item.session)
    return item_json(item, role=identity.role)


@router.post("/questions/{question_id}/vote")
async def vote(
    code: str,
    question_id: int,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    request: Request,
) -> dict[str, Any]:
    """Upvote a question once; voting again changes nothing."""
    require_event(identity, code)
    change = await run_in_threadpool(
        lambda: service.vote(db, identity, question_id, now=clock.now())
    )
    return await _answer(request, code, identity, change)


@router.delete("/questions/{question_id}/vote")
async def unvote(
    code: str, question_id: int, identity: CurrentIdentity, db: SessionDep, request: Request
) -> dict[str, Any]:
    """Withdraw your upvote; nothing happens when there was none."""
    require_event(identity, code)
    change = await run_in_threadpool(lambda: service.unvote(db, identity, question_id))
    return await _answer(request, code, identity, change)


@router.post("/questions/{question_id}/moderate")
async def moderate(
    code: str,
    question_id: int,
    body: ModerateIn,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    request: Request,
) -> dict[str, Any]:
    """Hide, unhide, pin, unpin, mark answered or reopen a question."""
    require_event(identity, code)
    change = await run_in_threadpool(
        lambda: service.moderate(db, identity, question_id, body.action, now=clock.now())
    )
    return await _answer(request, code, identity, change)


async def _answer(
    request: Request, code: str, identity: Identity, change: Change
) -> dict[str, Any]:
    if change.changed:
        await publish_questions(request, code, change.item.session)
    return {**item_json(change.item, role=identity.role), "changed": change.changed}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")

"""The Q&A panels other pages include (docs/questions.md):

- ``GET /events/{code}/questions``: the participants' panel, a form to ask and the queue;
  the queue alone is ``/questions/list``, refreshed on ``sm:questions`` and every 30 s, so
  a half-typed question in the form survives every refresh.
- ``GET /events/{code}/questions/moderate``: the moderators' and secretariat's panel, or
  for resource persons the presenter's queue with an "answered" button; its list alone is
  ``/questions/moderate/list``.

htmx requests get fragments; plain requests (no JavaScript) get a small page around the
same panel, and plain form posts are redirected back to it.
"""

import hashlib
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from studymission.domain.errors import InvalidInputError
from studymission.domain.values import STAFF_ROLES, Problem, Role
from studymission.services import questions as service
from studymission.services.access import Identity, require_event, require_role
from studymission.services.programme import viewer_timezone
from studymission.services.questions import ANSWERERS, Queue
from studymission.web.api.questions import publish_questions
from studymission.web.deps import ClockDep, CurrentIdentity, SessionDep
from studymission.web.templating import is_htmx

router = APIRouter(include_in_schema=False)

#: Fallback refresh of the queue when no socket frame arrives.
POLL_SECONDS = 30

LIVE = "pages/live/_questions.html"
CONSOLE = "pages/console/_questions.html"
PRESENTER = "pages/console/_questions_presenter.html"
PAGE = "pages/live/_questions_page.html"


# -- reading -----------------------------------------------------------------------------------


@router.get("/events/{code}/questions")
def live_panel(
    code: str, request: Request, identity: CurrentIdentity, db: SessionDep, clock: ClockDep
) -> Response:
    """The participants' Q&A panel: ask, and the queue with upvotes."""
    require_event(identity, code)
    session = _session_param(request)
    queue = service.read_queue(db, identity, session_key=session, now=clock.now())
    context = _context(request, identity, queue, session)
    return _panel(request, identity, LIVE, context)


@router.get("/events/{code}/questions/list")
def live_list(
    code: str, request: Request, identity: CurrentIdentity, db: SessionDep, clock: ClockDep
) -> Response:
    """The queue of the participants' panel alone (204 when it did not change)."""
    require_event(identity, code)
    session = _session_param(request)
    queue = service.read_queue(db, identity, session_key=session, now=clock.now())
    return _list(request, identity, LIVE, "questions_list", queue, session)


@router.get("/events/{code}/questions/moderate")
def console_panel(
    code: str, request: Request, identity: CurrentIdentity, db: SessionDep, clock: ClockDep
) -> Response:
    """Moderation of the queue (staff), or the presenter's queue (resource persons)."""
    require_event(identity, code)
    require_role(identity, ANSWERERS, action="moderating the questions")
    session = _session_param(request)
    queue = service.read_queue(db, identity, session_key=session, now=clock.now())
    context = _context(request, identity, queue, session)
    return _panel(request, identity, _console_template(identity), context)


@router.get("/events/{code}/questions/moderate/list")
def console_list(
    code: str, request: Request, identity: CurrentIdentity, db: SessionDep, clock: ClockDep
) -> Response:
    """The moderation list alone (204 when it did not change)."""
    require_event(identity, code)
    require_role(identity, ANSWERERS, action="moderating the questions")
    session = _session_param(request)
    queue = service.read_queue(db, identity, session_key=session, now=clock.now())
    return _list(request, identity, _console_template(identity), "moderate_list", queue, session)


# -- writing -----------------------------------------------------------------------------------


@router.post("/events/{code}/questions")
async def ask(
    code: str,
    request: Request,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    text: Annotated[str, Form()] = "",
    session: Annotated[str, Form()] = "",
) -> Response:
    """Post a question from the panel's form; the form comes back empty, or with the problems."""
    require_event(identity, code)
    problems: tuple[Problem, ...] = ()
    try:
        item = await run_in_threadpool(
            lambda: service.post_question(
                db, identity, text=text, session_key=session or None, now=clock.now()
            )
        )
    except InvalidInputError as error:
        problems = error.problems
    else:
        await publish_questions(request, code, item.session)
        if not is_htmx(request):
            return RedirectResponse(f"/events/{code}", status_code=303)
    queue = await run_in_threadpool(
        lambda: service.read_queue(db, identity, session_key=session or None, now=clock.now())
    )
    context = _context(request, identity, queue, session)
    context.update(problems=problems, draft=text if problems else "", posted=not problems)
    status = 422 if problems else 200
    if not is_htmx(request):
        return _page(request, identity, LIVE, context, status_code=status)
    body = _block(request, LIVE, "question_form", context) + _block(
        request, LIVE, "questions_list_oob", context
    )
    return _html(body, status_code=status)


@router.post("/events/{code}/questions/{question_id}/vote")
async def vote(
    code: str,
    question_id: int,
    request: Request,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    vote: Annotated[str, Form()] = "add",
    session: Annotated[str, Form()] = "",
) -> Response:
    """Upvote (``vote=add``) or withdraw the upvote (``vote=remove``); the queue comes back."""
    require_event(identity, code)
    try:
        if vote == "remove":
            change = await run_in_threadpool(lambda: service.unvote(db, identity, question_id))
        else:
            change = await run_in_threadpool(
                lambda: service.vote(db, identity, question_id, now=clock.now())
            )
    except InvalidInputError:
        # The question was hidden (or is one's own) since the list was drawn: the list
        # drawn again shows it as it is now, without a button.
        change = None
    if change is not None and change.changed:
        await publish_questions(request, code, change.item.session)
    if not is_htmx(request):
        return RedirectResponse(f"/events/{code}", status_code=303)
    queue = await run_in_threadpool(
        lambda: service.read_queue(db, identity, session_key=session or None, now=clock.now())
    )
    return _list(request, identity, LIVE, "questions_list", queue, session, always=True)


@router.post("/events/{code}/questions/{question_id}/moderate")
async def moderate(
    code: str,
    question_id: int,
    request: Request,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    action: Annotated[str, Form()] = "",
    session: Annotated[str, Form()] = "",
) -> Response:
    """A moderation button (hide, unhide, pin, unpin, answer, reopen); the list comes back."""
    require_event(identity, code)
    change = await run_in_threadpool(
        lambda: service.moderate(db, identity, question_id, action, now=clock.now())
    )
    if change.changed:
        await publish_questions(request, code, change.item.session)
    if not is_htmx(request):
        return RedirectResponse(f"/events/{code}/questions/moderate", status_code=303)
    queue = await run_in_threadpool(
        lambda: service.read_queue(db, identity, session_key=session or None, now=clock.now())
    )
    template = _console_template(identity)
    return _list(request, identity, template, "moderate_list", queue, session, always=True)


# -- rendering ---------------------------------------------------------------------------------


def _session_param(request: Request) -> str:
    return request.query_params.get("session", "").strip()


def _console_template(identity: Identity) -> str:
    return CONSOLE if identity.role in STAFF_ROLES else PRESENTER


def queue_version(queue: Queue) -> str:
    """A digest of what the list shows, so that an unchanged poll gets 204."""
    return hashlib.sha256(repr((queue.session, queue.items)).encode()).hexdigest()[:16]


def _context(request: Request, identity: Identity, queue: Queue, session: str) -> dict[str, Any]:
    tz, _source = viewer_timezone(identity.event, identity.person, None)
    return {
        "request": request,
        "identity": identity,
        "event": identity.event,
        "queue": queue,
        "base": f"/events/{identity.event.code}",
        # The session the page asked for; empty: follow the running one as it changes.
        "session_param": session,
        "session_query": f"?{urlencode({'session': session})}" if session else "",
        "version": queue_version(queue),
        "tz": tz,
        "max_length": service.MAX_LENGTH,
        "max_open": service.MAX_OPEN,
        "limited": identity.role not in STAFF_ROLES,
        "is_staff": identity.role in STAFF_ROLES,
        "is_presenter": identity.role is Role.RESOURCE_PERSON,
        "poll_seconds": POLL_SECONDS,
        "problems": (),
        "draft": "",
        "posted": False,
    }


def _panel(
    request: Request, identity: Identity, template: str, context: dict[str, Any]
) -> Response:
    if not is_htmx(request):
        return _page(request, identity, template, context)
    templates = request.app.state.templates
    return _html(templates.env.get_template(template).render(context))


def _page(
    request: Request,
    identity: Identity,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> Response:
    """The panel inside a page of its own, for browsers without JavaScript."""
    templates = request.app.state.templates
    page = templates.env.get_template(PAGE)
    return _html(
        page.render({**context, "panel": template, "nav": "home"}), status_code=status_code
    )


def _list(
    request: Request,
    identity: Identity,
    template: str,
    block: str,
    queue: Queue,
    session: str,
    *,
    always: bool = False,
) -> Response:
    context = _context(request, identity, queue, session)
    if not always and request.query_params.get("v") == context["version"]:
        return Response(status_code=204, headers={"Vary": "HX-Request"})
    return _html(_block(request, template, block, context))


def _block(request: Request, template: str, block: str, context: dict[str, Any]) -> str:
    templates = request.app.state.templates
    compiled = templates.env.get_template(template)
    return "".join(compiled.blocks[block](compiled.new_context(context)))


def _html(body: str, *, status_code: int = 200) -> HTMLResponse:
    response = HTMLResponse(body, status_code=status_code)
    response.headers["Vary"] = "HX-Request"
    return response

"""``GET /join/{token}`` (CONTRACT §3): a personal join link signs the person in."""

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from studymission.domain.errors import DomainError
from studymission.services.access import authenticate
from studymission.web.deps import ClockDep, MaybeIdentity, SessionDep, SettingsDep
from studymission.web.rate_limit import retry_after

router = APIRouter(include_in_schema=False)

#: Join attempts are counted per client IP over this many seconds (``JOIN_RATE_LIMIT`` of them).
JOIN_WINDOW = 60.0

#: The address carries the token: no page reached from here may learn it through Referer,
#: and no cache may keep the answer.
JOIN_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


@router.get("/join/{token}")
def join(
    request: Request, token: str, db: SessionDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    """Set the session cookie and go to the event; unknown links get a 404 and no cookie.

    Every attempt, good or bad, counts against the client's limit before the token is looked
    at; over it the answer is 429 with ``Retry-After`` and says nothing about the token.
    """
    wait = retry_after(request, "join_limiter", limit=settings.join_rate_limit, window=JOIN_WINDOW)
    if wait is not None:
        detail = (
            f"Too many join attempts from your network. Wait {wait} second"
            f"{'s' if wait != 1 else ''} and open your link again."
        )
        return _refusal(request, detail, 429, {"Retry-After": str(wait)})
    identity = authenticate(db, token, kind="join", now=clock.now())
    if identity is None:
        return _refusal(
            request, "this join link is unknown, revoked or expired; ask the secretariat", 404
        )
    request.session.clear()
    request.session["cid"] = identity.credential.id
    # A fresh CSRF token per sign-in: a token seen before sign-in is worth nothing after.
    request.session["csrf"] = secrets.token_urlsafe(32)
    return RedirectResponse(f"/events/{identity.event.code}", status_code=303, headers=JOIN_HEADERS)


def _refusal(
    request: Request, detail: str, status: int, headers: dict[str, str] | None = None
) -> Response:
    """The error page, with the join answers' headers (and no cookie is set)."""
    templates: Jinja2Templates = request.app.state.templates
    error = DomainError(detail)
    return templates.TemplateResponse(
        request,
        "pages/error.html",
        {"error": error, "status": status, "problems": ()},
        status_code=status,
        headers={**JOIN_HEADERS, **(headers or {})},
    )


@router.post("/signout")
def sign_out(request: Request, _identity: MaybeIdentity) -> Response:
    """Forget the session cookie (the identity check enforces the CSRF token)."""
    request.session.clear()
    return RedirectResponse("/", status_code=303)

"""``GET /join/{token}`` (CONTRACT §3): a personal join link signs the person in."""

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from studymission.domain.errors import NotFoundError
from studymission.services.access import authenticate
from studymission.web.deps import ClockDep, MaybeIdentity, SessionDep

router = APIRouter(include_in_schema=False)


@router.get("/join/{token}")
def join(request: Request, token: str, db: SessionDep, clock: ClockDep) -> Response:
    """Set the session cookie and go to the event; unknown links get a 404 and no cookie."""
    identity = authenticate(db, token, kind="join", now=clock.now())
    if identity is None:
        raise NotFoundError("this join link is unknown, revoked or expired; ask the secretariat")
    request.session.clear()
    request.session["cid"] = identity.credential.id
    # A fresh CSRF token per sign-in: a token seen before sign-in is worth nothing after.
    request.session["csrf"] = secrets.token_urlsafe(32)
    return RedirectResponse(f"/events/{identity.event.code}", status_code=303)


@router.post("/signout")
def sign_out(request: Request, _identity: MaybeIdentity) -> Response:
    """Forget the session cookie (the identity check enforces the CSRF token)."""
    request.session.clear()
    return RedirectResponse("/", status_code=303)

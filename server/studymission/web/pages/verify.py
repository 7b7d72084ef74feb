"""Public verification of a certificate (CONTRACT §4): no sign-in, rate-limited per client.

The page and the JSON say valid, revoked (with its date) or unknown, and for a real code
only the printed name, the event's title and its dates: nothing else about the person.
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from studymission.config import Settings
from studymission.services.certificates import Verification, verify
from studymission.web.deps import SessionDep
from studymission.web.rate_limit import retry_after
from studymission.web.templating import render

router = APIRouter()

#: Lookups per client IP per window (``VERIFY_RATE_LIMIT`` a minute, 30 by default): plenty
#: for people, nothing for guessing 80-bit codes.
VERIFY_WINDOW = 60.0
NO_STORE = {"Cache-Control": "no-store"}


def _retry_after(request: Request) -> int | None:
    """Whole seconds the client must wait, or None when this lookup may go ahead."""
    settings: Settings = request.app.state.settings
    return retry_after(
        request, "verify_limiter", limit=settings.verify_rate_limit, window=VERIFY_WINDOW
    )


@router.get("/verify/{code}", include_in_schema=False)
def verify_page(request: Request, code: str, db: SessionDep) -> Response:
    """The public page that says whether a certificate is valid."""
    retry = _retry_after(request)
    if retry is not None:
        context: dict[str, object] = {"found": None, "code": code, "retry_after": retry}
        response = render(request, "pages/certificates/verify.html", context, status_code=429)
        response.headers.update({**NO_STORE, "Retry-After": str(retry)})
        return response
    found = verify(db, code)
    context = {"found": found, "code": code, "retry_after": None}
    status = 200 if found is not None else 404
    response = render(request, "pages/certificates/verify.html", context, status_code=status)
    response.headers.update(NO_STORE)
    return response


#: An unknown code answers 404 with the same body (status "unknown"), not an error body.
UNKNOWN: dict[int | str, dict[str, Any]] = {
    404: {"description": "No certificate has this code", "content": {"application/json": {}}}
}


@router.get("/api/verify/{code}", tags=["certificates"], responses=UNKNOWN)
def verify_api(request: Request, code: str, db: SessionDep) -> JSONResponse:
    """A certificate's status: valid, revoked or unknown (404), with name, event and dates."""
    retry = _retry_after(request)
    if retry is not None:
        limit = request.app.state.settings.verify_rate_limit
        body = {"error": "rate_limited", "detail": f"at most {limit} lookups a minute"}
        return JSONResponse(body, 429, headers={**NO_STORE, "Retry-After": str(retry)})
    found = verify(db, code)
    return JSONResponse(_verification_json(found), 200 if found else 404, headers=NO_STORE)


def _verification_json(found: Verification | None) -> dict[str, Any]:
    if found is None:
        return {"status": "unknown", "name": None, "event": None, "dates": None}
    return {
        "status": found.status,
        "name": found.name,
        "event": found.event,
        "dates": found.dates,
        "revoked_at": found.revoked_at.isoformat() if found.revoked_at else None,
    }

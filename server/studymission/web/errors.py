"""One place maps DomainError codes to HTTP answers: JSON under /api, a page elsewhere."""

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from studymission.domain.errors import DomainError, InvalidInputError, NotFoundError

STATUS = {
    "unauthenticated": 401,
    "forbidden": 403,
    "csrf": 403,
    "not_found": 404,
    "invalid": 422,
    "too_large": 413,
    "unavailable": 503,
}
#: Seconds a client is asked to wait while the database is unreachable.
RETRY_AFTER_SECONDS = 5

log = logging.getLogger(__name__)


class DatabaseUnavailableError(DomainError):
    """The database cannot be reached (an outage, a restart, a full pool)."""

    code = "unavailable"


class ProblemOut(BaseModel):
    path: str
    value: Any = None
    reason: str


class ErrorOut(BaseModel):
    """Every error the API answers itself: ``{"error": CODE, "detail": TEXT}``, and for
    ``invalid`` every problem found."""

    error: str
    detail: str
    problems: list[ProblemOut] | None = None


class RequestErrorOut(BaseModel):
    """FastAPI's answer to a request that does not fit its declared shape."""

    detail: list[dict[str, Any]]


def _documented(description: str, model: Any = ErrorOut) -> dict[str, Any]:
    return {"description": description, "model": model}


#: The error answers every API operation can give, for the OpenAPI schema (each router is
#: included with them), so that clients and schema-driven tests know every status.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("A body that is not valid JSON, or another refused request"),
    401: _documented("No valid bearer token or session cookie"),
    403: _documented("The person's role may not do this, or a cookie write lacks its CSRF token"),
    404: _documented("No such event, person, session, room or item for this caller"),
    413: _documented("The request body is over the size limit"),
    422: _documented("Invalid input: every problem listed", ErrorOut | RequestErrorOut),
    429: _documented("Too many requests; Retry-After says when to try again"),
    503: _documented("The database is unreachable; Retry-After says when to try again"),
}


def json_safe(value: object) -> object:
    """`value` with what JSON cannot carry made printable: a refused input is echoed back,
    and a NaN, an infinity (both arrive as JSON numbers: ``NaN``, ``1e999``) or a lone
    surrogate (``"\\ud800"``) would otherwise fail the encoding and turn a 422 into a 500."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def error_body(error: DomainError) -> dict[str, object]:
    body: dict[str, object] = {"error": error.code, "detail": json_safe(error.detail)}
    if isinstance(error, InvalidInputError):
        body["problems"] = [
            {"path": json_safe(p.path), "value": json_safe(p.value), "reason": p.reason}
            for p in error.problems
        ]
    return body


async def handle_domain_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, DomainError)
    status = STATUS.get(error.code, 400)
    if request.url.path.startswith("/api/"):
        return JSONResponse(error_body(error), status_code=status)
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        "pages/error.html",
        {"error": error, "status": status, "problems": getattr(error, "problems", ())},
        status_code=status,
    )


async def handle_http_error(request: Request, error: Exception) -> Response:
    """Routing errors (no such path, wrong method) in the same two shapes."""
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 404:
        return await handle_domain_error(request, NotFoundError("there is no page at this address"))
    if request.url.path.startswith("/api/"):
        body = {"error": "http_error", "detail": str(error.detail)}
        return JSONResponse(body, status_code=error.status_code, headers=error.headers)
    return await http_exception_handler(request, error)


async def handle_invalid_request(request: Request, error: Exception) -> Response:
    """A request that does not fit its declared shape: FastAPI's own 422 answer
    (``{"detail": [...]}``), with the echoed input made JSON-safe."""
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": json_safe(jsonable_encoder(error.errors()))}, status_code=422)


async def handle_database_away(request: Request, error: Exception) -> Response:
    """503 with Retry-After, not a 500: the request is fine, the database is away for now."""
    log.warning("%s %s: database unreachable (%s)", request.method, request.url.path,
                type(error).__name__)  # fmt: skip
    unavailable = DatabaseUnavailableError("the database is unreachable; try again shortly")
    response = await handle_domain_error(request, unavailable)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, handle_domain_error)
    app.add_exception_handler(RequestValidationError, handle_invalid_request)
    app.add_exception_handler(OperationalError, handle_database_away)
    app.add_exception_handler(PoolTimeoutError, handle_database_away)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)

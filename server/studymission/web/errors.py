"""One place maps DomainError codes to HTTP answers: JSON under /api, a page elsewhere."""

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from studymission.domain.errors import DomainError, InvalidInputError, NotFoundError

STATUS = {
    "unauthenticated": 401,
    "forbidden": 403,
    "csrf": 403,
    "not_found": 404,
    "invalid": 422,
    "too_large": 413,
}


def error_body(error: DomainError) -> dict[str, object]:
    body: dict[str, object] = {"error": error.code, "detail": error.detail}
    if isinstance(error, InvalidInputError):
        body["problems"] = [
            {"path": p.path, "value": p.value, "reason": p.reason} for p in error.problems
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


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, handle_domain_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)

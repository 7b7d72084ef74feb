"""Jinja2 set-up and the htmx helpers: render a whole page, or only one of its blocks.

Fragments live as named blocks inside the page that owns them; an htmx request gets just
that block, so the HTML is written once (the htmx "template fragments" pattern).
"""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from studymission.config import Settings
from studymission.domain.programme import utc_offset_label
from studymission.services.countries import country_name


def make_templates(settings: Settings) -> Jinja2Templates:
    templates = Jinja2Templates(directory=settings.frontend_dir / "templates")
    env = templates.env
    env.filters["localtime"] = format_local
    env.filters["country_name"] = country_name
    env.globals["utc_offset"] = utc_offset_label
    env.globals["csrf_token"] = csrf_token
    return templates


def format_local(moment: datetime, tz: str, pattern: str = "%H:%M") -> str:
    """`moment` on the wall clock of `tz`, e.g. ``%a %d %b %H:%M``."""
    return moment.astimezone(ZoneInfo(tz)).strftime(pattern)


def csrf_token(request: Request) -> str:
    value = request.session.get("csrf", "")
    return value if isinstance(value, str) else ""


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    block: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The page `name`, or only its `block` when htmx asked; varies on HX-Request."""
    templates: Jinja2Templates = request.app.state.templates
    context = {"request": request, **context}
    if block is not None and is_htmx(request):
        template = templates.env.get_template(name)
        body = "".join(template.blocks[block](template.new_context(context)))
        response = HTMLResponse(body, status_code=status_code)
    else:
        response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Vary"] = "HX-Request"
    return response

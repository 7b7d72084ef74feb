"""Request dependencies: database session, settings, clock, and who is asking.

A request proves who it is with a bearer token (scripts) or the session cookie that a
join link set (browsers). Cookie-authenticated writes must also carry the CSRF token
kept in that cookie, as the ``X-CSRF-Token`` header (htmx) or a ``csrf_token`` field.
"""

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlmodel import Session

from studymission.config import Settings
from studymission.domain.errors import CsrfError, UnauthenticatedError
from studymission.services.access import Identity, authenticate, identity_from_credential
from studymission.services.clock import Clock

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


def get_db(request: Request) -> Iterator[Session]:
    engine: Engine = request.app.state.engine
    with Session(engine, expire_on_commit=False) as db:
        yield db


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SessionDep = Annotated[Session, Depends(get_db)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]


async def _submitted_csrf(request: Request) -> str | None:
    """The CSRF token a write carries, read before the (sync) identity check runs."""
    if request.method in SAFE_METHODS:
        return None
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get("csrf_token")
        return value if isinstance(value, str) else None
    return None


def get_identity(
    request: Request,
    db: SessionDep,
    clock: ClockDep,
    submitted_csrf: Annotated[str | None, Depends(_submitted_csrf)],
) -> Identity | None:
    """Who the request acts for, or None; a cookie write without its CSRF token is refused."""
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        identity = authenticate(db, authorization[7:].strip(), kind="api", now=clock.now())
        if identity is None:
            raise UnauthenticatedError("the bearer token is unknown, revoked or expired")
        return identity
    credential_id = request.session.get("cid")
    if not isinstance(credential_id, int):
        return None
    identity = identity_from_credential(db, credential_id, now=clock.now())
    if identity is not None and request.method not in SAFE_METHODS:
        expected = request.session.get("csrf", "")
        if not submitted_csrf or not hmac.compare_digest(submitted_csrf, expected):
            raise CsrfError("this form or request is missing its CSRF token; reload the page")
    return identity


def require_identity(identity: Annotated[Identity | None, Depends(get_identity)]) -> Identity:
    if identity is None:
        raise UnauthenticatedError("open your personal join link to sign in")
    return identity


MaybeIdentity = Annotated[Identity | None, Depends(get_identity)]
CurrentIdentity = Annotated[Identity, Depends(require_identity)]

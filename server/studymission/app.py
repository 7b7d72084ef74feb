"""The application factory: ``create_app(settings)`` wires every layer; nothing runs at import."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.middleware.sessions import SessionMiddleware

from studymission import __version__
from studymission.config import Settings
from studymission.db.engine import make_engine
from studymission.integrations.jitsi import jitsi_from_settings
from studymission.observability.metrics import Metrics
from studymission.realtime import endpoint as realtime_endpoint
from studymission.realtime.bus import make_bus
from studymission.realtime.runtime import Realtime
from studymission.services.clock import Clock, clock_from_settings
from studymission.services.dispatch import DeliveryLoop
from studymission.web import errors, media, templating
from studymission.web.api import attendance as attendance_api
from studymission.web.api import breakout_notes as breakout_notes_api
from studymission.web.api import breakouts as breakouts_api
from studymission.web.api import certificates as certificates_api
from studymission.web.api import deliveries as deliveries_api
from studymission.web.api import events as events_api
from studymission.web.api import health, webhooks
from studymission.web.api import metrics as metrics_api
from studymission.web.api import playback as playback_api
from studymission.web.api import questions as questions_api
from studymission.web.api import run_of_show as run_of_show_api
from studymission.web.limits import BodySizeLimit
from studymission.web.pages import attendance as attendance_pages
from studymission.web.pages import breakout_notes as breakout_notes_pages
from studymission.web.pages import breakouts as breakout_pages
from studymission.web.pages import certificate_design as certificate_design_pages
from studymission.web.pages import certificates as certificate_pages
from studymission.web.pages import deliveries as delivery_pages
from studymission.web.pages import home, join, programme_editor, roster, secretariat
from studymission.web.pages import media as media_pages
from studymission.web.pages import questions as questions_pages
from studymission.web.pages import site_visit as site_visit_pages
from studymission.web.pages import stage as stage_pages
from studymission.web.pages import verify as verify_pages
from studymission.web.request_context import RequestContext
from studymission.web.security_headers import (
    API_DOC_PATHS,
    SecurityHeaders,
    api_docs_policy,
    security_headers,
)

SESSION_COOKIE = "studymission_session"


def create_app(
    settings: Settings | None = None, *, engine: Engine | None = None, clock: Clock | None = None
) -> FastAPI:
    """A ready application; `engine` and `clock` can be handed in by tests and the CLI."""
    settings = settings or Settings()
    engine = engine or make_engine(settings.effective_database_url)
    clock = clock or clock_from_settings(settings)

    # A Jitsi configuration that cannot work stops the start with every problem named.
    jitsi = jitsi_from_settings(settings, settings.signing_key())
    metrics = Metrics()
    realtime = Realtime(engine, clock, make_bus(settings.redis_url), jitsi, metrics)
    deliveries = DeliveryLoop(engine, clock, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await realtime.start()
        await deliveries.start()
        try:
            yield
        finally:
            await deliveries.stop()
            # Sockets are closed by now; write the minute in progress before exiting.
            await realtime.stop()
            engine.dispose()

    app = FastAPI(title="studymission", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.clock = clock
    app.state.realtime = realtime
    app.state.metrics = metrics
    app.state.jitsi = jitsi
    app.state.templates = templating.make_templates(settings)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.signing_key(),
        session_cookie=SESSION_COOKIE,
        same_site="lax",
        https_only=settings.is_https,
        max_age=60 * 60 * 24 * 60,
    )
    # The limit leaves room for multipart framing around the largest accepted file.
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_upload_bytes + 64 * 1024,
        exempt=[media_pages.UPLOAD_PATH],
    )
    # Outside the limits: their refusals get the headers too.
    app.add_middleware(
        SecurityHeaders,
        headers=security_headers(settings, jitsi.domain),
        overrides={path: {"content-security-policy": api_docs_policy()} for path in API_DOC_PATHS},
    )
    # Outermost of all: the request id and the timing cover the whole answer.
    app.add_middleware(RequestContext, metrics=metrics)
    errors.install(app)
    app.mount("/static", StaticFiles(directory=settings.frontend_dir / "static"), name="static")
    routers = (
        health,
        metrics_api,
        events_api,
        attendance_api,
        questions_api,
        run_of_show_api,
        breakouts_api,
        breakout_notes_api,
        playback_api,
        certificates_api,
        deliveries_api,
        webhooks,
        media,
        realtime_endpoint,
        join,
        home,
        secretariat,
        media_pages,
        programme_editor,
        roster,
        attendance_pages,
        questions_pages,
        stage_pages,
        breakout_pages,
        breakout_notes_pages,
        site_visit_pages,
        certificate_design_pages,
        certificate_pages,
        verify_pages,
        delivery_pages,
    )
    for module in routers:
        app.include_router(module.router, responses=errors.ERROR_RESPONSES)
    return app

"""Calls from the video service: who joined and left its conferences (docs/video-evidence.md).

Not cookie-authenticated, so no CSRF: each call proves itself (a JaaS signature over the
body, or Prosody's bearer token). Answers are JSON whatever the path, in the API's error
shape (web/errors.py); a call that is verified but matches nothing still gets a 2xx, so the
video service does not retry it forever.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from studymission.domain.errors import DomainError, InvalidInputError, NotFoundError
from studymission.domain.values import Problem
from studymission.integrations import jaas_webhooks, prosody_events
from studymission.services.video_evidence import Evidence, Outcome, record_evidence
from studymission.web.deps import ClockDep, SessionDep, SettingsDep
from studymission.web.errors import STATUS, error_body

router = APIRouter(tags=["webhooks"])

#: stored and duplicate: done; unmatched (stored without a person) and ignored: accepted.
ANSWER = {"stored": 200, "duplicate": 200, "unmatched": 202, "ignored": 202}


async def _raw_body(request: Request) -> bytes:
    """The body exactly as sent: the JaaS signature covers these bytes, not a re-encoding."""
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


def _refuse(error: DomainError) -> JSONResponse:
    return JSONResponse(error_body(error), status_code=STATUS.get(error.code, 400))


def _answer(outcome: Outcome) -> JSONResponse:
    return JSONResponse(outcome.as_json(), status_code=ANSWER[outcome.status])


@router.post("/webhooks/jaas")
def jaas_webhook(
    request: Request, body: RawBody, db: SessionDep, settings: SettingsDep, clock: ClockDep
) -> JSONResponse:
    """A JaaS webhook, signed with X-Jaas-Signature; participant joins and leaves are kept."""
    if settings.jitsi_webhook_secret is None:
        return _refuse(
            NotFoundError("JaaS webhooks are not configured: set STUDYMISSION_JITSI_WEBHOOK_SECRET")
        )
    secret = settings.jitsi_webhook_secret.get_secret_value()
    try:
        header = request.headers.get(jaas_webhooks.SIGNATURE_HEADER)
        jaas_webhooks.verify_signature(secret, header, body, real_now=clock.real_now())
        event = jaas_webhooks.parse_event(body)
    except DomainError as error:
        return _refuse(error)
    if not event.kind:
        detail = f"event type {event.event_type} is not used; nothing stored"
        return _answer(Outcome("ignored", detail))
    if settings.jitsi_app_id and event.app_id != settings.jitsi_app_id:
        return _answer(Outcome("ignored", "the conference belongs to another AppID"))
    evidence = Evidence(
        source="jaas",
        key=event.key,
        kind=event.kind,
        occurred_at=event.occurred_at,
        room_name=event.room_name,
        user_id=event.user_id,
        detail=event.detail,
    )
    outcome = record_evidence(
        db,
        evidence,
        secret=settings.signing_key(),
        event_clock=clock.event_clock,
        received_at=clock.real_now(),
    )
    return _answer(outcome)


@router.post("/webhooks/jitsi/events")
def prosody_event(
    request: Request, body: RawBody, db: SessionDep, settings: SettingsDep, clock: ClockDep
) -> JSONResponse:
    """A Prosody event_sync callback, the event named by its body's event_name."""
    return _prosody(request, body, db, settings, clock, path=None)


@router.post("/webhooks/jitsi/events/{kind:path}")
def prosody_event_at(
    kind: str,
    request: Request,
    body: RawBody,
    db: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> JSONResponse:
    """A Prosody event_sync callback at its own path (occupant/joined, occupant/left ...)."""
    return _prosody(request, body, db, settings, clock, path=kind)


def _prosody(
    request: Request,
    body: bytes,
    db: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    *,
    path: str | None,
) -> JSONResponse:
    if settings.jitsi_events_token is None:
        return _refuse(
            NotFoundError(
                "Prosody event_sync callbacks are not configured: "
                "set STUDYMISSION_JITSI_EVENTS_TOKEN"
            )
        )
    expected = prosody_events.PATHS.get(path) if path is not None else None
    if path is not None and expected is None:
        known = ", ".join(prosody_events.PATHS)
        return _refuse(NotFoundError(f"no event_sync callback at {path!r}; known: {known}"))
    try:
        token = settings.jitsi_events_token.get_secret_value()
        prosody_events.verify_bearer(token, request.headers.get("authorization"))
        raw = prosody_events.parse_body(body)
        name = expected or raw.get("event_name")
        if name in ("muc-room-created", "muc-room-destroyed"):
            return _answer(Outcome("ignored", f"{name} is not used; nothing stored"))
        if name not in prosody_events.OCCUPANT_EVENTS:
            problem = Problem("event_name", name, "an event_sync event name")
            raise InvalidInputError("the callback names no known event", [problem])
        event = prosody_events.parse_occupant_event(raw, expected=expected)
        prosody_events.check_fresh(event, real_now=clock.real_now())
    except DomainError as error:
        return _refuse(error)
    evidence = Evidence(
        source="prosody",
        key=event.key,
        kind=event.kind,
        occurred_at=event.occurred_at,
        room_name=event.room_name,
        user_id=event.user_id,
        connection=event.occupant_jid,
        detail=event.detail,
    )
    outcome = record_evidence(
        db,
        evidence,
        secret=settings.signing_key(),
        event_clock=clock.event_clock,
        received_at=clock.real_now(),
    )
    return _answer(outcome)

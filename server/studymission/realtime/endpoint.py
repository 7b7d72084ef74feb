"""``WS /ws/{event_code}`` (CONTRACT §3): who is connected, and what they say.

Identity comes from the session cookie or a bearer token, checked before the socket is
accepted: without one the handshake is refused (403) and no data flows; while the
database is unreachable it is answered 503 (Retry-After), as nobody can be identified.
Heartbeats are stamped with the server's event time; nothing a client says about time is
trusted.
"""

import logging
import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from fastapi.responses import PlainTextResponse
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from studymission.config import Settings
from studymission.domain.presence import Heartbeat
from studymission.domain.values import Role
from studymission.observability.logs import FIELDS, bind
from studymission.realtime import protocol
from studymission.realtime.hub import Connection
from studymission.realtime.protocol import HeartbeatFrame
from studymission.realtime.runtime import Realtime
from studymission.services.access import Identity, authenticate, identity_from_credential
from studymission.services.live_state import EventSnapshot

log = logging.getLogger(__name__)

router = APIRouter()

#: Largest frame a client may send (bytes); a heartbeat is under 100.
MAX_FRAME = 64 * 1024
#: Frames a socket may send per real second; beyond that they are refused ...
RATE_LIMIT = 20
#: ... and past this many in one second the socket is closed as abusive.
ABUSE_LIMIT = 2 * RATE_LIMIT

POLICY_VIOLATION = 1008
#: Close code "try again later" (RFC 6455 registry), and the seconds a refused client is
#: told to wait, while the database is unreachable.
TRY_AGAIN_LATER = 1013
RETRY_AFTER_SECONDS = 5


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _identify(realtime: Realtime, websocket: WebSocket, code: str) -> Identity | None:
    now = realtime.clock.now()
    with Session(realtime.engine, expire_on_commit=False) as db:
        authorization = websocket.headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            identity = authenticate(db, authorization[7:].strip(), kind="api", now=now)
        else:
            credential_id = websocket.session.get("cid") if "session" in websocket.scope else None
            identity = (
                identity_from_credential(db, credential_id, now=now)
                if isinstance(credential_id, int)
                else None
            )
    if identity is None or identity.event.code != code:
        return None
    return identity


async def _refuse_for_now(websocket: WebSocket) -> None:
    """Answer the handshake 503 with Retry-After: the client retries (a browser sees a bare
    1006, as for a network failure, and retries with its backoff)."""
    response = PlainTextResponse(
        "The database is unreachable; try again shortly.",
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
    try:
        # (uvicorn's websockets-sansio protocol then logs "ASGI callable returned without
        # completing handshake" although the 503 went out: a known uvicorn slip.)
        await websocket.send_denial_response(response)
    except RuntimeError:
        # A server without the denial-response extension: close with "try again later".
        await websocket.close(TRY_AGAIN_LATER)


def _frame_size(data: str | bytes) -> int:
    """The frame's size on the wire (UTF-8 bytes), encoding only text that could exceed it."""
    if isinstance(data, bytes) or len(data) * 4 <= MAX_FRAME:
        return len(data)
    return len(data.encode("utf-8", "surrogatepass"))


class RateWindow:
    """Frames counted per one-second window of real (monotonic) time."""

    __slots__ = ("count", "started")

    def __init__(self) -> None:
        self.started = 0.0
        self.count = 0

    def hit(self, now: float) -> int:
        if now - self.started >= 1.0:
            self.started = now
            self.count = 0
        self.count += 1
        return self.count


@router.websocket("/ws/{code}")
async def live_socket(websocket: WebSocket, code: str) -> None:
    realtime: Realtime = websocket.app.state.realtime
    settings: Settings = websocket.app.state.settings
    origin = websocket.headers.get("origin")
    if origin is not None and _origin(origin) != _origin(settings.base_url):
        await websocket.close(POLICY_VIOLATION)
        return
    try:
        identity = await run_in_threadpool(_identify, realtime, websocket, code)
        snapshot = await realtime.snapshot(code) if identity is not None else None
    except SQLAlchemyError as error:
        # Who knocks is known from the database only: while it is unreachable no new socket
        # is let in, and none is wrongly told it is signed out (sockets already open carry
        # on undisturbed; their presence waits in memory).
        log.warning("socket refused for now: database unreachable (%s)", type(error).__name__)
        await _refuse_for_now(websocket)
        return
    if identity is None or snapshot is None:
        await websocket.close(POLICY_VIOLATION)
        return
    await websocket.accept()
    person = identity.person
    connection = Connection(
        socket=secrets.token_hex(8),
        websocket=websocket,
        event_code=code,
        person_id=person.id or 0,
        person_key=person.key,
        role=person.role,
        person_name=person.name,
        person_email=person.email,
    )
    # Every line logged while this socket is served names it, its event and its person.
    with bind(connection_id=connection.socket, event=code, person=person.key):
        await _live(realtime, connection, snapshot)


async def _live(realtime: Realtime, connection: Connection, snapshot: EventSnapshot) -> None:
    """The accepted socket, from its welcome to its close."""
    websocket = connection.websocket
    clock = realtime.clock
    log.info("socket connected", extra={FIELDS: {"role": connection.role}})
    _room, round_ = snapshot.assigned(snapshot.show(clock.now()), connection.person_id)
    if (
        connection.role == Role.PARTICIPANT.value
        and round_ is not None
        and connection.person_id not in round_.rooms
    ):
        await realtime.place_late(connection)
    realtime.tracker.open(connection.socket, snapshot.frame, connection.person_id, clock.now())
    realtime.hub.add(connection)
    close_detail: dict[str, object] = {"code": 1006}
    try:
        await websocket.send_text(
            protocol.welcome(
                connection.person_key,
                connection.role,
                realtime.heartbeat_seconds,
                clock.now(),
                clock.scale,
                snapshot.frame.rules.stale_after_seconds,
            )
        )
        connection.last_state = await realtime.first_state(connection)
        await websocket.send_text(connection.last_state)
        close_detail = await _serve(realtime, connection)
    except WebSocketDisconnect as disconnect:
        close_detail = {"code": disconnect.code}
    finally:
        realtime.hub.remove(connection)
        realtime.tracker.close(connection.socket, clock.now(), close_detail)
        fields = {f"close_{key}": value for key, value in close_detail.items()}
        log.info("socket closed with code %s", close_detail.get("code"), extra={FIELDS: fields})


async def _serve(realtime: Realtime, connection: Connection) -> dict[str, object]:
    """Read frames until the socket closes; returns why it closed."""
    websocket = connection.websocket
    window = RateWindow()
    monotonic = realtime.clock.monotonic
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return {"code": message.get("code", 1000)}
        data = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        count = window.hit(monotonic())
        if count > ABUSE_LIMIT:
            realtime.metrics.ws_abuse_closes.labels("too_many_frames").inc()
            await websocket.close(POLICY_VIOLATION, "too many frames")
            return {"code": POLICY_VIOLATION, "reason": "too many frames"}
        if _frame_size(data) > MAX_FRAME:
            realtime.metrics.ws_abuse_closes.labels("frame_too_large").inc()
            await websocket.close(POLICY_VIOLATION, "frame too large")
            return {"code": POLICY_VIOLATION, "reason": "frame too large"}
        if count > RATE_LIMIT:
            realtime.metrics.ws_refused.labels("rate_limited").inc()
            if count == RATE_LIMIT + 1:
                await websocket.send_text(
                    protocol.error("rate_limited", f"at most {RATE_LIMIT} frames a second")
                )
            continue
        try:
            frame = protocol.parse_client_frame(data)
        except ValidationError as exc:
            realtime.metrics.ws_refused.labels("bad_frame").inc()
            await websocket.send_text(protocol.error("bad_frame", protocol.describe(exc)))
            continue
        if isinstance(frame, HeartbeatFrame):
            realtime.heartbeats += 1
            realtime.tracker.heartbeat(
                connection.socket,
                Heartbeat(realtime.clock.now(), frame.visible, frame.in_room, frame.room),
            )
        else:
            await websocket.send_text(protocol.pong(frame.id, realtime.clock.now()))

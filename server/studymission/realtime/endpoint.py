"""``WS /ws/{event_code}`` (CONTRACT §3): who is connected, and what they say.

Identity comes from the session cookie or a bearer token, checked before the socket is
accepted: without one the handshake is refused (403) and no data flows. Heartbeats are
stamped with the server's event time; nothing a client says about time is trusted.
"""

import logging
import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from studymission.config import Settings
from studymission.domain.presence import Heartbeat
from studymission.domain.values import Role
from studymission.realtime import protocol
from studymission.realtime.hub import Connection
from studymission.realtime.protocol import HeartbeatFrame
from studymission.realtime.runtime import Realtime
from studymission.services.access import Identity, authenticate, identity_from_credential

log = logging.getLogger(__name__)

router = APIRouter()

#: Largest frame a client may send (bytes); a heartbeat is under 100.
MAX_FRAME = 64 * 1024
#: Frames a socket may send per real second; beyond that they are refused ...
RATE_LIMIT = 20
#: ... and past this many in one second the socket is closed as abusive.
ABUSE_LIMIT = 2 * RATE_LIMIT

POLICY_VIOLATION = 1008


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
    identity = await run_in_threadpool(_identify, realtime, websocket, code)
    snapshot = await realtime.snapshot(code) if identity is not None else None
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
    clock = realtime.clock
    _room, round_ = snapshot.assigned(snapshot.show(clock.now()), connection.person_id)
    if (
        person.role == Role.PARTICIPANT.value
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
                person.key,
                person.role,
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
            await websocket.close(POLICY_VIOLATION, "too many frames")
            return {"code": POLICY_VIOLATION, "reason": "too many frames"}
        if _frame_size(data) > MAX_FRAME:
            await websocket.close(POLICY_VIOLATION, "frame too large")
            return {"code": POLICY_VIOLATION, "reason": "frame too large"}
        if count > RATE_LIMIT:
            if count == RATE_LIMIT + 1:
                await websocket.send_text(
                    protocol.error("rate_limited", f"at most {RATE_LIMIT} frames a second")
                )
            continue
        try:
            frame = protocol.parse_client_frame(data)
        except ValidationError as exc:
            await websocket.send_text(protocol.error("bad_frame", protocol.describe(exc)))
            continue
        if isinstance(frame, HeartbeatFrame):
            realtime.tracker.heartbeat(
                connection.socket,
                Heartbeat(realtime.clock.now(), frame.visible, frame.in_room, frame.room),
            )
        else:
            await websocket.send_text(protocol.pong(frame.id, realtime.clock.now()))

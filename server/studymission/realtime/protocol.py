"""The realtime protocol's frames (CONTRACT §3), typed.

Client frames are parsed into a discriminated union: an unknown ``type`` or a bad field
is a ``ValidationError`` that the socket answers with an ``error`` frame, and nothing
else. Server frames are built here so that their shape lives in one place.
"""

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

#: Rooms a client can say it is in: main, breakout-N, site-visit (and future names alike).
ROOM_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HeartbeatFrame(_Frame):
    type: Literal["heartbeat"]
    visible: bool
    in_room: bool
    room: Annotated[str, Field(pattern=ROOM_PATTERN)]


class PingFrame(_Frame):
    """Round-trip check for clients and load tests; answered by ``pong`` with the same id."""

    type: Literal["ping"]
    id: Annotated[str, Field(max_length=64)] = ""


ClientFrame = Annotated[HeartbeatFrame | PingFrame, Field(discriminator="type")]
_client_frames: TypeAdapter[HeartbeatFrame | PingFrame] = TypeAdapter(ClientFrame)


def parse_client_frame(text: str | bytes) -> HeartbeatFrame | PingFrame:
    """The frame, or ``ValidationError`` listing what is wrong."""
    return _client_frames.validate_json(text)


def describe(error: ValidationError) -> str:
    """Every problem of a bad frame in one line: ``field: message; ...``."""
    parts = []
    for problem in error.errors(include_url=False):
        where = ".".join(_printable(str(p)) for p in problem["loc"]) or "frame"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)


def _printable(name: str) -> str:
    """A field name from the client, escaped if it holds line breaks or other controls."""
    return name if name.isprintable() else name.encode("unicode_escape").decode("ascii")


def _dump(frame: dict[str, Any]) -> str:
    text = json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate cannot be sent as UTF-8 (the send would fail); escaped as
            # \uXXXX the frame is still valid JSON.
            return json.dumps(frame, separators=(",", ":"))
    return text


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def welcome(
    person: str,
    role: str,
    heartbeat_seconds: float,
    server_time: datetime,
    time_scale: float,
    stale_after_seconds: int,
) -> str:
    # `time_scale` lets a page run countdowns on event time between frames;
    # `stale_after_seconds` (event seconds) tells the site-visit player how long a stalled
    # video still counts as watching — as long as the presence rule waits for a silent page.
    return _dump(
        {
            "type": "welcome",
            "person": person,
            "role": role,
            "heartbeat_seconds": heartbeat_seconds,
            "server_time": iso(server_time),
            "time_scale": time_scale,
            "stale_after_seconds": stale_after_seconds,
        }
    )


def notice(text: str, room: str | None, sender: str, sent_at: datetime) -> str:
    return _dump({"type": "notice", "text": text, "room": room, "from": sender, "at": iso(sent_at)})


def error(code: str, detail: str) -> str:
    return _dump({"type": "error", "code": code, "detail": detail})


def pong(frame_id: str, server_time: datetime) -> str:
    return _dump({"type": "pong", "id": frame_id, "server_time": iso(server_time)})


def state(body: dict[str, Any]) -> str:
    return _dump({"type": "state", **body})


def state_prefix(body: dict[str, Any]) -> str:
    """A ``state`` frame without its closing brace and without `room` and `ends_at`, which
    differ per person: `state_with_room` completes it."""
    shared = {k: v for k, v in body.items() if k not in ("room", "ends_at")}
    return _dump({"type": "state", **shared})[:-1]


def state_with_room(prefix: str, room: dict[str, Any], ends_at: str | None) -> str:
    return f'{prefix},"room":{_dump(room)},"ends_at":{json.dumps(ends_at)}}}'


def questions(session: str | None) -> str:
    """The Q&A of `session` changed; the page fetches its queue again."""
    return _dump({"type": "questions", "session": session})


def notes(room: str) -> str:
    """The shared notes of breakout room `room` changed; its pages fetch them again."""
    return _dump({"type": "notes", "room": room})

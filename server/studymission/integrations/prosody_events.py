"""Self-hosted Jitsi: the callbacks of Prosody's ``event_sync`` component.

Pure: headers, body and the real time in; a verified, parsed occupant event or a DomainError
out.

What jitsi-contrib/prosody-plugins ``event_sync/mod_event_sync_component.lua`` and its
README say:

- It POSTs JSON to ``{api_prefix}/events/room/created``, ``/events/room/destroyed``,
  ``/events/occupant/joined`` and ``/events/occupant/left``, with ``Content-Type:
  application/json`` plus any ``api_headers`` from the Prosody config; the README's example
  of those is ``Authorization = "Bearer TOKEN-..."``, which is what we check. There is no
  signature and no idempotency key.
- Occupant bodies: ``event_name`` (``muc-occupant-joined`` / ``muc-occupant-left``),
  ``room_name`` (the node of ``room_jid``, ``name@conference.domain``), ``room_jid``,
  ``is_breakout``, ``breakout_room_id`` (Jitsi's own breakout rooms report their main
  room's name), ``active_occupants_count`` and ``occupant``: ``occupant_jid``, ``joined_at``,
  ``left_at`` (leaves only; both Lua ``os.time()``, Unix seconds) and, with JWT auth,
  ``name``, ``email`` and ``id`` from the token's ``context.user``.
- It retries only on 5xx (or no answer), ``api_retry_count`` times (default 3) a second
  apart, so a genuine call arrives within a minute or so of ``joined_at`` / ``left_at``.

Lacking a signed timestamp, a call is fresh when its own event time (``joined_at`` for a
join, ``left_at`` for a leave) is within five minutes of our real time, and a repeated call
is recognised by a digest of its content (the occupant, the room, the event and its time).
"""

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from studymission.domain.errors import InvalidInputError, UnauthenticatedError
from studymission.domain.values import Problem

TOLERANCE = timedelta(minutes=5)
OCCUPANT_EVENTS = {"muc-occupant-joined": "joined", "muc-occupant-left": "left"}
#: The callbacks' paths under api_prefix, and the event each carries.
PATHS = {
    "room/created": "muc-room-created",
    "room/destroyed": "muc-room-destroyed",
    "occupant/joined": "muc-occupant-joined",
    "occupant/left": "muc-occupant-left",
}


def verify_bearer(token: str, authorization: str | None) -> None:
    """Raise UnauthenticatedError unless `authorization` is ``Bearer <token>``."""
    if not authorization:
        raise UnauthenticatedError("missing Authorization header (Bearer token of event_sync)")
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise UnauthenticatedError(
            "the bearer token does not match STUDYMISSION_JITSI_EVENTS_TOKEN"
        )


@dataclass(frozen=True, slots=True)
class OccupantEvent:
    key: str
    event_name: str
    #: joined | left
    kind: str
    occurred_at: datetime
    room_name: str
    occupant_jid: str
    #: ``occupant.id``: the JWT's ``context.user.id``, if the occupant came with a token.
    user_id: str | None
    detail: dict[str, Any] = field(default_factory=dict)


def parse_body(body: bytes) -> dict[str, Any]:
    """The JSON object of a callback; InvalidInputError otherwise."""
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        problem = Problem("body", body[:80].decode(errors="replace"), f"not JSON: {error}")
        raise InvalidInputError("the callback body is not JSON", [problem]) from None
    if not isinstance(raw, dict):
        problem = Problem("body", type(raw).__name__, "expected a JSON object")
        raise InvalidInputError("the callback body is not a JSON object", [problem])
    return raw


def parse_occupant_event(raw: dict[str, Any], *, expected: str | None = None) -> OccupantEvent:
    """An occupant join or leave; `expected` is the event the path names, when it names one."""
    problems: list[Problem] = []
    name = raw.get("event_name")
    if name not in OCCUPANT_EVENTS or (expected is not None and name != expected):
        want = expected or " or ".join(OCCUPANT_EVENTS)
        problems.append(Problem("event_name", name, f"expected {want}"))
    room_jid = raw.get("room_jid")
    room_name = raw.get("room_name")
    if not isinstance(room_name, str) or not room_name:
        room_name = room_jid.partition("@")[0] if isinstance(room_jid, str) else ""
    if not room_name:
        problems.append(Problem("room_name", raw.get("room_name"), "the room's name (or room_jid)"))
    occupant = raw.get("occupant")
    if not isinstance(occupant, dict):
        problems.append(Problem("occupant", occupant, "a JSON object"))
        occupant = {}
    jid = occupant.get("occupant_jid")
    if not isinstance(jid, str) or not jid:
        problems.append(Problem("occupant.occupant_jid", jid, "the occupant's JID"))
    user_id = occupant.get("id")
    if user_id is not None and not isinstance(user_id, str):
        problems.append(Problem("occupant.id", user_id, "the JWT's context.user.id, a string"))
    stamp_field = "left_at" if name == "muc-occupant-left" else "joined_at"
    occurred_at = _instant(occupant.get(stamp_field))
    if occurred_at is None:
        problems.append(
            Problem(f"occupant.{stamp_field}", occupant.get(stamp_field), "Unix seconds")
        )
    if problems or occurred_at is None:
        raise InvalidInputError("the callback is not an event_sync occupant event", problems)
    assert isinstance(name, str) and isinstance(jid, str)
    content = [name, room_jid, room_name, raw.get("breakout_room_id"), jid]
    content.append(int(occurred_at.timestamp()))
    digest = hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()
    detail = {
        "name": occupant.get("name"),
        "occupant_jid": jid,
        "room_jid": room_jid,
        "is_breakout": raw.get("is_breakout"),
        "breakout_room_id": raw.get("breakout_room_id"),
    }
    return OccupantEvent(
        key=digest,
        event_name=name,
        kind=OCCUPANT_EVENTS[name],
        occurred_at=occurred_at,
        room_name=room_name,
        occupant_jid=jid,
        user_id=user_id or None,
        detail={k: v for k, v in detail.items() if v is not None},
    )


def check_fresh(event: OccupantEvent, *, real_now: datetime) -> None:
    """Raise UnauthenticatedError when the event's time is over 5 minutes from `real_now`."""
    if event.occurred_at < real_now - TOLERANCE:
        raise UnauthenticatedError(
            f"stale callback: the occupant event happened at {event.occurred_at.isoformat()}, "
            "more than 5 minutes ago (a replayed call)"
        )
    if event.occurred_at > real_now + TOLERANCE:
        raise UnauthenticatedError(
            f"callback from the future: the occupant event is dated "
            f"{event.occurred_at.isoformat()}, more than 5 minutes ahead of this server's clock"
        )


def _instant(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None

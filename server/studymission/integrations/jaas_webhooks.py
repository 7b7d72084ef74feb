"""JaaS (8x8) webhooks: the ``X-Jaas-Signature`` check and the participant events' payload.

Pure: bytes, header and the real time in; a verified, parsed event or a DomainError out.

What the JaaS documentation says, and where:

- Signature (developer.8x8.com/jaas/docs/webhooks-signatures): the header is
  ``t=<timestamp>,v1=<signature>[,v1=...]``; elements split on ``,``, each on its first
  ``=``; only the ``v1`` scheme counts (others are ignored, against downgrade attacks). The
  signed payload is the header's timestamp, the character ``.``, and the raw request body;
  the signature is HMAC-SHA256 of it keyed with the endpoint's secret. The docs' example
  signature (``xlzqEojlh4qb21sQpXYsWgyK8x9HVpz+RQldsv18rV0=``) is the base64 of a 32-byte
  digest, so we compare base64 (the public JaaS receivers we read do the same). The docs'
  example timestamp (``t=1632490060``) is in Unix seconds; they leave the tolerance to the
  receiver: we take five minutes either way.
- Payload (developer.8x8.com/jaas/docs/webhooks-payload): ``idempotencyKey`` (GUID; a
  repeated key is a duplicate to ignore), ``eventType``, ``sessionId``, ``timestamp`` (Unix
  time of the event, "the source of truth" for order since deliveries may come out of
  order; the docs' example, ``1600951800112``, is in milliseconds), ``fqn``
  (``[AppID]/[room name]``) and ``data``; for ``PARTICIPANT_JOINED`` / ``PARTICIPANT_LEFT``,
  ``data.id`` is the participant's user id, i.e. the JWT's ``context.user.id``, with
  ``name``, ``email``, ``moderator``, ``participantJid`` ... beside it.
"""

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from studymission.domain.errors import InvalidInputError, UnauthenticatedError
from studymission.domain.values import Problem

SIGNATURE_HEADER = "X-Jaas-Signature"
#: How far the signature's timestamp may be from our real time, either way.
TOLERANCE = timedelta(minutes=5)
PARTICIPANT_EVENTS = {"PARTICIPANT_JOINED": "joined", "PARTICIPANT_LEFT": "left"}
MAX_KEY = 128


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value JaaS would send for `body` at `timestamp` (Unix seconds)."""
    return f"t={timestamp},v1={_signature(secret, body, str(timestamp))}"


def _signature(secret: str, body: bytes, timestamp: str) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def verify_signature(secret: str, header: str | None, body: bytes, *, real_now: datetime) -> None:
    """Raise UnauthenticatedError unless `header` signs `body` within the tolerance.

    The signature is checked before the timestamp, so that "stale" is only ever said of a
    call JaaS really signed (a replay); an unsigned call learns nothing about our clock.
    """
    if not header:
        raise UnauthenticatedError(f"missing {SIGNATURE_HEADER} header")
    stamp = ""
    candidates = []
    for element in header.split(","):
        prefix, _, value = element.strip().partition("=")
        if prefix == "t":
            stamp = value
        elif prefix == "v1":
            candidates.append(value)
    if not stamp.isdigit() or not candidates:
        raise UnauthenticatedError(
            f"{SIGNATURE_HEADER} must read t=<unix seconds>,v1=<signature>; got {header[:80]!r}"
        )
    expected = _signature(secret, body, stamp)
    # Every candidate is compared, in constant time each, so no early exit tells which failed.
    matches = [hmac.compare_digest(expected.encode(), c.encode()) for c in candidates]
    if not any(matches):
        raise UnauthenticatedError(f"{SIGNATURE_HEADER} does not match the body")
    signed_at = datetime.fromtimestamp(int(stamp), UTC)
    if signed_at < real_now - TOLERANCE:
        raise UnauthenticatedError(
            f"stale signature: signed at {signed_at.isoformat()}, more than 5 minutes ago "
            "(a replayed call)"
        )
    if signed_at > real_now + TOLERANCE:
        raise UnauthenticatedError(
            f"signature from the future: signed at {signed_at.isoformat()}, more than "
            "5 minutes ahead of this server's clock"
        )


@dataclass(frozen=True, slots=True)
class JaasEvent:
    key: str
    event_type: str
    #: joined | left, or "" for an event type we do not use.
    kind: str
    occurred_at: datetime
    app_id: str
    room_name: str
    #: ``data.id``: the user id the platform put in the JWT (``context.user.id``), if any.
    user_id: str | None
    #: What is kept of the call beside the evidence (never used to match a person).
    detail: dict[str, Any] = field(default_factory=dict)


def parse_event(body: bytes) -> JaasEvent:
    """The event in a verified body; InvalidInputError listing every problem otherwise."""
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        problem = Problem("body", body[:80].decode(errors="replace"), f"not JSON: {error}")
        raise InvalidInputError("the webhook body is not JSON", [problem]) from None
    if not isinstance(raw, dict):
        problem = Problem("body", type(raw).__name__, "expected a JSON object")
        raise InvalidInputError("the webhook body is not a JSON object", [problem])
    problems: list[Problem] = []
    key = raw.get("idempotencyKey")
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        problems.append(Problem("idempotencyKey", key, f"a string of 1–{MAX_KEY} characters"))
    event_type = raw.get("eventType")
    if not isinstance(event_type, str) or not event_type:
        problems.append(Problem("eventType", event_type, "a string such as PARTICIPANT_JOINED"))
    stamp = raw.get("timestamp")
    occurred_at = _instant(stamp)
    if occurred_at is None:
        problems.append(Problem("timestamp", stamp, "Unix time in milliseconds (an integer)"))
    fqn = raw.get("fqn")
    app_id, slash, room_name = fqn.partition("/") if isinstance(fqn, str) else ("", "", "")
    if not slash or not app_id or not room_name:
        problems.append(Problem("fqn", fqn, "[AppID]/[room name]"))
    data = raw.get("data", {})
    if not isinstance(data, dict):
        problems.append(Problem("data", data, "a JSON object"))
        data = {}
    user_id = data.get("id")
    if user_id is not None and not isinstance(user_id, str):
        problems.append(Problem("data.id", user_id, "the user id of the JWT, a string"))
    if problems or occurred_at is None:
        raise InvalidInputError("the webhook body is not a JaaS event", problems)
    assert isinstance(key, str) and isinstance(event_type, str)
    detail = {
        name: data[name]
        for name in ("name", "participantJid", "participantId", "isBreakout", "breakoutRoomId")
        if name in data
    }
    detail["sessionId"] = raw.get("sessionId")
    return JaasEvent(
        key=key,
        event_type=event_type,
        kind=PARTICIPANT_EVENTS.get(event_type, ""),
        occurred_at=occurred_at,
        app_id=app_id,
        room_name=room_name,
        user_id=user_id or None,
        detail=detail,
    )


def _instant(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None

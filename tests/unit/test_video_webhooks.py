"""Verifying and parsing the video service's calls: JaaS signatures and Prosody event_sync."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from studymission.domain.errors import InvalidInputError, UnauthenticatedError
from studymission.integrations import jaas_webhooks as jaas
from studymission.integrations import prosody_events as prosody

pytestmark = pytest.mark.unit

SECRET = "whsec-test"
NOW = datetime(2021, 11, 24, 4, 0, tzinfo=UTC)
STAMP = int(NOW.timestamp())
BODY = json.dumps(
    {
        "idempotencyKey": "d11f155d-ced5-4a7e-b6d9-aaa135c64f65",
        "customerId": "c2824d",
        "appId": "vpaas-magic-cookie-c2824d",
        "eventType": "PARTICIPANT_JOINED",
        "sessionId": "c3348153",
        "timestamp": 1637726400123,
        "fqn": "vpaas-magic-cookie-c2824d/smroom",
        "data": {"name": "Minh", "id": "p001", "email": "minh@example.org", "moderator": False},
    }
).encode()


def test_sign_is_base64_hmac_over_timestamp_dot_body() -> None:
    digest = hmac.new(SECRET.encode(), f"{STAMP}.".encode() + BODY, hashlib.sha256).digest()
    assert jaas.sign(SECRET, BODY, STAMP) == f"t={STAMP},v1={base64.b64encode(digest).decode()}"


def test_signature_good() -> None:
    jaas.verify_signature(SECRET, jaas.sign(SECRET, BODY, STAMP), BODY, real_now=NOW)


def test_signature_among_several_and_other_schemes() -> None:
    good = jaas.sign(SECRET, BODY, STAMP).split(",")[1]
    header = f"t={STAMP},v0=bm90aGluZw==,v1=AAAA,{good}"
    jaas.verify_signature(SECRET, header, BODY, real_now=NOW)


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (None, "missing"),
        ("", "missing"),
        ("v1=abc", "must read"),
        (f"t={STAMP}", "must read"),
        (f"t={STAMP},v0=xyz", "must read"),
        (f"t={STAMP},v1=xlzqEojlh4qb21sQpXYsWgyK8x9HVpz+RQldsv18rV0=", "does not match"),
    ],
)
def test_signature_bad(header: str | None, words: str) -> None:
    with pytest.raises(UnauthenticatedError, match=words):
        jaas.verify_signature(SECRET, header, BODY, real_now=NOW)


def test_signature_wrong_secret() -> None:
    with pytest.raises(UnauthenticatedError, match="does not match"):
        jaas.verify_signature("other", jaas.sign(SECRET, BODY, STAMP), BODY, real_now=NOW)


def test_signature_tampered_body() -> None:
    tampered = BODY.replace(b"p001", b"p002")
    with pytest.raises(UnauthenticatedError, match="does not match"):
        jaas.verify_signature(SECRET, jaas.sign(SECRET, BODY, STAMP), tampered, real_now=NOW)


def test_signature_tampered_timestamp() -> None:
    header = jaas.sign(SECRET, BODY, STAMP).replace(f"t={STAMP}", f"t={STAMP + 1}")
    with pytest.raises(UnauthenticatedError, match="does not match"):
        jaas.verify_signature(SECRET, header, BODY, real_now=NOW)


@pytest.mark.parametrize(("offset", "ok"), [(-300, True), (-301, False), (300, True), (301, False)])
def test_signature_freshness(offset: int, ok: bool) -> None:
    header = jaas.sign(SECRET, BODY, STAMP + offset)
    if ok:
        jaas.verify_signature(SECRET, header, BODY, real_now=NOW)
        return
    words = "stale signature" if offset < 0 else "from the future"
    with pytest.raises(UnauthenticatedError, match=words):
        jaas.verify_signature(SECRET, header, BODY, real_now=NOW)


def test_parse_participant_joined() -> None:
    event = jaas.parse_event(BODY)
    assert (event.key, event.kind, event.app_id, event.room_name, event.user_id) == (
        "d11f155d-ced5-4a7e-b6d9-aaa135c64f65",
        "joined",
        "vpaas-magic-cookie-c2824d",
        "smroom",
        "p001",
    )
    assert event.occurred_at == datetime(2021, 11, 24, 4, 0, 0, 123000, tzinfo=UTC)
    assert event.detail == {"name": "Minh", "sessionId": "c3348153"}


def test_parse_other_event_type_has_no_kind() -> None:
    raw = json.loads(BODY) | {"eventType": "ROOM_CREATED", "data": {"conference": "x@y"}}
    event = jaas.parse_event(json.dumps(raw).encode())
    assert (event.kind, event.user_id) == ("", None)


def test_parse_lists_every_problem() -> None:
    raw = {"idempotencyKey": "", "timestamp": "soon", "fqn": "no-slash", "data": {"id": 7}}
    with pytest.raises(InvalidInputError) as caught:
        jaas.parse_event(json.dumps(raw).encode())
    paths = [p.path for p in caught.value.problems]
    assert paths == ["idempotencyKey", "eventType", "timestamp", "fqn", "data.id"]


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_parse_refuses_non_objects(body: bytes) -> None:
    with pytest.raises(InvalidInputError):
        jaas.parse_event(body)


# --- Prosody event_sync --------------------------------------------------------------------


def occupant_body(event: str = "muc-occupant-left", **occupant: Any) -> dict[str, Any]:
    return {
        "event_name": event,
        "room_name": "smroom",
        "room_jid": "smroom@conference.meet.example.org",
        "is_breakout": False,
        "active_occupants_count": 3,
        "occupant": {
            "name": "Minh",
            "email": "minh@example.org",
            "id": "p001",
            "occupant_jid": "smroom@conference.meet.example.org/abcd",
            "joined_at": STAMP - 600,
            "left_at": STAMP,
        }
        | occupant,
    }


def test_bearer_good() -> None:
    prosody.verify_bearer("tok-123", "Bearer tok-123")


@pytest.mark.parametrize("header", [None, "", "tok-123", "Basic tok-123", "Bearer tok-124"])
def test_bearer_bad(header: str | None) -> None:
    with pytest.raises(UnauthenticatedError):
        prosody.verify_bearer("tok-123", header)


def test_occupant_left_parsed() -> None:
    event = prosody.parse_occupant_event(occupant_body(), expected="muc-occupant-left")
    assert (event.kind, event.room_name, event.user_id, event.occurred_at) == (
        "left",
        "smroom",
        "p001",
        NOW,
    )
    assert event.occupant_jid == "smroom@conference.meet.example.org/abcd"


def test_occupant_joined_uses_joined_at() -> None:
    body = occupant_body("muc-occupant-joined", left_at=None)
    event = prosody.parse_occupant_event(body)
    assert (event.kind, event.occurred_at) == ("joined", NOW - timedelta(minutes=10))


def test_occupant_room_name_from_jid() -> None:
    body = occupant_body()
    del body["room_name"]
    assert prosody.parse_occupant_event(body).room_name == "smroom"


def test_occupant_key_is_content_digest() -> None:
    first = prosody.parse_occupant_event(occupant_body())
    again = prosody.parse_occupant_event(occupant_body(name="Someone else"))
    other = prosody.parse_occupant_event(occupant_body(left_at=STAMP + 1))
    assert first.key == again.key != other.key


def test_occupant_event_must_match_path() -> None:
    with pytest.raises(InvalidInputError) as caught:
        prosody.parse_occupant_event(occupant_body(), expected="muc-occupant-joined")
    assert [p.path for p in caught.value.problems] == ["event_name"]


def test_occupant_problems_listed() -> None:
    body = {"event_name": "muc-occupant-left", "occupant": {"id": 5, "left_at": "now"}}
    with pytest.raises(InvalidInputError) as caught:
        prosody.parse_occupant_event(body)
    paths = [p.path for p in caught.value.problems]
    assert paths == ["room_name", "occupant.occupant_jid", "occupant.id", "occupant.left_at"]


@pytest.mark.parametrize(("offset", "ok"), [(-300, True), (-301, False), (301, False)])
def test_occupant_freshness(offset: int, ok: bool) -> None:
    event = prosody.parse_occupant_event(occupant_body(left_at=STAMP + offset))
    if ok:
        prosody.check_fresh(event, real_now=NOW)
        return
    with pytest.raises(UnauthenticatedError, match="stale|future"):
        prosody.check_fresh(event, real_now=NOW)


def test_parse_body_refuses_non_objects() -> None:
    with pytest.raises(InvalidInputError):
        prosody.parse_body(b"[]")

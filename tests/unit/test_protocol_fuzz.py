"""Property tests of the realtime protocol (realtime/protocol.py) on arbitrary input.

Whatever a client sends, ``parse_client_frame`` gives a valid frame or a
``ValidationError`` — nothing else may escape into the socket loop, where it would close
the socket with 1011 — and ``describe`` turns the error into one readable line. Whatever
the server puts in a frame, the frame is JSON that can be sent as UTF-8.
"""

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from studymission.realtime import protocol
from studymission.realtime.protocol import ROOM_PATTERN, HeartbeatFrame, PingFrame

pytestmark = pytest.mark.unit

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: For nested JSON, which is slow to generate: fewer examples keep the file under a minute.
NESTED = settings(FUZZ, max_examples=50)

#: Any code point, lone surrogates included (hypothesis leaves them out by default).
any_char = st.characters(codec=None, exclude_categories=())
any_text = st.text(any_char, max_size=80)

#: JSON-like values as a client might send them: odd numbers (NaN, infinities, integers
#: far beyond 64 bits), any text, nesting.
json_scalars = st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=30)
json_values = st.recursive(
    json_scalars | st.integers(min_value=10**30, max_value=10**400),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=30,
)
# ROOM_PATTERN's "$" would let Python's re add a final newline, which pydantic refuses.
rooms = st.from_regex(r"\A" + ROOM_PATTERN.strip("^$") + r"\Z")
frame_keys = st.sampled_from(["type", "visible", "in_room", "room", "id", "extra"])
frame_types = st.sampled_from(["heartbeat", "ping", "pong", "HEARTBEAT", "", "notice"])
near_frames = st.fixed_dictionaries(
    {"type": frame_types},
    optional={
        "visible": json_values,
        "in_room": json_values,
        "room": rooms | json_values,
        "id": st.text(max_size=100) | json_values,
    },
) | st.dictionaries(frame_keys | st.text(max_size=10), json_values, max_size=6)


def parse_or_refuse(data: str | bytes) -> HeartbeatFrame | PingFrame | None:
    """The frame, or None when refused; anything other than a ValidationError fails."""
    try:
        frame = protocol.parse_client_frame(data)
    except ValidationError as error:
        detail = protocol.describe(error)
        assert isinstance(detail, str) and detail.strip(), "an error frame needs a detail"
        assert "\n" not in detail and "\r" not in detail
        # The error frame carrying it can be sent.
        assert json.loads(protocol.error("bad_frame", detail).encode("utf-8")) == {
            "type": "error",
            "code": "bad_frame",
            "detail": detail,
        }
        return None
    assert isinstance(frame, HeartbeatFrame | PingFrame)
    return frame


@FUZZ
@given(st.text(any_char, max_size=300))
@example("")
@example("\ud800")
@example('{"type":"ping","id":"\\ud800"}')
@example('{"type":"ping","a\\nb":1}')
@example("[" * 100_000)
@example('{"a":' * 5_000 + "1" + "}" * 5_000)
@example('{"type":"heartbeat","visible":true,"in_room":true,"room":"main","room":"x"}')
def test_any_text_is_a_frame_or_a_refusal(text: str) -> None:
    parse_or_refuse(text)


@FUZZ
@given(st.binary(max_size=300))
@example(b"\xff\xfe\x00")
@example(b'{"type":"ping","id":"\xed\xa0\x80"}')  # a surrogate encoded as UTF-8
def test_any_bytes_are_a_frame_or_a_refusal(data: bytes) -> None:
    parse_or_refuse(data)


@NESTED
@given(near_frames)
def test_json_near_a_frame_is_a_frame_or_a_refusal(value: dict[str, Any]) -> None:
    # Python's encoder writes NaN and Infinity literally, as a careless client might.
    frame = parse_or_refuse(json.dumps(value))
    if frame is not None:
        assert frame.type == value["type"]
        assert set(value) <= set(type(frame).model_fields)


@NESTED
@given(json_values)
def test_any_json_value_is_a_frame_or_a_refusal(value: object) -> None:
    parse_or_refuse(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))


@settings(max_examples=10, deadline=None)
@given(st.integers(min_value=100, max_value=20_000), st.sampled_from(["[", '{"a":', '[{"b":']))
def test_deep_nesting_is_refused(depth: int, opener: str) -> None:
    assert parse_or_refuse(opener * depth) is None


heartbeats = st.builds(
    HeartbeatFrame, type=st.just("heartbeat"), visible=st.booleans(), in_room=st.booleans(),
    room=rooms,
)  # fmt: skip
pings = st.builds(PingFrame, type=st.just("ping"), id=st.text(max_size=64))


@FUZZ
@given(heartbeats | pings, st.booleans())
def test_valid_frames_round_trip(frame: HeartbeatFrame | PingFrame, ascii_only: bool) -> None:
    text = json.dumps(frame.model_dump(), ensure_ascii=ascii_only)
    assert protocol.parse_client_frame(text) == frame
    assert protocol.parse_client_frame(text.encode("utf-8")) == frame
    assert protocol.parse_client_frame(frame.model_dump_json()) == frame


# Server frames: any text the server hands them (notices come from staff) gives JSON that
# can be sent; text with a lone surrogate is escaped rather than failing the send.

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
finite = st.floats(allow_nan=False, allow_infinity=False)
server_json = st.recursive(
    st.none() | st.booleans() | finite | st.integers() | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=20,
)


def sent(frame: str) -> Any:
    """What a client receives: the frame as UTF-8 on the wire, parsed."""
    assert isinstance(frame, str)
    return json.loads(frame.encode("utf-8"))


@FUZZ
@given(any_text, st.none() | rooms, any_text, instants)
@example("\ud800", None, "sec1", datetime(2021, 11, 24, 4, 0, tzinfo=UTC))
@example(
    "안녕하세요 \U0001f600 \x00 \u2028", "breakout-1", "mod1", datetime(2021, 1, 1, tzinfo=UTC)
)
def test_a_notice_of_any_text_can_be_sent(
    text: str, room: str | None, sender: str, at: datetime
) -> None:
    received = sent(protocol.notice(text, room, sender, at))
    assert received == {
        "type": "notice",
        "text": text,
        "room": room,
        "from": sender,
        "at": protocol.iso(at),
    }


@FUZZ
@given(any_text, any_text, instants)
def test_error_and_pong_frames_of_any_text_can_be_sent(
    code: str, detail: str, at: datetime
) -> None:
    assert sent(protocol.error(code, detail)) == {"type": "error", "code": code, "detail": detail}
    assert sent(protocol.pong(detail, at)) == {
        "type": "pong",
        "id": detail,
        "server_time": protocol.iso(at),
    }
    assert sent(protocol.questions(detail)) == {"type": "questions", "session": detail}
    assert sent(protocol.notes(detail)) == {"type": "notes", "room": detail}


@NESTED
@given(
    st.dictionaries(any_text, server_json, max_size=6),
    st.dictionaries(any_text, server_json, max_size=4),
    st.none() | any_text,
)
def test_state_frames_assembled_per_person_are_json(
    body: dict[str, Any], room: dict[str, Any], ends_at: str | None
) -> None:
    whole = sent(protocol.state(body))
    assert whole == {**body, "type": "state"} if "type" in body else {"type": "state", **body}
    assembled = sent(protocol.state_with_room(protocol.state_prefix(body), room, ends_at))
    shared = {k: v for k, v in body.items() if k not in ("room", "ends_at")}
    assert assembled == {"type": "state", **shared, "room": room, "ends_at": ends_at}


@FUZZ
@given(any_text, any_text, finite, instants, finite.filter(lambda x: x > 0), st.integers(0, 10**6))
def test_welcome_is_json(
    person: str, role: str, beat: float, at: datetime, scale: float, stale: int
) -> None:
    received = sent(protocol.welcome(person, role, beat, at, scale, stale))
    assert received["person"] == person and received["role"] == role
    assert math.isclose(received["time_scale"], scale)
    assert received["server_time"] == protocol.iso(at)
    assert datetime.fromisoformat(received["server_time"]) - at == timedelta(0)

"""The video service's evidence over HTTP: JaaS webhooks and Prosody event_sync callbacks,
verified, deduplicated, matched by the JWT's user id, and counted on the attendance page.

The factory event's day 1 runs 04:00–07:00 UTC on 2021-11-24 (13:00–16:00 in Seoul); the
clock runs at scale 1, so event time and real time agree.
"""

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from studymission.app import create_app
from studymission.config import Settings
from studymission.db.presence import MinuteCell, upsert_minutes
from studymission.db.tables import VideoEvidence
from studymission.integrations.jaas_webhooks import sign
from studymission.integrations.jitsi import room_name
from studymission.services.clock import Clock
from studymission.services.events import LoadOutcome
from tests.conftest import TEST_SECRET, RealTime
from tests.integration.helpers import load_event, sign_in

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"
APP_ID = "vpaas-magic-cookie-0123456789abcdef"
WEBHOOK_SECRET = "whsec-test-secret"
EVENTS_TOKEN = "prosody-events-token"
DAY1 = datetime(2021, 11, 24, 4, 0, tzinfo=UTC)
FULL = (1 << 60) - 1


@pytest.fixture
def video_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "jitsi_app_id": APP_ID,
            "jitsi_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "jitsi_events_token": SecretStr(EVENTS_TOKEN),
        }
    )


@pytest.fixture
def video_client(video_settings: Settings, engine: Engine, clock: Clock) -> Iterator[TestClient]:
    app = create_app(video_settings, engine=engine, clock=clock)
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def outcome(engine: Engine, settings: Settings, clock: Clock) -> LoadOutcome:
    return load_event(engine, settings, clock)


def jitsi_room(session: str = "day1", room: str = "main") -> str:
    return room_name(TEST_SECRET, CODE, session, room)


def jaas_body(
    key: str,
    kind: str,
    at: datetime,
    *,
    user: str | None = "p001",
    name: str = "Nguyễn Thị Minh",
    room: str | None = None,
) -> bytes:
    data: dict[str, Any] = {"name": name, "email": "x@example.org", "moderator": False}
    if user is not None:
        data["id"] = user
    body = {
        "idempotencyKey": key,
        "customerId": "0123456789abcdef",
        "appId": APP_ID,
        "eventType": f"PARTICIPANT_{kind.upper()}",
        "sessionId": "meeting-1",
        "timestamp": int(at.timestamp() * 1000),
        "fqn": f"{APP_ID}/{room or jitsi_room()}",
        "data": data,
    }
    return json.dumps(body).encode()


def post_jaas(
    client: TestClient, body: bytes, signed_at: datetime, secret: str = WEBHOOK_SECRET
) -> Any:
    header = sign(secret, body, int(signed_at.timestamp()))
    return client.post(
        "/webhooks/jaas",
        content=body,
        headers={"X-Jaas-Signature": header, "Content-Type": "application/json"},
    )


def occupant(kind: str, *, joined: datetime, left: datetime | None = None, **extra: Any) -> bytes:
    data: dict[str, Any] = {
        "name": "Nguyễn Thị Minh",
        "email": "minh@example.org",
        "id": "p001",
        "occupant_jid": f"{jitsi_room()}@conference.meet.example.org/dev1",
        "joined_at": int(joined.timestamp()),
    }
    if left is not None:
        data["left_at"] = int(left.timestamp())
    body = {
        "event_name": f"muc-occupant-{kind}",
        "room_name": jitsi_room(),
        "room_jid": f"{jitsi_room()}@conference.meet.example.org",
        "is_breakout": False,
        "active_occupants_count": 1,
        "occupant": data | extra,
    }
    return json.dumps(body).encode()


def bearer(token: str = EVENTS_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def stored(engine: Engine) -> list[VideoEvidence]:
    with Session(engine) as db:
        return list(db.exec(select(VideoEvidence).order_by(col(VideoEvidence.id))).all())


# --- JaaS ----------------------------------------------------------------------------------


def test_jaas_signed_join_is_stored(
    video_client: TestClient, outcome: LoadOutcome, engine: Engine, real_time: RealTime
) -> None:
    real_time.now = DAY1 + timedelta(minutes=1)
    response = post_jaas(video_client, jaas_body("k1", "joined", DAY1), real_time.now)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "stored",
        "detail": "joined stored",
        "event": CODE,
        "session": "day1",
        "room": "main",
        "person": "p001",
    }
    [row] = stored(engine)
    assert (row.source, row.key, row.kind, row.room) == ("jaas", "k1", "joined", "main")
    assert (row.occurred_at, row.event_at, row.received_at) == (DAY1, DAY1, real_time.now)
    assert row.person_id is not None and row.session_id is not None


def test_jaas_breakout_room_is_found(
    video_client: TestClient, outcome: LoadOutcome, engine: Engine, real_time: RealTime
) -> None:
    real_time.now = DAY1
    body = jaas_body("k1", "joined", DAY1, room=jitsi_room("day2", "breakout-64"))
    response = post_jaas(video_client, body, real_time.now)
    assert (response.json()["session"], response.json()["room"]) == ("day2", "breakout-64")


def test_jaas_duplicate_is_stored_once(
    video_client: TestClient, outcome: LoadOutcome, engine: Engine, real_time: RealTime
) -> None:
    real_time.now = DAY1
    body = jaas_body("k1", "joined", DAY1)
    assert post_jaas(video_client, body, real_time.now).json()["status"] == "stored"
    real_time.advance(seconds=30)
    again = post_jaas(video_client, body, real_time.now)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    # The same key with another body is the same delivery for JaaS: ignored too.
    other = post_jaas(video_client, jaas_body("k1", "left", DAY1), real_time.now)
    assert other.json()["status"] == "duplicate"
    assert [row.kind for row in stored(engine)] == ["joined"]


def test_jaas_replay_is_refused(
    video_client: TestClient, outcome: LoadOutcome, engine: Engine, real_time: RealTime
) -> None:
    real_time.now = DAY1
    body = jaas_body("k1", "joined", DAY1)
    header = sign(WEBHOOK_SECRET, body, int(real_time.now.timestamp()))
    real_time.advance(minutes=6)
    response = video_client.post(
        "/webhooks/jaas", content=body, headers={"X-Jaas-Signature": header}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    assert "stale signature" in response.json()["detail"]
    assert stored(engine) == []


def test_jaas_future_signature_is_refused(
    video_client: TestClient, outcome: LoadOutcome, engine: Engine, real_time: RealTime
) -> None:
    real_time.now = DAY1
    response = post_jaas(video_client, jaas_body("k1", "joined", DAY1), DAY1 + timedelta(minutes=6))
    assert response.status_code == 401
    assert "future" in response.json()["detail"]


@pytest.mark.parametrize("case", ["missing", "wrong secret", "tampered"])
def test_jaas_bad_signature_is_refused(
    video_client: TestClient, outcome: LoadOutcome, engine: Engine, real_time: RealTime, case: str
) -> None:
    real_time.now = DAY1
    body = jaas_body("k1", "joined", DAY1)
    header = sign(
        "not-the-secret" if case == "wrong secret" else WEBHOOK_SECRET, body, int(DAY1.timestamp())
    )
    headers = {} if case == "missing" else {"X-Jaas-Signature": header}
    sent = body.replace(b"p001", b"p002") if case == "tampered" else body
    response = video_client.post("/webhooks/jaas", content=sent, headers=headers)
    assert response.status_code == 401
    assert stored(engine) == []


def test_jaas_malformed_body_lists_problems(
    video_client: TestClient, outcome: LoadOutcome, real_time: RealTime
) -> None:
    real_time.now = DAY1
    body = json.dumps({"eventType": "PARTICIPANT_JOINED", "fqn": "nope"}).encode()
    response = post_jaas(video_client, body, DAY1)
    assert response.status_code == 422
    paths = [p["path"] for p in response.json()["problems"]]
    assert paths == ["idempotencyKey", "timestamp", "fqn"]


def test_jaas_unknown_room_is_accepted_not_stored(
    video_client: TestClient, outcome: LoadOutcome, engine: Engine, real_time: RealTime
) -> None:
    real_time.now = DAY1
    response = post_jaas(video_client, jaas_body("k1", "joined", DAY1, room="someroom"), DAY1)
    assert (response.status_code, response.json()["status"]) == (202, "ignored")
    assert stored(engine) == []


def test_jaas_other_app_and_event_types_are_ignored(
    video_client: TestClient, outcome: LoadOutcome, engine: Engine, real_time: RealTime
) -> None:
    real_time.now = DAY1
    raw = json.loads(jaas_body("k1", "joined", DAY1))
    other_app = json.dumps(raw | {"fqn": f"vpaas-magic-cookie-other/{jitsi_room()}"}).encode()
    assert post_jaas(video_client, other_app, DAY1).status_code == 202
    room_created = json.dumps(raw | {"eventType": "ROOM_CREATED"}).encode()
    response = post_jaas(video_client, room_created, DAY1)
    assert (response.status_code, response.json()["status"]) == (202, "ignored")
    assert stored(engine) == []


def test_jaas_person_is_never_matched_by_display_name(
    video_client: TestClient, outcome: LoadOutcome, engine: Engine, real_time: RealTime
) -> None:
    real_time.now = DAY1
    # p001's exact display name, with another user id, then with none at all.
    first = post_jaas(video_client, jaas_body("k1", "joined", DAY1, user="impostor"), DAY1)
    second = post_jaas(video_client, jaas_body("k2", "joined", DAY1, user=None), DAY1)
    assert (first.status_code, first.json()["status"]) == (202, "unmatched")
    assert second.json()["detail"] == "stored without a person: no user id in the token"
    assert [row.person_id for row in stored(engine)] == [None, None]


def test_webhooks_not_configured_answer_404(
    client: TestClient, outcome: LoadOutcome, real_time: RealTime
) -> None:
    response = post_jaas(client, jaas_body("k1", "joined", DAY1), real_time.now)
    assert response.status_code == 404
    assert "STUDYMISSION_JITSI_WEBHOOK_SECRET" in response.json()["detail"]
    response = client.post(
        "/webhooks/jitsi/events/occupant/joined", content=b"{}", headers=bearer()
    )
    assert response.status_code == 404
    assert "STUDYMISSION_JITSI_EVENTS_TOKEN" in response.json()["detail"]


# --- Prosody event_sync --------------------------------------------------------------------


def test_prosody_join_and_leave_with_token(
    video_client: TestClient, outcome: LoadOutcome, engine: Engine, real_time: RealTime
) -> None:
    real_time.now = DAY1 + timedelta(minutes=3)
    joined = video_client.post(
        "/webhooks/jitsi/events/occupant/joined",
        content=occupant("joined", joined=DAY1 + timedelta(minutes=1)),
        headers=bearer(),
    )
    assert joined.status_code == 200, joined.text
    assert joined.json()["person"] == "p001"
    body = occupant("left", joined=DAY1 + timedelta(minutes=1), left=DAY1 + timedelta(minutes=2))
    left = video_client.post("/webhooks/jitsi/events/occupant/left", content=body, headers=bearer())
    assert left.json()["status"] == "stored"
    # Prosody retries: the same call again is stored once.
    again = video_client.post(
        "/webhooks/jitsi/events/occupant/left", content=body, headers=bearer()
    )
    assert again.json()["status"] == "duplicate"
    rows = stored(engine)
    assert [(r.source, r.kind) for r in rows] == [("prosody", "joined"), ("prosody", "left")]
    assert rows[1].detail["connection"].endswith("/dev1")


def test_prosody_bare_path_reads_event_name(
    video_client: TestClient, outcome: LoadOutcome, real_time: RealTime
) -> None:
    real_time.now = DAY1
    response = video_client.post(
        "/webhooks/jitsi/events", content=occupant("joined", joined=DAY1), headers=bearer()
    )
    assert response.json()["status"] == "stored"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": EVENTS_TOKEN}]
)
def test_prosody_without_the_token_is_refused(
    video_client: TestClient,
    outcome: LoadOutcome,
    engine: Engine,
    real_time: RealTime,
    headers: dict[str, str],
) -> None:
    real_time.now = DAY1
    response = video_client.post(
        "/webhooks/jitsi/events/occupant/joined",
        content=occupant("joined", joined=DAY1),
        headers=headers,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    assert stored(engine) == []


def test_prosody_stale_call_is_refused(
    video_client: TestClient, outcome: LoadOutcome, engine: Engine, real_time: RealTime
) -> None:
    real_time.now = DAY1 + timedelta(minutes=10)
    response = video_client.post(
        "/webhooks/jitsi/events/occupant/joined",
        content=occupant("joined", joined=DAY1),
        headers=bearer(),
    )
    assert response.status_code == 401
    assert "stale" in response.json()["detail"]


def test_prosody_room_events_and_unknown_paths(
    video_client: TestClient, outcome: LoadOutcome, engine: Engine, real_time: RealTime
) -> None:
    room = {"event_name": "muc-room-created", "room_name": "x", "created_at": 1}
    created = video_client.post(
        "/webhooks/jitsi/events/room/created", content=json.dumps(room), headers=bearer()
    )
    assert (created.status_code, created.json()["status"]) == (202, "ignored")
    unknown = video_client.post(
        "/webhooks/jitsi/events/occupant/kicked", content=b"{}", headers=bearer()
    )
    assert unknown.status_code == 404
    mismatch = video_client.post(
        "/webhooks/jitsi/events/occupant/left",
        content=occupant("joined", joined=DAY1),
        headers=bearer(),
    )
    assert mismatch.status_code == 422
    assert [p["path"] for p in mismatch.json()["problems"]][0] == "event_name"
    assert stored(engine) == []


# --- Confirmed minutes on the attendance page ----------------------------------------------


def test_page_shows_confirmed_minutes_from_presence_and_evidence(
    video_client: TestClient, outcome: LoadOutcome, engine: Engine, real_time: RealTime
) -> None:
    from tests.integration.test_attendance_api import ids

    sessions, people = ids(engine)
    day1, p001, p002 = sessions["day1"], people["p001"], people["p002"]
    cells: list[MinuteCell] = [(day1, p001, m, "main", FULL, FULL) for m in range(10)]
    # p002 is present 10 minutes too, and the video service never saw them.
    cells += [(day1, p002, m, "main", FULL, 0) for m in range(10)]
    with engine.begin() as connection:
        upsert_minutes(connection, cells)
    # JaaS: the leave (04:05) is delivered before the join (04:00); time orders them.
    real_time.now = DAY1 + timedelta(minutes=6)
    leave = jaas_body("k-left", "left", DAY1 + timedelta(minutes=5))
    join = jaas_body("k-joined", "joined", DAY1)
    assert post_jaas(video_client, leave, real_time.now).status_code == 200
    assert post_jaas(video_client, join, real_time.now).status_code == 200
    # Prosody: the same person on a second device, 04:07:00–04:08:30 (minute 8 is only
    # 30 s seen: exactly the threshold), then a join at 04:09:40 that has no leave yet
    # (20 s of minute 9: under the threshold).
    real_time.now = DAY1 + timedelta(minutes=9)
    start, end = DAY1 + timedelta(minutes=7), DAY1 + timedelta(minutes=8, seconds=30)
    for kind, body in (
        ("joined", occupant("joined", joined=start)),
        ("left", occupant("left", joined=start, left=end)),
    ):
        response = video_client.post(
            f"/webhooks/jitsi/events/occupant/{kind}", content=body, headers=bearer()
        )
        assert response.status_code == 200, response.text
    real_time.now = DAY1 + timedelta(minutes=9, seconds=40)
    late = occupant("joined", joined=real_time.now, occupant_jid="late@x/dev2")
    assert (
        video_client.post(
            "/webhooks/jitsi/events/occupant/joined", content=late, headers=bearer()
        ).status_code
        == 200
    )
    real_time.now = DAY1 + timedelta(minutes=10)

    sign_in(video_client, outcome, "sec1")
    html = video_client.get(f"/events/{CODE}/attendance").text
    confirmed = dict(
        re.findall(
            r'<tr id="person-(\w+)".*?data-session="day1">.*?'
            r'class="video-confirmed[^"]*"[^>]*>([^<]*)</span>',
            html,
            flags=re.S,
        )
    )
    # p001: minutes 0–4 (JaaS) and 7–8 (Prosody) of 10 present.
    assert confirmed["p001"] == "7 of 10 present minutes confirmed by the video service"
    assert confirmed["p002"] == "0 of 10 present minutes confirmed by the video service"
    assert 'id="video-evidence-note"' in html
    assert "No video-service evidence" not in html


def test_page_notes_when_no_evidence(
    video_client: TestClient, outcome: LoadOutcome, real_time: RealTime
) -> None:
    sign_in(video_client, outcome, "sec1")
    html = video_client.get(f"/events/{CODE}/attendance").text
    assert "No video-service evidence was received for this event" in html
    assert "video-confirmed" not in html

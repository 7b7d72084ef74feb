"""The attendance report, its exports, the presence log and overrides over HTTP (CONTRACT §4).

Minute rows are written straight into the log with the same batched OR-upsert the server
uses (db.presence.upsert_minutes), with crafted coverage bits, so every figure the API shows
is known exactly in advance.
"""

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from studymission.config import Settings
from studymission.db.presence import MinuteCell, upsert_minutes
from studymission.db.tables import AttendanceOverride, AuditEntry, Event, EventSession, Person
from studymission.services.clock import Clock
from tests.conftest import RealTime
from tests.factories import make_spec
from tests.integration.helpers import bearer, load_event

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"
#: After both days of the factory spec: every minute is reached.
AFTER = datetime(2021, 11, 26, 0, 0, tzinfo=UTC)
AFTER_ISO = "2021-11-26T00:00:00Z"
FULL = (1 << 60) - 1
#: Day 1's break, 14:00–14:15 in Seoul: minutes 60–74 of the session.
BREAK = range(60, 75)


def bits(first: int, last: int) -> int:
    """Seconds `first` … `last - 1` of a minute."""
    return ((1 << (last - first)) - 1) << first


def ids(engine: Engine, code: str = CODE) -> tuple[dict[str, int], dict[str, int]]:
    """Session ids and person ids of the event, by key."""
    with Session(engine) as db:
        event = db.exec(select(Event).where(Event.code == code)).one()
        sessions = db.exec(select(EventSession).where(EventSession.event_id == event.id)).all()
        people = db.exec(select(Person).where(Person.event_id == event.id)).all()
    return (
        {s.key: s.id or 0 for s in sessions},
        {p.key: p.id or 0 for p in people},
    )


def write_minutes(engine: Engine, cells: Iterable[MinuteCell]) -> None:
    with engine.begin() as connection:
        upsert_minutes(connection, list(cells))


def full_minutes(session: int, person: int, minutes: Iterable[int]) -> list[MinuteCell]:
    return [(session, person, m, "main", FULL, FULL) for m in minutes]


@pytest.fixture
def logged(engine: Engine, settings: Settings, clock: Clock, real_time: RealTime) -> None:
    """The factory event with a crafted log, read after both days."""
    load_event(engine, settings, clock)
    sessions, people = ids(engine)
    day1, day2 = sessions["day1"], sessions["day2"]
    p001, p002, rp1 = people["p001"], people["p002"], people["rp1"]
    cells: list[MinuteCell] = [
        # p001: all of day 1, the break too (not counted); day 2 minutes 0–161: exactly 0.9.
        *full_minutes(day1, p001, range(180)),
        *full_minutes(day2, p001, range(162)),
        # p002: 148 present minutes of 165 required on day 1 (the break full, not counted) ...
        *full_minutes(day1, p002, range(0, 162)),
        # ... 29 s in minute 162 (under the 30 s threshold) ...
        (day1, p002, 162, "main", bits(0, 29), 0),
        # ... and minute 163 made present only by two rooms together: 20 + 30 s, 10 overlapping.
        (day1, p002, 163, "main", bits(0, 20), bits(0, 20)),
        (day1, p002, 163, "breakout-2", bits(10, 40), 0),
        # rp1: 149 present minutes on day 1 (0.903, just over 148.5); day 2: 30 s a minute.
        *full_minutes(day1, rp1, [*range(0, 60), *range(75, 164)]),
        *[(day2, rp1, m, "site-visit", bits(30, 60), 0) for m in range(162)],
    ]
    # In two batches, the second repeating part of the first: OR-upserts count nothing twice.
    write_minutes(engine, cells[:200])
    write_minutes(engine, cells[100:])
    real_time.now = AFTER


def session(key: str, required: int, present: int, ratio: float, attended: bool) -> dict[str, Any]:
    return {
        "key": key,
        "required_minutes": required,
        "present_minutes": present,
        "ratio": ratio,
        "attended": attended,
    }


def person(
    key: str,
    name: str,
    role: str,
    country: str,
    origin: str,
    sessions: list[dict[str, Any]],
    eligible: bool,
    *,
    override: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "key": key,
        "name": name,
        "role": role,
        "eligible": eligible,
        "sessions": sessions,
        "country": country,
        "origin": origin,
        "ground": "attendance" if override is None else "override",
        "override": override,
    }


NOBODY = [session("day1", 165, 0, 0.0, False), session("day2", 180, 0, 0.0, False)]
EXPECTED_PEOPLE = [
    person("mod1", "Moderator One", "moderator", "JP", "overseas", NOBODY, False),
    person(
        "p001",
        "Nguyễn Thị Minh",
        "participant",
        "VN",
        "overseas",
        [session("day1", 165, 165, 1.0, True), session("day2", 180, 162, 0.9, True)],
        True,
    ),
    person(
        "p002",
        "Şebnem Yıldız",
        "participant",
        "TR",
        "overseas",
        [session("day1", 165, 148, 0.897, False), session("day2", 180, 0, 0.0, False)],
        False,
    ),
    person(
        "rp1",
        "Kim Min-jun",
        "resource_person",
        "KR",
        "local",
        [session("day1", 165, 149, 0.903, True), session("day2", 180, 162, 0.9, True)],
        True,
    ),
    person("sec1", "Secretariat", "secretariat", "JP", "overseas", NOBODY, False),
]


def report(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(f"/api/events/{CODE}/attendance", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.usefixtures("logged")
def test_attendance_report_counts_required_minutes_exactly(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    for staff in ("mod1", "sec1"):
        assert report(client, bearer(engine, clock, CODE, staff)) == {
            "event": CODE,
            "session_threshold": 0.9,
            "people": EXPECTED_PEOPLE,
        }


@pytest.mark.usefixtures("logged")
def test_presence_log_of_a_person(client: TestClient, engine: Engine, clock: Clock) -> None:
    staff = bearer(engine, clock, CODE, "mod1")
    response = client.get(
        f"/api/events/{CODE}/presence", params={"person": "p002", "session": "day1"}, headers=staff
    )
    assert response.status_code == 200
    log = response.json()
    assert [m["minute"] for m in log] == list(range(180))
    full = {"seconds": 60, "present": True, "room": "main", "visible_seconds": 60}
    for number in range(162):
        assert log[number] == {"minute": number, **full, "break": number in BREAK}
    assert log[162:165] == [
        {
            "minute": 162,
            "seconds": 29,
            "present": False,
            "room": "main",
            "break": False,
            "visible_seconds": 0,
        },
        # 40 s in all; breakout-2 has 30 of them, main 20.
        {
            "minute": 163,
            "seconds": 40,
            "present": True,
            "room": "breakout-2",
            "break": False,
            "visible_seconds": 20,
        },
        {
            "minute": 164,
            "seconds": 0,
            "present": False,
            "room": None,
            "break": False,
            "visible_seconds": 0,
        },
    ]
    assert log[179]["seconds"] == 0
    rp1 = client.get(
        f"/api/events/{CODE}/presence", params={"person": "rp1", "session": "day2"}, headers=staff
    ).json()
    assert (len(rp1), rp1[0], rp1[161]["present"], rp1[162]["present"]) == (
        180,
        {
            "minute": 0,
            "seconds": 30,
            "present": True,
            "room": "site-visit",
            "break": False,
            "visible_seconds": 0,
        },
        True,
        False,
    )


def test_presence_log_covers_only_the_minutes_reached(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    load_event(engine, settings, clock)
    sessions, people = ids(engine)
    write_minutes(engine, full_minutes(sessions["day1"], people["p001"], range(5)))
    real_time.now = datetime(2021, 11, 24, 4, 2, 30, tzinfo=UTC)  # minute 2 of day 1 started
    own = bearer(engine, clock, CODE, "p001")
    # Without parameters: one's own log of the session running now.
    response = client.get(f"/api/events/{CODE}/presence", headers=own)
    assert response.status_code == 200
    assert [(m["minute"], m["seconds"]) for m in response.json()] == [(0, 60), (1, 60), (2, 60)]
    assert report(client, bearer(engine, clock, CODE, "sec1"))["people"][1]["sessions"] == [
        session("day1", 165, 3, 0.018, False),
        session("day2", 180, 0, 0.0, False),
    ]
    real_time.now = datetime(2021, 11, 24, 3, 59, tzinfo=UTC)  # before day 1
    assert client.get(f"/api/events/{CODE}/presence", headers=own).json() == []


def test_threshold_arithmetic_is_exact(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    # 0.7 × 10 is 7.000000000000001 in floating point: 7 of 10 must still be attended.
    raw = make_spec(
        attendance={"session_threshold": 0.7},
        sessions=[
            {
                "key": "short",
                "title": "Short",
                "start": "2021-11-24T13:00",
                "end": "2021-11-24T13:15",
                "agenda": [
                    {
                        "key": "s-a",
                        "kind": "presentation",
                        "title": "A",
                        "start": "13:00",
                        "end": "13:05",
                    },
                    {
                        "key": "s-b",
                        "kind": "break",
                        "title": "Break",
                        "start": "13:05",
                        "end": "13:10",
                    },
                    {
                        "key": "s-c",
                        "kind": "discussion",
                        "title": "C",
                        "start": "13:10",
                        "end": "13:15",
                    },
                ],
            },
            {
                "key": "breaks-only",
                "title": "Breaks only",
                "start": "2021-11-24T14:00",
                "end": "2021-11-24T14:10",
                "agenda": [
                    {
                        "key": "b-b",
                        "kind": "break",
                        "title": "Break",
                        "start": "14:00",
                        "end": "14:10",
                    },
                ],
            },
        ],
    )
    load_event(engine, settings, clock, raw)
    sessions, people = ids(engine)
    short = sessions["short"]
    write_minutes(
        engine,
        [
            # p001: 7 of the 10 required minutes, and the whole break (not counted).
            *full_minutes(short, people["p001"], [0, 1, 2, 3, 4, 10, 11, *range(5, 10)]),
            # p002: 6 of 10 and the break: 0.6 < 0.7.
            *full_minutes(short, people["p002"], [0, 1, 2, 3, 4, 10, *range(5, 10)]),
        ],
    )
    real_time.now = AFTER
    body = report(client, bearer(engine, clock, CODE, "sec1"))
    assert body["session_threshold"] == 0.7
    rows = {p["key"]: (p["sessions"], p["eligible"]) for p in body["people"]}
    # A session with no required minutes is attended by everyone.
    assert rows["p001"] == (
        [session("short", 10, 7, 0.7, True), session("breaks-only", 0, 0, 1.0, True)],
        True,
    )
    assert rows["p002"] == (
        [session("short", 10, 6, 0.6, False), session("breaks-only", 0, 0, 1.0, True)],
        False,
    )


@pytest.mark.usefixtures("logged")
def test_csv_and_xlsx_exports(client: TestClient, engine: Engine, clock: Clock) -> None:
    staff = bearer(engine, clock, CODE, "sec1")
    response = client.get(f"/api/events/{CODE}/attendance", params={"format": "csv"}, headers=staff)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{CODE}-attendance.csv"'
    )
    # A byte-order mark first, so that spreadsheets read the names as UTF-8.
    assert response.content.startswith("\ufeffperson,name,".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    columns = [
        "person", "name", "role", "country", "origin", "eligible", "ground",
        "day1_required", "day1_present", "day1_ratio", "day1_attended",
        "day2_required", "day2_present", "day2_ratio", "day2_attended",
    ]  # fmt: skip
    assert rows[0] == columns
    assert rows[1:] == [
        ["mod1", "Moderator One", "moderator", "JP", "overseas", "false", "attendance",
         "165", "0", "0.000", "false", "180", "0", "0.000", "false"],
        ["p001", "Nguyễn Thị Minh", "participant", "VN", "overseas", "true", "attendance",
         "165", "165", "1.000", "true", "180", "162", "0.900", "true"],
        ["p002", "Şebnem Yıldız", "participant", "TR", "overseas", "false", "attendance",
         "165", "148", "0.897", "false", "180", "0", "0.000", "false"],
        ["rp1", "Kim Min-jun", "resource_person", "KR", "local", "true", "attendance",
         "165", "149", "0.903", "true", "180", "162", "0.900", "true"],
        ["sec1", "Secretariat", "secretariat", "JP", "overseas", "false", "attendance",
         "165", "0", "0.000", "false", "180", "0", "0.000", "false"],
    ]  # fmt: skip

    response = client.get(
        f"/api/events/{CODE}/attendance", params={"format": "xlsx"}, headers=staff
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["Attendance", "Sessions"]
    sheet = [list(row) for row in workbook["Attendance"].iter_rows(values_only=True)]
    assert sheet[0] == columns
    assert sheet[1:] == [
        ["mod1", "Moderator One", "moderator", "JP", "overseas", False, "attendance",
         165, 0, 0, False, 180, 0, 0, False],
        ["p001", "Nguyễn Thị Minh", "participant", "VN", "overseas", True, "attendance",
         165, 165, 1, True, 180, 162, 0.9, True],
        ["p002", "Şebnem Yıldız", "participant", "TR", "overseas", False, "attendance",
         165, 148, 148 / 165, False, 180, 0, 0, False],
        ["rp1", "Kim Min-jun", "resource_person", "KR", "local", True, "attendance",
         165, 149, 149 / 165, True, 180, 162, 0.9, True],
        ["sec1", "Secretariat", "secretariat", "JP", "overseas", False, "attendance",
         165, 0, 0, False, 180, 0, 0, False],
    ]  # fmt: skip
    sessions = [list(row) for row in workbook["Sessions"].iter_rows(values_only=True)]
    assert sessions == [
        ["session", "title", "required_minutes", "session_threshold", "minimum_present_minutes"],
        ["day1", "Day 1", 165, 0.9, 149],
        ["day2", "Day 2", 180, 0.9, 162],
    ]
    bad = client.get(f"/api/events/{CODE}/attendance", params={"format": "pdf"}, headers=staff)
    assert bad.status_code == 422


@pytest.mark.usefixtures("logged")
def test_who_may_read_and_decide(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock, make_spec(code="OTHER-EVENT-2"))
    base = f"/api/events/{CODE}"
    own_presence = f"{base}/presence?person=p001&session=day1"
    reads = {
        "attendance": f"{base}/attendance",
        "csv": f"{base}/attendance?format=csv",
        "roster": f"{base}/roster",
        "other presence": f"{base}/presence?person=p002&session=day1",
        "own presence": own_presence,
    }
    expected_reads = {
        "p001": {"attendance": 403, "csv": 403, "roster": 403, "other presence": 403,
                 "own presence": 200},
        "rp1": {"attendance": 403, "csv": 403, "roster": 403, "other presence": 403,
                "own presence": 403},
        "mod1": dict.fromkeys(reads, 200),
        "sec1": dict.fromkeys(reads, 200),
    }  # fmt: skip
    # rp1 reading p001's presence is "another's" too: 403 like the others.
    for key, statuses in expected_reads.items():
        auth = bearer(engine, clock, CODE, key)
        got = {name: client.get(url, headers=auth).status_code for name, url in reads.items()}
        assert got == statuses, key
        decide = [
            client.put(
                f"{base}/overrides/p002", json={"eligible": True, "reason": "r"}, headers=auth
            ).status_code,
            client.delete(f"{base}/overrides/p002", headers=auth).status_code,
        ]
        assert decide == ([200, 200] if key == "sec1" else [403, 403]), key
    assert client.get(reads["attendance"]).status_code == 401
    forbidden = client.get(reads["attendance"], headers=bearer(engine, clock, CODE, "p001"))
    assert forbidden.json()["error"] == "forbidden"

    # An event that is not one's own, existing or not, does not exist.
    sec1 = bearer(engine, clock, CODE, "sec1")
    for other in ("OTHER-EVENT-2", "NO-SUCH-EVENT"):
        for method, path in [
            ("GET", "attendance"),
            ("GET", "roster"),
            ("GET", "presence?person=p001&session=day1"),
            ("PUT", "overrides/p001"),
            ("DELETE", "overrides/p001"),
        ]:
            body = {"eligible": True, "reason": "r"} if method == "PUT" else None
            response = client.request(
                method, f"/api/events/{other}/{path}", json=body, headers=sec1
            )
            assert (response.status_code, response.json()["error"]) == (404, "not_found"), path
    with Session(engine) as db:
        other_event = db.exec(select(Event).where(Event.code == "OTHER-EVENT-2")).one()
        assert (
            db.exec(
                select(AttendanceOverride).where(AttendanceOverride.event_id == other_event.id)
            ).all()
            == []
        )


def overrides_in_db(engine: Engine) -> list[tuple[str, bool, str, str, bool, str | None]]:
    with Session(engine) as db:
        rows = db.exec(
            select(AttendanceOverride, Person)
            .join(Person, col(Person.id) == AttendanceOverride.person_id)
            .order_by(col(AttendanceOverride.id))
        ).all()
    return [
        (p.key, o.eligible, o.reason, o.author, o.withdrawn_at is not None, o.withdrawn_by)
        for o, p in rows
    ]


def audit(engine: Engine) -> list[tuple[str, str, datetime, dict[str, Any]]]:
    with Session(engine) as db:
        rows = db.exec(
            select(AuditEntry)
            .where(col(AuditEntry.action).startswith("override."))
            .order_by(col(AuditEntry.id))
        ).all()
    return [(e.action, e.actor, e.at, e.detail) for e in rows]


@pytest.mark.usefixtures("logged")
def test_overrides_with_their_reason_and_audit_trail(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    sec1 = bearer(engine, clock, CODE, "sec1")
    url = f"/api/events/{CODE}/overrides"

    # No reason, no decision: 422 naming the problem, and nothing written.
    for reason in ("", "   "):
        refused = client.put(f"{url}/p002", json={"eligible": True, "reason": reason}, headers=sec1)
        assert refused.status_code == 422
        assert refused.json()["error"] == "invalid"
        assert [p["path"] for p in refused.json()["problems"]] == ["reason"]
    missing = client.put(f"{url}/p002", json={"eligible": True}, headers=sec1)
    assert missing.status_code == 422
    nobody = client.put(f"{url}/p999", json={"eligible": True, "reason": "x"}, headers=sec1)
    assert nobody.status_code == 422
    assert nobody.json()["problems"] == [
        {"path": "person", "value": "p999", "reason": "no such person in this event"}
    ]
    assert overrides_in_db(engine) == []
    assert audit(engine) == []
    assert report(client, sec1)["people"] == EXPECTED_PEOPLE

    reason = "Connection failures documented by the host; attended in person on day 2."
    made = client.put(f"{url}/p002", json={"eligible": True, "reason": reason}, headers=sec1)
    assert made.status_code == 200
    assert made.json() == {
        "person": "p002",
        "eligible": True,
        "reason": reason,
        "author": "Secretariat",
        "at": AFTER_ISO,
    }
    # An override can also take eligibility away from someone who attended.
    revoked = client.put(
        f"{url}/rp1",
        json={"eligible": False, "reason": "  Speaker, not a trainee  "},
        headers=sec1,
    )
    assert (revoked.status_code, revoked.json()["reason"]) == (200, "Speaker, not a trainee")
    people = {p["key"]: p for p in report(client, sec1)["people"]}
    assert people["p002"] == {
        **EXPECTED_PEOPLE[2],
        "eligible": True,
        "ground": "override",
        "override": {
            "eligible": True,
            "reason": reason,
            "author": "Secretariat",
            "at": "2021-11-26T00:00:00+00:00",
        },
    }
    # The sessions still say what attendance was; only eligibility follows the decision.
    assert people["p002"]["sessions"] == EXPECTED_PEOPLE[2]["sessions"]
    assert (people["rp1"]["eligible"], people["rp1"]["ground"]) == (False, "override")
    assert (people["p001"]["eligible"], people["p001"]["ground"]) == (True, "attendance")

    # A new decision replaces the one in force (which is kept, withdrawn).
    again = client.put(f"{url}/p002", json={"eligible": True, "reason": "Confirmed"}, headers=sec1)
    assert again.status_code == 200
    withdrawn = client.delete(f"{url}/p002", headers=sec1)
    assert (withdrawn.status_code, withdrawn.json()) == (200, {"person": "p002", "withdrawn": 1})
    nothing = client.delete(f"{url}/p002", headers=sec1)
    assert (nothing.status_code, nothing.json()) == (200, {"person": "p002", "withdrawn": 0})
    people = {p["key"]: p for p in report(client, sec1)["people"]}
    assert people["p002"] == EXPECTED_PEOPLE[2]
    assert people["rp1"]["ground"] == "override"

    assert overrides_in_db(engine) == [
        ("p002", True, reason, "Secretariat", True, "Secretariat"),
        ("rp1", False, "Speaker, not a trainee", "Secretariat", False, None),
        ("p002", True, "Confirmed", "Secretariat", True, "Secretariat"),
    ]
    assert audit(engine) == [
        ("override.set", "Secretariat", AFTER, {"person": "p002", "eligible": True,
                                                "reason": reason}),
        ("override.set", "Secretariat", AFTER, {"person": "rp1", "eligible": False,
                                                "reason": "Speaker, not a trainee"}),
        ("override.set", "Secretariat", AFTER, {"person": "p002", "eligible": True,
                                                "reason": "Confirmed"}),
        ("override.withdraw", "Secretariat", AFTER, {"person": "p002"}),
    ]  # fmt: skip

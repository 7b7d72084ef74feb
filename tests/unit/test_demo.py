"""The demo event recreates the seed notification, deterministically, as a valid spec."""

import importlib.util
import json
import re
import unicodedata
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from studymission.services.demo import build_demo_spec

pytestmark = pytest.mark.unit

FIRST_DAY = date(2021, 11, 24)
# The notification's indicative topics, verbatim.
DAY1_TOPICS = [
    "Introduction to data governance in the public sector",
    "Benefits and challenges of data governance in the public sector",
]
DAY2_TOPICS = [
    "Linking data governance and productivity",
    "Cases of good data governance in the public sector of the ROK",
]
MEMBER_COUNTRIES = set("BD KH TW FJ HK IN ID IR JP KR LA MY MN NP PK PH SG LK TH TR VN".split())
# RFC 2606 / RFC 6761 names reserved for examples.
RESERVED_DOMAIN = re.compile(r"(?:.+\.)?example\.(?:org|com|net)")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return build_demo_spec(first_day=FIRST_DAY)


def people(spec: dict[str, Any], **where: str) -> list[dict[str, str]]:
    return [p for p in spec["people"] if all(p[k] == v for k, v in where.items())]


def test_event_details(spec: dict[str, Any]) -> None:
    assert spec["code"] == "21-IP-06-GE-OSM-B"
    assert spec["title"] == (
        "Multicountry Observational Study Mission on Data Governance in the Public Sector "
        "to Improve Productivity"
    )
    assert spec["timezone"] == "Asia/Seoul"
    assert spec["host_country"] == "KR"
    assert spec["modality"] == "Digital Multicountry"
    assert spec["implementing_organizations"] == ["Korea Productivity Center", "APO Secretariat"]


def test_participant_counts(spec: dict[str, Any]) -> None:
    participants = people(spec, role="participant")
    overseas = people(spec, role="participant", origin="overseas")
    local = people(spec, role="participant", origin="local")
    assert (len(participants), len(overseas), len(local)) == (69, 57, 12)
    assert {p["country"] for p in local} == {"KR"}
    assert {p["country"] for p in participants} == MEMBER_COUNTRIES
    per_country = Counter(p["country"] for p in overseas)
    assert "KR" not in per_country
    assert len(per_country) == 20
    assert min(per_country.values()) >= 2


def test_roles(spec: dict[str, Any]) -> None:
    roles = Counter(p["role"] for p in spec["people"])
    assert roles == {"participant": 69, "resource_person": 4, "moderator": 2, "secretariat": 1}
    assert {p["country"] for p in people(spec, role="resource_person")} >= {"KR", "JP", "SG"}
    assert any(p["country"] not in MEMBER_COUNTRIES for p in people(spec, role="resource_person"))


def test_keys(spec: dict[str, Any]) -> None:
    keys = [p["key"] for p in spec["people"]]
    assert len(keys) == len(set(keys))
    assert [p["key"] for p in people(spec, role="participant")] == [
        f"p{n:03d}" for n in range(1, 70)
    ]
    assert set(keys) >= {"rp1", "rp2", "rp3", "rp4", "mod1", "mod2", "sec1"}
    assert people(spec, key="sec1")[0]["role"] == "secretariat"
    assert {p["key"] for p in people(spec, role="moderator")} == {"mod1", "mod2"}


def test_emails_are_unique_and_reserved(spec: dict[str, Any]) -> None:
    emails = [p["email"] for p in spec["people"]]
    assert len({e.casefold() for e in emails}) == len(emails)
    for email in emails:
        local, _, domain = email.partition("@")
        assert re.fullmatch(r"[a-z0-9]+(?:\.[a-z0-9]+)*", local), email
        assert RESERVED_DOMAIN.fullmatch(domain), email


def test_names_include_other_scripts(spec: dict[str, Any]) -> None:
    names = [p["name"] for p in spec["people"]]
    assert len(names) == len(set(names))
    for name in ["Nguyễn Thị Minh", "Şebnem Yıldız", "Sadeq Ḥosseini"]:
        assert name in names
    scripts = {unicodedata.name(ch).split()[0] for name in names for ch in name if ord(ch) > 0x2FF}
    assert {"THAI", "DEVANAGARI", "HANGUL", "CJK", "CYRILLIC"} <= scripts
    assert all(name == name.strip() and name for name in names)


def test_organisations(spec: dict[str, Any]) -> None:
    assert all(p["organization"] for p in spec["people"])
    orgs = {p["organization"] for p in spec["people"]}
    assert {"Korea Productivity Center", "APO Secretariat", "Japan Productivity Center"} <= orgs


def test_sessions_are_about_three_hours_on_consecutive_days(spec: dict[str, Any]) -> None:
    sessions = spec["sessions"]
    assert [s["key"] for s in sessions] == ["day1", "day2"]
    for offset, session in enumerate(sessions):
        start = datetime.fromisoformat(session["start"])
        end = datetime.fromisoformat(session["end"])
        assert start.date() == end.date() == FIRST_DAY + timedelta(days=offset)
        assert (start.time().isoformat(), end - start) == ("13:00:00", timedelta(hours=3))


def test_agenda_fills_each_session_in_order(spec: dict[str, Any]) -> None:
    kinds = {"opening", "presentation", "discussion", "breakout", "site_visit", "break", "closing"}
    speakers_known = {p["key"] for p in spec["people"] if p["role"] == "resource_person"}
    for session in spec["sessions"]:
        cursor = datetime.fromisoformat(session["start"])
        for item in session["agenda"]:
            assert item["kind"] in kinds
            assert datetime.fromisoformat(item["start"]) == cursor, item["key"]
            cursor = datetime.fromisoformat(item["end"])
            assert set(item.get("speakers", [])) <= speakers_known
        assert cursor == datetime.fromisoformat(session["end"])


def test_agenda_has_the_notification_topics(spec: dict[str, Any]) -> None:
    day1, day2 = spec["sessions"]

    def of_kind(session: dict[str, Any], kind: str) -> list[str]:
        return [i["title"] for i in session["agenda"] if i["kind"] == kind]

    assert of_kind(day1, "presentation") == DAY1_TOPICS
    assert of_kind(day2, "presentation") == DAY2_TOPICS
    assert of_kind(day2, "breakout") == ["Group discussion"]
    assert all(
        i.get("speakers") for s in (day1, day2) for i in s["agenda"] if i["kind"] == "presentation"
    )
    all_items = day1["agenda"] + day2["agenda"]
    kinds = Counter(i["kind"] for i in all_items)
    assert kinds["break"] >= 2 and kinds["site_visit"] == 1
    assert kinds["opening"] >= 1 and kinds["closing"] >= 1
    assert all_items[-1]["kind"] == "closing"
    keys = [i["key"] for i in all_items]
    assert len(keys) == len(set(keys))


def test_dates_follow_first_day() -> None:
    spec = build_demo_spec(first_day=date(2030, 2, 28))
    assert [(s["start"], s["end"]) for s in spec["sessions"]] == [
        ("2030-02-28T13:00", "2030-02-28T16:00"),
        ("2030-03-01T13:00", "2030-03-01T16:00"),
    ]


def test_deterministic_and_json_able(spec: dict[str, Any]) -> None:
    again = build_demo_spec(first_day=FIRST_DAY)
    assert json.dumps(again, ensure_ascii=False) == json.dumps(spec, ensure_ascii=False)
    assert json.loads(json.dumps(spec)) == spec
    other = build_demo_spec(first_day=FIRST_DAY + timedelta(days=7))
    assert other["people"] == spec["people"]


@pytest.mark.skipif(
    importlib.util.find_spec("studymission.domain.spec") is None,
    reason="studymission.domain.spec is not written yet",
)
@pytest.mark.parametrize("first_day", [FIRST_DAY, date(2026, 12, 31)])
def test_demo_spec_validates(first_day: date) -> None:
    import pycountry

    from studymission.domain.spec import validate_spec

    countries = {c.alpha_2 for c in pycountry.countries}
    event, problems = validate_spec(build_demo_spec(first_day=first_day), countries=countries)
    assert [str(p) for p in problems] == []
    assert event is not None
    assert len(event.people) == 76
    assert event.modality == "Digital Multicountry"


def test_starts_at_moves_each_day_as_a_whole() -> None:
    moved = build_demo_spec(first_day=FIRST_DAY, starts_at=time(22, 30))
    planned = build_demo_spec(first_day=FIRST_DAY)
    shift = timedelta(hours=9, minutes=30)
    for new, old in zip(moved["sessions"], planned["sessions"], strict=True):
        assert datetime.fromisoformat(new["start"]) - datetime.fromisoformat(old["start"]) == shift
        # A day that starts late runs past midnight, so its items carry full dates.
        assert [i["end"] for i in new["agenda"]][-1] == (
            datetime.fromisoformat(old["agenda"][-1]["end"]) + shift
        ).isoformat(timespec="minutes")
    assert moved["sessions"][0]["end"] == "2021-11-25T01:30"

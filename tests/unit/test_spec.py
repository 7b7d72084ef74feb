"""Event spec validation (CONTRACT §2): every problem with its path, UTC times, round trips."""

import copy
import json
import re
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studymission.domain.spec import spec_to_raw, validate_spec
from studymission.domain.values import (
    AttendanceRules,
    EventSpec,
    ItemKind,
    Origin,
    Problem,
    Role,
)

pytestmark = pytest.mark.unit

COUNTRIES = frozenset({"IN", "JP", "KR", "TH"})
DELETE = object()


def valid_raw() -> dict[str, Any]:
    return {
        "code": "21-IP-06-GE-OSM-B",
        "title": "Multicountry Observational Study Mission on Data Governance",
        "timezone": "Asia/Seoul",
        "attendance": {
            "session_threshold": 0.9,
            "minute_threshold_seconds": 30,
            "stale_after_seconds": 45,
            "require_visible": False,
        },
        "sessions": [
            {
                "key": "day1",
                "title": "Day 1",
                "start": "2021-11-24T13:00",
                "end": "2021-11-24T16:00",
                "agenda": [
                    {
                        "key": "d1-intro",
                        "kind": "presentation",
                        "title": "Introduction to data governance",
                        "start": "13:00",
                        "end": "14:00",
                        "speakers": ["rp1"],
                    },
                    {
                        "key": "d1-break",
                        "kind": "break",
                        "title": "Break",
                        "start": "14:00",
                        "end": "14:15",
                    },
                    {
                        "key": "d1-talk",
                        "kind": "discussion",
                        "title": "Open discussion",
                        "start": "14:15",
                        "end": "16:00",
                        "speakers": ["rp1", "m1"],
                    },
                ],
            },
            {
                "key": "day2",
                "title": "Day 2",
                "start": "2021-11-25T13:00",
                "end": "2021-11-25T16:00",
                "agenda": [
                    {
                        "key": "d2-visit",
                        "kind": "site_visit",
                        "title": "Site visit",
                        "start": "2021-11-25T13:00",
                        "end": "2021-11-25T15:00",
                    },
                    {
                        "key": "d2-close",
                        "kind": "closing",
                        "title": "Closing",
                        "start": "15:00",
                        "end": "16:00",
                    },
                ],
            },
        ],
        "people": [
            {
                "key": "p001",
                "name": "A. Participant",
                "email": "a@example.org",
                "country": "IN",
                "organization": "National Productivity Council",
                "role": "participant",
                "origin": "overseas",
            },
            {
                "key": "p002",
                "name": "B. Participant",
                "email": "b@example.org",
                "country": "th",
                "role": "participant",
            },
            {
                "key": "rp1",
                "name": "R. Person",
                "email": "rp1@example.org",
                "country": "KR",
                "organization": "",
                "role": "resource_person",
                "origin": "local",
            },
            {
                "key": "m1",
                "name": "M. Oderator",
                "email": "m1@example.org",
                "country": "JP",
                "role": "moderator",
            },
        ],
    }


def changed(*edits: tuple[str, object]) -> dict[str, Any]:
    """valid_raw() with each (path, value) set, or removed when the value is DELETE."""
    raw = valid_raw()
    for path, value in edits:
        steps: list[str | int] = [
            int(token[1:-1]) if token.startswith("[") else token
            for token in re.findall(r"\[\d+\]|[^.\[\]]+", path)
        ]
        parent: Any = raw
        for step in steps[:-1]:
            parent = parent[step]
        if value is DELETE:
            del parent[steps[-1]]
        else:
            parent[steps[-1]] = copy.deepcopy(value)
    return raw


def load(raw: object) -> EventSpec:
    spec, problems = validate_spec(raw, countries=COUNTRIES)
    assert problems == []
    assert spec is not None
    return spec


def problems_of(raw: object) -> list[Problem]:
    spec, problems = validate_spec(raw, countries=COUNTRIES)
    assert spec is None
    return problems


def as_json(spec: EventSpec) -> Any:
    """spec_to_raw() through real JSON, as a script would read it."""
    return json.loads(json.dumps(spec_to_raw(spec)))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- valid specs --------------------------------------------------------------------------


def test_valid_spec_loads_with_utc_times() -> None:
    spec = load(valid_raw())
    day1, day2 = spec.sessions
    assert (day1.key, day1.start, day1.end) == ("day1", utc(2021, 11, 24, 4), utc(2021, 11, 24, 7))
    assert day1.start.tzinfo is UTC
    assert (day2.start, day2.end) == (utc(2021, 11, 25, 4), utc(2021, 11, 25, 7))


def test_hhmm_agenda_times_fall_on_the_sessions_local_date() -> None:
    intro = load(valid_raw()).sessions[0].agenda[0]
    assert (intro.key, intro.kind, intro.speakers) == ("d1-intro", ItemKind.PRESENTATION, ("rp1",))
    assert (intro.start, intro.end) == (utc(2021, 11, 24, 4), utc(2021, 11, 24, 5))


def test_iso_agenda_times_are_read_in_the_event_zone() -> None:
    visit = load(valid_raw()).sessions[1].agenda[0]
    assert (visit.start, visit.end) == (utc(2021, 11, 25, 4), utc(2021, 11, 25, 6))


def test_hhmm_uses_the_local_date_when_utc_is_the_day_before() -> None:
    # 08:00 in Seoul on the 25th is still the 24th in UTC.
    raw = changed(
        ("sessions[1].start", "2021-11-25T08:00"),
        (
            "sessions[1].agenda",
            [
                {
                    "key": "early",
                    "kind": "opening",
                    "title": "Early",
                    "start": "08:00",
                    "end": "09:00",
                }
            ],
        ),
    )
    early = load(raw).sessions[1].agenda[0]
    assert (early.start, early.end) == (utc(2021, 11, 24, 23), utc(2021, 11, 25, 0))


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2021-11-24T13:00+09:00", utc(2021, 11, 24, 4)),
        ("2021-11-24T05:00+01:00", utc(2021, 11, 24, 4)),
        ("2021-11-24T04:00Z", utc(2021, 11, 24, 4)),
        ("2021-11-24T09:30+05:30", utc(2021, 11, 24, 4)),
        ("2021-11-24T13:00:00", utc(2021, 11, 24, 4)),
    ],
)
def test_session_times_with_an_offset_are_converted(written: str, expected: datetime) -> None:
    session = load(changed(("sessions[0].start", written))).sessions[0]
    assert session.start == expected
    assert session.start.tzinfo is UTC


def test_agenda_time_with_an_offset_is_converted() -> None:
    raw = changed(
        ("sessions[0].agenda[0].end", "2021-11-24T04:30Z"),
        ("sessions[0].agenda[1].start", "2021-11-24T05:30+01:00"),
    )
    intro, brk, _ = load(raw).sessions[0].agenda
    assert (intro.end, brk.start) == (utc(2021, 11, 24, 4, 30), utc(2021, 11, 24, 4, 30))


def test_attendance_threshold_is_exact_and_missing_fields_take_defaults() -> None:
    spec = load(changed(("attendance", {"session_threshold": 0.9, "require_visible": True})))
    assert spec.attendance == AttendanceRules(Fraction(9, 10), 30, 45, True)
    assert load(changed(("attendance", DELETE))).attendance == AttendanceRules()


def test_people_are_normalised() -> None:
    raw = changed(("people[0].email", "A.Participant@Example.ORG"))
    p001, p002, *_ = load(raw).people
    assert (p001.email, p001.role, p001.origin) == (
        "A.Participant@example.org",
        Role.PARTICIPANT,
        Origin.OVERSEAS,
    )
    assert (p002.country, p002.organization, p002.origin) == ("TH", "", Origin.OVERSEAS)


def test_sessions_and_agenda_come_out_sorted_by_start() -> None:
    raw = valid_raw()
    raw["sessions"].reverse()
    raw["sessions"][1]["agenda"].reverse()
    spec = load(raw)
    assert [s.key for s in spec.sessions] == ["day1", "day2"]
    assert [i.key for i in spec.sessions[0].agenda] == ["d1-intro", "d1-break", "d1-talk"]


@pytest.mark.parametrize(
    ("written", "exact"),
    [(0.9, Fraction(9, 10)), (1, Fraction(1)), (0.75, Fraction(3, 4)), (1 / 3, None)],
)
def test_session_threshold_is_exact_and_round_trips(written: float, exact: Fraction | None) -> None:
    spec = load(changed(("attendance.session_threshold", written)))
    if exact is not None:
        assert spec.attendance.session_threshold == exact
    assert as_json(spec)["attendance"]["session_threshold"] == written
    assert load(as_json(spec)) == spec


def test_country_codes_given_in_lowercase_are_accepted() -> None:
    spec, problems = validate_spec(valid_raw(), countries=["in", "jp", "kr", "th"])
    assert problems == []
    assert spec is not None and [p.country for p in spec.people] == ["IN", "TH", "KR", "JP"]


def test_optional_details_are_kept() -> None:
    raw = changed(
        ("host_country", "kr"),
        ("modality", "online"),
        ("implementing_organizations", ["APO", "KPC"]),
        ("sessions[0].agenda", []),
        ("people", []),
    )
    spec = load(raw)
    assert (spec.host_country, spec.modality, spec.implementing_organizations) == (
        "KR",
        "online",
        ("APO", "KPC"),
    )
    assert (spec.sessions[0].agenda, spec.people) == ((), ())


def test_valid_spec_round_trips() -> None:
    spec = load(changed(("host_country", "KR"), ("implementing_organizations", ["APO"])))
    raw = as_json(spec)
    assert load(raw) == spec
    assert raw["sessions"][0]["start"] == "2021-11-24T13:00"
    assert raw["sessions"][0]["agenda"][0]["start"] == "13:00"
    assert raw["attendance"]["session_threshold"] == 0.9


def test_round_trip_keeps_the_repeated_hour_of_a_clock_change() -> None:
    # Berlin passes 02:30 twice on 2021-10-31; the second one is 01:30Z.
    raw = changed(
        ("timezone", "Europe/Berlin"),
        (
            "sessions[0]",
            {
                "key": "night",
                "title": "Night",
                "start": "2021-10-31T02:30+01:00",
                "end": "2021-10-31T04:00",
            },
        ),
        ("sessions[1].agenda", []),
    )
    spec = load(raw)
    assert spec.sessions[0].start == utc(2021, 10, 31, 1, 30)
    written = as_json(spec)
    assert written["sessions"][0]["start"] == "2021-10-31T02:30+01:00"
    assert load(written) == spec


def test_round_trip_of_agenda_after_midnight_keeps_the_full_date() -> None:
    raw = changed(
        ("sessions[1].end", "2021-11-26T01:00"),
        ("sessions[1].agenda[1].end", "2021-11-26T01:00"),
    )
    spec = load(raw)
    written = as_json(spec)
    assert written["sessions"][1]["agenda"][1]["end"] == "2021-11-26T01:00"
    assert load(written) == spec


# --- one problem each ---------------------------------------------------------------------

CASES: list[tuple[str, tuple[tuple[str, object], ...], str, str]] = [
    ("unknown-zone", (("timezone", "Asia/Atlantis"),), "timezone", "unknown time zone"),
    ("zone-directory", (("timezone", "America"),), "timezone", "unknown time zone"),
    (
        "item-before-session",
        (("sessions[0].agenda[0].start", "12:30"),),
        "sessions[0].agenda[0].start",
        "agenda item starts before its session (13:00)",
    ),
    (
        "item-after-session",
        (("sessions[0].agenda[2].end", "16:30"),),
        "sessions[0].agenda[2].end",
        "agenda item ends after its session (16:00)",
    ),
    (
        "items-overlap",
        (("sessions[0].agenda[1].start", "13:45"),),
        "sessions[0].agenda[1].start",
        "overlaps agenda item d1-intro",
    ),
    (
        "item-end-before-start",
        (("sessions[0].agenda[1].end", "13:50"),),
        "sessions[0].agenda[1].end",
        "end is not after start",
    ),
    (
        "item-end-equals-start",
        (("sessions[0].agenda[1].end", "14:00"),),
        "sessions[0].agenda[1].end",
        "end is not after start",
    ),
    (
        "session-end-before-start",
        (("sessions[0].end", "2021-11-24T12:00"),),
        "sessions[0].end",
        "end is not after start",
    ),
    (
        "session-end-equals-start",
        (("sessions[0].end", "2021-11-24T13:00"),),
        "sessions[0].end",
        "end is not after start",
    ),
    (
        "session-too-long",
        (("sessions[1].end", "2021-11-26T13:30"),),
        "sessions[1].end",
        "session is longer than 24 hours",
    ),
    (
        "sessions-overlap",
        (
            (
                "sessions[1]",
                {
                    "key": "day2",
                    "title": "Day 2",
                    "start": "2021-11-24T15:00",
                    "end": "2021-11-24T17:00",
                },
            ),
        ),
        "sessions[1].start",
        "overlaps session day1",
    ),
    (
        "duplicate-session-key",
        (("sessions[1].key", "day1"),),
        "sessions[1].key",
        "duplicate session key",
    ),
    (
        "duplicate-agenda-key",
        (("sessions[1].agenda[0].key", "d1-intro"),),
        "sessions[1].agenda[0].key",
        "duplicate agenda key",
    ),
    (
        "unknown-country",
        (("people[0].country", "XX"),),
        "people[0].country",
        "unknown country code",
    ),
    ("unknown-host-country", (("host_country", "XX"),), "host_country", "unknown country code"),
    ("duplicate-person-key", (("people[1].key", "p001"),), "people[1].key", "duplicate person key"),
    (
        "duplicate-email",
        (("people[1].email", "A@EXAMPLE.org"),),
        "people[1].email",
        "email already used by p001",
    ),
    (
        "invalid-email",
        (("people[0].email", "not-an-email"),),
        "people[0].email",
        "not a valid email address: ",
    ),
    (
        "unknown-role",
        (("people[0].role", "guest"),),
        "people[0].role",
        "must be one of participant, resource_person, moderator, secretariat",
    ),
    (
        "unknown-origin",
        (("people[0].origin", "abroad"),),
        "people[0].origin",
        "must be one of overseas, local",
    ),
    (
        "unknown-kind",
        (("sessions[0].agenda[0].kind", "keynote"),),
        "sessions[0].agenda[0].kind",
        "must be one of opening, presentation, discussion, breakout, site_visit, break, closing",
    ),
    (
        "speaker-not-a-person",
        (("sessions[0].agenda[0].speakers", ["rp9"]),),
        "sessions[0].agenda[0].speakers[0]",
        "speaker is not a person of the event",
    ),
    (
        "speaker-twice",
        (("sessions[0].agenda[0].speakers", ["rp1", "rp1"]),),
        "sessions[0].agenda[0].speakers[1]",
        "listed twice",
    ),
    (
        "session-seconds",
        (("sessions[0].start", "2021-11-24T13:00:30"),),
        "sessions[0].start",
        "whole minute",
    ),
    (
        "item-fraction",
        (("sessions[1].agenda[0].end", "2021-11-25T14:59:59.5"),),
        "sessions[1].agenda[0].end",
        "whole minute",
    ),
    (
        "offset-seconds",
        (("sessions[0].start", "2021-11-24T13:00+09:00:30"),),
        "sessions[0].start",
        "whole minute",
    ),
    (
        "date-only",
        (("sessions[0].start", "2021-11-24"),),
        "sessions[0].start",
        "needs a time of day",
    ),
    (
        "bad-date",
        (("sessions[0].end", "2021-13-24T16:00"),),
        "sessions[0].end",
        "expected an ISO date and time",
    ),
    (
        "bad-hhmm",
        (("sessions[0].agenda[2].end", "24:00"),),
        "sessions[0].agenda[2].end",
        "expected HH:MM or an ISO date and time",
    ),
    (
        "time-out-of-range",
        (("sessions[0].start", "0001-01-01T00:00"),),
        "sessions[0].start",
        "out of range",
    ),
    ("sessions-is-a-string", (("sessions", "day1"),), "sessions", "expected a list, got string"),
    ("sessions-is-a-tuple", (("sessions", ("day1",)),), "sessions", "expected a list, got tuple"),
    ("no-sessions", (("sessions", []),), "sessions", "at least one session is required"),
    (
        "start-is-a-number",
        (("sessions[0].end", 1600),),
        "sessions[0].end",
        "expected an ISO date and time, got number",
    ),
    (
        "item-start-is-null",
        (("sessions[0].agenda[0].start", None),),
        "sessions[0].agenda[0].start",
        "got null",
    ),
    ("person-is-a-string", (("people[0]", "p001"),), "people[0]", "expected an object, got string"),
    ("title-is-null", (("title", None),), "title", "expected a string, got null"),
    ("title-is-blank", (("title", "  "),), "title", "must not be empty"),
    ("code-missing", (("code", DELETE),), "code", "required field is missing"),
    ("code-with-slash", (("code", "21/IP"),), "code", "may contain only letters, digits"),
    ("code-too-long", (("code", "C" * 65),), "code", "at most 64 characters"),
    ("code-only-dots", (("code", ".."),), "code", "dots only"),
    ("name-too-long", (("people[0].name", "N" * 201),), "people[0].name", "at most 200 characters"),
    (
        "email-is-a-list",
        (("people[0].email", ["a@example.org"]),),
        "people[0].email",
        "expected a string, got list",
    ),
    ("country-is-a-number", (("people[0].country", 356),), "people[0].country", "got number"),
    (
        "organization-is-null",
        (("people[0].organization", None),),
        "people[0].organization",
        "got null",
    ),
    (
        "agenda-is-an-object",
        (("sessions[0].agenda", {}),),
        "sessions[0].agenda",
        "expected a list, got object",
    ),
    (
        "speakers-is-a-string",
        (("sessions[0].agenda[0].speakers", "rp1"),),
        "sessions[0].agenda[0].speakers",
        "got string",
    ),
    (
        "speaker-is-a-number",
        (("sessions[0].agenda[0].speakers", [1]),),
        "sessions[0].agenda[0].speakers[0]",
        "got number",
    ),
    (
        "organizations-entry",
        (("implementing_organizations", ["APO", 7]),),
        "implementing_organizations[1]",
        "got number",
    ),
    ("modality-is-a-number", (("modality", 1),), "modality", "expected a string, got number"),
    ("attendance-is-a-list", (("attendance", []),), "attendance", "expected an object, got list"),
    (
        "threshold-zero",
        (("attendance.session_threshold", 0),),
        "attendance.session_threshold",
        "above 0 and at most 1",
    ),
    (
        "threshold-above-one",
        (("attendance.session_threshold", 1.5),),
        "attendance.session_threshold",
        "at most 1",
    ),
    (
        "threshold-boolean",
        (("attendance.session_threshold", True),),
        "attendance.session_threshold",
        "a number",
    ),
    (
        "minute-61",
        (("attendance.minute_threshold_seconds", 61),),
        "attendance.minute_threshold_seconds",
        "from 1 to 60",
    ),
    (
        "minute-float",
        (("attendance.minute_threshold_seconds", 30.0),),
        "attendance.minute_threshold_seconds",
        "whole number",
    ),
    (
        "stale-zero",
        (("attendance.stale_after_seconds", 0),),
        "attendance.stale_after_seconds",
        "of at least 1",
    ),
    (
        "visible-string",
        (("attendance.require_visible", "yes"),),
        "attendance.require_visible",
        "expected true or false, got string",
    ),
    ("unknown-top-field", (("colour", "blue"),), "colour", "unknown field"),
    ("unknown-attendance-field", (("attendance.grace", 5),), "attendance.grace", "unknown field"),
    ("unknown-session-field", (("sessions[0].room", "A"),), "sessions[0].room", "unknown field"),
    (
        "unknown-item-field",
        (("sessions[0].agenda[1].room", "A"),),
        "sessions[0].agenda[1].room",
        "unknown field",
    ),
    ("unknown-person-field", (("people[0].phone", "123"),), "people[0].phone", "unknown field"),
    ("role-missing", (("people[0].role", DELETE),), "people[0].role", "required field is missing"),
]


@pytest.mark.parametrize(
    ("edits", "path", "reason"),
    [pytest.param(edits, path, reason, id=name) for name, edits, path, reason in CASES],
)
def test_problem_is_reported_at_its_path(
    edits: tuple[tuple[str, object], ...], path: str, reason: str
) -> None:
    problems = problems_of(changed(*edits))
    assert [p.path for p in problems] == [path]
    assert reason in problems[0].reason


def test_problem_keeps_the_value_as_written() -> None:
    problems = problems_of(changed(("sessions[0].agenda[0].start", "12:30")))
    assert problems == [
        Problem(
            "sessions[0].agenda[0].start", "12:30", "agenda item starts before its session (13:00)"
        )
    ]


def test_duplicate_email_names_the_first_persons_key() -> None:
    problems = problems_of(changed(("people[3].email", "B@example.org")))
    assert problems == [Problem("people[3].email", "B@example.org", "email already used by p002")]


def test_skipped_local_time_is_a_problem() -> None:
    # Berlin's clocks jump from 02:00 to 03:00 on 2021-03-28.
    raw = changed(
        ("timezone", "Europe/Berlin"),
        (
            "sessions[0]",
            {
                "key": "day1",
                "title": "Day 1",
                "start": "2021-03-28T02:30",
                "end": "2021-03-28T05:00",
            },
        ),
        ("sessions[1].agenda", []),
    )
    assert problems_of(raw) == [
        Problem(
            "sessions[0].start",
            "2021-03-28T02:30",
            "local time skipped by a clock change in the event's time zone",
        )
    ]


def test_duplicate_key_and_email_are_both_reported() -> None:
    problems = problems_of(changed(("people[1].key", "p001"), ("people[1].email", "a@example.org")))
    assert [(p.path, p.reason) for p in problems] == [
        ("people[1].key", "duplicate person key"),
        ("people[1].email", "email already used by p001"),
    ]


def test_blank_organization_name_is_a_problem() -> None:
    problems = problems_of(changed(("implementing_organizations", ["APO", " "])))
    assert problems == [Problem("implementing_organizations[1]", " ", "must not be empty")]


def test_top_level_must_be_an_object() -> None:
    assert problems_of(["code"]) == [Problem("$", ["code"], "expected an object, got list")]


def test_agenda_of_a_session_with_a_bad_start_reports_only_the_start() -> None:
    # "HH:MM" items cannot be placed without their session's date; the cause is reported once.
    problems = problems_of(changed(("sessions[0].start", "soon")))
    assert [p.path for p in problems] == ["sessions[0].start"]


def test_spec_with_many_errors_lists_every_one_in_document_order() -> None:
    raw = changed(
        ("code", ""),
        ("timezone", "Mars/Olympus"),
        ("attendance.session_threshold", 2),
        ("attendance.require_visible", 1),
        ("extra", True),
        ("sessions[0].key", "day 1"),
        ("sessions[0].agenda[0].kind", "talk"),
        ("sessions[0].agenda[1].start", "13:30"),
        ("sessions[0].agenda[2].speakers", ["nobody"]),
        ("sessions[1].start", 13),
        ("sessions[1].agenda[0].key", "d1-break"),
        ("people[0].email", "a@@example.org"),
        ("people[1].key", "p001"),
        ("people[2].country", "ZZ"),
        ("people[3].role", "boss"),
    )
    assert [p.path for p in problems_of(raw)] == [
        "code",
        "timezone",
        "attendance.session_threshold",
        "attendance.require_visible",
        "extra",
        "sessions[0].key",
        "sessions[0].agenda[0].kind",
        "sessions[0].agenda[1].start",
        "sessions[0].agenda[2].speakers[0]",
        "sessions[1].start",
        "sessions[1].agenda[0].key",
        "people[0].email",
        "people[1].key",
        "people[2].country",
        "people[3].role",
    ]


def test_empty_object_lists_every_required_field() -> None:
    assert [(p.path, p.reason) for p in problems_of({})] == [
        ("code", "required field is missing"),
        ("title", "required field is missing"),
        ("timezone", "required field is missing"),
        ("sessions", "required field is missing"),
        ("people", "required field is missing"),
    ]


# --- never raises -------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "13:00",
            "23:59",
            "24:00",
            "2021-11-24T13:00",
            "2021-11-24T13:00:30",
            "2021-11-24",
            "0001-01-01T00:00",
            "9999-12-31T23:59",
            "2021-11-24T13:00+14:00",
            "America",
            "Europe/Berlin",
            "..",
            "p001",
            "rp1",
            "d1-intro",
            "day1",
            "\ud800@example.org",
            "IN",
        ]
    )
)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def check_outcome(raw: object) -> None:
    spec, problems = validate_spec(raw, countries=COUNTRIES)
    assert all(isinstance(p, Problem) and isinstance(p.path, str) and p.reason for p in problems)
    assert (spec is None) == bool(problems)
    if spec is not None:
        assert validate_spec(spec_to_raw(spec), countries=COUNTRIES) == (spec, [])


@settings(max_examples=300, deadline=None)
@given(JSON_LIKE)
def test_random_json_never_raises(raw: object) -> None:
    check_outcome(raw)


def all_paths(node: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    paths: list[tuple[str | int, ...]] = [prefix] if prefix else []
    children: list[tuple[str | int, object]] = []
    if isinstance(node, dict):
        children = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    for step, child in children:
        paths.extend(all_paths(child, (*prefix, step)))
    return paths


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_spec_with_random_parts_replaced_never_raises(data: st.DataObject) -> None:
    raw = valid_raw()
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(all_paths(raw)))
        parent: Any = raw
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = data.draw(JSON_LIKE)
    check_outcome(raw)

"""Validation of event specs (CONTRACT §2): parsed JSON in, an `EventSpec` or problems out.

`validate_spec` walks the whole document and never raises, whatever JSON-like value it gets:
each thing wrong becomes a `Problem(path, value, reason)` (paths like
`sessions[1].agenda[2].start`, the root being `$`), listed in document order — top-level
fields, then each session with its agenda, then people — and the spec comes back only when
there are none. Times without an offset are wall-clock times in the event's `timezone`
(a repeated hour means its first occurrence; a skipped one is a problem), agenda times may
be `HH:MM` on the date the session starts, and every datetime that comes out is aware UTC,
with sessions and agendas sorted by start. `spec_to_raw` (from `spec_json`) writes a validated
spec back as JSON in the event's wall-clock time, so that validating it again gives the same
spec. Reading fields and recording problems is `fields`; reading wall-clock times, `wall_time`.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from fractions import Fraction
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from studymission.domain.fields import (
    MISSING,
    Check,
    Fields,
    complete,
    expected,
    is_number,
    label,
    read_choice,
    read_country,
    read_flag,
    read_identifier,
    read_key,
    read_list,
    read_object,
    read_optional_text,
    read_positive_int,
    read_string_list,
    read_text,
)
from studymission.domain.spec_json import spec_to_raw
from studymission.domain.values import (
    AgendaItemSpec,
    AttendanceRules,
    EventSpec,
    ItemKind,
    Origin,
    PersonSpec,
    Problem,
    Role,
    SessionSpec,
)
from studymission.domain.wall_time import read_day_time, read_instant, wall_label

__all__ = ["spec_to_raw", "validate_spec"]

_MAX_NAME = 200
_MAX_SESSION = timedelta(hours=24)
_TOP_FIELDS = frozenset(
    {"code", "title", "timezone", "attendance", "host_country", "modality"}
    | {"implementing_organizations", "sessions", "people"}
)
_ATTENDANCE_FIELDS = frozenset(
    {"session_threshold", "minute_threshold_seconds"} | {"stale_after_seconds", "require_visible"}
)
_SESSION_FIELDS = frozenset({"key", "title", "start", "end", "agenda"})
_ITEM_FIELDS = frozenset({"key", "kind", "title", "start", "end", "speakers"})
_PERSON_FIELDS = frozenset({"key", "name", "email", "country", "organization", "role", "origin"})


@dataclass(frozen=True, slots=True)
class _Span:
    label: str
    start: datetime
    end: datetime


@dataclass(slots=True)
class _Run:
    """One run of the validation: where problems go, and what later parts need."""

    check: Check
    countries: frozenset[str]
    declared_people: frozenset[str]  # every person key in `people`, for speakers
    zone: tzinfo = UTC  # stands in for an unusable `timezone`
    session_keys: set[str] = field(default_factory=set)
    item_keys: set[str] = field(default_factory=set)
    person_keys: set[str] = field(default_factory=set)
    emails: dict[str, str] = field(default_factory=dict)
    sessions: list[_Span] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Frame:
    """The session an agenda item belongs to, as far as it is known."""

    day: date | None
    bounds: _Span | None
    items: list[_Span]


def validate_spec(
    raw: object, *, countries: Collection[str]
) -> tuple[EventSpec | None, list[Problem]]:
    """Check a raw event spec (parsed JSON); list every problem, return the spec only if none."""
    if not isinstance(raw, Mapping):
        return None, [Problem("$", raw, expected("an object", raw))]
    check = Check()
    run = _Run(
        check,
        countries=frozenset(code.upper() for code in countries),
        declared_people=_declared_person_keys(raw.get("people")),
    )
    spec = _event(Fields(raw, "", check), run)
    return (None if check.problems else spec), check.problems


# --- top level -------------------------------------------------------------------------


def _declared_person_keys(people: object) -> frozenset[str]:
    # Speakers come before people in the document, so their keys are gathered first.
    if not isinstance(people, list):
        return frozenset()
    return frozenset(
        person["key"]
        for person in people
        if isinstance(person, Mapping) and isinstance(person.get("key"), str)
    )


def _event(f: Fields, run: _Run) -> EventSpec | None:
    code = read_identifier(f, "code")
    title = read_text(f, "title")
    zone_name = _timezone(f, run)
    attendance = _attendance(f)
    host_country = read_country(f, "host_country", run.countries, nullable=True)
    modality = read_optional_text(f, "modality", nullable=True)
    organizations = read_string_list(f, "implementing_organizations")
    f.reject_unknown(_TOP_FIELDS)
    sessions = _sessions(f, run)
    people = _people(f, run)
    if code is None or title is None or zone_name is None or attendance is None:
        return None
    if sessions is None or people is None:
        return None
    return EventSpec(
        code=code,
        title=title,
        timezone=zone_name,
        attendance=attendance,
        sessions=sessions,
        people=people,
        host_country=host_country,
        modality=modality,
        implementing_organizations=organizations,
    )


def _timezone(f: Fields, run: _Run) -> str | None:
    name = read_text(f, "timezone")
    if name is None:
        return None
    try:
        run.zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a tzdata directory such as "America" raises IsADirectoryError.
        f.add("timezone", name, "unknown time zone")
        return None
    return name


# --- attendance ------------------------------------------------------------------------


def _attendance(f: Fields) -> AttendanceRules | None:
    raw = f.take("attendance", required=False)
    defaults = AttendanceRules()
    if raw is MISSING:
        return defaults
    a = read_object(raw, f.path("attendance"), f.check)
    if a is None:
        return None
    threshold = _threshold(a, defaults.session_threshold)
    minute = read_positive_int(
        a, "minute_threshold_seconds", defaults.minute_threshold_seconds, high=60
    )
    stale = read_positive_int(a, "stale_after_seconds", defaults.stale_after_seconds)
    visible = read_flag(a, "require_visible", defaults.require_visible)
    a.reject_unknown(_ATTENDANCE_FIELDS)
    if threshold is None or minute is None or stale is None or visible is None:
        return None
    return AttendanceRules(threshold, minute, stale, visible)


def _threshold(f: Fields, default: Fraction) -> Fraction | None:
    value = f.take("session_threshold", required=False)
    if value is MISSING:
        return default
    if not is_number(value) or not 0 < value <= 1:
        f.add("session_threshold", value, "must be a number above 0 and at most 1")
        return None
    # Through str() so that 0.9 is exactly 9/10, not the binary float nearest to it.
    return Fraction(str(value))


# --- sessions --------------------------------------------------------------------------


def _sessions(f: Fields, run: _Run) -> tuple[SessionSpec, ...] | None:
    raw = read_list(f, "sessions")
    if raw is None:
        return None
    if not raw:
        f.add("sessions", raw, "at least one session is required")
        return None
    found = [_session(value, f"{f.path('sessions')}[{i}]", run) for i, value in enumerate(raw)]
    sessions = complete(found)
    return None if sessions is None else tuple(sorted(sessions, key=lambda s: s.start))


def _session(raw: object, where: str, run: _Run) -> SessionSpec | None:
    f = read_object(raw, where, run.check)
    if f is None:
        return None
    key = read_key(f, "key", run.session_keys, "duplicate session key")
    title = read_text(f, "title")
    start, end = read_instant(f, "start", zone=run.zone), read_instant(f, "end", zone=run.zone)
    bounds = _session_span(f, start, end, run.sessions)
    f.reject_unknown(_SESSION_FIELDS)
    day = None if start is None else start.astimezone(run.zone).date()
    agenda = _agenda(f, _Frame(day, bounds, []), run)
    if key is None or title is None or start is None or end is None or agenda is None:
        return None
    return SessionSpec(key=key, title=title, start=start, end=end, agenda=agenda)


def _session_span(
    f: Fields, start: datetime | None, end: datetime | None, earlier: list[_Span]
) -> _Span | None:
    if start is None or end is None:
        return None
    if end <= start:
        f.add("end", f.data["end"], "end is not after start")
        return None
    span = _Span(label(f), start, end)
    _check_overlap(f, span, earlier, "session")
    if end - start > _MAX_SESSION:
        f.add("end", f.data["end"], "session is longer than 24 hours")
    return span


def _check_overlap(f: Fields, span: _Span, earlier: list[_Span], noun: str) -> None:
    # Half-open intervals: one thing may start the minute another ends.
    clash = next((o for o in earlier if span.start < o.end and o.start < span.end), None)
    if clash is not None:
        f.add("start", f.data["start"], f"overlaps {noun} {clash.label}")
    earlier.append(span)


# --- agenda items ----------------------------------------------------------------------


def _agenda(f: Fields, frame: _Frame, run: _Run) -> tuple[AgendaItemSpec, ...] | None:
    raw = read_list(f, "agenda", required=False)
    if raw is None:
        return None
    where = f.path("agenda")
    found = [_item(value, f"{where}[{i}]", frame, run) for i, value in enumerate(raw)]
    items = complete(found)
    return None if items is None else tuple(sorted(items, key=lambda item: item.start))


def _item(raw: object, where: str, frame: _Frame, run: _Run) -> AgendaItemSpec | None:
    f = read_object(raw, where, run.check)
    if f is None:
        return None
    key = read_key(f, "key", run.item_keys, "duplicate agenda key")
    kind = read_choice(f, "kind", ItemKind)
    title = read_text(f, "title")
    start = read_day_time(f, "start", frame.day, zone=run.zone)
    end = read_day_time(f, "end", frame.day, zone=run.zone)
    _item_span(f, start, end, frame, run.zone)
    speakers = _speakers(f, run.declared_people)
    f.reject_unknown(_ITEM_FIELDS)
    if key is None or kind is None or title is None or speakers is None:
        return None
    if start is None or end is None:
        return None
    return AgendaItemSpec(key, kind, title, start, end, speakers)


def _item_span(
    f: Fields, start: datetime | None, end: datetime | None, frame: _Frame, zone: tzinfo
) -> None:
    if start is None or end is None:
        return
    if end <= start:
        f.add("end", f.data["end"], "end is not after start")
        return
    session = frame.bounds
    if session is not None and start < session.start:
        wall = wall_label(session.start, zone, frame.day)
        f.add("start", f.data["start"], f"agenda item starts before its session ({wall})")
    _check_overlap(f, _Span(label(f), start, end), frame.items, "agenda item")
    if session is not None and end > session.end:
        wall = wall_label(session.end, zone, frame.day)
        f.add("end", f.data["end"], f"agenda item ends after its session ({wall})")


def _speakers(f: Fields, declared: frozenset[str]) -> tuple[str, ...] | None:
    raw = read_list(f, "speakers", required=False)
    if raw is None:
        return None
    speakers: list[str] = []
    for i, value in enumerate(raw):
        path = f"{f.path('speakers')}[{i}]"
        if not isinstance(value, str):
            f.check.add(path, value, expected("a person key", value))
        elif value not in declared:
            f.check.add(path, value, "speaker is not a person of the event")
        elif value in speakers:
            f.check.add(path, value, "speaker is listed twice")
        else:
            speakers.append(value)
    return tuple(speakers)


# --- people ----------------------------------------------------------------------------


def _people(f: Fields, run: _Run) -> tuple[PersonSpec, ...] | None:
    raw = read_list(f, "people")
    if raw is None:
        return None
    found = [_person(value, f"{f.path('people')}[{i}]", run) for i, value in enumerate(raw)]
    people = complete(found)
    return None if people is None else tuple(people)


def _person(raw: object, where: str, run: _Run) -> PersonSpec | None:
    f = read_object(raw, where, run.check)
    if f is None:
        return None
    key = read_key(f, "key", run.person_keys, "duplicate person key")
    name = read_text(f, "name", max_len=_MAX_NAME)
    email = _email(f, run.emails)
    country = read_country(f, "country", run.countries, nullable=False)
    organization = read_optional_text(f, "organization", nullable=False)
    role = read_choice(f, "role", Role)
    origin = read_choice(f, "origin", Origin, default=Origin.OVERSEAS)
    f.reject_unknown(_PERSON_FIELDS)
    if key is None or name is None or email is None or country is None:
        return None
    if role is None or origin is None:
        return None
    return PersonSpec(key, name, email, country, organization or "", role, origin)


def _email(f: Fields, emails: dict[str, str]) -> str | None:
    value = read_text(f, "email")
    if value is None:
        return None
    try:
        email = validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        detail = str(exc).rstrip(".")
        f.add("email", value, f"not a valid email address: {detail[:1].lower()}{detail[1:]}")
        return None
    # Mailboxes are case-insensitive in practice, so A@x.org and a@x.org are one person.
    first = emails.get(email.casefold())
    if first is not None:
        f.add("email", value, f"email already used by {first}")
        return None
    emails[email.casefold()] = label(f)
    return email

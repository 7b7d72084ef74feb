"""Validation of event specs (CONTRACT §2): parsed JSON in, an `EventSpec` or problems out.

`validate_spec` walks the whole document and never raises, whatever JSON-like value it gets:
each thing wrong becomes a `Problem(path, value, reason)` (paths like
`sessions[1].agenda[2].start`, the root being `$`), listed in document order — top-level
fields, then each session with its agenda, then people — and the spec comes back only when
there are none. Times without an offset are wall-clock times in the event's `timezone`
(a repeated hour means its first occurrence; a skipped one is a problem), agenda times may
be `HH:MM` on the date the session starts, and every datetime that comes out is aware UTC,
with sessions and agendas sorted by start. `spec_to_raw` writes a validated spec back as
JSON in the event's wall-clock time, so that validating it again gives the same spec.
"""

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from fractions import Fraction
from typing import TypeGuard, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

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

# Codes and keys end up in URLs and file names, hence the narrow alphabet.
_KEY = re.compile(r"[A-Za-z0-9_.-]+")
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_MAX_KEY = 64
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
_MISSING = object()

_T = TypeVar("_T")
_E = TypeVar("_E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class _Span:
    label: str
    start: datetime
    end: datetime


@dataclass(slots=True)
class _Check:
    """One run of the validation: the problems so far, and what later parts need."""

    countries: frozenset[str]
    declared_people: frozenset[str]  # every person key in `people`, for speakers
    zone: tzinfo = UTC  # stands in for an unusable `timezone`
    problems: list[Problem] = field(default_factory=list)
    session_keys: set[str] = field(default_factory=set)
    item_keys: set[str] = field(default_factory=set)
    person_keys: set[str] = field(default_factory=set)
    emails: dict[str, str] = field(default_factory=dict)
    sessions: list[_Span] = field(default_factory=list)

    def add(self, path: str, value: object, reason: str) -> None:
        self.problems.append(Problem(path, value, reason))


@dataclass(frozen=True, slots=True)
class _Fields:
    """One JSON object under validation, at `where` in the document."""

    data: Mapping[str, object]
    where: str
    check: _Check

    def path(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def add(self, name: str, value: object, reason: str) -> None:
        self.check.add(self.path(name), value, reason)

    def take(self, name: str, *, required: bool = True) -> object:
        if name in self.data:
            return self.data[name]
        if required:
            self.add(name, None, "required field is missing")
        return _MISSING

    def reject_unknown(self, known: frozenset[str]) -> None:
        for name, value in self.data.items():
            if name not in known:
                self.add(str(name), value, "unknown field")


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
        return None, [Problem("$", raw, _expected("an object", raw))]
    check = _Check(
        countries=frozenset(code.upper() for code in countries),
        declared_people=_declared_person_keys(raw.get("people")),
    )
    spec = _event(_Fields(raw, "", check))
    return (None if check.problems else spec), check.problems


def spec_to_raw(spec: EventSpec) -> dict[str, object]:
    """The JSON form of a validated spec; validate_spec(spec_to_raw(s)) gives s back."""
    zone = ZoneInfo(spec.timezone)
    rules = spec.attendance
    threshold = rules.session_threshold
    return {
        "code": spec.code,
        "title": spec.title,
        "timezone": spec.timezone,
        "attendance": {
            "session_threshold": (
                int(threshold) if threshold.denominator == 1 else float(threshold)
            ),
            "minute_threshold_seconds": rules.minute_threshold_seconds,
            "stale_after_seconds": rules.stale_after_seconds,
            "require_visible": rules.require_visible,
        },
        "host_country": spec.host_country,
        "modality": spec.modality,
        "implementing_organizations": list(spec.implementing_organizations),
        "sessions": [_session_to_raw(session, zone) for session in spec.sessions],
        "people": [_person_to_raw(person) for person in spec.people],
    }


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


def _event(f: _Fields) -> EventSpec | None:
    code = _identifier(f, "code")
    title = _text(f, "title")
    zone_name = _timezone(f)
    attendance = _attendance(f)
    host_country = _country(f, "host_country", nullable=True)
    modality = _optional_text(f, "modality", nullable=True)
    organizations = _string_list(f, "implementing_organizations")
    f.reject_unknown(_TOP_FIELDS)
    sessions = _sessions(f)
    people = _people(f)
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


def _timezone(f: _Fields) -> str | None:
    name = _text(f, "timezone")
    if name is None:
        return None
    try:
        f.check.zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a tzdata directory such as "America" raises IsADirectoryError.
        f.add("timezone", name, "unknown time zone")
        return None
    return name


# --- attendance ------------------------------------------------------------------------


def _attendance(f: _Fields) -> AttendanceRules | None:
    raw = f.take("attendance", required=False)
    defaults = AttendanceRules()
    if raw is _MISSING:
        return defaults
    a = _object(raw, f.path("attendance"), f.check)
    if a is None:
        return None
    threshold = _threshold(a, defaults.session_threshold)
    minute = _integer(a, "minute_threshold_seconds", defaults.minute_threshold_seconds, high=60)
    stale = _integer(a, "stale_after_seconds", defaults.stale_after_seconds)
    visible = _flag(a, "require_visible", defaults.require_visible)
    a.reject_unknown(_ATTENDANCE_FIELDS)
    if threshold is None or minute is None or stale is None or visible is None:
        return None
    return AttendanceRules(threshold, minute, stale, visible)


def _threshold(f: _Fields, default: Fraction) -> Fraction | None:
    value = f.take("session_threshold", required=False)
    if value is _MISSING:
        return default
    if not _is_number(value) or not 0 < value <= 1:
        f.add("session_threshold", value, "must be a number above 0 and at most 1")
        return None
    # Through str() so that 0.9 is exactly 9/10, not the binary float nearest to it.
    return Fraction(str(value))


def _integer(f: _Fields, name: str, default: int, *, high: int | None = None) -> int | None:
    value = f.take(name, required=False)
    if value is _MISSING:
        return default
    if _is_whole(value) and value >= 1 and (high is None or value <= high):
        return value
    span = f"from 1 to {high}" if high is not None else "of at least 1"
    f.add(name, value, f"must be a whole number {span}")
    return None


def _flag(f: _Fields, name: str, default: bool) -> bool | None:
    value = f.take(name, required=False)
    if value is _MISSING:
        return default
    if not isinstance(value, bool):
        f.add(name, value, _expected("true or false", value))
        return None
    return value


# --- sessions --------------------------------------------------------------------------


def _sessions(f: _Fields) -> tuple[SessionSpec, ...] | None:
    raw = _list(f, "sessions")
    if raw is None:
        return None
    if not raw:
        f.add("sessions", raw, "at least one session is required")
        return None
    found = [_session(value, f"{f.path('sessions')}[{i}]", f.check) for i, value in enumerate(raw)]
    sessions = _complete(found)
    return None if sessions is None else tuple(sorted(sessions, key=lambda s: s.start))


def _session(raw: object, where: str, check: _Check) -> SessionSpec | None:
    f = _object(raw, where, check)
    if f is None:
        return None
    key = _key(f, "key", check.session_keys, "duplicate session key")
    title = _text(f, "title")
    start, end = _instant(f, "start"), _instant(f, "end")
    bounds = _session_span(f, start, end)
    f.reject_unknown(_SESSION_FIELDS)
    day = None if start is None else start.astimezone(check.zone).date()
    agenda = _agenda(f, _Frame(day, bounds, []))
    if key is None or title is None or start is None or end is None or agenda is None:
        return None
    return SessionSpec(key=key, title=title, start=start, end=end, agenda=agenda)


def _session_span(f: _Fields, start: datetime | None, end: datetime | None) -> _Span | None:
    if start is None or end is None:
        return None
    if end <= start:
        f.add("end", f.data["end"], "end is not after start")
        return None
    span = _Span(_label(f), start, end)
    _check_overlap(f, span, f.check.sessions, "session")
    if end - start > _MAX_SESSION:
        f.add("end", f.data["end"], "session is longer than 24 hours")
    return span


def _check_overlap(f: _Fields, span: _Span, earlier: list[_Span], noun: str) -> None:
    # Half-open intervals: one thing may start the minute another ends.
    clash = next((o for o in earlier if span.start < o.end and o.start < span.end), None)
    if clash is not None:
        f.add("start", f.data["start"], f"overlaps {noun} {clash.label}")
    earlier.append(span)


# --- agenda items ----------------------------------------------------------------------


def _agenda(f: _Fields, frame: _Frame) -> tuple[AgendaItemSpec, ...] | None:
    raw = _list(f, "agenda", required=False)
    if raw is None:
        return None
    where = f.path("agenda")
    found = [_item(value, f"{where}[{i}]", frame, f.check) for i, value in enumerate(raw)]
    items = _complete(found)
    return None if items is None else tuple(sorted(items, key=lambda item: item.start))


def _item(raw: object, where: str, frame: _Frame, check: _Check) -> AgendaItemSpec | None:
    f = _object(raw, where, check)
    if f is None:
        return None
    key = _key(f, "key", check.item_keys, "duplicate agenda key")
    kind = _choice(f, "kind", ItemKind)
    title = _text(f, "title")
    start, end = _item_time(f, "start", frame.day), _item_time(f, "end", frame.day)
    _item_span(f, start, end, frame)
    speakers = _speakers(f)
    f.reject_unknown(_ITEM_FIELDS)
    if key is None or kind is None or title is None or speakers is None:
        return None
    if start is None or end is None:
        return None
    return AgendaItemSpec(key, kind, title, start, end, speakers)


def _item_span(f: _Fields, start: datetime | None, end: datetime | None, frame: _Frame) -> None:
    if start is None or end is None:
        return
    if end <= start:
        f.add("end", f.data["end"], "end is not after start")
        return
    session, zone = frame.bounds, f.check.zone
    if session is not None and start < session.start:
        wall = _wall_label(session.start, zone, frame.day)
        f.add("start", f.data["start"], f"agenda item starts before its session ({wall})")
    _check_overlap(f, _Span(_label(f), start, end), frame.items, "agenda item")
    if session is not None and end > session.end:
        wall = _wall_label(session.end, zone, frame.day)
        f.add("end", f.data["end"], f"agenda item ends after its session ({wall})")


def _item_time(f: _Fields, name: str, day: date | None) -> datetime | None:
    value = f.take(name)
    if value is _MISSING:
        return None
    match = _HHMM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return _moment(f, name, "expected HH:MM or an ISO date and time")
    if day is None:
        return None  # the session's start is unusable, and that is reported already
    wall = datetime.combine(day, time(int(match[1]), int(match[2])))
    return _localize(f, name, wall)


def _speakers(f: _Fields) -> tuple[str, ...] | None:
    raw = _list(f, "speakers", required=False)
    if raw is None:
        return None
    speakers: list[str] = []
    for i, value in enumerate(raw):
        path = f"{f.path('speakers')}[{i}]"
        if not isinstance(value, str):
            f.check.add(path, value, _expected("a person key", value))
        elif value not in f.check.declared_people:
            f.check.add(path, value, "speaker is not a person of the event")
        elif value in speakers:
            f.check.add(path, value, "speaker is listed twice")
        else:
            speakers.append(value)
    return tuple(speakers)


# --- people ----------------------------------------------------------------------------


def _people(f: _Fields) -> tuple[PersonSpec, ...] | None:
    raw = _list(f, "people")
    if raw is None:
        return None
    found = [_person(value, f"{f.path('people')}[{i}]", f.check) for i, value in enumerate(raw)]
    people = _complete(found)
    return None if people is None else tuple(people)


def _person(raw: object, where: str, check: _Check) -> PersonSpec | None:
    f = _object(raw, where, check)
    if f is None:
        return None
    key = _key(f, "key", check.person_keys, "duplicate person key")
    name = _text(f, "name", max_len=_MAX_NAME)
    email = _email(f)
    country = _country(f, "country", nullable=False)
    organization = _optional_text(f, "organization", nullable=False)
    role = _choice(f, "role", Role)
    origin = _choice(f, "origin", Origin, default=Origin.OVERSEAS)
    f.reject_unknown(_PERSON_FIELDS)
    if key is None or name is None or email is None or country is None:
        return None
    if role is None or origin is None:
        return None
    return PersonSpec(key, name, email, country, organization or "", role, origin)


def _email(f: _Fields) -> str | None:
    value = _text(f, "email")
    if value is None:
        return None
    try:
        email = validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        detail = str(exc).rstrip(".")
        f.add("email", value, f"not a valid email address: {detail[:1].lower()}{detail[1:]}")
        return None
    # Mailboxes are case-insensitive in practice, so A@x.org and a@x.org are one person.
    first = f.check.emails.get(email.casefold())
    if first is not None:
        f.add("email", value, f"email already used by {first}")
        return None
    f.check.emails[email.casefold()] = _label(f)
    return email


# --- field readers ---------------------------------------------------------------------


def _object(value: object, where: str, check: _Check) -> _Fields | None:
    if isinstance(value, Mapping):
        return _Fields(value, where, check)
    check.add(where, value, _expected("an object", value))
    return None


def _list(f: _Fields, name: str, *, required: bool = True) -> list[object] | None:
    value = f.take(name, required=required)
    if value is _MISSING:
        return None if required else []
    if not isinstance(value, list):
        f.add(name, value, _expected("a list", value))
        return None
    return value


def _text(f: _Fields, name: str, *, max_len: int | None = None) -> str | None:
    value = f.take(name)
    if value is _MISSING:
        return None
    if not isinstance(value, str):
        f.add(name, value, _expected("a string", value))
        return None
    if not value.strip():
        f.add(name, value, "must not be empty")
        return None
    if max_len is not None and len(value) > max_len:
        f.add(name, value, f"must be at most {max_len} characters")
        return None
    return value


def _optional_text(f: _Fields, name: str, *, nullable: bool) -> str | None:
    value = f.take(name, required=False)
    if value is _MISSING or (nullable and value is None):
        return None
    if not isinstance(value, str):
        f.add(name, value, _expected("a string", value))
        return None
    return value


def _string_list(f: _Fields, name: str) -> tuple[str, ...]:
    strings: list[str] = []
    for i, value in enumerate(_list(f, name, required=False) or []):
        path = f"{f.path(name)}[{i}]"
        if not isinstance(value, str):
            f.check.add(path, value, _expected("a string", value))
        elif not value.strip():
            f.check.add(path, value, "must not be empty")
        else:
            strings.append(value)
    return tuple(strings)


def _identifier(f: _Fields, name: str) -> str | None:
    value = _text(f, name, max_len=_MAX_KEY)
    if value is None:
        return None
    if not _KEY.fullmatch(value):
        f.add(name, value, "may contain only letters, digits, '-', '_' and '.'")
        return None
    if not value.strip("."):
        # "." and ".." would change the meaning of the URLs the code and keys appear in.
        f.add(name, value, "must not consist of dots only")
        return None
    return value


def _key(f: _Fields, name: str, seen: set[str], duplicate: str) -> str | None:
    key = _identifier(f, name)
    if key is None:
        return None
    if key in seen:
        f.add(name, key, duplicate)
        return None
    seen.add(key)
    return key


def _choice(f: _Fields, name: str, kinds: type[_E], default: _E | None = None) -> _E | None:
    value = f.take(name, required=default is None)
    if value is _MISSING:
        return default
    allowed = [kind.value for kind in kinds]
    if not isinstance(value, str) or value not in allowed:
        f.add(name, value, f"must be one of {', '.join(allowed)}")
        return None
    return kinds(value)


def _country(f: _Fields, name: str, *, nullable: bool) -> str | None:
    value = f.take(name, required=not nullable)
    if value is _MISSING or (nullable and value is None):
        return None
    if not isinstance(value, str):
        f.add(name, value, _expected("a country code", value))
        return None
    code = value.upper()
    # ASCII only: str.upper() maps a few other letters onto ASCII ones (dotless i to "I").
    if not value.isascii() or code not in f.check.countries:
        f.add(name, value, "unknown country code")
        return None
    return code


# --- times -----------------------------------------------------------------------------


def _instant(f: _Fields, name: str) -> datetime | None:
    if f.take(name) is _MISSING:
        return None
    return _moment(f, name, "expected an ISO date and time")


def _moment(f: _Fields, name: str, expected: str) -> datetime | None:
    value = f.data[name]
    if not isinstance(value, str):
        f.add(name, value, f"{expected}, got {_kind(value)}")
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        f.add(name, value, f"{expected}, such as 2021-11-24T13:00")
        return None
    if _is_date_only(value):
        f.add(name, value, "needs a time of day as well as a date")
        return None
    return _localize(f, name, parsed)


def _localize(f: _Fields, name: str, parsed: datetime) -> datetime | None:
    zone, value = f.check.zone, f.data[name]
    # A wall time the clocks pass twice is taken at its first passing (fold=0).
    aware = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)
    try:
        moment = aware.astimezone(UTC)
        local = moment.astimezone(zone)
    except (OverflowError, ValueError):
        f.add(name, value, "date is out of range")
        return None
    if parsed.tzinfo is None and local.replace(tzinfo=None) != parsed:
        f.add(name, value, "local time skipped by a clock change in the event's time zone")
        return None
    # Checked on the wall clock: a few historic offsets are not whole minutes.
    if local.second or local.microsecond:
        f.add(name, value, "must be on a whole minute (no seconds)")
        return None
    return moment


def _is_date_only(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _wall_label(moment: datetime, zone: tzinfo, day: date | None) -> str:
    wall = moment.astimezone(zone).replace(tzinfo=None)
    return wall.strftime("%H:%M") if wall.date() == day else wall.isoformat(timespec="minutes")


# --- small helpers ---------------------------------------------------------------------


def _complete(found: Sequence[_T | None]) -> list[_T] | None:
    complete = [value for value in found if value is not None]
    return complete if len(complete) == len(found) else None


def _label(f: _Fields) -> str:
    key = f.data.get("key")
    return key if isinstance(key, str) and key else f.where


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if _is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _expected(what: str, value: object) -> str:
    return f"expected {what}, got {_kind(value)}"


# --- back to JSON ----------------------------------------------------------------------


def _session_to_raw(session: SessionSpec, zone: ZoneInfo) -> dict[str, object]:
    day = session.start.astimezone(zone).date()
    return {
        "key": session.key,
        "title": session.title,
        "start": _wall_iso(session.start, zone),
        "end": _wall_iso(session.end, zone),
        "agenda": [_item_to_raw(item, zone, day) for item in session.agenda],
    }


def _item_to_raw(item: AgendaItemSpec, zone: ZoneInfo, day: date) -> dict[str, object]:
    return {
        "key": item.key,
        "kind": item.kind.value,
        "title": item.title,
        "start": _item_time_to_raw(item.start, zone, day),
        "end": _item_time_to_raw(item.end, zone, day),
        "speakers": list(item.speakers),
    }


def _person_to_raw(person: PersonSpec) -> dict[str, object]:
    return {
        "key": person.key,
        "name": person.name,
        "email": person.email,
        "country": person.country,
        "organization": person.organization,
        "role": person.role.value,
        "origin": person.origin.value,
    }


def _item_time_to_raw(moment: datetime, zone: ZoneInfo, day: date) -> str:
    wall = moment.astimezone(zone).replace(tzinfo=None)
    if wall.date() == day and _reads_back(wall, zone, moment):
        return wall.strftime("%H:%M")
    return _wall_iso(moment, zone)


def _wall_iso(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    wall = local.replace(tzinfo=None)
    # Without the offset where that is unambiguous; the repeated hour of a clock change keeps it.
    shown = wall if _reads_back(wall, zone, moment) else local
    whole = not (local.second or local.microsecond)
    return shown.isoformat(timespec="minutes" if whole else "auto")


def _reads_back(wall: datetime, zone: ZoneInfo, moment: datetime) -> bool:
    # fold=0 because that is how validation reads a wall time without an offset.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC) == moment

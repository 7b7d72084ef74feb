"""What the secretariat's pages show: the event at a glance, and the filtered people list."""

import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from studymission.db import audit as audit_store
from studymission.db import events as store
from studymission.db.tables import AuditEntry, Event, Person
from studymission.domain.values import EventSpec, Origin, Role
from studymission.services.countries import country_name

#: How many names an audit summary spells out before it says "and N more".
_NAMES_SHOWN = 3
_SUMMARY_MAX = 160


@dataclass(frozen=True)
class RoleCount:
    role: Role
    overseas: int
    local: int

    @property
    def total(self) -> int:
        return self.overseas + self.local


@dataclass(frozen=True)
class CountryCount:
    code: str
    name: str
    participants: int
    total: int


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    actor: str
    action: str
    summary: str


@dataclass(frozen=True)
class Overview:
    spec: EventSpec
    roles: tuple[RoleCount, ...]
    countries: tuple[CountryCount, ...]
    people_total: int
    audit: tuple[AuditLine, ...]

    def count(self, role: Role) -> RoleCount:
        return next(c for c in self.roles if c.role == role)


@dataclass(frozen=True)
class PeopleFilter:
    """The people list's filters; empty strings mean "any"."""

    role: str = ""
    country: str = ""
    query: str = ""


@dataclass(frozen=True)
class PeopleList:
    people: tuple[Person, ...]
    total: int
    roles: tuple[Role, ...]
    countries: tuple[tuple[str, str], ...]
    filter: PeopleFilter


def event_overview(db: Session, event: Event, *, audit_limit: int = 10) -> Overview:
    """The event's programme, people counted by role, origin and country, and latest changes."""
    spec = store.read_spec(db, event)
    people = store.list_people(db, event)
    names = {p.key: p.name for p in people}
    entries = audit_store.list_audit(db, event, audit_limit)
    return Overview(
        spec=spec,
        roles=count_roles(people),
        countries=count_countries(people),
        people_total=len(people),
        audit=tuple(_audit_line(entry, names) for entry in entries),
    )


def count_roles(people: Sequence[Person]) -> tuple[RoleCount, ...]:
    """Every role, in the order of `Role`, with its overseas and local people."""
    counts = Counter((p.role, p.origin) for p in people)
    return tuple(
        RoleCount(
            role,
            counts[(role.value, Origin.OVERSEAS.value)],
            counts[(role.value, Origin.LOCAL.value)],
        )
        for role in Role
    )


def count_countries(people: Sequence[Person]) -> tuple[CountryCount, ...]:
    """Each country with people, the largest first; participants counted apart."""
    totals = Counter(p.country for p in people)
    participants = Counter(p.country for p in people if p.role == Role.PARTICIPANT.value)
    rows = [CountryCount(c, country_name(c), participants[c], n) for c, n in totals.items()]
    rows.sort(key=lambda row: (-row.total, row.name))
    return tuple(rows)


def people_list(db: Session, event: Event, wanted: PeopleFilter) -> PeopleList:
    """The event's people that pass the filters, with the choices the filters offer."""
    everyone = store.list_people(db, event)
    codes = {p.country for p in everyone}
    countries = sorted(((c, country_name(c)) for c in codes), key=lambda pair: pair[1])
    return PeopleList(
        people=tuple(p for p in everyone if matches(p, wanted)),
        total=len(everyone),
        roles=tuple(Role),
        countries=tuple(countries),
        filter=wanted,
    )


def matches(person: Person, wanted: PeopleFilter) -> bool:
    """Whether `person` passes every filter; the text is searched without case or accents."""
    if wanted.role and person.role != wanted.role:
        return False
    if wanted.country and person.country != wanted.country.upper():
        return False
    needle = fold(wanted.query.strip())
    if not needle:
        return True
    fields = (
        person.key,
        person.name,
        person.email,
        person.organization,
        country_name(person.country),
    )
    return any(needle in fold(value) for value in fields)


def fold(text: str) -> str:
    """Text for searching: no case and no accents, so "nguyen" finds "Nguyễn"."""
    # Turkish dotless ı has no decomposition; "yildiz" should still find "Yıldız".
    bare = unicodedata.normalize("NFKD", text.replace("ı", "i"))
    return "".join(c for c in bare if not unicodedata.combining(c)).casefold()


def summarise_detail(detail: Mapping[str, object]) -> str:
    """A short line about an audit entry's detail, e.g. "updated: agenda item d1-intro"."""
    parts: list[str] = []
    for name, value in detail.items():
        if isinstance(value, list):
            if value:
                parts.append(f"{name}: {_some(value)}")
        else:
            parts.append(f"{name}: {value}")
    summary = "; ".join(parts) or "no change"
    return summary if len(summary) <= _SUMMARY_MAX else summary[: _SUMMARY_MAX - 1] + "…"


def _some(values: list[object]) -> str:
    shown = ", ".join(str(v) for v in values[:_NAMES_SHOWN])
    more = len(values) - _NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _audit_line(entry: AuditEntry, names: Mapping[str, str]) -> AuditLine:
    return AuditLine(
        at=entry.at,
        actor=names.get(entry.actor, entry.actor),
        action=entry.action,
        summary=summarise_detail(entry.detail or {}),
    )

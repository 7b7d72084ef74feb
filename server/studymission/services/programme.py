"""The programme as one person sees it: their time zone, the event's, and now / next."""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from studymission.db import events as store
from studymission.db.tables import Event, Person
from studymission.domain.errors import InvalidInputError
from studymission.domain.programme import (
    LocalDay,
    canonical_timezone,
    is_valid_timezone,
    local_programme,
    now_and_next,
)
from studymission.domain.values import AgendaItemSpec, EventSpec, Problem
from studymission.services.countries import default_timezone, member_countries
from studymission.services.run_of_show import current_show


@dataclass(frozen=True)
class ProgrammeView:
    spec: EventSpec
    viewer_tz: str
    #: Where the viewer's zone came from: "chosen" (saved), "asked" (this request), "guessed".
    tz_source: str
    days: tuple[LocalDay, ...]
    now: datetime
    current: AgendaItemSpec | None
    upcoming: AgendaItemSpec | None
    tz_options: tuple[tuple[str, str], ...]
    speakers: dict[str, str]


def viewer_timezone(event: Event, person: Person, asked: str | None) -> tuple[str, str]:
    """The zone to show times in and why: asked for, saved, or guessed from the country."""
    if asked and is_valid_timezone(asked):
        return canonical_timezone(asked), "asked"
    if person.timezone:
        return person.timezone, "chosen"
    return default_timezone(person.country) or event.timezone, "guessed"


def programme_view(
    db: Session, event: Event, person: Person, *, asked_tz: str | None, now: datetime
) -> ProgrammeView:
    spec = store.read_spec(db, event)
    tz, source = viewer_timezone(event, person, asked_tz)
    current, upcoming = now_and_next(spec.sessions, now=now)
    shown = _put_on(db, event, spec, now)
    if shown is not None:
        current, upcoming = shown
    return ProgrammeView(
        spec=spec,
        viewer_tz=tz,
        tz_source=source,
        days=local_programme(spec.sessions, viewer_tz=tz, event_tz=event.timezone, now=now),
        now=now,
        current=current,
        upcoming=upcoming,
        tz_options=timezone_options(event.timezone, tz),
        speakers={p.key: p.name for p in spec.people},
    )


def _put_on(
    db: Session, event: Event, spec: EventSpec, now: datetime
) -> tuple[AgendaItemSpec, AgendaItemSpec | None] | None:
    """The item a moderator has put on and the one after it, when the run of show (not the
    timetable) says what is on: the "now" box then names what every stage shows."""
    show = current_show(db, event, now)
    if not show.manual or show.item is None:
        return None
    items = sorted((i for s in spec.sessions for i in s.agenda), key=lambda i: (i.start, i.end))
    index = next((n for n, item in enumerate(items) if item.key == show.item), None)
    if index is None:
        return None
    return items[index], items[index + 1] if index + 1 < len(items) else None


def timezone_options(*zones: str) -> tuple[tuple[str, str], ...]:
    """(zone, label) pairs: the member countries' zones plus any zone in use, sorted."""
    labels: dict[str, list[str]] = {}
    for member in member_countries():
        labels.setdefault(member.timezone, []).append(member.name)
    for zone in zones:
        labels.setdefault(zone, [])
    return tuple(
        sorted(((z, f"{z} ({', '.join(names)})" if names else z) for z, names in labels.items()))
    )


def set_timezone(db: Session, person: Person, zone: str) -> None:
    """Save the zone the person wants the programme in; commits."""
    if not is_valid_timezone(zone):
        raise InvalidInputError("unknown time zone", [Problem("tz", zone, "unknown time zone")])
    person.timezone = canonical_timezone(zone)
    db.add(person)
    db.commit()

"""Reading and writing an event's programme and people as one aggregate."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import TypeVar

from sqlalchemy import update
from sqlmodel import Session, col, select

from studymission.db.tables import AgendaItem, Event, EventSession, Person
from studymission.domain.values import (
    AgendaItemSpec,
    AttendanceRules,
    EventSpec,
    ItemKind,
    Origin,
    PersonSpec,
    Role,
    SessionSpec,
)

_Row = TypeVar("_Row", EventSession, AgendaItem, Person)


@dataclass
class SaveResult:
    """What a save changed, by kind and key; empty lists mean the spec was already stored."""

    event: Event
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)


def get_event(db: Session, code: str) -> Event | None:
    return db.exec(select(Event).where(Event.code == code)).first()


def lock_event(db: Session, event: Event) -> None:
    """Hold the event for this transaction: other writers of it wait until the commit.

    A no-op update takes PostgreSQL's row lock and SQLite's write lock alike, so a
    read-modify-write of the event's spec (CSV import, programme edit) cannot lose a
    change that another request commits between its read and its write.
    """
    db.execute(update(Event).where(col(Event.id) == event.id).values(id=event.id))


def list_events(db: Session) -> Sequence[Event]:
    return db.exec(select(Event).order_by(col(Event.code))).all()


def list_sessions(db: Session, event: Event) -> Sequence[EventSession]:
    query = select(EventSession).where(EventSession.event_id == event.id)
    return db.exec(query.order_by(col(EventSession.start))).all()


def list_agenda(db: Session, event: Event) -> Sequence[AgendaItem]:
    query = select(AgendaItem).where(AgendaItem.event_id == event.id)
    return db.exec(query.order_by(col(AgendaItem.start))).all()


def list_people(db: Session, event: Event, *, include_withdrawn: bool = False) -> Sequence[Person]:
    query = select(Person).where(Person.event_id == event.id)
    if not include_withdrawn:
        query = query.where(col(Person.withdrawn_at).is_(None))
    return db.exec(query.order_by(col(Person.key))).all()


def get_person(db: Session, event: Event, key: str) -> Person | None:
    query = select(Person).where(Person.event_id == event.id, Person.key == key)
    return db.exec(query).first()


def read_programme(db: Session, event: Event) -> tuple[tuple[int, SessionSpec], ...]:
    """(session id, session with its agenda) of every session, in time order."""
    items_by_session: dict[int, list[AgendaItemSpec]] = {}
    for item in list_agenda(db, event):
        items_by_session.setdefault(item.session_id, []).append(_item_spec(item))
    return tuple(
        (
            s.id or 0,
            SessionSpec(s.key, s.title, s.start, s.end, tuple(items_by_session.get(s.id or 0, []))),
        )
        for s in list_sessions(db, event)
    )


def read_spec(db: Session, event: Event) -> EventSpec:
    """The stored event as a spec: what a reload of the same JSON would write."""
    sessions = tuple(session for _id, session in read_programme(db, event))
    return EventSpec(
        code=event.code,
        title=event.title,
        timezone=event.timezone,
        attendance=attendance_rules(event),
        sessions=sessions,
        people=tuple(_person_spec(p) for p in list_people(db, event)),
        host_country=event.host_country,
        modality=event.modality,
        implementing_organizations=tuple(event.implementing_organizations or ()),
    )


def attendance_rules(event: Event) -> AttendanceRules:
    return AttendanceRules(
        session_threshold=Fraction(event.session_threshold),
        minute_threshold_seconds=event.minute_threshold_seconds,
        stale_after_seconds=event.stale_after_seconds,
        require_visible=event.require_visible,
    )


def save_spec(db: Session, spec: EventSpec, *, now: datetime) -> SaveResult:
    """Create or update the event in place from a validated spec; the caller commits.

    People the spec no longer lists are withdrawn, not deleted, so that what was logged
    about them stays; listing them again brings them back.
    """
    event = get_event(db, spec.code)
    is_new = event is None
    if event is None:
        event = Event(
            code=spec.code, title=spec.title, timezone=spec.timezone, created_at=now, updated_at=now
        )
        db.add(event)
    result = SaveResult(event=event)
    if is_new:
        result.created.append(f"event {spec.code}")
    _apply_fields(result, result.event, _event_fields(spec), f"event {spec.code}")
    db.add(result.event)
    db.flush()
    sessions = _save_sessions(db, result, spec.sessions)
    _save_agenda(db, result, spec.sessions, sessions)
    _save_people(db, result, spec.people, now=now)
    if result.changed:
        result.event.updated_at = now
    db.flush()
    return result


def _event_fields(spec: EventSpec) -> dict[str, object]:
    rules = spec.attendance
    return {
        "title": spec.title,
        "timezone": spec.timezone,
        "host_country": spec.host_country,
        "modality": spec.modality,
        "implementing_organizations": list(spec.implementing_organizations),
        "session_threshold": str(rules.session_threshold),
        "minute_threshold_seconds": rules.minute_threshold_seconds,
        "stale_after_seconds": rules.stale_after_seconds,
        "require_visible": rules.require_visible,
    }


def _apply_fields(
    result: SaveResult, row: object, values: Mapping[str, object], label: str
) -> None:
    changed = [name for name, value in values.items() if getattr(row, name, None) != value]
    for name in changed:
        setattr(row, name, values[name])
    if changed and label not in result.created:
        result.updated.append(label)


def _upsert(
    db: Session,
    result: SaveResult,
    model: type[_Row],
    row: _Row | None,
    *,
    key: str,
    label: str,
    fields: Mapping[str, object],
) -> _Row:
    """Create the row of `key` with `fields`, or bring the stored one up to them."""
    if row is None:
        row = model.model_validate({"event_id": result.event.id, "key": key, **fields})
        result.created.append(label)
    else:
        _apply_fields(result, row, fields, label)
    db.add(row)
    return row


def _save_sessions(
    db: Session, result: SaveResult, specs: Sequence[SessionSpec]
) -> dict[str, EventSession]:
    existing = {s.key: s for s in list_sessions(db, result.event)}
    wanted = {s.key for s in specs}
    for key, old in existing.items():
        if key not in wanted:
            for item in db.exec(select(AgendaItem).where(AgendaItem.session_id == old.id)):
                db.delete(item)
            db.delete(old)
            result.removed.append(f"session {key}")
    db.flush()
    rows = {
        spec.key: _upsert(
            db,
            result,
            EventSession,
            existing.get(spec.key),
            key=spec.key,
            label=f"session {spec.key}",
            fields={"title": spec.title, "start": spec.start, "end": spec.end},
        )
        for spec in specs
    }
    db.flush()
    return rows


def _save_agenda(
    db: Session,
    result: SaveResult,
    specs: Sequence[SessionSpec],
    sessions: dict[str, EventSession],
) -> None:
    existing = {i.key: i for i in list_agenda(db, result.event)}
    wanted = {item.key for s in specs for item in s.agenda}
    for key, row in existing.items():
        if key not in wanted:
            db.delete(row)
            result.removed.append(f"agenda item {key}")
    for session_spec in specs:
        for spec in session_spec.agenda:
            fields = {
                "session_id": sessions[session_spec.key].id,
                "kind": spec.kind.value,
                "title": spec.title,
                "start": spec.start,
                "end": spec.end,
                "speakers": list(spec.speakers),
            }
            label = f"agenda item {spec.key}"
            stored = existing.get(spec.key)
            _upsert(db, result, AgendaItem, stored, key=spec.key, label=label, fields=fields)


def _save_people(
    db: Session, result: SaveResult, specs: Sequence[PersonSpec], *, now: datetime
) -> None:
    existing = {p.key: p for p in list_people(db, result.event, include_withdrawn=True)}
    wanted = {p.key for p in specs}
    for key, row in existing.items():
        if key not in wanted and row.withdrawn_at is None:
            row.withdrawn_at = now
            db.add(row)
            result.removed.append(f"person {key}")
    for spec in specs:
        fields = {
            "name": spec.name,
            "email": spec.email,
            "country": spec.country,
            "organization": spec.organization,
            "role": spec.role.value,
            "origin": spec.origin.value,
            "withdrawn_at": None,
        }
        label = f"person {spec.key}"
        stored = existing.get(spec.key)
        _upsert(db, result, Person, stored, key=spec.key, label=label, fields=fields)


def _item_spec(item: AgendaItem) -> AgendaItemSpec:
    return AgendaItemSpec(
        item.key, ItemKind(item.kind), item.title, item.start, item.end, tuple(item.speakers)
    )


def _person_spec(person: Person) -> PersonSpec:
    return PersonSpec(
        key=person.key,
        name=person.name,
        email=person.email,
        country=person.country,
        organization=person.organization,
        role=Role(person.role),
        origin=Origin(person.origin),
    )

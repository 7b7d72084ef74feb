"""JSON API over events, their programme, people and join links (CONTRACT §4, §4b)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel
from sqlmodel import Session

from studymission.db import events as store
from studymission.db.tables import AgendaItem, Event, EventSession, Person
from studymission.domain.errors import NotFoundError
from studymission.domain.values import Role
from studymission.services import people as people_service
from studymission.services.access import join_url, require_event, require_role
from studymission.services.events import current_raw_spec, replace_spec
from studymission.web.deps import ClockDep, CurrentIdentity, SessionDep, SettingsDep

router = APIRouter(prefix="/api", tags=["events"])

SECRETARIAT = {Role.SECRETARIAT}


class AgendaItemPublic(BaseModel):
    key: str
    kind: str
    title: str
    start: datetime
    end: datetime
    speakers: list[str]


class SessionPublic(BaseModel):
    key: str
    title: str
    start: datetime
    end: datetime
    agenda: list[AgendaItemPublic]


class EventPublic(BaseModel):
    code: str
    title: str
    timezone: str
    host_country: str | None
    modality: str | None
    implementing_organizations: list[str]
    sessions: list[SessionPublic]


class PersonPublic(BaseModel):
    key: str
    name: str
    email: str
    country: str
    organization: str
    role: str
    origin: str


class LoadResult(BaseModel):
    event: str
    changed: bool


class ImportResult(BaseModel):
    created: list[str]
    updated: list[str]


@router.get("/events")
def list_events(identity: CurrentIdentity, db: SessionDep) -> list[EventPublic]:
    """The events the caller belongs to."""
    return [_event_public(db, identity.event)]


@router.get("/events/{code}")
def get_event(code: str, identity: CurrentIdentity, db: SessionDep) -> EventPublic:
    """One event with its sessions and agenda."""
    return _event_public(db, require_event(identity, code))


@router.get("/events/{code}/sessions")
def list_sessions(code: str, identity: CurrentIdentity, db: SessionDep) -> list[SessionPublic]:
    """The event's sessions, each with its agenda."""
    return _event_public(db, require_event(identity, code)).sessions


@router.get("/events/{code}/sessions/{key}/agenda")
def list_agenda(
    code: str, key: str, identity: CurrentIdentity, db: SessionDep
) -> list[AgendaItemPublic]:
    """One session's agenda items in order."""
    for session in _event_public(db, require_event(identity, code)).sessions:
        if session.key == key:
            return session.agenda
    raise NotFoundError(f"no session {key!r} in event {code!r}")


@router.get("/events/{code}/people")
def list_people(code: str, identity: CurrentIdentity, db: SessionDep) -> list[PersonPublic]:
    """Everyone of the event (secretariat)."""
    require_role(identity, SECRETARIAT, action="listing people")
    event = require_event(identity, code)
    return [_person_public(p) for p in store.list_people(db, event)]


@router.post("/events/{code}/people/import")
def import_people(
    code: str,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    csv_text: Annotated[str, Body(media_type="text/csv")],
) -> ImportResult:
    """Add or update people from a CSV body; any bad row and nothing is imported (secretariat)."""
    require_role(identity, SECRETARIAT, action="importing people")
    event = require_event(identity, code)
    outcome = people_service.import_people_csv(
        db,
        event,
        csv_text,
        secret=settings.signing_key(),
        now=clock.now(),
        actor=identity.person.key,
    )
    return ImportResult(created=outcome.created, updated=outcome.updated)


@router.get("/events/{code}/join-links")
def list_join_links(
    code: str, identity: CurrentIdentity, db: SessionDep, clock: ClockDep, settings: SettingsDep
) -> dict[str, str]:
    """Every person's personal join link (secretariat)."""
    require_role(identity, SECRETARIAT, action="exporting join links")
    event = require_event(identity, code)
    tokens = people_service.join_tokens(db, event, secret=settings.signing_key(), now=clock.now())
    return {key: join_url(settings.base_url, token) for key, token in tokens.items()}


@router.post("/events/{code}/people/{key}/join-link/revoke")
def revoke_join_link(
    code: str,
    key: str,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> dict[str, str]:
    """Stop a person's join link and return their new one (secretariat)."""
    require_role(identity, SECRETARIAT, action="revoking join links")
    event = require_event(identity, code)
    token = people_service.renew_join_link(
        db, event, key, secret=settings.signing_key(), now=clock.now(), actor=identity.person.key
    )
    return {"person": key, "join_url": join_url(settings.base_url, token)}


@router.get("/events/{code}/spec")
def get_spec(code: str, identity: CurrentIdentity, db: SessionDep) -> dict[str, Any]:
    """The event as an event spec (CONTRACT §2), ready to edit and load again (secretariat)."""
    require_role(identity, SECRETARIAT, action="reading the event spec")
    return current_raw_spec(db, require_event(identity, code))


@router.put("/events/{code}/spec")
def put_spec(
    code: str,
    raw: Annotated[dict[str, Any], Body()],
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> LoadResult:
    """Update the event from a whole spec: every problem listed, nothing written on error."""
    require_role(identity, SECRETARIAT, action="changing the event spec")
    event = require_event(identity, code)
    outcome = replace_spec(
        db, event, raw, secret=settings.signing_key(), now=clock.now(), actor=identity.person.key
    )
    return LoadResult(event=outcome.event.code, changed=outcome.changed)


def _event_public(db: Session, event: Event) -> EventPublic:
    items: dict[int, list[AgendaItem]] = {}
    for item in store.list_agenda(db, event):
        items.setdefault(item.session_id, []).append(item)
    return EventPublic(
        code=event.code,
        title=event.title,
        timezone=event.timezone,
        host_country=event.host_country,
        modality=event.modality,
        implementing_organizations=list(event.implementing_organizations or []),
        sessions=[
            _session_public(s, items.get(s.id or 0, [])) for s in store.list_sessions(db, event)
        ],
    )


def _session_public(session: EventSession, items: list[AgendaItem]) -> SessionPublic:
    return SessionPublic(
        key=session.key,
        title=session.title,
        start=session.start,
        end=session.end,
        agenda=[
            AgendaItemPublic(
                key=i.key, kind=i.kind, title=i.title, start=i.start, end=i.end, speakers=i.speakers
            )
            for i in items
        ],
    )


def _person_public(person: Person) -> PersonPublic:
    return PersonPublic(
        key=person.key,
        name=person.name,
        email=person.email,
        country=person.country,
        organization=person.organization,
        role=person.role,
        origin=person.origin,
    )

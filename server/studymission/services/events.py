"""Use cases on an event's programme and people: load a spec, edit it, import people."""

import json
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from studymission.db import events as store
from studymission.db.tables import AuditEntry, Event
from studymission.domain.errors import InvalidInputError, NotFoundError
from studymission.domain.spec import spec_to_raw, validate_spec
from studymission.domain.values import EventSpec, Problem
from studymission.services.access import ensure_join_links
from studymission.services.countries import country_codes


@dataclass(frozen=True)
class LoadOutcome:
    event: Event
    changed: bool
    join_tokens: dict[str, str]


def parse_spec_json(text: str) -> object:
    """The JSON of a spec file, or an InvalidInputError naming line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        problem = Problem(where, "", error.msg)
        raise InvalidInputError("the spec is not valid JSON", [problem]) from None


def check_spec(raw: object) -> EventSpec:
    """A validated spec, or an InvalidInputError listing every problem."""
    spec, problems = validate_spec(raw, countries=country_codes())
    if spec is None:
        raise InvalidInputError(f"the event spec has {len(problems)} problem(s)", problems)
    return spec


def load_spec(
    db: Session,
    raw: object,
    *,
    secret: str,
    now: datetime,
    actor: str,
    action: str = "spec.load",
) -> LoadOutcome:
    """Create or update an event from a raw spec, all or nothing; commits.

    `action` names the change in the audit trail (a whole spec, or a programme edit).
    """
    spec = check_spec(raw)
    existing = store.get_event(db, spec.code)
    if existing is not None:
        store.lock_event(db, existing)
    result = store.save_spec(db, spec, now=now)
    if result.changed:
        _audit(db, result.event, actor=actor, now=now, action=action, result=result)
    tokens = ensure_join_links(db, result.event, secret=secret, now=now)
    db.commit()
    return LoadOutcome(event=result.event, changed=result.changed, join_tokens=tokens)


def replace_spec(
    db: Session,
    event: Event,
    raw: dict[str, object],
    *,
    secret: str,
    now: datetime,
    actor: str,
    action: str = "spec.load",
) -> LoadOutcome:
    """Store an edited form of the event's own spec; its code cannot change."""
    if raw.get("code") != event.code:
        problem = Problem("code", raw.get("code"), f"must stay {event.code}")
        raise InvalidInputError("an event's code cannot change", [problem])
    return load_spec(db, raw, secret=secret, now=now, actor=actor, action=action)


def current_raw_spec(db: Session, event: Event) -> dict[str, object]:
    return spec_to_raw(store.read_spec(db, event))


def require_event(db: Session, code: str) -> Event:
    event = store.get_event(db, code)
    if event is None:
        raise NotFoundError(f"no event with the code {code!r}")
    return event


def _audit(
    db: Session, event: Event, *, actor: str, now: datetime, action: str, result: store.SaveResult
) -> None:
    detail = {"created": result.created, "updated": result.updated, "removed": result.removed}
    db.add(AuditEntry(event_id=event.id or 0, at=now, actor=actor, action=action, detail=detail))

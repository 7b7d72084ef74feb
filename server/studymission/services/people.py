"""Use cases on an event's people: CSV import, join links, revocation."""

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from studymission.db import events as store
from studymission.db.tables import AuditEntry, Event, Person
from studymission.domain.errors import InvalidInputError, NotFoundError
from studymission.domain.roster import PersonRow, join_links_csv, parse_people_rows
from studymission.domain.spec import validate_spec
from studymission.domain.values import Problem
from studymission.services.access import ensure_join_links, join_url, revoke_join_link
from studymission.services.countries import country_codes
from studymission.services.events import current_raw_spec

_PERSON_PATH = re.compile(r"^people\[(\d+)\]\.?(.*)$")


@dataclass(frozen=True)
class ImportOutcome:
    created: list[str]
    updated: list[str]


def import_people_csv(
    db: Session, event: Event, text: str, *, secret: str, now: datetime, actor: str
) -> ImportOutcome:
    """Add or update people from CSV rows, all or nothing; problems name line and field."""
    rows, problems = parse_people_rows(text, countries=country_codes(), include_bad=True)
    store.lock_event(db, event)
    raw = current_raw_spec(db, event)
    people, lines = _merge(raw["people"], rows)  # type: ignore[arg-type]
    spec, spec_problems = validate_spec({**raw, "people": people}, countries=country_codes())
    # Every row is also checked against the event (a key or email already taken), so one
    # pass reports everything; a field the CSV check already faulted is reported once.
    seen = {p.path for p in problems}
    located = (_locate(p, lines) for p in spec_problems)
    problems += [p for p in located if p.path not in seen]
    if problems or spec is None:
        raise InvalidInputError(f"the CSV file has {len(problems)} problem(s)", problems)
    result = store.save_spec(db, spec, now=now)
    detail = {"created": result.created, "updated": result.updated, "rows": len(rows)}
    db.add(
        AuditEntry(
            event_id=event.id or 0, at=now, actor=actor, action="people.import", detail=detail
        )
    )
    ensure_join_links(db, event, secret=secret, now=now)
    db.commit()
    return ImportOutcome(created=result.created, updated=result.updated)


def active_person(db: Session, event: Event, key: str) -> Person:
    """The person `key` of the event, unless unknown or withdrawn."""
    person = store.get_person(db, event, key)
    if person is None or person.withdrawn_at is not None:
        raise NotFoundError(f"no person {key!r} in event {event.code!r}")
    return person


def join_links_csv_text(
    db: Session, event: Event, *, secret: str, base_url: str, now: datetime
) -> str:
    """Everyone's join link as CSV, for a mail merge; commits links it had to create."""
    tokens = join_tokens(db, event, secret=secret, now=now)
    rows = (
        (p.key, p.name, p.email, p.role, join_url(base_url, tokens[p.key]))
        for p in store.list_people(db, event)
    )
    return join_links_csv(rows)


def join_tokens(db: Session, event: Event, *, secret: str, now: datetime) -> dict[str, str]:
    """Every active person's join token (creating missing links); commits."""
    store.lock_event(db, event)  # two exports at once must not give a person two links
    tokens = ensure_join_links(db, event, secret=secret, now=now)
    db.commit()
    return tokens


def renew_join_link(
    db: Session, event: Event, key: str, *, secret: str, now: datetime, actor: str
) -> str:
    """Revoke a person's join link and give them a new one; commits."""
    store.lock_event(db, event)
    person = active_person(db, event, key)
    revoke_join_link(db, person, now=now)
    db.flush()
    tokens = ensure_join_links(db, event, secret=secret, now=now)
    db.add(
        AuditEntry(
            event_id=event.id or 0,
            at=now,
            actor=actor,
            action="join_link.revoke",
            detail={"person": key},
        )
    )
    db.commit()
    return tokens[key]


def _merge(
    existing: list[dict[str, object]], rows: list[PersonRow]
) -> tuple[list[dict[str, object]], dict[int, int]]:
    """Existing people with imported rows laid over them by key; index → CSV line."""
    people = list(existing)
    index_of = {str(p["key"]): i for i, p in enumerate(people)}
    lines: dict[int, int] = {}
    for line, row in rows:
        index = index_of.get(row.get("key", ""))
        if index is None:
            index = len(people)
            people.append({})
        people[index] = dict(row)
        index_of[row.get("key", "")] = index
        lines[index] = line
    return people, lines


def _locate(problem: Problem, lines: dict[int, int]) -> Problem:
    """Turn a spec path ``people[7].email`` into the CSV's ``line 9.email``."""
    match = _PERSON_PATH.match(problem.path)
    if match is None or int(match.group(1)) not in lines:
        return problem
    field = match.group(2) or "row"
    return Problem(f"line {lines[int(match.group(1))]}.{field}", problem.value, problem.reason)

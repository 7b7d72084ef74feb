"""Shared notes of the breakout rooms (docs/breakout-notes.md).

Each room of a round has one note: a rapporteur writes, the room's members see each save
live (the caller publishes ``{"kind": "notes"}``), and the notes of every room are shown
at the report-back and kept with the event.

Who may read and write a room's notes while its round is open:

- the room's members (whoever the round placed or moved there, a visiting moderator
  included): any of them may be the rapporteur, so the room need not name one first;
- staff (moderators, secretariat), in every room, to help or to correct a note;
- nobody else: a participant of another room, or a resource person in no room, gets 403.

A save names the ``version`` it started from; a save from an outdated version is refused
(422) with the refused text given back, so that two writers never silently lose a text.
Notes are written only while their round is open; after it closes they are read-only.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from studymission.db import breakouts as store
from studymission.db.events import lock_event
from studymission.db.tables import AuditEntry, BreakoutNote, BreakoutRound, Event, EventSession
from studymission.domain.breakouts import room_names
from studymission.domain.errors import ForbiddenError, InvalidInputError, NotFoundError
from studymission.domain.values import STAFF_ROLES, Problem
from studymission.realtime.protocol import iso
from studymission.services.access import Identity
from studymission.services.breakouts import session_of

#: The longest note, in characters.
MAX_LENGTH = 20_000


@dataclass(frozen=True, slots=True)
class Note:
    """One room's notes in one round; version 0 (and no author) until the first save."""

    round: int
    session: str
    room: str
    text: str
    version: int
    updated_at: datetime | None
    updated_by: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "room": self.room,
            "text": self.text,
            "version": self.version,
            "updated_at": iso(self.updated_at) if self.updated_at else None,
            "updated_by": self.updated_by,
        }


@dataclass(frozen=True, slots=True)
class Report:
    """The notes of every room of a round, in room order, for the report-back."""

    round: int
    session: str
    closed_at: datetime | None
    notes: tuple[Note, ...]

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a person is during an open round: the round, its session and their room."""

    round: int
    session: str
    room: str


# -- reading -----------------------------------------------------------------------------------


def read_note(db: Session, identity: Identity, session_key: str, room: str) -> Note:
    """The notes of `room` in the session's open round, if the caller may read them."""
    round_, key = _open_round(db, identity.event, session_key)
    _check_access(db, identity, round_, room, action="reading")
    return _note(db, round_, key, room)


def placement_of(db: Session, identity: Identity) -> Placement | None:
    """The breakout room the caller is in during an open round of their event, or None."""
    person_id = identity.person.id or 0
    for round_, session_key in store.open_rounds(db, identity.event.id or 0):
        room = store.rooms_by_person(db, round_.id or 0).get(person_id)
        if room is not None:
            return Placement(round_.id or 0, session_key, room)
    return None


def read_own_note(db: Session, identity: Identity) -> Note | None:
    """The notes of the caller's room in an open round, or None when they are in none."""
    placement = placement_of(db, identity)
    if placement is None:
        return None
    round_ = db.get(BreakoutRound, placement.round)
    assert round_ is not None
    return _note(db, round_, placement.session, placement.room)


def report_back(db: Session, event: Event, session_key: str | None) -> Report | None:
    """Every room's notes of the latest round (open or closed) of the session, or of the
    event when `session_key` is None; None when there has been no round."""
    query = (
        select(BreakoutRound, EventSession.key)
        .join(EventSession, col(EventSession.id) == BreakoutRound.session_id)
        .where(BreakoutRound.event_id == event.id)
    )
    if session_key is not None:
        session_id, _session = session_of(db, event, session_key)
        query = query.where(BreakoutRound.session_id == session_id)
    latest = db.exec(query.order_by(col(BreakoutRound.id).desc())).first()
    if latest is None:
        return None
    round_, key = latest
    stored = {
        n.room: n
        for n in db.exec(select(BreakoutNote).where(BreakoutNote.round_id == round_.id)).all()
    }
    names = room_names(round_.rooms)
    notes = tuple(_as_note(round_, key, name, stored.get(name)) for name in names)
    return Report(round_.id or 0, key, round_.closed_at, notes)


def may_see_report(identity: Identity, report: Report) -> bool:
    """Staff see the notes of every room at any time; others once the round has closed."""
    return identity.role in STAFF_ROLES or not report.is_open


# -- writing -----------------------------------------------------------------------------------


def save_note(
    db: Session,
    identity: Identity,
    session_key: str,
    room: str,
    *,
    text: str,
    version: int,
    now: datetime,
    round_id: int | None = None,
) -> Note:
    """Save `text` as the room's notes if `version` is still the latest; commits.

    Refused (InvalidInputError, nothing written) when the text is too long, when another
    save came after `version`, or when `round_id` names a round that is no longer the open
    one; the refused text comes back as the ``text`` problem's value.
    """
    event = identity.event
    round_, key = _open_round(db, event, session_key)
    _check_access(db, identity, round_, room, action="writing")
    lock_event(db, event)  # saves of the event queue here, so two cannot both pass the check
    stored = db.get(BreakoutNote, (round_.id, room), populate_existing=True)
    current = stored.version if stored is not None else 0
    problems: list[Problem] = []
    if round_id is not None and round_id != round_.id:
        problems.append(
            Problem("round", round_id, "that round has closed; these notes belong to a new one")
        )
    elif version != current:
        by = stored.updated_by if stored is not None else "someone"
        problems.append(
            Problem(
                "version",
                version,
                f"someone else saved these notes meanwhile (version {current}, by {by}); "
                "merge your text into theirs and save again",
            )
        )
    if len(text) > MAX_LENGTH:
        problems.append(
            Problem("text", len(text), f"longer than {MAX_LENGTH} characters; shorten it")
        )
    if problems:
        db.rollback()
        refused = Problem("text", text, "not saved; your text is given back here")
        raise InvalidInputError("the notes were not saved", [*problems, refused])
    if stored is None:
        stored = BreakoutNote(round_id=round_.id or 0, room=room, updated_at=now, updated_by="")
    stored.text, stored.version = text, current + 1
    stored.updated_at, stored.updated_by = now, identity.person.name
    db.add(stored)
    db.add(
        AuditEntry(
            event_id=event.id or 0,
            at=now,
            actor=identity.person.name,
            action="breakouts.notes",
            detail={
                "session": key,
                "round": round_.id,
                "room": room,
                "version": stored.version,
                "characters": len(text),
            },
        )
    )
    db.commit()
    return _as_note(round_, key, room, stored)


# -- helpers -----------------------------------------------------------------------------------


def _open_round(db: Session, event: Event, session_key: str) -> tuple[BreakoutRound, str]:
    session_id, session = session_of(db, event, session_key)
    round_ = store.open_round(db, session_id)
    if round_ is None:
        raise NotFoundError(f"no breakout round is open in the session {session.key}")
    return round_, session.key


def _check_access(
    db: Session, identity: Identity, round_: BreakoutRound, room: str, *, action: str
) -> None:
    if room not in room_names(round_.rooms):
        raise NotFoundError(f"no room {room!r} in this round; it has {round_.rooms} rooms")
    if identity.role in STAFF_ROLES:
        return
    mine = store.rooms_by_person(db, round_.id or 0).get(identity.person.id or 0)
    if mine != room:
        where = f"you are in {mine}" if mine else "you are in no breakout room"
        raise ForbiddenError(f"{action} the notes of {room} is for its members; {where}")


def _note(db: Session, round_: BreakoutRound, session_key: str, room: str) -> Note:
    return _as_note(round_, session_key, room, db.get(BreakoutNote, (round_.id, room)))


def _as_note(
    round_: BreakoutRound, session_key: str, room: str, stored: BreakoutNote | None
) -> Note:
    if stored is None:
        return Note(round_.id or 0, session_key, room, "", 0, None, None)
    return Note(
        round_.id or 0,
        session_key,
        room,
        stored.text,
        stored.version,
        stored.updated_at,
        stored.updated_by,
    )

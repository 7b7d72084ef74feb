"""The video service's own word on who was in a room: store it, match it, count it.

A verified join or leave (JaaS webhook, Prosody event_sync) names a Jitsi room and the user
id the platform put in the person's JWT. The room name is a keyed hash of (event, session,
room) (integrations.jitsi.room_name), so it is found again by recomputing the names of every
session's rooms; the person is the event's person with that key. Never the display name:
anyone can type any name into Jitsi.

Policy for calls that match nothing:

- an unknown room (another application's conference, a deleted event) is answered and not
  stored: the table needs an event;
- a known room with an unknown or missing user id is stored with no person (``unmatched``),
  so the secretariat's trail shows that someone without a platform identity was there; it
  confirms nobody's minutes.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlmodel import Session

from studymission.db import video_evidence as evidence_store
from studymission.db.tables import Event, VideoEvidence
from studymission.domain.clock import EventClock
from studymission.domain.video_evidence import (
    Report,
    Sighting,
    confirmed_minutes,
    evidence_spans,
    present_minute_set,
)
from studymission.integrations.jitsi import room_name
from studymission.services.attendance import Coverage, SessionFrame

#: The platform rooms of a session whose names are recognised: main, breakout-1 … 64.
MAX_BREAKOUTS = 64
ROOMS = ("main", *(f"breakout-{n}" for n in range(1, MAX_BREAKOUTS + 1)))


@dataclass(frozen=True, slots=True)
class RoomPlace:
    event_id: int
    event_code: str
    session_id: int
    session_key: str
    room: str


@dataclass(frozen=True, slots=True)
class Evidence:
    """A verified join or leave, whichever service reported it."""

    source: str
    key: str
    kind: str
    occurred_at: datetime
    room_name: str
    user_id: str | None
    #: The service's name of the connection (Prosody's occupant JID), "" when it gives none.
    connection: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    #: stored | unmatched (stored, no person) | duplicate | ignored (not stored)
    status: str
    detail: str
    event: str | None = None
    session: str | None = None
    room: str | None = None
    person: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "detail": self.detail}
        for name in ("event", "session", "room", "person"):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        return body


def room_index(db: Session, secret: str) -> Mapping[str, RoomPlace]:
    """Jitsi room name → the platform room it names, over every event's sessions."""
    return _index(secret, tuple(evidence_store.session_places(db)))


@lru_cache(maxsize=4)
def _index(secret: str, places: tuple[tuple[int, str, int, str], ...]) -> Mapping[str, RoomPlace]:
    # Keyed by the whole list of sessions: a new or renamed session gives a new map, and
    # 65 HMACs per session are computed once per programme, not once per call.
    return {
        room_name(secret, code, key, room): RoomPlace(event_id, code, session_id, key, room)
        for event_id, code, session_id, key in places
        for room in ROOMS
    }


def record_evidence(
    db: Session,
    evidence: Evidence,
    *,
    secret: str,
    event_clock: EventClock,
    received_at: datetime,
) -> Outcome:
    """Store a verified join or leave once (by source and key), matched to its person."""
    place = room_index(db, secret).get(evidence.room_name)
    if place is None:
        return Outcome("ignored", "the room is none of this platform's rooms; nothing stored")
    person = (
        evidence_store.person_by_key(db, place.event_id, evidence.user_id)
        if evidence.user_id
        else None
    )
    row = VideoEvidence(
        source=evidence.source,
        key=evidence.key,
        event_id=place.event_id,
        session_id=place.session_id,
        person_id=person.id if person else None,
        kind=evidence.kind,
        room=place.room,
        occurred_at=evidence.occurred_at,
        event_at=event_clock.at(evidence.occurred_at),
        received_at=received_at,
        detail={**evidence.detail, "user_id": evidence.user_id, "connection": evidence.connection},
    )
    inserted = evidence_store.insert_once(db, row)
    db.commit()
    where = {"event": place.event_code, "session": place.session_key, "room": place.room}
    if not inserted:
        return Outcome("duplicate", "this call was received before; stored once", **where)
    if person is None:
        reason = "no user id in the token" if not evidence.user_id else "no person with that key"
        return Outcome("unmatched", f"stored without a person: {reason}", **where)
    return Outcome("stored", f"{evidence.kind} stored", person=person.key, **where)


@dataclass(frozen=True, slots=True)
class VideoConfirmation:
    """Per (person id, session key): (present minutes confirmed, present minutes)."""

    has_evidence: bool
    cells: Mapping[tuple[int, str], tuple[int, int]] = field(default_factory=dict)


def video_confirmation(
    db: Session,
    event: Event,
    frames: Sequence[SessionFrame],
    coverage: Coverage,
    *,
    now: datetime,
) -> VideoConfirmation:
    """How many of each person's present minutes the video service confirms, as of `now`."""
    rows = evidence_store.event_evidence(db, event.id or 0)
    if not rows:
        return VideoConfirmation(has_evidence=False)
    reports: dict[tuple[int, int], list[Report]] = {}
    for row in rows:
        if row.person_id is None or row.session_id is None:
            continue
        connection = row.detail.get("connection") if isinstance(row.detail, dict) else None
        reports.setdefault((row.person_id, row.session_id), []).append(
            Report(row.event_at, Sighting(row.kind), row.room, str(connection or ""))
        )
    threshold = event.minute_threshold_seconds
    cells: dict[tuple[int, str], tuple[int, int]] = {}
    for frame in frames:
        reached = frame.grid.minutes_reached(now)
        until = min(frame.grid.end, now)
        for (pid, sid), minutes in coverage.items():
            if sid != frame.id:
                continue
            present = present_minute_set(frame.grid, minutes.items(), threshold, reached)
            spans = evidence_spans(reports.get((pid, sid), ()), until=until)
            confirmed = confirmed_minutes(frame.grid, spans, present, threshold)
            cells[pid, frame.key] = (confirmed, len(present))
    return VideoConfirmation(has_evidence=True, cells=cells)

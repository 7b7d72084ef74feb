"""The console's view of the breakout rooms: the round open now with who is really in which
room (from the live roster), or what opening one would do (the prepared plan, the time left)."""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from studymission.db import breakouts as store
from studymission.db.tables import Event
from studymission.domain.breakouts import room_names
from studymission.domain.values import ItemKind, Role
from studymission.services.breakout_plan import PlanView, read_plan, session_of
from studymission.services.roster import RosterEntry, live_roster
from studymission.services.stage import StageView, stage_view

#: The round length offered when the agenda says nothing better (minutes).
DEFAULT_MINUTES = 30


@dataclass(frozen=True)
class Seat:
    key: str
    name: str
    country: str
    role: str
    #: here (in this room's call) | elsewhere (connected, not here) | away (not connected)
    status: str
    placed: str


@dataclass(frozen=True)
class RoomView:
    name: str
    seats: tuple[Seat, ...]

    @property
    def here(self) -> int:
        return sum(1 for s in self.seats if s.status == "here")


@dataclass(frozen=True)
class BreakoutsView:
    stage: StageView
    round_id: int | None
    ends_at: datetime | None
    rooms: tuple[RoomView, ...]
    #: People in the main room while a round is open (staff, and anyone moved back).
    main: tuple[Seat, ...]
    plan: PlanView | None
    participants: int
    suggested_minutes: int
    now: datetime

    @property
    def open(self) -> bool:
        return self.round_id is not None

    @property
    def late(self) -> tuple[Seat, ...]:
        return tuple(s for r in self.rooms for s in r.seats if s.placed == "late")

    @property
    def room_choices(self) -> tuple[str, ...]:
        return ("main", *(r.name for r in self.rooms))


def _seat(
    entry: RosterEntry | None, key: str, name: str, country: str, role: str, room: str, placed: str
) -> Seat:
    if entry is None or entry.status != "connected":
        status = "away"
    elif entry.in_room and entry.room == room:
        status = "here"
    else:
        status = "elsewhere"
    return Seat(key, name, country, role, status, placed)


def breakouts_view(
    db: Session, event: Event, *, now: datetime, real_now: datetime
) -> BreakoutsView:
    stage = stage_view(db, event, now)
    session = stage.session
    roster = {e.key: e for e in live_roster(db, event, now=now, real_now=real_now)}
    participants = sum(1 for e in roster.values() if e.role == Role.PARTICIPANT.value)
    if session is None:
        return BreakoutsView(stage, None, None, (), (), None, participants, DEFAULT_MINUTES, now)
    session_id, _spec = session_of(db, event, session.key)
    round_ = store.open_round(db, session_id)
    rooms: tuple[RoomView, ...] = ()
    main: tuple[Seat, ...] = ()
    if round_ is not None:
        seats: dict[str, list[Seat]] = {name: [] for name in room_names(round_.rooms)}
        placed_keys = set()
        for member, person in store.members(db, round_.id or 0):
            placed_keys.add(person.key)
            seats.setdefault(member.room, []).append(
                _seat(
                    roster.get(person.key),
                    person.key,
                    person.name,
                    person.country,
                    person.role,
                    member.room,
                    member.placed,
                )
            )
        rooms = tuple(RoomView(name, tuple(s)) for name, s in seats.items())
        main = tuple(
            _seat(e, e.key, e.name, e.country, e.role, "main", "")
            for e in roster.values()
            if e.key not in placed_keys and e.status == "connected"
        )
    breakout_item = next((i for i in session.agenda if i.kind is ItemKind.BREAKOUT), None)
    left = (session.end - max(now, session.start)).total_seconds() / 60
    suggested = DEFAULT_MINUTES
    if breakout_item is not None and breakout_item.start <= now < breakout_item.end:
        suggested = int((breakout_item.end - now).total_seconds() // 60) or 1
    suggested = max(1, min(suggested, int(left)))
    return BreakoutsView(
        stage=stage,
        round_id=round_.id if round_ is not None else None,
        ends_at=round_.ends_at if round_ is not None else None,
        rooms=rooms,
        main=main,
        plan=read_plan(db, event, session.key),
        participants=participants,
        suggested_minutes=suggested,
        now=now,
    )

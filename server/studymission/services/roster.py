"""The moderators' live roster: who is connected now, where, since when, who dropped.

It reads what every process wrote (live sockets of processes seen in the last
seconds, the socket audit trail), so one page shows the whole event whichever
process serves it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from studymission.db import events as store
from studymission.db import presence as presence_store
from studymission.db.tables import Event
from studymission.realtime.runtime import PROCESS_TIMEOUT

#: How far back (event time) the roster lists people who dropped and are not back.
DROPPED_WITHIN = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class RosterEntry:
    key: str
    name: str
    role: str
    country: str
    #: connected | dropped | absent
    status: str
    room: str | None = None
    in_room: bool = False
    visible: bool = False
    since: datetime | None = None
    sockets: int = 0
    dropped_at: datetime | None = None
    last_heartbeat_at: datetime | None = None


def live_roster(
    db: Session, event: Event, *, now: datetime, real_now: datetime
) -> list[RosterEntry]:
    """Every active person, connected ones first (by room), then dropped, then absent."""
    connection = db.connection()
    live = presence_store.live_sockets(connection, event.id or 0, real_now - PROCESS_TIMEOUT)
    dropped = presence_store.recent_disconnects(connection, event.id or 0, now - DROPPED_WITHIN)
    sockets_by_person: dict[int, list[presence_store.LiveRow]] = {}
    for row in live:
        sockets_by_person.setdefault(row.person_id, []).append(row)
    last_drop: dict[int, datetime] = {}
    for person_id, at, _detail in dropped:
        last_drop.setdefault(person_id, at)
    entries = []
    for person in store.list_people(db, event):
        pid = person.id or 0
        sockets = sockets_by_person.get(pid)
        if sockets:
            # The socket that is really in a room speaks for the person; then the newest.
            best = max(sockets, key=lambda s: (s.in_room, s.visible, s.connected_at))
            entries.append(
                RosterEntry(
                    person.key,
                    person.name,
                    person.role,
                    person.country,
                    "connected",
                    room=best.room,
                    in_room=best.in_room,
                    visible=best.visible,
                    since=min(s.connected_at for s in sockets),
                    sockets=len(sockets),
                    last_heartbeat_at=max(
                        (s.last_heartbeat_at for s in sockets if s.last_heartbeat_at),
                        default=None,
                    ),
                )
            )
        elif pid in last_drop:
            entries.append(
                RosterEntry(
                    person.key,
                    person.name,
                    person.role,
                    person.country,
                    "dropped",
                    dropped_at=last_drop[pid],
                )
            )
        else:
            entries.append(
                RosterEntry(person.key, person.name, person.role, person.country, "absent")
            )
    order = {"connected": 0, "dropped": 1, "absent": 2}
    entries.sort(key=lambda e: (order[e.status], e.room or "", e.name.casefold()))
    return entries

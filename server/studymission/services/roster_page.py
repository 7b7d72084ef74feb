"""The moderators' live roster page: who is connected, where and since when, with counts
and filters, from services/roster.py (the function the JSON API calls)."""

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from studymission.db.tables import Event
from studymission.services.roster import DROPPED_WITHIN, RosterEntry, live_roster

#: The status filter's choices, in the order the select offers them.
ROSTER_STATUSES = (
    ("", "Everyone"),
    ("connected", "Connected"),
    ("in_room", "Connected and in a room"),
    ("not_in_room", "Connected, not in a room"),
    ("dropped", f"Dropped in the last {DROPPED_WITHIN.seconds // 60} minutes"),
    ("absent", "Not joined"),
)


@dataclass(frozen=True)
class RosterFilter:
    """The roster's filters; empty strings mean "any"."""

    room: str = ""
    status: str = ""


@dataclass(frozen=True)
class RosterLine:
    """One person on the roster, with the whole minutes since they connected or dropped."""

    entry: RosterEntry
    #: Minutes (event time) since the first of their open sockets connected, or since they
    #: dropped; None when neither applies.
    minutes: int | None


@dataclass(frozen=True)
class RosterCounts:
    connected: int
    in_room: int
    dropped: int
    absent: int


@dataclass(frozen=True)
class RosterView:
    connected: tuple[RosterLine, ...]
    dropped: tuple[RosterLine, ...]
    absent: tuple[RosterLine, ...]
    #: Counts of the whole event, whatever the filters.
    counts: RosterCounts
    rooms: tuple[str, ...]
    filter: RosterFilter
    #: Which sections the filters leave on the page.
    shows: frozenset[str]
    now: datetime
    #: A digest of everything the roster shows: a poll that carries the current one gets
    #: "no change" instead of the same HTML again (and screen readers hear nothing new).
    version: str


def roster_view(
    db: Session, event: Event, wanted: RosterFilter, *, now: datetime, real_now: datetime
) -> RosterView:
    """The live roster as of `now` (event time), split into its three sections."""
    entries = live_roster(db, event, now=now, real_now=real_now)
    connected = [e for e in entries if e.status == "connected"]
    dropped = [e for e in entries if e.status == "dropped"]
    absent = [e for e in entries if e.status == "absent"]
    counts = RosterCounts(
        connected=len(connected),
        in_room=sum(1 for e in connected if e.in_room),
        dropped=len(dropped),
        absent=len(absent),
    )
    rooms = {e.room for e in connected if e.room} | {"main"}
    if wanted.room:
        rooms.add(wanted.room)
    shows = _roster_sections(wanted)
    shown_connected = [e for e in connected if _roster_keeps(e, wanted)]
    view_connected = tuple(RosterLine(e, _minutes_between(e.since, now)) for e in shown_connected)
    view_dropped = tuple(RosterLine(e, _minutes_between(e.dropped_at, now)) for e in dropped)
    view_absent = tuple(RosterLine(e, None) for e in absent)
    shown = (
        view_connected if "connected" in shows else (),
        view_dropped if "dropped" in shows else (),
        view_absent if "absent" in shows else (),
    )
    return RosterView(
        connected=shown[0],
        dropped=shown[1],
        absent=shown[2],
        counts=counts,
        rooms=tuple(sorted(rooms, key=natural_key)),
        filter=wanted,
        shows=shows,
        now=now,
        version=_digest(counts, sorted(rooms), wanted, shown),
    )


def _roster_sections(wanted: RosterFilter) -> frozenset[str]:
    # People who dropped or never joined are in no room: a room filter leaves them out.
    if wanted.status in ("connected", "in_room", "not_in_room") or wanted.room:
        return frozenset({"connected"})
    if wanted.status in ("dropped", "absent"):
        return frozenset({wanted.status})
    return frozenset({"connected", "dropped", "absent"})


def _roster_keeps(entry: RosterEntry, wanted: RosterFilter) -> bool:
    if wanted.room and entry.room != wanted.room:
        return False
    if wanted.status == "in_room":
        return entry.in_room
    if wanted.status == "not_in_room":
        return not entry.in_room
    return True


def _minutes_between(start: datetime | None, now: datetime) -> int | None:
    if start is None:
        return None
    return max(0, int((now - start) // timedelta(minutes=1)))


def _digest(
    counts: RosterCounts,
    rooms: Sequence[str],
    wanted: RosterFilter,
    sections: Iterable[Sequence[RosterLine]],
) -> str:
    # Only what the page shows: the time of each heartbeat changes every 15 s and is not shown.
    shown = [
        [
            (
                line.entry.key,
                line.entry.room,
                line.entry.in_room,
                line.entry.visible,
                line.entry.since,
                line.entry.sockets,
                line.entry.dropped_at,
                line.minutes,
            )
            for line in section
        ]
        for section in sections
    ]
    text = repr((counts, list(rooms), wanted, shown))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts ``breakout-2`` before ``breakout-10``."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part
    )

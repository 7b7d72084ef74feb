"""The presence rule (CONTRACT §4): heartbeats → qualifying intervals → covered seconds.

A socket is *qualifying* from a heartbeat that says ``in_room`` (and ``visible``, when the
event requires it) until the next heartbeat that says otherwise, the socket's close, or
``stale_after_seconds`` after the latest heartbeat, whichever comes first.

Covered time is kept per whole second: second ``k`` of a session (the instant
``start + k s``) is covered when some qualifying interval ``[a, b)`` holds it, ``a ≤ t < b``.
A minute's 60 seconds are the bits of one integer, so coverage from several tabs, several
processes or a flush repeated after a restart merges by bitwise OR: nothing is counted
twice and nothing is lost, whatever order the pieces arrive in. The per-minute log is
stored this way and every figure (seconds, present, room) is read off the bits.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from studymission.domain.values import AttendanceRules

MICROSECOND = timedelta(microseconds=1)
SECOND_US = 1_000_000
FULL_MINUTE = (1 << 60) - 1


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What a client said, stamped with the event time the server received it."""

    at: datetime
    visible: bool
    in_room: bool
    room: str


@dataclass(frozen=True, slots=True)
class Interval:
    """Qualifying time ``[start, end)`` of one socket, in one room."""

    start: datetime
    end: datetime
    room: str
    visible: bool


class SocketPresence:
    """One socket's heartbeats, turned into qualifying intervals as time advances.

    Every call returns only qualifying time not returned before, so a caller can fold
    the pieces into minute coverage as they come without keeping any history.
    """

    __slots__ = ("_cursor", "_latest", "_stale", "require_visible")

    def __init__(self, rules: AttendanceRules) -> None:
        self._stale = timedelta(seconds=rules.stale_after_seconds)
        self.require_visible = rules.require_visible
        self._latest: Heartbeat | None = None
        self._cursor: datetime | None = None

    @property
    def latest(self) -> Heartbeat | None:
        return self._latest

    def qualifies(self, heartbeat: Heartbeat) -> bool:
        return heartbeat.in_room and (heartbeat.visible or not self.require_visible)

    def advance(self, now: datetime) -> list[Interval]:
        """Qualifying time accrued since the last call, up to `now`."""
        latest, cursor = self._latest, self._cursor
        if latest is None or cursor is None or not self.qualifies(latest):
            return []
        end = min(now, latest.at + self._stale)
        if end <= cursor:
            return []
        self._cursor = end
        return [Interval(cursor, end, latest.room, latest.visible)]

    def heartbeat(self, heartbeat: Heartbeat) -> list[Interval]:
        """Record a heartbeat; returns the qualifying time that ended at it."""
        cursor = self._cursor
        if cursor is not None and heartbeat.at < cursor:
            # Stamps come from one clock and only move forward; never reopen the past. The
            # cursor (≥ the latest stamp) also covers time an `advance` already handed out.
            heartbeat = Heartbeat(cursor, heartbeat.visible, heartbeat.in_room, heartbeat.room)
        accrued = self.advance(heartbeat.at)
        self._latest = heartbeat
        self._cursor = heartbeat.at
        return accrued

    def close(self, at: datetime) -> list[Interval]:
        """The socket closed at `at`; returns the qualifying time up to then."""
        accrued = self.advance(at)
        self._latest = None
        self._cursor = None
        return accrued


def qualifying_intervals(
    heartbeats: Iterable[Heartbeat], closed_at: datetime, rules: AttendanceRules
) -> list[Interval]:
    """All qualifying time of one socket that closed at `closed_at` (heartbeats in order)."""
    socket = SocketPresence(rules)
    intervals: list[Interval] = []
    for heartbeat in heartbeats:
        intervals.extend(socket.heartbeat(heartbeat))
    intervals.extend(socket.close(closed_at))
    return intervals


@dataclass(frozen=True, slots=True)
class SessionGrid:
    """A session's minutes: minute ``m`` is ``[start + 60m s, start + 60(m+1) s)``."""

    start: datetime
    end: datetime
    #: Minutes of ``break`` agenda items: neither required nor counted.
    break_minutes: frozenset[int] = frozenset()

    @classmethod
    def of(
        cls, start: datetime, end: datetime, breaks: Iterable[tuple[datetime, datetime]] = ()
    ) -> "SessionGrid":
        minutes: set[int] = set()
        for break_start, break_end in breaks:
            first = max(0, _whole_minutes(break_start - start))
            last = min(_whole_minutes(end - start), _whole_minutes(break_end - start))
            minutes.update(range(first, last))
        return cls(start, end, frozenset(minutes))

    @property
    def minute_count(self) -> int:
        return _whole_minutes(self.end - self.start)

    @property
    def required_minutes(self) -> int:
        return self.minute_count - len(self.break_minutes)

    def minute_at(self, instant: datetime) -> int:
        """The minute holding `instant`, clamped to ``0 … minute_count``."""
        offset = (instant - self.start) // MICROSECOND
        return max(0, min(self.minute_count, offset // (60 * SECOND_US)))

    def minutes_reached(self, now: datetime) -> int:
        """How many minutes have started by `now` (all of them once the session ended)."""
        if now <= self.start:
            return 0
        offset = (now - self.start) // MICROSECOND
        return min(self.minute_count, -(-offset // (60 * SECOND_US)))

    def second_masks(self, start: datetime, end: datetime) -> Iterator[tuple[int, int]]:
        """(minute, bits) for the whole seconds of the session that ``[start, end)`` holds."""
        first = max(0, _ceil_seconds(start - self.start))
        stop = min(self.minute_count * 60, _ceil_seconds(end - self.start))
        while first < stop:
            minute, bit = divmod(first, 60)
            width = min(stop, (minute + 1) * 60) - first
            yield minute, ((1 << width) - 1) << bit
            first += width


def _whole_minutes(delta: timedelta) -> int:
    return int(delta // timedelta(minutes=1))


def _ceil_seconds(delta: timedelta) -> int:
    return -(-(delta // MICROSECOND) // SECOND_US)


@dataclass(slots=True)
class MinuteCoverage:
    """Covered and visible seconds of one person in one session, per (minute, room)."""

    #: (minute, room) → [covered bits, visible bits]
    cells: dict[tuple[int, str], list[int]] = field(default_factory=dict)

    def add(self, grid: SessionGrid, interval: Interval) -> None:
        for minute, bits in grid.second_masks(interval.start, interval.end):
            cell = self.cells.setdefault((minute, interval.room), [0, 0])
            cell[0] |= bits
            if interval.visible:
                cell[1] |= bits

    def merge(self, minute: int, room: str, covered: int, visible: int) -> None:
        cell = self.cells.setdefault((minute, room), [0, 0])
        cell[0] |= covered
        cell[1] |= visible


@dataclass(frozen=True, slots=True)
class PresenceMinute:
    """One minute of the per-minute log, as CONTRACT §4 shows it."""

    minute: int
    seconds: int
    present: bool
    room: str | None
    is_break: bool
    visible_seconds: int


def presence_minutes(
    grid: SessionGrid,
    cells: Iterable[tuple[int, str, int, int]],
    rules: AttendanceRules,
    minutes: int | None = None,
) -> list[PresenceMinute]:
    """The log of minutes ``0 … minutes-1`` (default: all) from (minute, room, covered, visible).

    Cells of one minute merge by OR (several tabs, processes or flushes count once); the
    minute's room is the one with the most seconds, the first in name order on a tie.
    """
    count = grid.minute_count if minutes is None else minutes
    covered = [0] * count
    visible = [0] * count
    best: list[tuple[int, str] | None] = [None] * count
    per_room: dict[tuple[int, str], int] = {}
    for minute, room, bits, visible_bits in cells:
        if not 0 <= minute < count:
            continue
        covered[minute] |= bits
        visible[minute] |= visible_bits
        per_room[minute, room] = per_room.get((minute, room), 0) | bits
    for (minute, room), bits in per_room.items():
        seconds = bits.bit_count()
        current = best[minute]
        if seconds and (
            current is None or seconds > current[0] or (seconds == current[0] and room < current[1])
        ):
            best[minute] = (seconds, room)
    log = []
    for minute in range(count):
        seconds = covered[minute].bit_count()
        winner = best[minute]
        log.append(
            PresenceMinute(
                minute=minute,
                seconds=seconds,
                present=seconds >= rules.minute_threshold_seconds,
                room=winner[1] if winner else None,
                is_break=minute in grid.break_minutes,
                visible_seconds=visible[minute].bit_count(),
            )
        )
    return log


def count_present_minutes(
    grid: SessionGrid,
    cells: Iterable[tuple[int, int]],
    rules: AttendanceRules,
    minutes: int | None = None,
) -> int:
    """Present minutes outside breaks, from (minute, covered bits) cells of any room.

    The same rule as `presence_minutes`, without building the log: the report counts
    a thousand people's minutes with it.
    """
    count = grid.minute_count if minutes is None else minutes
    covered: dict[int, int] = {}
    for minute, bits in cells:
        if 0 <= minute < count and minute not in grid.break_minutes:
            covered[minute] = covered.get(minute, 0) | bits
    threshold = rules.minute_threshold_seconds
    return sum(1 for bits in covered.values() if bits.bit_count() >= threshold)

"""The presence rule (CONTRACT §4): heartbeats → qualifying seconds → the per-minute log.

The property tests check the implementation against a brute-force model written from the
contract's text alone: every whole second of the session is examined on its own, asking
"is some socket open, with a latest heartbeat that qualifies and is not stale yet?".
"""

from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studymission.domain.attendance import session_attendance
from studymission.domain.presence import (
    FULL_MINUTE,
    Heartbeat,
    Interval,
    MinuteCoverage,
    PresenceMinute,
    SessionGrid,
    SocketPresence,
    count_present_minutes,
    presence_minutes,
    qualifying_intervals,
)
from studymission.domain.values import AttendanceRules

pytestmark = pytest.mark.unit

US = 1_000_000  # microseconds per second
START = datetime(2021, 11, 24, 4, 0, tzinfo=UTC)
ROOMS = ("main", "breakout-1", "breakout-2")
RULES = AttendanceRules()  # the contract's defaults: 30 s a minute, stale after 45 s


def at(seconds: float | Fraction, base: datetime = START) -> datetime:
    """`base` plus `seconds` (exact to the microsecond)."""
    return base + timedelta(microseconds=round(Fraction(seconds) * US))


# --------------------------------------------------------------------------------------------
# The brute-force reference, on integer microsecond offsets from the session start.


@dataclass(frozen=True)
class Beat:
    at: int
    visible: bool
    in_room: bool
    room: str


@dataclass(frozen=True)
class Sock:
    opened: int
    closed: int
    beats: tuple[Beat, ...]  # in the order the server received them (non-decreasing times)


@dataclass(frozen=True)
class Case:
    start: datetime
    minutes: int
    breaks: tuple[tuple[int, int], ...]  # [first, last) minute offsets, may straddle the edges
    rules: AttendanceRules
    sockets: tuple[Sock, ...]

    def instant(self, offset_us: int) -> datetime:
        return self.start + timedelta(microseconds=offset_us)

    def grid(self) -> SessionGrid:
        return SessionGrid.of(
            self.start,
            self.instant(self.minutes * 60 * US),
            [(self.instant(a * 60 * US), self.instant(b * 60 * US)) for a, b in self.breaks],
        )

    def heartbeats(self, sock: Sock) -> list[Heartbeat]:
        return [Heartbeat(self.instant(b.at), b.visible, b.in_room, b.room) for b in sock.beats]


def reference_log(case: Case) -> list[PresenceMinute]:
    """The per-minute log, second by second, straight from the contract's wording."""
    rules = case.rules
    stale = rules.stale_after_seconds * US
    breaks = {m for a, b in case.breaks for m in range(a, b) if 0 <= m < case.minutes}
    log = []
    for minute in range(case.minutes):
        seconds = visible_seconds = 0
        per_room: Counter[str] = Counter()
        for k in range(60):
            t = (60 * minute + k) * US
            rooms: set[str] = set()
            qualifying = visible = False
            for sock in case.sockets:
                if not sock.opened <= t < sock.closed:
                    continue
                # the latest heartbeat at or before t (the last one received, on equal stamps)
                index = bisect_right([beat.at for beat in sock.beats], t)
                latest = sock.beats[index - 1] if index else None
                if latest is None or not latest.in_room:
                    continue
                if rules.require_visible and not latest.visible:
                    continue
                if not t < latest.at + stale:
                    continue
                qualifying = True
                visible = visible or latest.visible
                rooms.add(latest.room)
            seconds += qualifying
            visible_seconds += visible
            per_room.update(rooms)
        room = min(per_room, key=lambda name: (-per_room[name], name)) if per_room else None
        log.append(
            PresenceMinute(
                minute=minute,
                seconds=seconds,
                present=seconds >= rules.minute_threshold_seconds,
                room=room,
                is_break=minute in breaks,
                visible_seconds=visible_seconds,
            )
        )
    return log


# --------------------------------------------------------------------------------------------
# The implementation's paths.


def cells_of(coverage: MinuteCoverage) -> list[tuple[int, str, int, int]]:
    return [(m, room, covered, vis) for (m, room), (covered, vis) in coverage.cells.items()]


def batch_coverage(case: Case, sockets: Sequence[Sock] | None = None) -> MinuteCoverage:
    grid = case.grid()
    coverage = MinuteCoverage()
    for sock in case.sockets if sockets is None else sockets:
        closed = case.instant(sock.closed)
        for interval in qualifying_intervals(case.heartbeats(sock), closed, case.rules):
            coverage.add(grid, interval)
    return coverage


def batch_log(case: Case) -> list[PresenceMinute]:
    return presence_minutes(case.grid(), cells_of(batch_coverage(case)), case.rules)


# --------------------------------------------------------------------------------------------
# Strategies: times are drawn heavily on whole minutes, whole seconds and one microsecond
# either side of them, and spill up to two and a half minutes before the session and after it.


@cache
def offsets(minutes: int) -> st.SearchStrategy[int]:
    span = minutes * 60
    return st.one_of(
        st.integers(-2, minutes + 2).map(lambda m: m * 60 * US),
        st.integers(-60, span + 60).map(lambda s: s * US),
        st.tuples(st.integers(-60, span + 60), st.sampled_from((-1, 1))).map(
            lambda sd: sd[0] * US + sd[1]
        ),
        st.integers(-60 * US, (span + 60) * US),
        st.integers(-150 * US, (span + 150) * US),
    )


@cache
def deltas(stale: int) -> st.SearchStrategy[int]:
    """Non-negative gaps: none, exactly the stale time (or a microsecond either side), any."""
    return st.one_of(
        st.just(0),
        st.sampled_from((stale * US - 1, stale * US, stale * US + 1)),
        st.integers(0, 150).map(lambda s: s * US),
        st.integers(0, 150 * US),
    )


@cache
def beat_times(minutes: int, stale: int) -> st.SearchStrategy[list[int]]:
    """Scattered heartbeats, or a client's steady stream (fractional phase and period)."""
    scattered = st.lists(offsets(minutes), max_size=8)
    stream = st.builds(
        lambda first, period, count: [first + i * period for i in range(count)],
        offsets(minutes),
        st.one_of(st.integers(1, 60).map(lambda s: s * US), st.integers(1, 60 * US), deltas(stale)),
        st.integers(1, 30),
    )
    return st.one_of(scattered, stream).map(sorted)


SAID = st.tuples(st.booleans(), st.integers(0, 4).map(bool), st.sampled_from(ROOMS))


@st.composite
def sockets(draw: st.DrawFn, minutes: int, stale: int) -> Sock:
    times = draw(beat_times(minutes, stale))
    # what the heartbeats say changes at up to 8 points along them
    said = draw(st.lists(SAID, min_size=1, max_size=max(1, min(8, len(times)))))
    beats = tuple(Beat(t, *said[i * len(said) // len(times)]) for i, t in enumerate(times))
    first = times[0] if times else draw(offsets(minutes))
    opened = first - draw(deltas(stale))  # 0: a heartbeat at the very instant the socket opened
    last = times[-1] if times else opened
    closed = last + draw(deltas(stale))  # 0: the socket closes exactly at its last heartbeat
    return Sock(opened, closed, beats)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    minutes = draw(st.integers(1, 6))
    start = START + timedelta(microseconds=draw(st.one_of(st.just(0), st.integers(0, 60 * US - 1))))
    breaks = tuple(
        draw(
            st.lists(
                st.tuples(st.integers(-2, minutes + 2), st.integers(-2, minutes + 2)),
                max_size=2,
            )
        )
    )
    rules = AttendanceRules(
        session_threshold=Fraction(9, 10),
        minute_threshold_seconds=draw(st.integers(1, 60)),
        stale_after_seconds=draw(st.integers(1, 120)),
        require_visible=draw(st.booleans()),
    )
    socks = draw(st.lists(sockets(minutes, rules.stale_after_seconds), min_size=1, max_size=3))
    return Case(start, minutes, breaks, rules, tuple(socks))


def examples(count: int) -> settings:
    return settings(max_examples=count, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@examples(400)
@given(cases())
def test_log_matches_second_by_second_reference(case: Case) -> None:
    grid = case.grid()
    expected = reference_log(case)
    assert batch_log(case) == expected
    # break minutes are in the log but neither required nor counted
    assert grid.required_minutes == case.minutes - sum(m.is_break for m in expected)
    counted = sum(m.present and not m.is_break for m in expected)
    result = session_attendance("s", grid.required_minutes, expected, Fraction(9, 10))
    assert result.present_minutes == counted
    # the report's shortcut counts the same minutes from the rooms' covered bits alone
    bits = [(m, covered) for m, _, covered, _ in cells_of(batch_coverage(case))]
    assert count_present_minutes(grid, bits, case.rules) == counted


def incremental_intervals(
    case: Case, sock: Sock, flushes: Sequence[int], after: Sequence[bool]
) -> list[Interval]:
    """Feed one socket's heartbeats and close, with `advance` at the flush instants between.

    A flush at the same instant as a heartbeat or the close runs before or after it, as
    `after` says.
    """
    steps: list[tuple[int, int, int]] = []  # (time, order, index): index -1 = close
    for index, beat in enumerate(sock.beats):
        steps.append((beat.at, 2 * index + 1, index))
    steps.append((sock.closed, 2 * len(sock.beats) + 1, -1))
    timeline: list[tuple[int, int, int | None]] = [(t, o, i) for t, o, i in steps]
    for flush, late in zip(flushes, after, strict=True):
        # place the flush among the socket's own events, which stay in their order
        position = sum(1 for t, _, _ in steps if t < flush or (late and t == flush))
        timeline.append((flush, 2 * position, None))
    timeline.sort(key=lambda step: (step[1], step[0]))
    socket = SocketPresence(case.rules)
    heartbeats = case.heartbeats(sock)
    pieces: list[Interval] = []
    for time, _, event in timeline:
        if event is None:
            pieces.extend(socket.advance(case.instant(time)))
        elif event == -1:
            pieces.extend(socket.close(case.instant(time)))
        else:
            pieces.extend(socket.heartbeat(heartbeats[event]))
    return pieces


@examples(250)
@given(st.data())
def test_incremental_advance_equals_batch(data: st.DataObject) -> None:
    case = data.draw(cases())
    grid = case.grid()
    coverage = MinuteCoverage()
    for sock in case.sockets:
        flushes = [m * 60 * US for m in range(-2, case.minutes + 3)]  # every minute
        flushes += data.draw(st.lists(offsets(case.minutes), max_size=6))
        after = data.draw(st.lists(st.booleans(), min_size=len(flushes), max_size=len(flushes)))
        pieces = incremental_intervals(case, sock, flushes, after)
        # every call returns only qualifying time not returned before
        for previous, piece in zip(pieces, pieces[1:], strict=False):
            assert previous.end <= piece.start
        assert all(piece.start < piece.end for piece in pieces)
        for piece in pieces:
            coverage.add(grid, piece)
    assert coverage.cells == batch_coverage(case).cells
    assert presence_minutes(grid, cells_of(coverage), case.rules) == reference_log(case)


@examples(150)
@given(st.data())
def test_advance_never_hands_out_time_twice_whatever_the_call_order(data: st.DataObject) -> None:
    # stamps out of order and flushes "from the future" (a clock stepped back) must still
    # never return qualifying time that an earlier call returned
    case = data.draw(cases())
    for sock in case.sockets:
        calls: list[Heartbeat | int] = list(data.draw(st.permutations(case.heartbeats(sock))))
        for flush in data.draw(st.lists(offsets(case.minutes), max_size=6)):
            calls.insert(data.draw(st.integers(0, len(calls))), flush)
        socket = SocketPresence(case.rules)
        pieces: list[Interval] = []
        for call in calls:
            if isinstance(call, Heartbeat):
                pieces.extend(socket.heartbeat(call))
            else:
                pieces.extend(socket.advance(case.instant(call)))
        pieces.extend(socket.close(case.instant(sock.closed)))
        assert all(piece.start < piece.end for piece in pieces)
        for previous, piece in zip(pieces, pieces[1:], strict=False):
            assert previous.end <= piece.start
        assert socket.advance(case.instant(sock.closed + 10**9)) == []


@examples(150)
@given(st.data())
def test_coverage_split_over_processes_merges_exactly(data: st.DataObject) -> None:
    case = data.draw(cases())
    grid = case.grid()
    single = presence_minutes(grid, cells_of(batch_coverage(case)), case.rules)
    first, second = MinuteCoverage(), MinuteCoverage()
    for sock in case.sockets:
        closed = case.instant(sock.closed)
        for interval in qualifying_intervals(case.heartbeats(sock), closed, case.rules):
            # 0: first process, 1: second, 2: both (a flush repeated after a restart)
            where = data.draw(st.integers(0, 2))
            repeats = data.draw(st.integers(1, 2))  # the same interval applied twice
            for _ in range(repeats):
                if where in (0, 2):
                    first.add(grid, interval)
                if where in (1, 2):
                    second.add(grid, interval)
    cells = data.draw(st.permutations(cells_of(first) + cells_of(second)))
    assert presence_minutes(grid, cells, case.rules) == single
    # folding the stored rows back into one coverage gives the single-process cells
    merged = MinuteCoverage()
    for cell in cells:
        merged.merge(*cell)
    assert merged.cells == batch_coverage(case).cells


@examples(150)
@given(st.data())
def test_sockets_split_over_processes_merge_exactly(data: st.DataObject) -> None:
    case = data.draw(cases())
    grid = case.grid()
    side = data.draw(
        st.lists(st.booleans(), min_size=len(case.sockets), max_size=len(case.sockets))
    )
    one = batch_coverage(case, [s for s, left in zip(case.sockets, side, strict=True) if left])
    two = batch_coverage(case, [s for s, left in zip(case.sockets, side, strict=True) if not left])
    cells = cells_of(one) + cells_of(two) + cells_of(one)  # one process flushed twice
    assert presence_minutes(grid, cells, case.rules) == reference_log(case)


@examples(100)
@given(cases(), st.integers(0, 8))
def test_partial_log_is_a_prefix(case: Case, reached: int) -> None:
    grid = case.grid()
    reached = min(reached, case.minutes)
    cells = cells_of(batch_coverage(case))
    log = presence_minutes(grid, cells, case.rules, reached)
    expected = reference_log(case)[:reached]
    assert log == expected
    bits = [(m, covered) for m, _, covered, _ in cells]
    counted = sum(m.present and not m.is_break for m in expected)
    assert count_present_minutes(grid, bits, case.rules, reached) == counted


@examples(200)
@given(
    st.integers(1, 6),
    st.integers(-10 * 60 * US, 10 * 60 * US),
    st.integers(-10 * 60 * US, 10 * 60 * US),
)
def test_second_masks_match_reference(minutes: int, a: int, b: int) -> None:
    grid = SessionGrid(START, at(minutes * 60))
    got: dict[int, int] = {}
    begin, end = START + timedelta(microseconds=a), START + timedelta(microseconds=b)
    for minute, bits in grid.second_masks(begin, end):
        assert minute not in got  # one mask per minute, in order
        assert bits and bits & ~FULL_MINUTE == 0
        got[minute] = bits
    assert list(got) == sorted(got)
    expected: dict[int, int] = {}
    for k in range(minutes * 60):
        if a <= k * US < b:
            expected[k // 60] = expected.get(k // 60, 0) | 1 << (k % 60)
    assert got == expected


# --------------------------------------------------------------------------------------------
# Examples: the cases people ask about.


def beats(
    first: float, last: float, every: float = 15, room: str = "main", visible: bool = True
) -> list[Heartbeat]:
    """Heartbeats every `every` seconds from `first` to `last` inclusive."""
    out = []
    t = Fraction(first)
    while t <= last:
        out.append(Heartbeat(at(t), visible, True, room))
        t += Fraction(every)
    return out


def log_of(
    grid: SessionGrid,
    socks: Sequence[tuple[Sequence[Heartbeat], float]],
    rules: AttendanceRules = RULES,
) -> list[PresenceMinute]:
    """The log of one person with the given sockets: (heartbeats, closed at)."""
    coverage = MinuteCoverage()
    for heartbeats, closed in socks:
        for interval in qualifying_intervals(heartbeats, at(closed), rules):
            coverage.add(grid, interval)
    return presence_minutes(grid, cells_of(coverage), rules)


def grid_of(minutes: int) -> SessionGrid:
    return SessionGrid(START, at(minutes * 60))


def seconds(log: Sequence[PresenceMinute]) -> list[int]:
    return [m.seconds for m in log]


def present(log: Sequence[PresenceMinute]) -> list[bool]:
    return [m.present for m in log]


def test_joining_three_minutes_late() -> None:
    log = log_of(grid_of(10), [(beats(180, 600), 600)])
    assert seconds(log) == [0, 0, 0] + [60] * 7
    assert present(log) == [False] * 3 + [True] * 7
    assert [m.room for m in log] == [None] * 3 + ["main"] * 7
    assert session_attendance("d", 10, log, Fraction(9, 10)).present_minutes == 7


def test_dropping_for_seven_minutes_with_the_socket_closed() -> None:
    log = log_of(grid_of(12), [(beats(0, 120), 120), (beats(540, 720), 720)])
    assert seconds(log) == [60, 60] + [0] * 7 + [60] * 3
    assert sum(present(log)) == 5


def test_a_silent_drop_counts_until_stale() -> None:
    # the network drops after the heartbeat at 2:00 and the server never sees a close
    log = log_of(grid_of(4), [(beats(0, 120), 1000)])
    assert seconds(log) == [60, 60, 45, 0]  # 2:00 + 45 s
    assert present(log) == [True, True, True, False]


@pytest.mark.parametrize(
    ("closed", "covered", "is_present"),
    [(29, 29, False), (29.5, 30, True), (30, 30, True), (Fraction(29_000_001, US), 30, True)],
)
def test_closing_the_tab_mid_minute(closed: float, covered: int, is_present: bool) -> None:
    # seconds 0 … 28 are covered by a close at 29 s; a close just after 29 s also holds 29
    log = log_of(grid_of(1), [(beats(0, 15), closed)])
    assert seconds(log) == [covered]
    assert present(log) == [is_present]


def test_a_silent_socket_goes_stale_after_45_seconds() -> None:
    log = log_of(grid_of(3), [([Heartbeat(at(0), True, True, "main")], 180)])
    assert seconds(log) == [45, 0, 0]
    log = log_of(grid_of(3), [([Heartbeat(at(30), True, True, "main")], 180)])
    assert seconds(log) == [30, 15, 0]  # 0:30 … 1:14
    assert present(log) == [True, False, False]


def test_stale_expiry_is_exclusive_and_a_new_heartbeat_renews_it() -> None:
    rules = AttendanceRules(stale_after_seconds=10)
    hb = [Heartbeat(at(0), True, True, "main"), Heartbeat(at(10), True, True, "main")]
    assert seconds(log_of(grid_of(1), [(hb, 60)], rules)) == [20]  # the heartbeat at 10 s
    hb = [Heartbeat(at(0), True, True, "main"), Heartbeat(at(12), True, True, "main")]
    assert seconds(log_of(grid_of(1), [(hb, 60)], rules)) == [20]  # 0…9 and 12…21


def test_hiding_the_tab_with_and_without_require_visible() -> None:
    hb = beats(0, 15) + beats(20, 60, visible=False)
    shown = log_of(grid_of(1), [(hb, 60)])
    assert shown[0].seconds == 60 and shown[0].present
    assert shown[0].visible_seconds == 20
    strict = AttendanceRules(require_visible=True)
    hidden = log_of(grid_of(1), [(hb, 60)], strict)
    assert hidden[0].seconds == 20 and not hidden[0].present
    assert hidden[0].visible_seconds == 20
    # coming back to the tab qualifies again from that heartbeat
    back = log_of(grid_of(1), [(hb[:3] + beats(35, 60), 60)], strict)
    assert back[0].seconds == 20 + 25


def test_leaving_the_room_ends_qualifying_at_once() -> None:
    hb = [
        Heartbeat(at(0), True, False, "lobby"),  # not in a room yet
        Heartbeat(at(10), True, True, "main"),
        Heartbeat(at(40), True, False, "main"),  # back to the lobby
    ]
    log = log_of(grid_of(1), [(hb, 60)])
    assert seconds(log) == [30]
    assert log[0].room == "main"


def test_two_tabs_never_double_count() -> None:
    same = log_of(grid_of(2), [(beats(0, 120), 120), (beats(5, 120), 120)])
    assert seconds(same) == [60, 60]
    overlapping = log_of(
        grid_of(1),
        [
            ([Heartbeat(at(0), True, True, "main")], 20),
            ([Heartbeat(at(10), True, True, "main")], 30),
        ],
    )
    assert seconds(overlapping) == [30]  # 0…19 and 10…29 overlap on 10…19


@pytest.mark.parametrize(("switch", "room"), [(35, "main"), (25, "breakout-1"), (30, "breakout-1")])
def test_a_minute_split_between_rooms_takes_the_room_of_most_seconds(
    switch: int, room: str
) -> None:
    hb = beats(0, switch - 1, 5) + beats(switch, 60, 5, room="breakout-1")
    log = log_of(grid_of(1), [(hb, 60)])
    assert log[0].seconds == 60
    assert log[0].room == room  # 30/30 is a tie: the first name, "breakout-1"


def test_tabs_in_two_rooms_count_each_room_but_the_second_once() -> None:
    log = log_of(
        grid_of(1),
        [(beats(0, 30, room="main"), 40), (beats(20, 60, room="breakout-1"), 60)],
    )
    assert log[0].seconds == 60  # main 0…39, breakout-1 20…59: 60 distinct seconds
    assert log[0].room == "breakout-1"  # 40 s each: the tie goes to the first name
    log = log_of(
        grid_of(1),
        [(beats(0, 45, room="main"), 45), (beats(20, 60, room="breakout-1"), 60)],
    )
    assert log[0].room == "main"


def test_a_room_is_reported_only_for_covered_minutes() -> None:
    grid = grid_of(2)
    log = presence_minutes(grid, [(0, "main", 0, 0), (1, "main", 1, 0)], RULES)
    assert [m.room for m in log] == [None, "main"]
    assert [m.seconds for m in log] == [0, 1]


def test_flushing_every_minute_splits_intervals_at_the_flushes() -> None:
    socket = SocketPresence(RULES)
    assert socket.advance(at(0)) == []
    assert socket.heartbeat(Heartbeat(at(10), True, True, "main")) == []
    assert socket.advance(at(60)) == [Interval(at(10), at(55), "main", True)]  # stale at 55
    assert socket.advance(at(120)) == []
    assert socket.heartbeat(Heartbeat(at(130), False, True, "breakout-1")) == []
    assert socket.advance(at(140)) == [Interval(at(130), at(140), "breakout-1", False)]
    assert socket.close(at(150)) == [Interval(at(140), at(150), "breakout-1", False)]
    assert socket.latest is None
    assert socket.advance(at(160)) == []


def test_a_late_stamped_heartbeat_never_reopens_the_past() -> None:
    hb = [
        Heartbeat(at(0), True, True, "main"),
        Heartbeat(at(10), True, True, "main"),
        Heartbeat(at(5), True, True, "breakout-1"),  # stamped earlier than the one before
    ]
    assert qualifying_intervals(hb, at(30), RULES) == [
        Interval(at(0), at(10), "main", True),
        Interval(at(10), at(30), "breakout-1", True),
    ]


def test_presence_in_a_break_minute_is_logged_and_not_counted() -> None:
    grid = SessionGrid.of(START, at(300), [(at(60), at(180))])
    log = log_of(grid, [(beats(0, 300), 300)])
    assert [m.is_break for m in log] == [False, True, True, False, False]
    assert present(log) == [True] * 5
    result = session_attendance("d", grid.required_minutes, log, Fraction(9, 10))
    assert (result.required_minutes, result.present_minutes) == (3, 3)


# --------------------------------------------------------------------------------------------
# The grid.


def test_minutes_reached() -> None:
    grid = grid_of(3)
    assert grid.minutes_reached(at(-30)) == 0
    assert grid.minutes_reached(at(0)) == 0
    assert grid.minutes_reached(at(Fraction(1, US))) == 1
    assert grid.minutes_reached(at(60)) == 1
    assert grid.minutes_reached(at(60 + Fraction(1, US))) == 2
    assert grid.minutes_reached(at(179)) == 3
    assert grid.minutes_reached(at(180)) == 3
    assert grid.minutes_reached(at(10_000)) == 3


def test_minute_at() -> None:
    grid = grid_of(3)
    assert grid.minute_at(at(-30)) == 0
    assert grid.minute_at(at(0)) == 0
    assert grid.minute_at(at(60 - Fraction(1, US))) == 0
    assert grid.minute_at(at(60)) == 1
    assert grid.minute_at(at(179.5)) == 2
    assert grid.minute_at(at(180)) == 3  # clamped to minute_count
    assert grid.minute_at(at(10_000)) == 3


@pytest.mark.parametrize(
    ("a", "b", "masks"),
    [
        (0, 0, []),
        (5, 5, []),
        (10, 5, []),
        (0, 60, [(0, FULL_MINUTE)]),
        (0, 180, [(0, FULL_MINUTE), (1, FULL_MINUTE), (2, FULL_MINUTE)]),
        (0.5, 1.5, [(0, 1 << 1)]),
        (0.5, 1, []),
        (Fraction(-1, US), Fraction(1, US), [(0, 1)]),
        (58, 62, [(0, 0b11 << 58), (1, 0b11)]),
        (59.5, 61, [(1, 1)]),
        (-5, 3, [(0, 0b111)]),
        (-100, -1, []),
        (175, 500, [(2, 0b11111 << 55)]),
        (180, 240, []),
        (Fraction(179_000_001, US), 200, []),
    ],
)
def test_second_masks(
    a: float | Fraction, b: float | Fraction, masks: list[tuple[int, int]]
) -> None:
    assert list(grid_of(3).second_masks(at(a), at(b))) == masks


def test_session_grid_of_clips_breaks_that_straddle_the_edges() -> None:
    end = at(10 * 60)
    grid = SessionGrid.of(START, end, [(at(-600), at(120)), (at(480), at(1200))])
    assert grid.minute_count == 10
    assert grid.break_minutes == frozenset({0, 1, 8, 9})
    assert grid.required_minutes == 6
    outside = SessionGrid.of(START, end, [(at(-600), at(0)), (at(600), at(900))])
    assert outside.break_minutes == frozenset()
    assert outside.required_minutes == 10
    whole = SessionGrid.of(START, end, [(at(-60), at(660)), (at(120), at(240))])
    assert whole.break_minutes == frozenset(range(10))
    assert whole.required_minutes == 0
    overlapping = SessionGrid.of(START, end, [(at(120), at(300)), (at(240), at(420))])
    assert overlapping.break_minutes == frozenset(range(2, 7))
    assert SessionGrid.of(START, end).break_minutes == frozenset()


def test_cells_outside_the_log_are_ignored() -> None:
    grid = grid_of(2)
    cells = [(-1, "main", FULL_MINUTE, 0), (0, "main", 1, 1), (2, "main", FULL_MINUTE, 0)]
    log = presence_minutes(grid, cells, RULES)
    assert seconds(log) == [1, 0]
    assert presence_minutes(grid, cells, RULES, minutes=0) == []
    assert presence_minutes(grid, cells, RULES, minutes=1) == log[:1]


def test_a_heartbeat_stamped_before_a_flush_never_reopens_flushed_time() -> None:
    # the flush at 0:30 already gave 0:00 … 0:30 to "main"; a heartbeat stamped 0:20 (a clock
    # stepped back, or stamped before the flush ran) must not hand 0:20 … 0:30 out again
    socket = SocketPresence(RULES)
    assert socket.heartbeat(Heartbeat(at(0), True, True, "main")) == []
    assert socket.advance(at(30)) == [Interval(at(0), at(30), "main", True)]
    assert socket.heartbeat(Heartbeat(at(20), True, True, "breakout-1")) == []
    assert socket.close(at(40)) == [Interval(at(30), at(40), "breakout-1", True)]

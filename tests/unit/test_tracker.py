"""The per-process presence tracker: sockets in, minute cells and socket changes out."""

from datetime import UTC, datetime, timedelta

import pytest

from studymission.domain.presence import FULL_MINUTE, Heartbeat, SessionGrid
from studymission.domain.values import AttendanceRules
from studymission.realtime.presence import EventFrame, PresenceTracker

pytestmark = pytest.mark.unit

START = datetime(2021, 11, 24, 4, 0, tzinfo=UTC)
GRID = SessionGrid.of(START, START + timedelta(minutes=10))
FRAME = EventFrame(1, "E", AttendanceRules(), ((7, "day1", GRID),))


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def beat(seconds: float, room: str = "main", in_room: bool = True) -> Heartbeat:
    return Heartbeat(at(seconds), True, in_room, room)


def test_heartbeats_fold_into_cells_and_take_empties_them() -> None:
    tracker = PresenceTracker("proc")
    tracker.open("s1", FRAME, 42, at(-5))
    for second in range(0, 120, 15):
        tracker.heartbeat("s1", beat(second))
    tracker.advance(at(120))
    cells = sorted(tracker.take_cells())
    assert cells == [
        (7, 42, 0, "main", FULL_MINUTE, FULL_MINUTE),
        (7, 42, 1, "main", FULL_MINUTE, FULL_MINUTE),
    ]
    assert tracker.take_cells() == []


def test_time_before_the_session_is_not_logged() -> None:
    tracker = PresenceTracker("proc")
    tracker.open("s1", FRAME, 42, at(-60))
    tracker.heartbeat("s1", beat(-40))
    tracker.heartbeat("s1", beat(-20))
    tracker.heartbeat("s1", beat(0))
    tracker.advance(at(10))
    assert tracker.take_cells() == [(7, 42, 0, "main", (1 << 10) - 1, (1 << 10) - 1)]


def test_changes_record_connect_moves_and_disconnect_but_not_repeats() -> None:
    tracker = PresenceTracker("proc")
    tracker.open("s1", FRAME, 42, at(0))
    tracker.heartbeat("s1", beat(1))
    tracker.heartbeat("s1", beat(16))  # same place: no change entry
    tracker.heartbeat("s1", beat(31, room="breakout-1"))
    tracker.close("s1", at(40), {"code": 1001})
    changes = tracker.take_changes()
    assert [(c.kind, c.room, c.at) for c in changes] == [
        ("connect", None, at(0)),
        ("change", "main", at(1)),
        ("change", "breakout-1", at(31)),
        ("disconnect", None, at(40)),
    ]
    assert changes[-1].detail == {"code": 1001}
    assert tracker.sockets == {}
    cells = {(c[2], c[3]): c[4].bit_count() for c in tracker.take_cells()}
    assert cells == {(0, "main"): 30, (0, "breakout-1"): 9}


def test_failed_writes_are_restored_and_merge_with_new_coverage() -> None:
    tracker = PresenceTracker("proc")
    tracker.open("s1", FRAME, 42, at(0))
    tracker.heartbeat("s1", beat(0))
    tracker.advance(at(10))
    lost = tracker.take_cells()
    tracker.advance(at(20))
    tracker.restore_cells(lost)
    assert tracker.take_cells() == [(7, 42, 0, "main", (1 << 20) - 1, (1 << 20) - 1)]
    changes = tracker.take_changes()
    tracker.restore_changes(changes)
    assert tracker.take_changes() == changes


def test_two_tabs_of_one_person_count_once() -> None:
    tracker = PresenceTracker("proc")
    tracker.open("tab1", FRAME, 42, at(0))
    tracker.open("tab2", FRAME, 42, at(0))
    tracker.heartbeat("tab1", beat(0))
    tracker.heartbeat("tab2", beat(5))
    tracker.advance(at(60))
    # Each tab goes stale 45 s after its only heartbeat: [0, 45) ∪ [5, 50), counted once.
    assert tracker.take_cells() == [(7, 42, 0, "main", (1 << 50) - 1, (1 << 50) - 1)]

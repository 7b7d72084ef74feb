"""The video service's joins and leaves → merged spans → confirmed present minutes.

The property test checks the spans against a brute-force reading, second by second, of the
rule in domain/video_evidence.py: a second is seen when some (room, connection) has had more
joins than leaves by then.
"""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studymission.domain.presence import SessionGrid, count_present_minutes
from studymission.domain.values import AttendanceRules
from studymission.domain.video_evidence import (
    Report,
    Sighting,
    Span,
    confirmed_minutes,
    evidence_spans,
    merge_spans,
    present_minute_set,
)

pytestmark = pytest.mark.unit

T0 = datetime(2021, 11, 24, 4, 0, tzinfo=UTC)
GRID = SessionGrid(T0, T0 + timedelta(minutes=10), frozenset({5}))
FULL = (1 << 60) - 1
J, L = Sighting.JOINED, Sighting.LEFT


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def report(seconds: float, kind: Sighting, room: str = "main", connection: str = "") -> Report:
    return Report(at(seconds), kind, room, connection)


def test_spans_pair_join_and_leave() -> None:
    spans = evidence_spans([report(10, J), report(70, L)], until=at(600))
    assert spans == [Span(at(10), at(70))]


def test_spans_ordered_by_time_not_arrival() -> None:
    # The leave arrived first; ordered by time it closes the join.
    spans = evidence_spans([report(70, L), report(10, J)], until=at(600))
    assert spans == [Span(at(10), at(70))]


def test_spans_join_without_leave_lasts_until() -> None:
    assert evidence_spans([report(10, J)], until=at(300)) == [Span(at(10), at(300))]


def test_spans_leave_without_join_covers_nothing() -> None:
    assert evidence_spans([report(10, L)], until=at(300)) == []


def test_spans_two_devices_overlap_once() -> None:
    reports = [
        report(0, J, connection="a"),
        report(30, J, connection="b"),
        report(60, L, connection="a"),
        report(120, L, connection="b"),
    ]
    assert evidence_spans(reports, until=at(600)) == [Span(at(0), at(120))]


def test_spans_without_connection_count_joins_and_leaves() -> None:
    reports = [report(0, J), report(30, J), report(60, L), report(120, L)]
    assert evidence_spans(reports, until=at(600)) == [Span(at(0), at(120))]


def test_spans_room_change_is_continuous() -> None:
    reports = [
        report(0, J, "main"),
        report(60, L, "main"),
        report(60, J, "breakout-1"),
        report(180, L, "breakout-1"),
    ]
    assert evidence_spans(reports, until=at(600)) == [Span(at(0), at(180))]


def test_spans_clipped_at_until() -> None:
    assert evidence_spans([report(0, J), report(500, L)], until=at(100)) == [Span(at(0), at(100))]


def test_merge_spans_joins_touching_and_nested() -> None:
    spans = [Span(at(50), at(60)), Span(at(0), at(10)), Span(at(10), at(20)), Span(at(1), at(5))]
    assert merge_spans(spans) == [Span(at(0), at(20)), Span(at(50), at(60))]


@pytest.mark.parametrize(("seen_until", "confirmed"), [(29, 0), (30, 1), (60, 1)])
def test_confirmed_minute_threshold(seen_until: int, confirmed: int) -> None:
    spans = [Span(at(0), at(seen_until))]
    assert confirmed_minutes(GRID, spans, {0}, 30) == confirmed


def test_confirmed_only_present_minutes_count() -> None:
    spans = [Span(at(0), at(600))]
    # Seen the whole session, present in minutes 1 and 2 only.
    assert confirmed_minutes(GRID, spans, {1, 2}, 30) == 2


def test_present_minute_set_skips_breaks_and_unreached() -> None:
    cells = [(0, FULL), (5, FULL), (6, FULL), (9, FULL), (1, (1 << 29) - 1)]
    assert present_minute_set(GRID, cells, 30, 7) == {0, 6}


@given(
    st.lists(
        st.tuples(st.integers(0, 9), st.integers(0, 1 << 60 - 1)),
        max_size=30,
    ),
    st.integers(0, 10),
    st.integers(1, 60),
)
def test_present_minute_set_agrees_with_count(
    cells: list[tuple[int, int]], reached: int, threshold: int
) -> None:
    rules = AttendanceRules(minute_threshold_seconds=threshold)
    present = present_minute_set(GRID, cells, threshold, reached)
    assert len(present) == count_present_minutes(GRID, cells, rules, reached)


reports_strategy = st.lists(
    st.builds(
        report,
        st.integers(0, 700),
        st.sampled_from([J, L]),
        st.sampled_from(["main", "breakout-1"]),
        st.sampled_from(["", "a", "b"]),
    ),
    max_size=12,
)


@given(reports_strategy, st.integers(0, 700))
def test_spans_match_brute_force(reports: list[Report], until: int) -> None:
    spans = evidence_spans(reports, until=at(until))
    ordered = sorted(reports, key=lambda r: (r.at, r.kind != J))
    for second in range(0, 701):
        depth: dict[tuple[str, str], int] = {}
        for r in ordered:
            if r.at > at(second):
                break
            line = (r.room, r.connection)
            if r.kind == J:
                depth[line] = depth.get(line, 0) + 1
            elif depth.get(line, 0) > 0:
                depth[line] -= 1
        # A second is seen when some line is open just after it (half-open spans).
        seen = second < until and any(depth.values())
        inside = any(s.start <= at(second) < s.end for s in spans)
        assert inside == seen, (second, spans)
    assert all(a.end < b.start for a, b in zip(spans, spans[1:], strict=False))

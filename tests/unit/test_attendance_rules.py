"""Session attendance and certificate eligibility (CONTRACT §4), in exact arithmetic."""

from collections.abc import Sequence
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studymission.domain.attendance import (
    Eligibility,
    Override,
    PersonAttendance,
    SessionAttendance,
    eligibility,
    session_attendance,
)
from studymission.domain.presence import PresenceMinute

pytestmark = pytest.mark.unit

NINE_TENTHS = Fraction(9, 10)
WHEN = datetime(2021, 11, 26, 9, 0, tzinfo=UTC)


def log_of(present: Sequence[bool], breaks: Sequence[int] = ()) -> list[PresenceMinute]:
    """A per-minute log with these present flags; minutes in `breaks` are break minutes."""
    return [
        PresenceMinute(
            minute=m,
            seconds=60 if flag else 0,
            present=flag,
            room="main" if flag else None,
            is_break=m in breaks,
            visible_seconds=60 if flag else 0,
        )
        for m, flag in enumerate(present)
    ]


def attended_log(present: int, required: int) -> list[PresenceMinute]:
    return log_of([True] * present + [False] * (required - present))


# --------------------------------------------------------------------------------------------
# session_attendance


@pytest.mark.parametrize(("present", "attended"), [(148, False), (149, True), (165, True)])
def test_nine_tenths_of_165_minutes_needs_149(present: int, attended: bool) -> None:
    assert NINE_TENTHS * 165 == Fraction(297, 2)  # 148.5 minutes
    result = session_attendance("day1", 165, attended_log(present, 165), NINE_TENTHS)
    assert result == SessionAttendance("day1", 165, present, attended)


@pytest.mark.parametrize(
    ("threshold", "required", "present"),
    [("0.55", 100, 55), ("0.56", 25, 14), ("0.07", 100, 7), ("1/3", 3, 1), ("1", 165, 165)],
)
def test_the_threshold_is_exact_where_floats_overshoot(
    threshold: str, required: int, present: int
) -> None:
    # e.g. 0.55 × 100 is 55.00000000000001 in binary floating point
    exact = Fraction(threshold)
    assert exact * required == present
    assert session_attendance("s", required, attended_log(present, required), exact).attended
    fewer = attended_log(present - 1, required)
    assert not session_attendance("s", required, fewer, exact).attended


def test_break_minutes_are_not_counted_even_when_present() -> None:
    # 10 minutes, 2 of them a break; present in both break minutes and 6 of the 8 others
    log = log_of([True, True, True, True, True, True, False, False, True, True], breaks=(8, 9))
    result = session_attendance("day1", 8, log, Fraction(3, 4))
    assert result.present_minutes == 6
    assert result.attended  # 6 ≥ 3/4 × 8
    assert not session_attendance("day1", 8, log, Fraction(7, 8)).attended  # 6 < 7
    assert result.ratio == Fraction(3, 4)


def test_minutes_not_present_are_not_counted_whatever_their_seconds() -> None:
    minute = PresenceMinute(0, 29, False, "main", False, 29)
    result = session_attendance("s", 1, [minute], Fraction(1, 100))
    assert (result.present_minutes, result.attended) == (0, False)


@pytest.mark.parametrize("log", [[], log_of([False, False], breaks=(0, 1))])
def test_a_session_with_no_required_minutes_is_attended(log: list[PresenceMinute]) -> None:
    result = session_attendance("s", 0, log, NINE_TENTHS)
    assert result.attended
    assert result.present_minutes == 0
    assert result.ratio == 1
    assert result.ratio_rounded == 1.0


def test_no_presence_is_not_attended() -> None:
    result = session_attendance("s", 10, log_of([False] * 10), NINE_TENTHS)
    assert not result.attended
    assert result.ratio == 0 and result.ratio_rounded == 0.0


@pytest.mark.parametrize(
    ("present", "required", "rounded"),
    [
        (160, 165, 0.97),  # 0.969696…
        (149, 165, 0.903),  # 0.903030…
        (148, 165, 0.897),  # 0.896969…
        (2, 3, 0.667),
        (1, 3, 0.333),
        (165, 165, 1.0),
        (1999, 2000, 1.0),  # 0.9995, a tie: half to even
        (1, 16, 0.062),  # 0.0625, a tie: half to even
        (247, 2000, 0.124),  # 0.1235 exactly: its binary neighbour would round to 0.123
    ],
)
def test_ratio_is_exact_and_shown_to_three_decimals(
    present: int, required: int, rounded: float
) -> None:
    result = SessionAttendance("s", required, present, True)
    assert result.ratio == Fraction(present, required)
    assert isinstance(result.ratio, Fraction)
    assert result.ratio_rounded == rounded


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.booleans()), max_size=200),
    st.fractions(0, 1, max_denominator=1000),
)
def test_attended_is_present_at_least_threshold_times_required(
    minutes: list[tuple[bool, bool]], threshold: Fraction
) -> None:
    log = log_of([p for p, _ in minutes], breaks=[m for m, (_, b) in enumerate(minutes) if b])
    required = sum(1 for _, b in minutes if not b)
    present = sum(1 for p, b in minutes if p and not b)
    result = session_attendance("s", required, log, threshold)
    assert result.present_minutes == present
    # integer cross-multiplication: present / required ≥ n / d
    n, d = threshold.numerator, threshold.denominator
    assert result.attended == (required == 0 or present * d >= n * required)
    assert abs(result.ratio_rounded - float(result.ratio)) <= 0.0005 + 1e-12


# --------------------------------------------------------------------------------------------
# eligibility


def sessions(*attended: bool) -> list[SessionAttendance]:
    return [
        SessionAttendance(f"day{i + 1}", 165, 160 if ok else 100, ok)
        for i, ok in enumerate(attended)
    ]


@pytest.mark.parametrize(
    ("attended", "eligible"),
    [((True, True, True), True), ((True, False, True), False), ((False,), False), ((), True)],
)
def test_eligible_by_attendance_when_every_session_is_attended(
    attended: tuple[bool, ...], eligible: bool
) -> None:
    # with no sessions at all, "every session attended" holds vacuously
    assert eligibility(sessions(*attended), None) == Eligibility(eligible, "attendance", eligible)


def test_an_override_makes_eligible_without_full_attendance() -> None:
    override = Override(True, "attended the make-up session", "secretariat@example.org", WHEN)
    result = eligibility(sessions(True, False), override)
    assert result.eligible is True
    assert result.ground == "override"
    assert result.by_attendance is False
    assert result.override is override


def test_an_override_withholds_eligibility_despite_full_attendance() -> None:
    override = Override(False, "another person attended in their place", "sec", WHEN)
    result = eligibility(sessions(True, True), override)
    assert result == Eligibility(False, "override", True, override)


def test_an_override_agreeing_with_attendance_is_still_the_ground() -> None:
    override = Override(True, "confirmed", "sec", WHEN)
    result = eligibility(sessions(True), override)
    assert (result.eligible, result.ground, result.by_attendance) == (True, "override", True)


@pytest.mark.parametrize("override_eligible", [None, True, False])
def test_person_row_is_eligible_as_its_eligibility_says(override_eligible: bool | None) -> None:
    override = None if override_eligible is None else Override(override_eligible, "r", "a", WHEN)
    row_sessions = tuple(sessions(True, False))
    decided = eligibility(row_sessions, override)
    row = PersonAttendance(
        "p001", "A. Participant", "participant", "IN", "overseas", row_sessions, decided
    )
    expected = False if override_eligible is None else override_eligible
    assert row.eligible is expected
    assert decided.ground == ("attendance" if override is None else "override")

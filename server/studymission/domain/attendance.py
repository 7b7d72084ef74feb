"""Attendance and eligibility (CONTRACT §4), from the per-minute log; exact arithmetic."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from studymission.domain.presence import PresenceMinute


@dataclass(frozen=True, slots=True)
class SessionAttendance:
    """One person's attendance of one session."""

    key: str
    required_minutes: int
    present_minutes: int
    attended: bool

    @property
    def ratio(self) -> Fraction:
        if self.required_minutes == 0:
            return Fraction(1)
        return Fraction(self.present_minutes, self.required_minutes)

    @property
    def ratio_rounded(self) -> float:
        # Round the exact fraction (half to even), not its binary approximation.
        return float(round(self.ratio, 3))


def session_attendance(
    key: str, required_minutes: int, log: Sequence[PresenceMinute], threshold: Fraction
) -> SessionAttendance:
    """Present minutes counted outside breaks; attended when present ≥ threshold × required."""
    present = sum(1 for minute in log if minute.present and not minute.is_break)
    return attendance_of(key, required_minutes, present, threshold)


def attendance_of(
    key: str, required_minutes: int, present_minutes: int, threshold: Fraction
) -> SessionAttendance:
    """Attended when present ≥ threshold × required (exactly), or when nothing is required."""
    attended = required_minutes == 0 or present_minutes >= threshold * required_minutes
    return SessionAttendance(key, required_minutes, present_minutes, attended)


@dataclass(frozen=True, slots=True)
class Override:
    """The secretariat's decision on one person's eligibility, with why, who and when."""

    eligible: bool
    reason: str
    author: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Whether a person is eligible, and on what ground."""

    eligible: bool
    #: ``attendance`` (every session attended, or not), or ``override``.
    ground: str
    by_attendance: bool
    override: Override | None = None


def eligibility(sessions: Sequence[SessionAttendance], override: Override | None) -> Eligibility:
    """Eligible when every session is attended, unless an override in force says otherwise."""
    by_attendance = all(session.attended for session in sessions)
    if override is not None:
        return Eligibility(override.eligible, "override", by_attendance, override)
    return Eligibility(by_attendance, "attendance", by_attendance)


@dataclass(frozen=True, slots=True)
class PersonAttendance:
    """A row of the attendance report."""

    key: str
    name: str
    role: str
    country: str
    origin: str
    sessions: tuple[SessionAttendance, ...]
    eligibility: Eligibility

    @property
    def eligible(self) -> bool:
        return self.eligibility.eligible


@dataclass(frozen=True, slots=True)
class AttendanceReport:
    """Every person of the event against every session, in the event's order."""

    event: str
    title: str
    session_threshold: Fraction
    sessions: tuple[tuple[str, str, int], ...]  # (key, title, required minutes)
    people: tuple[PersonAttendance, ...]

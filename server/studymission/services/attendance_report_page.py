"""The secretariat's attendance report page: the report of services/attendance.py filtered
by country, role, name and eligibility, its heat map, session spread and override trail.

This module selects, counts and groups; it decides nothing about presence itself.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from fractions import Fraction

from sqlmodel import Session, col, select

from studymission.db import events as store
from studymission.db.tables import AttendanceOverride, Event, Person
from studymission.domain.attendance import (
    AttendanceReport,
    PersonAttendance,
    SessionAttendance,
)
from studymission.domain.presence import SessionGrid
from studymission.domain.values import Role
from studymission.exporters.heatmap import HeatmapRow, HeatmapSession, render_heatmap
from studymission.services import attendance as attendance_service
from studymission.services.countries import country_name
from studymission.services.secretariat import fold
from studymission.services.video_evidence import video_confirmation


@dataclass(frozen=True)
class ReportFilter:
    """The report's filters; empty strings mean "any"."""

    country: str = ""
    role: str = ""
    query: str = ""
    not_eligible: bool = False

    def as_query(self) -> dict[str, str]:
        """The filters as query parameters, leaving out those not in use."""
        values = {"country": self.country, "role": self.role, "q": self.query}
        query = {name: value for name, value in values.items() if value}
        if self.not_eligible:
            query["not_eligible"] = "1"
        return query


@dataclass(frozen=True)
class SessionColumn:
    key: str
    title: str
    required: int
    #: The fewest present minutes that attend the session (threshold × required, rounded up).
    needed: int
    #: Whether the session is over: until then "not attended" only means "not yet".
    ended: bool
    #: Required minutes not reached yet: a person short of `needed` by more can no longer
    #: attend the session.
    remaining: int

    def out_of_reach(self, session: SessionAttendance) -> bool:
        return not session.attended and session.present_minutes + self.remaining < self.needed


@dataclass(frozen=True)
class SessionSpread:
    """How the event's participants stand in one session: attended, short of it by how much."""

    key: str
    title: str
    attended: int
    #: At least half of the required minutes present, but short of the threshold.
    half: int
    #: Some minutes present, under half.
    some: int
    #: Not one present minute.
    none: int

    @property
    def total(self) -> int:
        return self.attended + self.half + self.some + self.none


@dataclass(frozen=True)
class ReportRow:
    person: PersonAttendance
    #: The person's sessions in the report's column order (None where one is missing).
    cells: tuple[SessionAttendance | None, ...]


@dataclass(frozen=True)
class TrailLine:
    """One change of an override, for the audit trail."""

    at: datetime
    actor: str
    #: ``set`` (a decision) or ``withdraw`` (its withdrawal)
    action: str
    person_key: str
    person_name: str
    eligible: bool
    reason: str
    #: For a decision: ``in force``, ``replaced`` (by a later decision) or ``withdrawn``.
    state: str
    ended_at: datetime | None = None
    ended_by: str | None = None


@dataclass(frozen=True)
class VideoColumn:
    """(person key, session key) → (present minutes the video service confirms, present)."""

    cells: dict[tuple[str, str], tuple[int, int]]

    def cell(self, person_key: str, session_key: str) -> tuple[int, int]:
        return self.cells.get((person_key, session_key), (0, 0))


@dataclass(frozen=True)
class ReportView:
    #: Everyone, unfiltered: the summary counts it, a saved decision is looked up in it.
    report: AttendanceReport
    now: datetime
    rows: tuple[ReportRow, ...]
    total: int
    sessions: tuple[SessionColumn, ...]
    spread: tuple[SessionSpread, ...]
    participants: int
    participants_eligible: int
    threshold: Fraction
    minute_threshold_seconds: int
    countries: tuple[tuple[str, str], ...]
    roles: tuple[Role, ...]
    filter: ReportFilter
    #: The heat map of the rows shown; render_heatmap escapes every name and title in it.
    heatmap: str
    trail: tuple[TrailLine, ...]
    #: What the video service confirms (docs/video-evidence.md); None: nothing received.
    video: VideoColumn | None = None

    @property
    def finished(self) -> bool:
        """Whether every session is over, so that "not eligible" is final."""
        return all(session.ended for session in self.sessions)

    def person(self, key: str) -> PersonAttendance | None:
        return next((p for p in self.report.people if p.key == key), None)


def report_view(db: Session, event: Event, wanted: ReportFilter, *, now: datetime) -> ReportView:
    """The attendance report as of `now`, filtered, with its summary, heat map and trail."""
    frames = attendance_service.session_frames(db, event)
    coverage = attendance_service.read_coverage(db, frames)
    report = attendance_service.attendance_report(
        db, event, now=now, frames=frames, coverage=coverage
    )
    people = store.list_people(db, event)
    rows = tuple(
        ReportRow(person, _aligned(report, person))
        for person in report.people
        if _report_keeps(person, wanted)
    )
    participants = [p for p in report.people if p.role == Role.PARTICIPANT.value]
    codes = {p.country for p in report.people}
    ended = {f.key: f.grid.minutes_reached(now) >= f.grid.minute_count for f in frames}
    remaining = {f.key: _required_after(f.grid, f.grid.minutes_reached(now)) for f in frames}
    return ReportView(
        report=report,
        now=now,
        rows=rows,
        total=len(report.people),
        sessions=tuple(
            SessionColumn(
                key,
                title,
                required,
                math.ceil(report.session_threshold * required),
                ended.get(key, False),
                remaining.get(key, 0),
            )
            for key, title, required in report.sessions
        ),
        spread=_spread(report, participants),
        participants=len(participants),
        participants_eligible=sum(1 for p in participants if p.eligible),
        threshold=report.session_threshold,
        minute_threshold_seconds=event.minute_threshold_seconds,
        countries=tuple(sorted(((c, country_name(c)) for c in codes), key=lambda c: c[1])),
        roles=tuple(Role),
        filter=wanted,
        heatmap=_heatmap(event, frames, coverage, report, rows, people, now=now),
        trail=override_trail(db, event, people),
        video=_video(db, event, frames, coverage, people, now=now),
    )


def _video(
    db: Session,
    event: Event,
    frames: Sequence[attendance_service.SessionFrame],
    coverage: attendance_service.Coverage,
    people: Sequence[Person],
    *,
    now: datetime,
) -> VideoColumn | None:
    confirmation = video_confirmation(db, event, frames, coverage, now=now)
    if not confirmation.has_evidence:
        return None
    keys = {p.id: p.key for p in people}
    return VideoColumn(
        {
            (keys[pid], session): pair
            for (pid, session), pair in confirmation.cells.items()
            if pid in keys
        }
    )


def _required_after(grid: SessionGrid, reached: int) -> int:
    """Required (non-break) minutes of the session from minute `reached` on."""
    return sum(1 for m in range(reached, grid.minute_count) if m not in grid.break_minutes)


def _report_keeps(person: PersonAttendance, wanted: ReportFilter) -> bool:
    if wanted.country and person.country != wanted.country.upper():
        return False
    if wanted.role and person.role != wanted.role:
        return False
    if wanted.not_eligible and person.eligible:
        return False
    needle = fold(wanted.query.strip())
    return not needle or any(needle in fold(text) for text in (person.name, person.key))


def _aligned(
    report: AttendanceReport, person: PersonAttendance
) -> tuple[SessionAttendance | None, ...]:
    by_key = {session.key: session for session in person.sessions}
    return tuple(by_key.get(key) for key, _title, _required in report.sessions)


def _spread(
    report: AttendanceReport, participants: Sequence[PersonAttendance]
) -> tuple[SessionSpread, ...]:
    out = []
    for key, title, _required in report.sessions:
        bands = {"attended": 0, "half": 0, "some": 0, "none": 0}
        for person in participants:
            session = next((s for s in person.sessions if s.key == key), None)
            if session is None:
                continue
            if session.attended:
                bands["attended"] += 1
            elif session.ratio >= Fraction(1, 2):
                bands["half"] += 1
            elif session.present_minutes:
                bands["some"] += 1
            else:
                bands["none"] += 1
        out.append(SessionSpread(key, title, **bands))
    return tuple(out)


def _heatmap(
    event: Event,
    frames: Sequence[attendance_service.SessionFrame],
    coverage: attendance_service.Coverage,
    report: AttendanceReport,
    rows: Sequence[ReportRow],
    people: Sequence[Person],
    *,
    now: datetime,
) -> str:
    seconds = attendance_service.seconds_by_minute(frames, coverage, now=now)
    ids = {p.key: p.id or 0 for p in people}
    sessions = [
        HeatmapSession(
            f.key, f.title, f.grid.minute_count, f.grid.break_minutes, f.grid.minutes_reached(now)
        )
        for f in frames
    ]
    heat_rows = [
        HeatmapRow(
            key=row.person.key,
            name=row.person.name,
            country=row.person.country,
            eligible=row.person.eligible,
            seconds={f.key: seconds.get((ids.get(row.person.key, 0), f.key), ()) for f in frames},
        )
        for row in rows
    ]
    return render_heatmap(
        sessions,
        heat_rows,
        title=f"Minutes present — {report.title}",
        minute_threshold_seconds=event.minute_threshold_seconds,
    )


def override_trail(
    db: Session, event: Event, people: Sequence[Person], person: Person | None = None
) -> tuple[TrailLine, ...]:
    """Every override decision and withdrawal of the event (or of `person`), newest first.

    A decision is *replaced* when a later one for the same person was made at the moment it
    ended (set_override withdraws the earlier one); otherwise its end is a withdrawal, which
    gets a line of its own.
    """
    query = select(AttendanceOverride).where(AttendanceOverride.event_id == event.id)
    if person is not None:
        query = query.where(AttendanceOverride.person_id == person.id)
    overrides = db.exec(query.order_by(col(AttendanceOverride.created_at))).all()
    by_id = {p.id: p for p in people}
    made = {(o.person_id, o.created_at) for o in overrides}
    lines: list[TrailLine] = []
    for o in overrides:
        who = by_id.get(o.person_id)
        key, name = (who.key, who.name) if who else ("?", "(removed person)")
        replaced = o.withdrawn_at is not None and (o.person_id, o.withdrawn_at) in made
        state = "in force" if o.withdrawn_at is None else "replaced" if replaced else "withdrawn"
        decision = TrailLine(
            o.created_at,
            o.author,
            "set",
            person_key=key,
            person_name=name,
            eligible=o.eligible,
            reason=o.reason,
            state=state,
            ended_at=o.withdrawn_at,
            ended_by=o.withdrawn_by,
        )
        lines.append(decision)
        if o.withdrawn_at is not None and not replaced:
            withdrawal = replace(decision, action="withdraw", ended_at=None, ended_by=None)
            lines.append(replace(withdrawal, at=o.withdrawn_at, actor=o.withdrawn_by or ""))
    lines.sort(key=lambda line: line.at, reverse=True)
    return tuple(lines)

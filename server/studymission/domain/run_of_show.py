"""What is happening at an instant: session, mode and agenda item.

The programme's timetable says it by default. The moderators' run of show (CONTRACT §4b)
can take over a session: from then on their word (mode and item) is what every page
shows, until they hand the session back to the timetable.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from studymission.domain.values import ItemKind, Mode, SessionSpec

#: Modes in which the session is under way: the room is open and presence counts.
RUNNING_MODES = frozenset({Mode.STAGE, Mode.BREAKOUTS, Mode.SITE_VISIT, Mode.BREAK})


@dataclass(frozen=True, slots=True)
class ScheduledState:
    session: str | None
    mode: Mode
    item: str | None


@dataclass(frozen=True, slots=True)
class Control:
    """A moderator's hand on one session: `manual` false means it follows the timetable."""

    manual: bool
    mode: Mode
    item: str | None
    changed_at: datetime
    changed_by: str


@dataclass(frozen=True, slots=True)
class ShowState:
    """What every page shows: the state, and whether a moderator or the timetable set it."""

    session: str | None
    mode: Mode
    item: str | None
    manual: bool


def current_session(sessions: Sequence[SessionSpec], now: datetime) -> SessionSpec | None:
    """The session running at `now`, else the next one, else the last one (ended)."""
    ordered = sorted(sessions, key=lambda s: s.start)
    for session in ordered:
        if now < session.end:
            return session
    return ordered[-1] if ordered else None


def scheduled_state(sessions: Sequence[SessionSpec], now: datetime) -> ScheduledState:
    session = current_session(sessions, now)
    if session is None:
        return ScheduledState(None, Mode.WAITING, None)
    return _timetable(session, now)


def scheduled_item(session: SessionSpec, now: datetime) -> str | None:
    item = next((i for i in session.agenda if i.start <= now < i.end), None)
    return item.key if item is not None else None


def _timetable(session: SessionSpec, now: datetime) -> ScheduledState:
    if now < session.start:
        return ScheduledState(session.key, Mode.WAITING, None)
    if now >= session.end:
        return ScheduledState(session.key, Mode.ENDED, None)
    item = next((i for i in session.agenda if i.start <= now < i.end), None)
    if item is None:
        return ScheduledState(session.key, Mode.STAGE, None)
    mode = Mode.BREAK if item.kind is ItemKind.BREAK else Mode.STAGE
    return ScheduledState(session.key, mode, item.key)


def show_session(
    sessions: Sequence[SessionSpec], controls: Mapping[str, Control], now: datetime
) -> SessionSpec | None:
    """The session pages show: the timetable's, unless the one before it overruns.

    A session a moderator keeps running (manual, in a running mode) past its end stays
    on every page until they end it or the next session starts: a panel that overruns by
    ten minutes is not cut off by the clock.
    """
    ordered = sorted(sessions, key=lambda s: s.start)
    scheduled = current_session(ordered, now)
    if scheduled is None:
        return None
    started = [s for s in ordered if s.start <= now]
    if started and started[-1] is not scheduled:
        previous = started[-1]
        control = controls.get(previous.key)
        if control is not None and control.manual and control.mode in RUNNING_MODES:
            return previous
    return scheduled


def show_state(
    sessions: Sequence[SessionSpec], controls: Mapping[str, Control], now: datetime
) -> ShowState:
    """What every page shows at `now`, the moderators' word first."""
    session = show_session(sessions, controls, now)
    if session is None:
        return ShowState(None, Mode.WAITING, None, manual=False)
    control = controls.get(session.key)
    if control is not None and control.manual:
        return ShowState(session.key, control.mode, control.item, manual=True)
    timetable = _timetable(session, now)
    return ShowState(session.key, timetable.mode, timetable.item, manual=False)

"""What the programme says is happening at an instant: session, mode and agenda item.

The moderators' run of show (CONTRACT §4b) can switch the mode by hand; without their
word, this schedule is what every client sees.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from studymission.domain.values import ItemKind, Mode, SessionSpec


@dataclass(frozen=True, slots=True)
class ScheduledState:
    session: str | None
    mode: Mode
    item: str | None


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
    if now < session.start:
        return ScheduledState(session.key, Mode.WAITING, None)
    if now >= session.end:
        return ScheduledState(session.key, Mode.ENDED, None)
    item = next((i for i in session.agenda if i.start <= now < i.end), None)
    if item is None:
        return ScheduledState(session.key, Mode.STAGE, None)
    mode = Mode.BREAK if item.kind is ItemKind.BREAK else Mode.STAGE
    return ScheduledState(session.key, mode, item.key)

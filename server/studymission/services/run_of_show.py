"""The run of show: moderators switch a session's mode and agenda item, or hand it back
to the timetable (CONTRACT §4b ``mode``). The console page and the JSON API both call here.

A change is written with its audit entry in one transaction; the caller then publishes
``{"kind": "state"}`` on the bus so that every process re-reads it and tells its pages.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from studymission.db.events import lock_event, read_programme
from studymission.db.run_of_show import get_control, read_controls
from studymission.db.tables import AuditEntry, Event, SessionControl
from studymission.domain.errors import InvalidInputError, NotFoundError
from studymission.domain.run_of_show import ShowState, scheduled_item, show_state
from studymission.domain.values import Mode, Problem, SessionSpec

MODES = tuple(m.value for m in Mode)


@dataclass(frozen=True, slots=True)
class ModeChange:
    """What the moderator asked for; `follow_timetable` hands the session back."""

    mode: str | None = None
    item: str | None = None
    follow_timetable: bool = False


def current_show(db: Session, event: Event, now: datetime) -> ShowState:
    programme = [s for _id, s in read_programme(db, event)]
    return show_state(programme, read_controls(db, event.id or 0), now)


def find_session(programme: Sequence[tuple[int, SessionSpec]], key: str) -> tuple[int, SessionSpec]:
    for session_id, session in programme:
        if session.key == key:
            return session_id, session
    raise NotFoundError(f"no session {key!r} in this event")


def change_mode(
    db: Session, event: Event, session_key: str, change: ModeChange, *, actor: str, now: datetime
) -> ShowState:
    """Apply `change` to the session and return what pages show now; commits.

    Every problem is listed at once and nothing is written when there is one. Without
    an item, the one the timetable has at `now` is taken (null outside the agenda).
    """
    programme = read_programme(db, event)
    session_id, session = find_session(programme, session_key)
    problems: list[Problem] = []
    if change.follow_timetable:
        if change.mode is not None or change.item is not None:
            problems.append(
                Problem("follow_timetable", True, "give either follow_timetable or a mode")
            )
    elif change.mode not in MODES:
        problems.append(Problem("mode", change.mode, f"must be one of {', '.join(MODES)}"))
    agenda = {i.key for i in session.agenda}
    if change.item is not None and change.item not in agenda:
        problems.append(
            Problem("item", change.item, f"not an agenda item of the session {session.key}")
        )
    if problems:
        raise InvalidInputError("the run of show was not changed", problems)
    lock_event(db, event)
    if change.follow_timetable:
        control = take_control(db, event, session_id, actor=actor, now=now)
        control.manual = False
        detail: dict[str, object] = {"session": session.key, "follow_timetable": True}
    else:
        item = change.item if change.item is not None else scheduled_item(session, now)
        mode = Mode(change.mode or "")
        take_control(db, event, session_id, actor=actor, now=now, mode=mode, item=item)
        detail = {"session": session.key, "mode": mode.value, "item": item}
    db.add(
        AuditEntry(
            event_id=event.id or 0, at=now, actor=actor, action="run_of_show.mode", detail=detail
        )
    )
    db.commit()
    return current_show(db, event, now)


def take_control(
    db: Session,
    event: Event,
    session_id: int,
    *,
    actor: str,
    now: datetime,
    mode: Mode | None = None,
    item: str | None = None,
) -> SessionControl:
    """The session's control row, set to `mode` and `item` by hand when a mode is given;
    added to `db`, not committed (breakout rounds switch the mode in their own write)."""
    control = get_control(db, session_id)
    if control is None:
        control = SessionControl(
            session_id=session_id, event_id=event.id or 0, changed_at=now, changed_by=actor
        )
    if mode is not None:
        control.manual = True
        control.mode = mode.value
        control.item = item
    control.changed_at = now
    control.changed_by = actor
    db.add(control)
    return control

"""What the live page, the moderator console and the presenter view show of the run of
show: the session on every page, its agenda with the current item, and what comes next."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from studymission.db.events import list_people, read_programme
from studymission.db.run_of_show import read_controls
from studymission.db.tables import Event, Person
from studymission.domain.run_of_show import Control, ShowState, show_state
from studymission.domain.values import AgendaItemSpec, Mode, SessionSpec
from studymission.realtime.protocol import iso

#: What each mode is called on the pages.
MODE_LABELS = {
    Mode.WAITING: "Waiting to start",
    Mode.STAGE: "Main stage",
    Mode.BREAKOUTS: "Group discussion in breakout rooms",
    Mode.SITE_VISIT: "Virtual site visit",
    Mode.BREAK: "Break",
    Mode.ENDED: "Session ended",
}


@dataclass(frozen=True, slots=True)
class Slot:
    """An agenda item as the pages list it, with its place in the run of show."""

    item: AgendaItemSpec
    session: SessionSpec
    #: done | now | next | later
    status: str
    speakers: tuple[str, ...]


@dataclass(frozen=True)
class StageView:
    show: ShowState
    session: SessionSpec | None
    current: AgendaItemSpec | None
    following: AgendaItemSpec | None
    slots: tuple[Slot, ...]
    control: Control | None
    names: dict[str, str]
    now: datetime

    @property
    def mode_label(self) -> str:
        return MODE_LABELS[self.show.mode]

    def agenda_json(self) -> list[dict[str, Any]]:
        """The session's agenda for the page's script (titles and times of each item)."""
        if self.session is None:
            return []
        return [
            {
                "key": i.key,
                "title": i.title,
                "kind": i.kind.value,
                "start": iso(i.start),
                "end": iso(i.end),
                "speakers": [self.names.get(k, k) for k in i.speakers],
            }
            for i in self.session.agenda
        ]


def _status(
    item: AgendaItemSpec, current: AgendaItemSpec | None, following: AgendaItemSpec | None
) -> str:
    if current is not None and item.key == current.key:
        return "now"
    if following is not None and item.key == following.key:
        return "next"
    if current is not None and item.start < current.start:
        return "done"
    return "later"


def stage_view(db: Session, event: Event, now: datetime) -> StageView:
    """The run of show at `now`: the session on every page, its items and the next one."""
    sessions = tuple(s for _id, s in read_programme(db, event))
    controls = read_controls(db, event.id or 0)
    show = show_state(sessions, controls, now)
    session = next((s for s in sessions if s.key == show.session), None)
    agenda = sorted(session.agenda, key=lambda i: i.start) if session else []
    current = next((i for i in agenda if i.key == show.item), None)
    if current is not None:
        following = next((i for i in agenda if i.start >= current.end and i is not current), None)
    else:
        following = next((i for i in agenda if i.start >= now), None)
    names = {p.key: p.name for p in list_people(db, event)}
    slots = tuple(
        Slot(i, session, _status(i, current, following), tuple(names.get(k, k) for k in i.speakers))
        for i in agenda
        if session is not None
    )
    return StageView(
        show=show,
        session=session,
        current=current,
        following=following,
        slots=slots,
        control=controls.get(show.session) if show.session else None,
        names=names,
        now=now,
    )


@dataclass(frozen=True)
class PresenterView:
    stage: StageView
    #: The presenter's own items over the whole programme, in time order.
    mine: tuple[Slot, ...]
    #: The presenter's item on stage now, else their next one.
    focus: Slot | None

    @property
    def on_now(self) -> bool:
        return self.focus is not None and self.focus.status == "now"


def presenter_view(db: Session, event: Event, person: Person, now: datetime) -> PresenterView:
    stage = stage_view(db, event, now)
    mine: list[Slot] = []
    for _id, session in read_programme(db, event):
        for item in sorted(session.agenda, key=lambda i: i.start):
            if person.key not in item.speakers:
                continue
            if session.key == stage.show.session:
                status = _status(item, stage.current, stage.following)
            else:
                status = "done" if item.end <= now else "later"
            speakers = tuple(stage.names.get(k, k) for k in item.speakers)
            mine.append(Slot(item, session, status, speakers))
    focus = next((s for s in mine if s.status == "now"), None)
    if focus is None:
        focus = next((s for s in mine if s.status in ("next", "later") and s.item.end > now), None)
    return PresenterView(stage=stage, mine=tuple(mine), focus=focus)

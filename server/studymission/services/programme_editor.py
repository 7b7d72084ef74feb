"""The secretariat's programme editor: small edits applied to the event's own spec.

Every edit takes the current raw spec (CONTRACT §2), changes one part of it and stores
the whole with `replace_spec`, so that spec validation stays the only rule book: an
overlap, an item outside its session or an unknown speaker is refused there, with every
problem listed, and nothing is written. The edit functions are pure (raw dict and form
values in, a new raw dict out); `edit_programme` is the thin load → edit → store step.

Times typed in the editor are wall-clock ``HH:MM`` in the event's time zone on the
session's date. In a session that runs past midnight, an item time earlier than the
session's start means the next day; a session end earlier than its start, likewise.
"""

import copy
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlmodel import Session

from studymission.db import events as store
from studymission.db.events import lock_event
from studymission.db.tables import Event
from studymission.domain.errors import InvalidInputError, NotFoundError
from studymission.domain.values import (
    AgendaItemSpec,
    EventSpec,
    ItemKind,
    Problem,
    Role,
    SessionSpec,
)
from studymission.services.events import LoadOutcome, current_raw_spec, replace_spec

RawSpec = dict[str, object]
RawPart = dict[str, object]
Edit = Callable[[RawSpec], RawSpec]

#: Roles offered as speakers; anyone already named as a speaker is offered too.
SPEAKER_ROLES = frozenset({Role.RESOURCE_PERSON, Role.MODERATOR})

_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_PATH = re.compile(r"^sessions\[(\d+)\](?:\.agenda\[(\d+)\])?(?:\.(.+))?$")
_MAX_KEY = 64


@dataclass(frozen=True)
class ItemForm:
    """An agenda item as the editor's form shows it (strings as typed)."""

    title: str
    kind: str
    start: str
    end: str
    speakers: tuple[str, ...] = ()


@dataclass(frozen=True)
class SessionForm:
    """A session as the editor's form shows it: its date and HH:MM start and end."""

    title: str
    date: str
    start: str
    end: str


@dataclass(frozen=True)
class EditorView:
    """What the editor page shows: the stored programme and each form's values."""

    spec: EventSpec
    speaker_options: tuple[tuple[str, str], ...]
    names: dict[str, str]
    item_forms: dict[str, ItemForm]
    session_forms: dict[str, SessionForm]
    add_forms: dict[str, ItemForm]


# --- reading ---------------------------------------------------------------------------


def editor_view(db: Session, event: Event) -> EditorView:
    """The stored programme with every form filled from it."""
    spec = store.read_spec(db, event)
    tz = spec.timezone
    sessions = spec.sessions
    return EditorView(
        spec=spec,
        speaker_options=speaker_options(spec),
        names={p.key: p.name for p in spec.people},
        item_forms={i.key: item_form(i, tz) for s in sessions for i in s.agenda},
        session_forms={s.key: session_form(s, tz) for s in sessions},
        add_forms={s.key: new_item_form(s, tz) for s in sessions},
    )


def speaker_options(spec: EventSpec) -> tuple[tuple[str, str], ...]:
    """(key, label) of everyone who may be picked as a speaker, by name."""
    named = {key for s in spec.sessions for i in s.agenda for key in i.speakers}
    people = [p for p in spec.people if p.role in SPEAKER_ROLES or p.key in named]
    people.sort(key=lambda p: (p.name.casefold(), p.key))
    return tuple((p.key, f"{p.name} ({p.role.value.replace('_', ' ')})") for p in people)


def item_form(item: AgendaItemSpec, tz: str) -> ItemForm:
    return ItemForm(
        title=item.title,
        kind=item.kind.value,
        start=_hhmm(item.start, tz),
        end=_hhmm(item.end, tz),
        speakers=item.speakers,
    )


def session_form(session: SessionSpec, tz: str) -> SessionForm:
    start = _local(session.start, tz)
    return SessionForm(
        title=session.title,
        date=start.date().isoformat(),
        start=start.strftime("%H:%M"),
        end=_hhmm(session.end, tz),
    )


def new_item_form(session: SessionSpec, tz: str) -> ItemForm:
    """An empty item that starts where the session's last item ends."""
    last = max((i.end for i in session.agenda), default=session.start)
    return ItemForm(title="", kind=ItemKind.PRESENTATION.value, start=_hhmm(last, tz), end="")


# --- edits (pure) ----------------------------------------------------------------------


def edit_item(raw: RawSpec, item_key: str, form: ItemForm) -> RawSpec:
    """`raw` with the agenda item `item_key` set to the form's values."""
    edited = copy.deepcopy(raw)
    session, item = _find_item(edited, item_key)
    item.update(_item_fields(session, form))
    return edited


def add_item(raw: RawSpec, session_key: str, form: ItemForm) -> tuple[RawSpec, str]:
    """`raw` with a new item at the end of session `session_key`, and the new item's key."""
    edited = copy.deepcopy(raw)
    session = _find_session(edited, session_key)
    key = new_item_key(edited, session_key, form.title)
    _agenda(session).append({"key": key, **_item_fields(session, form)})
    return edited, key


def delete_item(raw: RawSpec, item_key: str) -> RawSpec:
    """`raw` without the agenda item `item_key`."""
    edited = copy.deepcopy(raw)
    session, item = _find_item(edited, item_key)
    _agenda(session).remove(item)
    return edited


def edit_session(raw: RawSpec, session_key: str, form: SessionForm) -> RawSpec:
    """`raw` with the session's title, date and times set; items keep their wall times."""
    edited = copy.deepcopy(raw)
    session = _find_session(edited, session_key)
    old_day = _session_day(session)
    day, start, end = form.date.strip(), form.start.strip(), form.end.strip()
    end_day = day
    new_day = _parse_date(day)
    if new_day is not None and _is_hhmm(start) and _is_hhmm(end) and end < start:
        end_day = (new_day + timedelta(days=1)).isoformat()
    session.update(
        {"title": form.title.strip(), "start": f"{day}T{start}", "end": f"{end_day}T{end}"}
    )
    if old_day is not None and new_day is not None and new_day != old_day:
        # Items written as HH:MM follow the session's date by themselves; full ISO ones
        # (after midnight) are moved by the same number of days.
        _shift_iso_items(session, new_day - old_day)
    return edited


def session_of_item(raw: RawSpec, item_key: str) -> str:
    """The key of the session that holds the agenda item `item_key`."""
    session, _item = _find_item(raw, item_key)
    return str(session.get("key"))


def new_item_key(raw: RawSpec, session_key: str, title: str) -> str:
    """A key no item of the event has yet, made of the session key and the title."""
    taken = {str(i.get("key")) for s in _sessions(raw) for i in _agenda(s)}
    slug = _slug(title) or "item"
    base = f"{session_key}-{slug}"[: _MAX_KEY - 4].rstrip("-")
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}-{n}"
    return key


def locate_problems(raw: RawSpec, problems: Sequence[Problem]) -> list[Problem]:
    """Spec paths such as ``sessions[0].agenda[2].start`` named as the editor shows them."""
    return [_locate(raw, p) for p in problems]


# --- load, edit, store -----------------------------------------------------------------


def edit_programme(
    db: Session, event: Event, edit: Edit, *, secret: str, now: datetime, actor: str
) -> LoadOutcome:
    """Apply `edit` to the event's current spec and store it, all or nothing; commits."""
    lock_event(db, event)
    edited = edit(current_raw_spec(db, event))
    try:
        return replace_spec(
            db, event, edited, secret=secret, now=now, actor=actor, action="programme.edit"
        )
    except InvalidInputError as error:
        db.rollback()
        raise InvalidInputError(error.detail, locate_problems(edited, error.problems)) from error


# --- helpers ---------------------------------------------------------------------------


def _sessions(raw: RawSpec) -> list[RawPart]:
    return cast(list[RawPart], raw.get("sessions") or [])


def _agenda(session: RawPart) -> list[RawPart]:
    if not isinstance(session.get("agenda"), list):
        session["agenda"] = []
    return cast(list[RawPart], session["agenda"])


def _find_session(raw: RawSpec, key: str) -> RawPart:
    for session in _sessions(raw):
        if session.get("key") == key:
            return session
    raise NotFoundError(f"no session {key!r} in this event")


def _find_item(raw: RawSpec, key: str) -> tuple[RawPart, RawPart]:
    for session in _sessions(raw):
        for item in _agenda(session):
            if item.get("key") == key:
                return session, item
    raise NotFoundError(f"no agenda item {key!r} in this event")


def _item_fields(session: RawPart, form: ItemForm) -> RawPart:
    return {
        "kind": form.kind.strip(),
        "title": form.title.strip(),
        "start": _item_time(session, form.start.strip()),
        "end": _item_time(session, form.end.strip()),
        "speakers": list(form.speakers),
    }


def _item_time(session: RawPart, typed: str) -> str:
    """HH:MM as the spec reads it; after midnight in a session that crosses it, ISO."""
    start, end = _wall(session.get("start")), _wall(session.get("end"))
    if not _is_hhmm(typed) or start is None or end is None or end.date() == start.date():
        return typed
    if typed >= start.strftime("%H:%M"):
        return typed
    return f"{(start.date() + timedelta(days=1)).isoformat()}T{typed}"


def _shift_iso_items(session: RawPart, delta: timedelta) -> None:
    for item in _agenda(session):
        for name in ("start", "end"):
            moment = _wall(item.get(name))
            if moment is not None:
                item[name] = (moment + delta).isoformat(timespec="minutes")


def _session_day(session: RawPart) -> date | None:
    start = _wall(session.get("start"))
    return None if start is None else start.date()


def _wall(value: object) -> datetime | None:
    """A full ISO date-time string as a wall-clock time, or None (HH:MM and junk)."""
    if not isinstance(value, str) or _is_hhmm(value):
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        return None


def _parse_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _is_hhmm(value: str) -> bool:
    return _HHMM.fullmatch(value) is not None


def _local(moment: datetime, tz: str) -> datetime:
    return moment.astimezone(ZoneInfo(tz))


def _hhmm(moment: datetime, tz: str) -> str:
    return _local(moment, tz).strftime("%H:%M")


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:40].rstrip("-")


def _locate(raw: RawSpec, problem: Problem) -> Problem:
    """``sessions[0].agenda[2].start`` as "Break › start"; a session's own as "Day 1 › end"."""
    match = _PATH.match(problem.path)
    sessions = _sessions(raw)
    if match is None or int(match[1]) >= len(sessions):
        return problem
    session = sessions[int(match[1])]
    where = str(session.get("title") or session.get("key"))
    if match[2] is not None:
        agenda, index = _agenda(session), int(match[2])
        item = agenda[index] if index < len(agenda) else {}
        where = str(item.get("title") or item.get("key") or f"item {index + 1}")
    field = re.sub(r"\[\d+\]$", "", match[3]) if match[3] else ""
    return Problem(f"{where} › {field}" if field else where, problem.value, problem.reason)

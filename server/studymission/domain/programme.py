"""The programme as one person sees it: in their own time zone and in the event's.

Delegates join from UTC+3 to UTC+12, so every page that shows a time shows it in
the viewer's zone beside the event's, with a clear "now" and "next". Everything
here is pure: `now` is always an argument, and inputs are aware UTC datetimes.
"""

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime, timedelta
from functools import cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from studymission.domain.values import AgendaItemSpec, ItemKind, SessionSpec

# U+2212 MINUS SIGN: a hyphen next to "UTC" reads as a dash in most fonts.
_MINUS = "\u2212"

# Keys that zoneinfo resolves but that mean "whatever the host says" or "unknown";
# an event or a person must name a real place.
_NOT_A_PLACE = frozenset({"localtime", "posixrules", "Factory"})


class SlotStatus(enum.StrEnum):
    PAST = "past"
    NOW = "now"
    NEXT = "next"
    LATER = "later"


@dataclass(frozen=True, slots=True)
class LocalSlot:
    """One line of the programme: an agenda item, or a whole session without agenda."""

    item: AgendaItemSpec | None
    session_key: str
    title: str
    kind: ItemKind | None  # None only for a session without agenda items
    start: datetime  # in the viewer's time zone
    end: datetime
    event_start: datetime  # in the event's time zone
    event_end: datetime
    status: SlotStatus


@dataclass(frozen=True, slots=True)
class LocalDay:
    """One session as a day of the programme, in the viewer's time zone."""

    session: SessionSpec
    date: Date  # the viewer's local date of the session start
    event_date: Date  # the event's local date of the session start
    slots: tuple[LocalSlot, ...]
    crosses_midnight: bool  # the session spans two local dates for the viewer


class _Span(NamedTuple):
    item: AgendaItemSpec | None
    session_key: str
    title: str
    kind: ItemKind | None
    start: datetime
    end: datetime


def local_programme(
    sessions: Iterable[SessionSpec], *, viewer_tz: str, event_tz: str, now: datetime
) -> tuple[LocalDay, ...]:
    """Return the sessions as days of slots in the viewer's zone, with past/now/next/later."""
    _require_aware(now)
    viewer, event = ZoneInfo(viewer_tz), ZoneInfo(event_tz)
    ordered = sorted(sessions, key=lambda s: (s.start, s.end))
    per_session = [_spans_of(session) for session in ordered]
    # Statuses are decided over the whole event, so that "next" can be on another day.
    flat = [span for spans in per_session for span in spans]
    current, upcoming = _pick_now_next([(sp.start, sp.end) for sp in flat], now)
    statuses = iter([_status(i, sp, now, current, upcoming) for i, sp in enumerate(flat)])
    days: list[LocalDay] = []
    for session, spans in zip(ordered, per_session, strict=True):
        slots = tuple(_localise(span, next(statuses), viewer, event) for span in spans)
        days.append(_local_day(session, slots, viewer, event))
    return tuple(days)


def now_and_next(
    sessions: Iterable[SessionSpec], *, now: datetime
) -> tuple[AgendaItemSpec | None, AgendaItemSpec | None]:
    """Return the agenda item running at `now` and the first one starting after it."""
    _require_aware(now)
    items = sorted(
        (item for session in sessions for item in session.agenda),
        key=lambda item: (item.start, item.end),
    )
    current, upcoming = _pick_now_next([(item.start, item.end) for item in items], now)
    return (
        None if current is None else items[current],
        None if upcoming is None else items[upcoming],
    )


def utc_offset_label(moment: datetime, tz: str) -> str:
    """Return the zone's offset at `moment` as "UTC+09", "UTC+05:45", "UTC−03" or "UTC"."""
    _require_aware(moment)
    offset = moment.astimezone(ZoneInfo(tz)).utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    if seconds == 0:
        return "UTC"
    sign = "+" if seconds > 0 else _MINUS
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    label = f"UTC{sign}{hours:02d}"
    if minutes or secs:
        label += f":{minutes:02d}"
    if secs:  # only local mean times before ~1900 have these
        label += f":{secs:02d}"
    return label


def is_valid_timezone(name: str) -> bool:
    """Return whether `name` is an IANA time zone key (e.g. "Asia/Kathmandu")."""
    if name in _NOT_A_PLACE or name not in _known_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# Browsers report zones by ICU's names, which keep some renamed places under their old
# spelling (Chromium says "Asia/Katmandu"); people should see today's name.
_RENAMED_ZONES = {
    "Asia/Calcutta": "Asia/Kolkata",
    "Asia/Katmandu": "Asia/Kathmandu",
    "Asia/Saigon": "Asia/Ho_Chi_Minh",
    "Asia/Rangoon": "Asia/Yangon",
    "Asia/Ulan_Bator": "Asia/Ulaanbaatar",
    "Asia/Dacca": "Asia/Dhaka",
    "Asia/Thimbu": "Asia/Thimphu",
    "Asia/Istanbul": "Europe/Istanbul",
    "Europe/Kiev": "Europe/Kyiv",
    "Pacific/Truk": "Pacific/Chuuk",
    "Pacific/Ponape": "Pacific/Pohnpei",
}


def canonical_timezone(name: str) -> str:
    """Today's IANA name for a zone a browser may report under an older one."""
    return _RENAMED_ZONES.get(name, name)


@cache
def _known_timezones() -> frozenset[str]:
    # ZoneInfo alone accepts "asia/seoul" on case-insensitive file systems and any
    # stray TZif file; the canonical list is the one the database may rely on.
    return frozenset(available_timezones())


def _require_aware(moment: datetime) -> None:
    # A naive datetime would silently be read in the server's local zone.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")


def _spans_of(session: SessionSpec) -> list[_Span]:
    if not session.agenda:
        return [_Span(None, session.key, session.title, None, session.start, session.end)]
    items = sorted(session.agenda, key=lambda item: (item.start, item.end))
    return [_Span(item, session.key, item.title, item.kind, item.start, item.end) for item in items]


def _pick_now_next(
    spans: Sequence[tuple[datetime, datetime]], now: datetime
) -> tuple[int | None, int | None]:
    # `spans` are sorted by start; the first one containing `now` wins, so that at
    # most one is "now" even if items were to overlap.
    current = next((i for i, (start, end) in enumerate(spans) if start <= now < end), None)
    upcoming = next((i for i, (start, _) in enumerate(spans) if start > now), None)
    return current, upcoming


def _status(
    index: int, span: _Span, now: datetime, current: int | None, upcoming: int | None
) -> SlotStatus:
    if index == current:
        return SlotStatus.NOW
    if index == upcoming:
        return SlotStatus.NEXT
    return SlotStatus.LATER if span.start > now else SlotStatus.PAST


def _localise(span: _Span, status: SlotStatus, viewer: ZoneInfo, event: ZoneInfo) -> LocalSlot:
    return LocalSlot(
        item=span.item,
        session_key=span.session_key,
        title=span.title,
        kind=span.kind,
        start=span.start.astimezone(viewer),
        end=span.end.astimezone(viewer),
        event_start=span.start.astimezone(event),
        event_end=span.end.astimezone(event),
        status=status,
    )


def _local_day(
    session: SessionSpec, slots: tuple[LocalSlot, ...], viewer: ZoneInfo, event: ZoneInfo
) -> LocalDay:
    start = session.start.astimezone(viewer)
    # The session is the half-open interval [start, end): one that ends exactly at
    # local midnight stays on one date.
    last_moment = max(session.start, session.end - timedelta(microseconds=1))
    return LocalDay(
        session=session,
        date=start.date(),
        event_date=session.start.astimezone(event).date(),
        slots=slots,
        crosses_midnight=last_moment.astimezone(viewer).date() != start.date(),
    )

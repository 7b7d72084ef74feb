"""Wall-clock times in an event's time zone, read from a spec and written back.

A spec gives its times as the event's wall clock, or with an explicit offset, and agenda
times may be just `HH:MM` on the day their session starts. Reading one turns it into aware
UTC or records why it cannot: a wall time the clocks pass twice is taken at its first
passing (fold=0), one they skip is a problem, and every time must fall on a whole minute.
Writing leaves out the offset (and for `HH:MM` the date) only where reading gives the same
instant back, so the two directions agree.
"""

import re
from datetime import UTC, date, datetime, time, tzinfo
from zoneinfo import ZoneInfo

from studymission.domain.fields import MISSING, Fields, json_type

_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")

# --- reading ---------------------------------------------------------------------------


def read_instant(f: Fields, name: str, *, zone: tzinfo) -> datetime | None:
    """A required ISO date and time, wall-clock in `zone` unless it has an offset; UTC."""
    if f.take(name) is MISSING:
        return None
    return read_moment(f, name, "expected an ISO date and time", zone=zone)


def read_day_time(f: Fields, name: str, day: date | None, *, zone: tzinfo) -> datetime | None:
    """Like `read_instant`, but `HH:MM` is also a wall-clock time on `day` (if known)."""
    value = f.take(name)
    if value is MISSING:
        return None
    match = _HHMM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return read_moment(f, name, "expected HH:MM or an ISO date and time", zone=zone)
    if day is None:
        return None  # the session's start is unusable, and that is reported already
    wall = datetime.combine(day, time(int(match[1]), int(match[2])))
    return localize(f, name, wall, zone=zone)


def read_moment(f: Fields, name: str, expected: str, *, zone: tzinfo) -> datetime | None:
    """The present field `name` as an ISO date and time in UTC; `expected` leads its problems."""
    value = f.data[name]
    if not isinstance(value, str):
        f.add(name, value, f"{expected}, got {json_type(value)}")
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        f.add(name, value, f"{expected}, such as 2021-11-24T13:00")
        return None
    if _is_date_only(value):
        f.add(name, value, "needs a time of day as well as a date")
        return None
    return localize(f, name, parsed, zone=zone)


def localize(f: Fields, name: str, parsed: datetime, *, zone: tzinfo) -> datetime | None:
    """`parsed` (read from field `name`) in UTC, naive meaning wall-clock in `zone`."""
    value = f.data[name]
    # A wall time the clocks pass twice is taken at its first passing (fold=0).
    aware = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)
    try:
        moment = aware.astimezone(UTC)
        local = moment.astimezone(zone)
    except (OverflowError, ValueError):
        f.add(name, value, "date is out of range")
        return None
    if parsed.tzinfo is None and local.replace(tzinfo=None) != parsed:
        f.add(name, value, "local time skipped by a clock change in the event's time zone")
        return None
    # Checked on the wall clock: a few historic offsets are not whole minutes.
    if local.second or local.microsecond:
        f.add(name, value, "must be on a whole minute (no seconds)")
        return None
    return moment


def _is_date_only(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


# --- writing ---------------------------------------------------------------------------


def wall_label(moment: datetime, zone: tzinfo, day: date | None) -> str:
    """`moment` on the wall clock of `zone`: HH:MM on `day`, else date and time."""
    wall = moment.astimezone(zone).replace(tzinfo=None)
    return wall.strftime("%H:%M") if wall.date() == day else wall.isoformat(timespec="minutes")


def wall_iso(moment: datetime, zone: ZoneInfo) -> str:
    """`moment` as ISO wall-clock time in `zone`, with the offset only where it is needed."""
    local = moment.astimezone(zone)
    wall = local.replace(tzinfo=None)
    # Without the offset where that is unambiguous; the repeated hour of a clock change keeps it.
    shown = wall if _reads_back(wall, zone, moment) else local
    whole = not (local.second or local.microsecond)
    return shown.isoformat(timespec="minutes" if whole else "auto")


def day_time_iso(moment: datetime, zone: ZoneInfo, day: date) -> str:
    """`moment` as `HH:MM` where `read_day_time` on `day` reads it back, else as `wall_iso`."""
    wall = moment.astimezone(zone).replace(tzinfo=None)
    if wall.date() == day and _reads_back(wall, zone, moment):
        return wall.strftime("%H:%M")
    return wall_iso(moment, zone)


def _reads_back(wall: datetime, zone: ZoneInfo, moment: datetime) -> bool:
    # fold=0 because that is how validation reads a wall time without an offset.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC) == moment

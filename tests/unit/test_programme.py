"""The programme in a viewer's time zone: local times, local dates, now / next."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from studymission.domain.programme import (
    LocalDay,
    LocalSlot,
    SlotStatus,
    canonical_timezone,
    is_valid_timezone,
    local_programme,
    now_and_next,
    utc_offset_label,
)
from studymission.domain.values import AgendaItemSpec, ItemKind, SessionSpec

pytestmark = pytest.mark.unit

SEOUL = ZoneInfo("Asia/Seoul")


def kst(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2021) -> datetime:
    """A Seoul wall time as the aware UTC datetime that specs carry."""
    return datetime(year, month, day, hour, minute, tzinfo=SEOUL).astimezone(UTC)


def item(key: str, kind: ItemKind, day: int, start: str, end: str) -> AgendaItemSpec:
    (sh, sm), (eh, em) = (map(int, start.split(":")), map(int, end.split(":")))
    return AgendaItemSpec(key, kind, key.upper(), kst(day, sh, sm), kst(day, eh, em))


DAY1 = SessionSpec(
    "day1",
    "Day 1",
    kst(24, 13),
    kst(24, 16),
    (
        item("d1-open", ItemKind.OPENING, 24, "13:00", "13:15"),
        item("d1-talk", ItemKind.PRESENTATION, 24, "13:15", "14:00"),
        item("d1-break", ItemKind.BREAK, 24, "14:00", "14:15"),
        item("d1-talk2", ItemKind.PRESENTATION, 24, "14:15", "15:00"),
        # 15:00-15:10 is a gap between items on purpose.
        item("d1-disc", ItemKind.DISCUSSION, 24, "15:10", "16:00"),
    ),
)
DAY2 = SessionSpec(
    "day2",
    "Day 2",
    kst(25, 13),
    kst(25, 16),
    (
        item("d2-open", ItemKind.OPENING, 25, "13:00", "13:10"),
        item("d2-group", ItemKind.BREAKOUT, 25, "13:10", "15:40"),
        item("d2-close", ItemKind.CLOSING, 25, "15:40", "16:00"),
    ),
)
# Given out of order: the programme sorts by start.
SESSIONS = (DAY2, DAY1)


def slot_of(days: tuple[LocalDay, ...], key: str) -> LocalSlot:
    return next(s for d in days for s in d.slots if s.item is not None and s.item.key == key)


def statuses(days: tuple[LocalDay, ...]) -> dict[str, SlotStatus]:
    return {s.item.key if s.item else s.session_key: s.status for d in days for s in d.slots}


# --- local times ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("viewer_tz", "local_start", "local_end", "offset"),
    [
        ("Asia/Tehran", time(7, 30), time(10, 30), "UTC+03:30"),
        ("Asia/Kathmandu", time(9, 45), time(12, 45), "UTC+05:45"),
        ("Pacific/Fiji", time(16, 0), time(19, 0), "UTC+12"),
        ("Asia/Seoul", time(13, 0), time(16, 0), "UTC+09"),
    ],
)
def test_same_session_at_the_right_local_times(
    viewer_tz: str, local_start: time, local_end: time, offset: str
) -> None:
    days = local_programme(SESSIONS, viewer_tz=viewer_tz, event_tz="Asia/Seoul", now=kst(1, 0))
    first = days[0].slots[0]
    assert first.item is not None and first.item.key == "d1-open"
    assert (first.start.date(), first.start.time()) == (date(2021, 11, 24), local_start)
    assert days[0].slots[-1].end.time() == local_end
    assert first.start.tzinfo == ZoneInfo(viewer_tz)
    assert utc_offset_label(first.start, viewer_tz) == offset
    # The same instant, shown in the event's zone beside the viewer's.
    assert first.event_start == first.start
    assert first.event_start.time() == time(13, 0)
    assert first.event_start.utcoffset() == SEOUL.utcoffset(datetime(2021, 11, 24))
    assert days[0].date == days[0].event_date == date(2021, 11, 24)
    assert not days[0].crosses_midnight


def test_fiji_offset_follows_tzdata() -> None:
    # tzdata: Fiji kept DST (UTC+13) in the 2019/20 and 2020/21 summers, then suspended
    # it from the 2021/22 season on (tzdata releases since October 2021); so the seed, on
    # 24 November 2021, is at UTC+12 in Fiji while December 2020 was at UTC+13.
    assert utc_offset_label(kst(24, 13), "Pacific/Fiji") == "UTC+12"
    assert utc_offset_label(kst(24, 13, month=12, year=2020), "Pacific/Fiji") == "UTC+13"
    assert utc_offset_label(kst(10, 13, month=1, year=2021), "Pacific/Fiji") == "UTC+13"
    assert utc_offset_label(kst(24, 13, month=12, year=2022), "Pacific/Fiji") == "UTC+12"


def test_item_times_keep_their_minutes_in_every_zone() -> None:
    days = local_programme(
        SESSIONS, viewer_tz="Asia/Kathmandu", event_tz="Asia/Seoul", now=kst(1, 0)
    )
    talk = slot_of(days, "d1-talk")
    assert (talk.start.time(), talk.end.time()) == (time(10, 0), time(10, 45))
    assert (talk.event_start.time(), talk.event_end.time()) == (time(13, 15), time(14, 0))
    assert talk.kind is ItemKind.PRESENTATION and talk.title == "D1-TALK"
    assert talk.session_key == "day1"


# --- local dates -------------------------------------------------------------------------


def session_kst(start: tuple[int, int], end: tuple[int, int]) -> SessionSpec:
    return SessionSpec("late", "Late session", kst(24, *start), kst(24, *end))


@pytest.mark.parametrize(
    ("start", "end", "local_date", "crosses", "local_start", "local_end"),
    [
        # 20:00-23:00 Seoul is 23:00-02:00 in Fiji: starts on the 24th, ends on the 25th.
        ((20, 0), (23, 0), date(2021, 11, 24), True, time(23, 0), time(2, 0)),
        # 21:00-23:00 Seoul is 00:00-02:00 in Fiji: wholly on the next local day.
        ((21, 0), (23, 0), date(2021, 11, 25), False, time(0, 0), time(2, 0)),
        # 19:00-21:00 Seoul ends at Fiji midnight exactly: [start, end) stays on one date.
        ((19, 0), (21, 0), date(2021, 11, 24), False, time(22, 0), time(0, 0)),
    ],
)
def test_fiji_local_date_and_midnight(
    start: tuple[int, int],
    end: tuple[int, int],
    local_date: date,
    crosses: bool,
    local_start: time,
    local_end: time,
) -> None:
    days = local_programme(
        [session_kst(start, end)], viewer_tz="Pacific/Fiji", event_tz="Asia/Seoul", now=kst(1, 0)
    )
    (day,) = days
    assert day.date == local_date
    assert day.event_date == date(2021, 11, 24)
    assert day.crosses_midnight is crosses
    (slot,) = day.slots
    assert (slot.start.time(), slot.end.time()) == (local_start, local_end)


def test_late_session_does_not_cross_midnight_in_tehran() -> None:
    days = local_programme(
        [session_kst((20, 0), (23, 0))],
        viewer_tz="Asia/Tehran",
        event_tz="Asia/Seoul",
        now=kst(1, 0),
    )
    assert days[0].date == date(2021, 11, 24)
    assert not days[0].crosses_midnight


def test_session_without_agenda_is_one_slot() -> None:
    days = local_programme(
        [session_kst((13, 0), (16, 0))],
        viewer_tz="Asia/Seoul",
        event_tz="Asia/Seoul",
        now=kst(24, 14),
    )
    (slot,) = days[0].slots
    assert slot.item is None and slot.kind is None
    assert slot.title == "Late session" and slot.session_key == "late"
    assert slot.status is SlotStatus.NOW
    assert now_and_next([session_kst((13, 0), (16, 0))], now=kst(24, 14)) == (None, None)


# --- now / next ----------------------------------------------------------------------------

NOW_NEXT_CASES = [
    pytest.param(kst(24, 12), None, "d1-open", id="before the event"),
    pytest.param(kst(24, 13), "d1-open", "d1-talk", id="now == first start"),
    pytest.param(kst(24, 13, 30), "d1-talk", "d1-break", id="during an item"),
    pytest.param(kst(24, 14), "d1-break", "d1-talk2", id="now == end == next start"),
    pytest.param(kst(24, 14, 5), "d1-break", "d1-talk2", id="in a break"),
    pytest.param(kst(24, 15), None, "d1-disc", id="now == end before a gap"),
    pytest.param(kst(24, 15, 5), None, "d1-disc", id="in a gap between items"),
    pytest.param(kst(24, 15, 10), "d1-disc", "d2-open", id="now == start after a gap"),
    pytest.param(kst(24, 16), None, "d2-open", id="now == end of day 1"),
    pytest.param(kst(25, 3), None, "d2-open", id="between days"),
    pytest.param(kst(25, 15, 59), "d2-close", None, id="last minute"),
    pytest.param(kst(25, 16), None, None, id="now == end of the event"),
    pytest.param(kst(26, 9), None, None, id="after the event"),
]


@pytest.mark.parametrize(("now", "current", "upcoming"), NOW_NEXT_CASES)
def test_now_and_next(now: datetime, current: str | None, upcoming: str | None) -> None:
    got_current, got_next = now_and_next(SESSIONS, now=now)
    assert (got_current.key if got_current else None) == current
    assert (got_next.key if got_next else None) == upcoming


@pytest.mark.parametrize(("now", "current", "upcoming"), NOW_NEXT_CASES)
def test_programme_statuses_agree_with_now_and_next(
    now: datetime, current: str | None, upcoming: str | None
) -> None:
    days = local_programme(SESSIONS, viewer_tz="Pacific/Fiji", event_tz="Asia/Seoul", now=now)
    got = statuses(days)
    assert [k for k, s in got.items() if s is SlotStatus.NOW] == ([current] if current else [])
    assert [k for k, s in got.items() if s is SlotStatus.NEXT] == ([upcoming] if upcoming else [])
    for slot in (s for d in days for s in d.slots):
        if slot.status is SlotStatus.PAST:
            assert slot.end.astimezone(UTC) <= now
        if slot.status is SlotStatus.LATER:
            assert slot.start.astimezone(UTC) > now


def test_statuses_before_during_and_after() -> None:
    before = statuses(
        local_programme(SESSIONS, viewer_tz="Asia/Tehran", event_tz="Asia/Seoul", now=kst(1, 0))
    )
    assert before["d1-open"] is SlotStatus.NEXT
    assert {s for k, s in before.items() if k != "d1-open"} == {SlotStatus.LATER}

    after = statuses(
        local_programme(SESSIONS, viewer_tz="Asia/Tehran", event_tz="Asia/Seoul", now=kst(30, 0))
    )
    assert set(after.values()) == {SlotStatus.PAST}

    during = statuses(
        local_programme(SESSIONS, viewer_tz="Asia/Tehran", event_tz="Asia/Seoul", now=kst(25, 3))
    )
    assert {during[k] for k in ("d1-open", "d1-disc")} == {SlotStatus.PAST}
    assert during["d2-open"] is SlotStatus.NEXT
    assert {during[k] for k in ("d2-group", "d2-close")} == {SlotStatus.LATER}


def test_days_are_in_order() -> None:
    days = local_programme(SESSIONS, viewer_tz="Asia/Seoul", event_tz="Asia/Seoul", now=kst(1, 0))
    assert [d.session.key for d in days] == ["day1", "day2"]
    assert [d.date for d in days] == [date(2021, 11, 24), date(2021, 11, 25)]


def test_overlapping_items_give_at_most_one_now() -> None:
    overlapping = SessionSpec(
        "x",
        "X",
        kst(24, 13),
        kst(24, 16),
        (
            item("a", ItemKind.PRESENTATION, 24, "13:00", "15:00"),
            item("b", ItemKind.PRESENTATION, 24, "14:00", "16:00"),
        ),
    )
    days = local_programme(
        [overlapping], viewer_tz="Asia/Seoul", event_tz="Asia/Seoul", now=kst(24, 14, 30)
    )
    assert statuses(days) == {"a": SlotStatus.NOW, "b": SlotStatus.PAST}


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        now_and_next(SESSIONS, now=datetime(2021, 11, 24, 13))
    with pytest.raises(ValueError, match="timezone-aware"):
        local_programme(SESSIONS, viewer_tz="UTC", event_tz="UTC", now=datetime(2021, 11, 24, 13))


# --- labels and zone names --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "moment", "label"),
    [
        ("Asia/Tehran", kst(24, 13), "UTC+03:30"),
        ("Asia/Kathmandu", kst(24, 13), "UTC+05:45"),
        ("Asia/Kolkata", kst(24, 13), "UTC+05:30"),
        ("Pacific/Fiji", kst(24, 13), "UTC+12"),
        ("Europe/Istanbul", kst(24, 13), "UTC+03"),
        ("Asia/Seoul", kst(24, 13), "UTC+09"),
        ("UTC", kst(24, 13), "UTC"),
        ("Europe/London", kst(24, 13), "UTC"),
        ("America/St_Johns", kst(24, 13), "UTC\u221203:30"),
        ("America/New_York", kst(24, 13, month=7), "UTC\u221204"),
        # Amsterdam kept local mean time (+00:19:32) until 1937: seconds are shown.
        ("Europe/Amsterdam", datetime(1930, 1, 1, tzinfo=UTC), "UTC+00:19:32"),
    ],
)
def test_utc_offset_label(tz: str, moment: datetime, label: str) -> None:
    assert utc_offset_label(moment, tz) == label


@pytest.mark.parametrize(
    "name", ["Asia/Seoul", "Asia/Kathmandu", "Pacific/Fiji", "Europe/Istanbul", "UTC"]
)
def test_valid_timezones(name: str) -> None:
    assert is_valid_timezone(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Seoul",
        "asia/seoul",
        "Asia/Seoul ",
        "Mars/Olympus_Mons",
        "../etc/passwd",
        "/etc/localtime",
        "localtime",
        "zone.tab",
        "+09:00",
    ],
)
def test_invalid_timezones(name: str) -> None:
    assert not is_valid_timezone(name)


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("Asia/Katmandu", "Asia/Kathmandu"),
        ("Asia/Calcutta", "Asia/Kolkata"),
        ("Asia/Saigon", "Asia/Ho_Chi_Minh"),
        ("Asia/Seoul", "Asia/Seoul"),
    ],
)
def test_canonical_timezone_renames_what_browsers_report(reported: str, expected: str) -> None:
    assert canonical_timezone(reported) == expected
    assert is_valid_timezone(canonical_timezone(reported))

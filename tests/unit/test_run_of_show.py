"""The schedule's state at an instant: which session, which mode, which agenda item."""

from datetime import UTC, datetime, timedelta

import pytest

from studymission.domain.run_of_show import (
    Control,
    ShowState,
    current_session,
    scheduled_item,
    scheduled_state,
    show_state,
)
from studymission.domain.values import AgendaItemSpec, ItemKind, Mode, SessionSpec

pytestmark = pytest.mark.unit

T0 = datetime(2021, 11, 24, 4, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def item(key: str, kind: ItemKind, start: int, end: int) -> AgendaItemSpec:
    return AgendaItemSpec(key, kind, key, at(start), at(end))


DAY1 = SessionSpec(
    "day1",
    "Day 1",
    at(0),
    at(180),
    (
        item("intro", ItemKind.PRESENTATION, 0, 60),
        item("break", ItemKind.BREAK, 60, 75),
        item("groups", ItemKind.BREAKOUT, 90, 180),
    ),
)
DAY2 = SessionSpec("day2", "Day 2", at(1440), at(1620))


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (-30, ("day1", Mode.WAITING, None)),
        (0, ("day1", Mode.STAGE, "intro")),
        (59.99, ("day1", Mode.STAGE, "intro")),
        (60, ("day1", Mode.BREAK, "break")),
        (80, ("day1", Mode.STAGE, None)),  # between items: the stage, no item
        (179.5, ("day1", Mode.STAGE, "groups")),
        (180, ("day2", Mode.WAITING, None)),  # after day 1 the socket belongs to day 2
        (1500, ("day2", Mode.STAGE, None)),
        (1620, ("day2", Mode.ENDED, None)),
    ],
)
def test_scheduled_state(minutes: float, expected: tuple[str, Mode, str | None]) -> None:
    state = scheduled_state([DAY2, DAY1], at(minutes))
    assert (state.session, state.mode, state.item) == expected


def test_an_event_without_sessions_waits() -> None:
    assert scheduled_state([], T0) == scheduled_state((), T0)
    assert scheduled_state([], T0).mode is Mode.WAITING
    assert current_session([], T0) is None


# -- the moderators' hand ---------------------------------------------------------------------


def control(mode: Mode, item: str | None = None, *, manual: bool = True) -> Control:
    return Control(manual=manual, mode=mode, item=item, changed_at=T0, changed_by="Moderator")


def test_without_a_hand_the_show_is_the_timetable() -> None:
    for minutes in (-30, 0, 60, 80, 179.5, 180, 1500, 1620):
        scheduled = scheduled_state([DAY1, DAY2], at(minutes))
        shown = show_state([DAY1, DAY2], {}, at(minutes))
        assert (shown.session, shown.mode, shown.item) == (
            scheduled.session,
            scheduled.mode,
            scheduled.item,
        )
        assert shown.manual is False


def test_a_moderators_switch_wins_until_handed_back() -> None:
    hand = {"day1": control(Mode.SITE_VISIT, "groups")}
    assert show_state([DAY1, DAY2], hand, at(10)) == ShowState(
        "day1", Mode.SITE_VISIT, "groups", manual=True
    )
    # Before the session starts, a moderator may already open it.
    assert show_state([DAY1, DAY2], {"day1": control(Mode.STAGE)}, at(-5)).mode is Mode.STAGE
    handed_back = {"day1": control(Mode.SITE_VISIT, "groups", manual=False)}
    assert show_state([DAY1, DAY2], handed_back, at(10)) == ShowState(
        "day1", Mode.STAGE, "intro", manual=False
    )
    # Another session's hand does not touch the one running.
    assert show_state([DAY1, DAY2], {"day2": control(Mode.BREAK)}, at(10)).mode is Mode.STAGE


@pytest.mark.parametrize(
    ("mode", "minutes", "expected_session"),
    [
        (Mode.STAGE, 190, "day1"),  # kept running ten minutes past its end: it overruns
        (Mode.BREAKOUTS, 300, "day1"),
        (Mode.ENDED, 190, "day2"),  # ended by hand: the next session is waited for
        (Mode.WAITING, 190, "day2"),
        (Mode.STAGE, 1440, "day2"),  # the next session has started: it wins
    ],
)
def test_a_session_kept_running_overruns_until_the_next_starts(
    mode: Mode, minutes: float, expected_session: str
) -> None:
    shown = show_state([DAY1, DAY2], {"day1": control(mode, "groups")}, at(minutes))
    assert shown.session == expected_session
    if expected_session == "day1":
        assert (shown.mode, shown.item, shown.manual) == (mode, "groups", True)


def test_scheduled_item_is_the_one_on_at_that_instant() -> None:
    assert [scheduled_item(DAY1, at(m)) for m in (-1, 0, 60, 80, 179)] == [
        None,
        "intro",
        "break",
        None,
        "groups",
    ]

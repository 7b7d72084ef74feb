"""The schedule's state at an instant: which session, which mode, which agenda item."""

from datetime import UTC, datetime, timedelta

import pytest

from studymission.domain.run_of_show import current_session, scheduled_state
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

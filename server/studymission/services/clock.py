"""The one place that reads the wall clock and hands out event time."""

import time
from collections.abc import Callable
from datetime import UTC, datetime

from studymission.config import Settings
from studymission.domain.clock import EventClock


def wall_clock() -> datetime:
    return datetime.now(UTC)


class Clock:
    """Event time for a running process; tests pass a `real_now` they control."""

    def __init__(
        self,
        event_clock: EventClock,
        real_now: Callable[[], datetime] = wall_clock,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.event_clock = event_clock
        self._real_now = real_now
        self._monotonic = monotonic

    def now(self) -> datetime:
        """Event time now (aware, UTC)."""
        return self.event_clock.at(self._real_now())

    def real_now(self) -> datetime:
        """Wall-clock time, for what outside parties check (cookie and token expiry)."""
        return self._real_now()

    def monotonic(self) -> float:
        """Real seconds from an arbitrary origin, for rate limits and timeouts."""
        return self._monotonic()

    @property
    def scale(self) -> float:
        return self.event_clock.scale


def clock_from_settings(settings: Settings, real_now: Callable[[], datetime] = wall_clock) -> Clock:
    """A clock starting now, at `clock_start` and `time_scale` from the settings."""
    started = _aware(settings.clock_anchor) if settings.clock_anchor else real_now()
    start = _aware(settings.clock_start) if settings.clock_start else started
    return Clock(EventClock(start, started, settings.time_scale), real_now)


def _aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)

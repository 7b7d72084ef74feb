"""Event time (CONTRACT §4): ``now = clock_start + real_elapsed × time_scale``.

Only this class turns real time into event time. It never reads a clock itself: the
caller passes the real instant, so a whole three-hour session can be tested in an
instant and rehearsed in minutes.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class EventClock:
    """Maps real instants to event instants; all datetimes are aware."""

    clock_start: datetime
    real_start: datetime
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.clock_start.tzinfo is None or self.real_start.tzinfo is None:
            raise ValueError("EventClock needs timezone-aware datetimes")
        if self.scale <= 0:
            raise ValueError(f"time scale must be positive, got {self.scale}")

    def at(self, real_now: datetime) -> datetime:
        """The event time (UTC) at the real instant `real_now`."""
        elapsed = (real_now - self.real_start).total_seconds()
        return (self.clock_start + timedelta(seconds=elapsed * self.scale)).astimezone(UTC)

    def real_seconds(self, event_seconds: float) -> float:
        """How many real seconds pass while `event_seconds` of event time pass."""
        return event_seconds / self.scale

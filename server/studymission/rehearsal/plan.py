"""What a simulated participant does, as a small declarative script in event minutes.

A `Plan` says when a person opens the live page, drops out and comes back, hides the
tab, leaves the room, changes room, goes silent or closes the tab for good, in event
minutes from the session's start (negative: before it). `Plan.steps` turns it into the
few moments where something changes; the bot (bots.py) acts at exactly those moments
and sends its regular heartbeats in between.

`realistic_plans` makes the crowd of a rehearsal: most people on time, some late, some
dropping out for a while, one who closes the tab at the break, one who hides it and one
whose socket stays open without heartbeats.
"""

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

#: Minutes of a bot's own script, from the session's start.
Span = tuple[float, float]  # (from, duration)


@dataclass(frozen=True, slots=True)
class Place:
    """What a heartbeat says: is the tab visible, is the person in the room, which room."""

    visible: bool = True
    in_room: bool = True
    room: str = "main"


Action = Literal["connect", "place", "silence", "close"]


@dataclass(frozen=True, slots=True)
class Step:
    """One change in a bot's script, at `at` event minutes from the session start.

    ``connect`` opens the socket (and heartbeats at once unless silent); ``place``
    heartbeats at once with the new `place`; ``silence`` sends a last heartbeat and
    then none (the socket stays open); ``close`` closes the socket.
    """

    at: float
    action: Action
    place: Place
    silent: bool = False


def _inside(minute: float, spans: Iterable[Span]) -> bool:
    return any(start <= minute < start + length for start, length in spans)


@dataclass(frozen=True, slots=True)
class Plan:
    """A participant's script, in event minutes from the session's start.

    `drops` close the tab for a while (a new socket after), `hidden` spans send
    ``visible: false``, `away` spans ``in_room: false`` with the socket open, `rooms`
    switch the room the client says it is in from a minute on (without any, the bot
    reports the room its ``state`` frames assign). From `silent_from` the socket stays
    open but the last heartbeat is the one sent at that minute; at `closes_at` the tab
    closes for good.
    """

    joins_at: float = 0.0
    drops: tuple[Span, ...] = ()
    hidden: tuple[Span, ...] = ()
    away: tuple[Span, ...] = ()
    rooms: tuple[tuple[float, str], ...] = ()
    silent_from: float | None = None
    closes_at: float | None = None
    label: str = "on time"

    def place_at(self, minute: float, assigned: str = "main") -> Place:
        room = assigned
        for start, name in sorted(self.rooms):
            if start <= minute:
                room = name
        return Place(
            visible=not _inside(minute, self.hidden),
            in_room=not _inside(minute, self.away),
            room=room,
        )

    def connected_at(self, minute: float, until: float) -> bool:
        return (
            self.joins_at <= minute < until
            and not _inside(minute, self.drops)
            and (self.closes_at is None or minute < self.closes_at)
        )

    def silent_at(self, minute: float) -> bool:
        return self.silent_from is not None and minute >= self.silent_from

    def steps(self, until: float) -> list[Step]:
        """The moments where something changes, in order, up to `until` (all closed then)."""
        moments = {self.joins_at, until}
        for start, length in (*self.drops, *self.hidden, *self.away):
            moments.update((start, start + length))
        moments.update(start for start, _room in self.rooms)
        if self.silent_from is not None:
            moments.add(self.silent_from)
        if self.closes_at is not None:
            moments.add(self.closes_at)
        steps: list[Step] = []
        connected, silent, place = False, False, Place()
        for minute in sorted(m for m in moments if m <= until):
            now_connected = self.connected_at(minute, until)
            now_silent = self.silent_at(minute)
            now_place = self.place_at(minute)
            if now_connected and not connected:
                steps.append(Step(minute, "connect", now_place, now_silent))
            elif connected and not now_connected:
                steps.append(Step(minute, "close", place, silent))
            elif now_connected and now_silent and not silent:
                steps.append(Step(minute, "silence", now_place, True))
            elif now_connected and not now_silent and now_place != place:
                steps.append(Step(minute, "place", now_place))
            connected, silent, place = now_connected, now_silent, now_place
        return steps


def break_spans(break_minutes: Iterable[int]) -> list[tuple[int, int]]:
    """Contiguous runs of break minutes as (first minute, length), in order."""
    spans: list[tuple[int, int]] = []
    for minute in sorted(break_minutes):
        if spans and spans[-1][0] + spans[-1][1] == minute:
            spans[-1] = (spans[-1][0], spans[-1][1] + 1)
        else:
            spans.append((minute, 1))
    return spans


def realistic_plans(
    count: int, *, minutes: int, breaks: Sequence[tuple[int, int]] = (), seed: int = 7
) -> list[Plan]:
    """`count` plans for a session of `minutes` minutes with `breaks` (first, length).

    Most people join within the three minutes before the start; about 15 % join 2-15
    minutes late, about 10 % drop out for 7 minutes and come back; from 4 people on, one
    closes the tab at the (first) break and never returns, from 5 one hides the tab for
    a while (visible false), from 6 one goes silent with the socket open. The same
    arguments give the same plans.
    """
    rng = random.Random(seed)

    def minute(low: float, high: float) -> float:
        return round(rng.uniform(low, high) * 60) / 60  # on whole event seconds

    plans: list[Plan] = []
    if count >= 4:
        first_break = breaks[0][0] if breaks else minutes // 2
        plans.append(Plan(joins_at=minute(-3, 0), closes_at=first_break + 1.3, label="tab closed"))
    if count >= 5:
        start = minute(minutes * 0.25, minutes * 0.4)
        plans.append(Plan(joins_at=minute(-3, 0), hidden=((start, 6.0),), label="tab hidden"))
    if count >= 6:
        silent = minute(minutes * 0.55, minutes * 0.7)
        plans.append(Plan(joins_at=minute(-3, 0), silent_from=silent, label="silent socket"))
    late_span = max(2.5, min(15.0, minutes / 3))
    for _ in range(max(1, round(count * 0.15)) if count >= 2 else 0):
        plans.append(Plan(joins_at=minute(2, late_span), label="late"))
    for _ in range(max(1, round(count * 0.10)) if count >= 3 else 0):
        start = minute(minutes * 0.1, max(minutes * 0.1, minutes - 9))
        plans.append(Plan(joins_at=minute(-3, 0), drops=((start, 7.0),), label="dropped 7 min"))
    del plans[count:]
    while len(plans) < count:
        plans.append(Plan(joins_at=minute(-3, 0.3)))
    rng.shuffle(plans)
    return plans

"""What the video service confirms: joins and leaves it reported, turned into covered time.

The browser's heartbeats say a person was in the room (domain.presence); the video service's
own joins and leaves say it saw them there. A present minute is *confirmed* when the video
service's intervals cover at least ``minute_threshold_seconds`` of it, counted per whole
second exactly as presence is (second ``k`` counts when an interval holds ``start + k s``).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from studymission.domain.presence import SessionGrid


class Sighting(StrEnum):
    JOINED = "joined"
    LEFT = "left"


@dataclass(frozen=True, slots=True)
class Report:
    """One join or leave of one person, on the event clock."""

    at: datetime
    kind: Sighting
    #: The platform room (main, breakout-N).
    room: str
    #: The video service's name for the connection (JaaS participant, Prosody occupant JID),
    #: when it gives one; joins and leaves pair within one (room, connection).
    connection: str = ""


@dataclass(frozen=True, slots=True)
class Span:
    start: datetime
    end: datetime


def evidence_spans(reports: Iterable[Report], *, until: datetime) -> list[Span]:
    """Merged time in which the video service saw the person, ordered, ending by `until`.

    Reports are ordered by their own time, not by arrival. Within one (room, connection) a
    join opens time and a leave closes it; a join without a leave lasts until `until` (the
    session's end, or now); a leave without a join covers nothing. Several devices or rooms
    at once count once (the spans are merged).
    """
    order = sorted(reports, key=lambda r: (r.at, r.kind != Sighting.JOINED))
    depth: dict[tuple[str, str], int] = {}
    opened: dict[tuple[str, str], datetime] = {}
    spans: list[Span] = []
    for report in order:
        line = (report.room, report.connection)
        count = depth.get(line, 0)
        if report.kind == Sighting.JOINED:
            if count == 0:
                opened[line] = report.at
            depth[line] = count + 1
        elif count > 0:
            depth[line] = count - 1
            if count == 1:
                spans.append(Span(opened.pop(line), report.at))
    spans.extend(Span(start, until) for start in opened.values())
    clipped = (Span(s.start, min(s.end, until)) for s in spans)
    return merge_spans(s for s in clipped if s.start < s.end)


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Overlapping or touching spans joined into one, in order."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        if merged and span.start <= merged[-1].end:
            if span.end > merged[-1].end:
                merged[-1] = Span(merged[-1].start, span.end)
        else:
            merged.append(span)
    return merged


def present_minute_set(
    grid: SessionGrid, cells: Iterable[tuple[int, int]], threshold_seconds: int, minutes: int
) -> frozenset[int]:
    """Present minutes outside breaks, before `minutes`, from (minute, covered bits) cells.

    The rule of ``domain.presence.count_present_minutes``, keeping which minutes they are.
    """
    covered: dict[int, int] = {}
    for minute, bits in cells:
        if 0 <= minute < minutes and minute not in grid.break_minutes:
            covered[minute] = covered.get(minute, 0) | bits
    return frozenset(m for m, bits in covered.items() if bits.bit_count() >= threshold_seconds)


def confirmed_minutes(
    grid: SessionGrid, spans: Iterable[Span], present: Iterable[int], threshold_seconds: int
) -> int:
    """How many of the `present` minutes the spans cover for at least `threshold_seconds`."""
    seen: dict[int, int] = {}
    for span in spans:
        for minute, bits in grid.second_masks(span.start, span.end):
            seen[minute] = seen.get(minute, 0) | bits
    return sum(1 for m in set(present) if seen.get(m, 0).bit_count() >= threshold_seconds)

"""Breakout groups: a balanced, deterministic plan of who sits in which room.

`balanced_plan` is a pure function. It orders the people, then deals them into the rooms
like cards, round-robin. Everything it promises follows from one fact about dealing:

    Deal any sequence round-robin over R rooms. Then any run of L consecutive cards
    puts floor(L/R) or ceil(L/R) cards in each room, so the counts differ by at most one.

The sequence is the staff (when `staff_one_per_room`), then everyone else. Each part is
sorted by country (the largest first; ties by code), then organisation, then key. One
cursor runs through both parts, so the non-staff part starts in the room after the last
staff member. The runs that matter are therefore consecutive:

- all members: room sizes differ by at most one;
- the staff: staff counts per room differ by at most one. With no more staff than rooms,
  no room has two staff;
- the non-staff members: their room sizes differ by at most one;
- one country's non-staff members: counts per room differ by at most one;
- one organisation within one country: counts per room differ by at most one. An
  organisation that spans k countries is k runs, one per country, so its counts per room
  differ by at most k. The "" organisation ("unknown") is not a constraint.

Staff are spread by the same rules as everyone else, but their countries are counted
apart from the non-staff. So a country's counts per room over *all* members can differ by
two: one from its staff run and one from its non-staff run.

Pins. Pinned people go into their rooms first. Then every room gets a target size by
"water-filling": the largest level L with sum(max(pinned_j, L)) <= n, plus one more in the
first rooms of the deal order whose pins are at most L, until n is reached. Staff and
non-staff are filled separately, in that order. Unpinned people are dealt round-robin
over the rooms that still have room. So:

- pins are always honoured, even when that unbalances a room;
- every room has at least L people of its part (staff or non-staff) and at most L + 1,
  unless all of that part in the room are pinned there. In particular, when no room has
  more than floor(n/R) pins, sizes differ by at most one, as without pins;
- with pins, the spread of countries and organisations is only as good as the leftover
  capacity allows. It is not guaranteed.

Everything is deterministic: the result depends on the members as a set (not on their
input order), the room count, the pins and the flag.
"""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Member:
    key: str
    country: str  # ISO alpha-2
    organization: str  # "" when unknown (then it is not a constraint)
    staff: bool = False  # a resource person or moderator (placed one per room when asked)


class PlanError(ValueError):
    """A plan cannot be made. `problems` holds every problem found, not just the first."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


def room_names(count: int) -> tuple[str, ...]:
    """The names of `count` breakout rooms: ("breakout-1", ..., f"breakout-{count}")."""
    return tuple(f"breakout-{i}" for i in range(1, count + 1))


def smallest_room(sizes: Sequence[int]) -> int:
    """Where a late arrival goes: the index of the smallest room (ties: the lowest index).

    Raises ValueError when there are no rooms.
    """
    if not sizes:
        raise ValueError("there are no rooms")
    return min(range(len(sizes)), key=lambda i: (sizes[i], i))


def balanced_plan(
    members: Sequence[Member],
    rooms: int,
    *,
    pins: Mapping[str, int] | None = None,
    staff_one_per_room: bool = True,
) -> tuple[tuple[str, ...], ...]:
    """Split `members` into `rooms` rooms; `result[i]` holds the keys of room i.

    `pins` maps a member key to the room index (0-based) it must be in. With
    `staff_one_per_room`, staff are spread over the rooms before everyone else: at most
    one per room while there are no more staff than rooms, else evenly. Without it, staff
    are dealt like everyone else.

    Guarantees (see the module docstring for why they hold):

    - every member is placed exactly once, and every pin is honoured;
    - staff and non-staff are each balanced: in every room the count is L or L + 1 for
      one level L, except in a room whose people of that kind are all pinned there. So
      with no more than floor(n/rooms) pins per room, counts differ by at most one;
    - without pins, all room sizes also differ by at most one. Each country's non-staff
      are spread with counts per room differing by at most one, and so is each non-empty
      organisation that lies in one country. An organisation spanning k countries may
      differ by up to k;
    - the same input (as a set of members) gives the same output.

    In each room the staff come first, then the others, each in planning order.

    Raises PlanError, listing every problem: fewer than one room, more rooms than
    non-staff members, duplicate member keys, a pin to an unknown key, or a pin to a room
    that does not exist.
    """
    pins = pins or {}
    _check(members, rooms, pins)
    is_staff = (lambda m: m.staff) if staff_one_per_room else (lambda m: False)
    staff = _ordered([m for m in members if is_staff(m)])
    others = _ordered([m for m in members if not is_staff(m)])
    placed: list[list[str]] = [[] for _ in range(rooms)]
    start = 0
    for part in (staff, others):
        order = [(start + i) % rooms for i in range(rooms)]
        pinned = [0] * rooms
        for member in part:
            if member.key in pins:
                pinned[pins[member.key]] += 1
        targets = _fill_levels(pinned, len(part), order)
        free = [t - p for t, p in zip(targets, pinned, strict=True)]
        rooms_by_slot = iter(_slots(free, order))
        for member in part:
            room = pins.get(member.key)
            placed[next(rooms_by_slot) if room is None else room].append(member.key)
        start = (start + len(part)) % rooms
    return tuple(tuple(keys) for keys in placed)


def _check(members: Sequence[Member], rooms: int, pins: Mapping[str, int]) -> None:
    problems: list[str] = []
    if rooms < 1:
        problems.append(f"rooms must be at least 1, not {rooms}")
    non_staff = sum(not m.staff for m in members)
    if rooms > non_staff:
        problems.append(f"{rooms} rooms but only {non_staff} non-staff members")
    counts = Counter(m.key for m in members)
    for key, count in sorted(counts.items()):
        if count > 1:
            problems.append(f"member key {key!r} appears {count} times")
    for key, room in sorted(pins.items()):
        if key not in counts:
            problems.append(f"pin of unknown member key {key!r}")
        if not 0 <= room < rooms:
            problems.append(f"pin of {key!r} to room {room}, outside 0..{rooms - 1}")
    if problems:
        raise PlanError(problems)


def _ordered(members: Sequence[Member]) -> list[Member]:
    """Countries largest first (ties by code), then organisation, then key."""
    sizes = Counter(m.country for m in members)
    return sorted(members, key=lambda m: (-sizes[m.country], m.country, m.organization, m.key))


def _fill_levels(pinned: Sequence[int], total: int, order: Sequence[int]) -> list[int]:
    """Target sizes: max(pinned, L) each, plus one for the first rooms in `order` at L.

    L is the largest level with sum(max(p, L)) <= total (L = 0 always fits, since the
    pinned are part of the total). The rest is smaller than the number of rooms whose
    pins are at most L, or L + 1 would fit too.
    """
    low, high = 0, total
    while low < high:
        level = (low + high + 1) // 2
        if sum(max(p, level) for p in pinned) <= total:
            low = level
        else:
            high = level - 1
    targets = [max(p, low) for p in pinned]
    rest = total - sum(targets)
    for room in order:
        if rest == 0:
            break
        if pinned[room] <= low:
            targets[room] += 1
            rest -= 1
    return targets


def _slots(free: Sequence[int], order: Sequence[int]) -> list[int]:
    """Round-robin over the rooms in `order`, each room until its free places run out."""
    slots: list[int] = []
    active = [room for room in order if free[room] > 0]
    level = 0
    while active:
        slots.extend(active)
        level += 1
        active = [room for room in active if free[room] > level]
    return slots

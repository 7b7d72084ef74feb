"""The breakout plan: balanced sizes, spread countries and organisations, staff, pins.

Hypothesis generates members from a few countries and organisations (which may span
countries), some of them staff, 1..N rooms and some pins. The tests check the guarantees
stated in `balanced_plan`'s docstring.
"""

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studymission.domain.breakouts import (
    Member,
    PlanError,
    balanced_plan,
    room_names,
    smallest_room,
)

pytestmark = pytest.mark.unit

COUNTRIES = ("BD", "KH", "TW", "FJ", "IN")
ORGANIZATIONS = ("", "NPC", "DAP", "MoI", "KPC")
# 21 member countries, as in data/member_countries.csv.
MEMBER_COUNTRIES = (
    "BD", "KH", "TW", "FJ", "HK", "IN", "ID", "IR", "JP", "KR", "LA",
    "MY", "MN", "NP", "PK", "PH", "SG", "LK", "TH", "TR", "VN",
)  # fmt: skip

Plan = tuple[tuple[str, ...], ...]
# (size of the part, rooms) -> how many pins of that part one room may hold, None: any
PinCap = Callable[[int, int], int | None]


@dataclass(frozen=True)
class Case:
    members: tuple[Member, ...]
    rooms: int
    pins: Mapping[str, int]
    staff_one_per_room: bool

    def plan(self) -> Plan:
        return balanced_plan(
            self.members,
            self.rooms,
            pins=self.pins,
            staff_one_per_room=self.staff_one_per_room,
        )

    def is_staff(self, member: Member) -> bool:
        """Whether the plan treats `member` as staff (only with `staff_one_per_room`)."""
        return member.staff and self.staff_one_per_room


def no_pins(part: int, rooms: int) -> int | None:
    return 0


def balanced_pins(part: int, rooms: int) -> int | None:
    return part // rooms


def any_pins(part: int, rooms: int) -> int | None:
    return None


@st.composite
def cases(
    draw: st.DrawFn, pin_cap: PinCap = any_pins, staff_one_per_room: bool | None = None
) -> Case:
    countries = COUNTRIES[: draw(st.integers(1, len(COUNTRIES)))]
    organizations = ORGANIZATIONS[: draw(st.integers(1, len(ORGANIZATIONS)))]
    drawn = draw(
        st.lists(
            st.tuples(
                st.sampled_from(countries),
                st.sampled_from(organizations),
                st.integers(0, 5).map(lambda x: x == 0),  # about one in six is staff
            ),
            min_size=1,
            max_size=60,
        )
    )
    members = [Member(f"m{i:02d}", c, o, s) for i, (c, o, s) in enumerate(drawn)]
    if all(m.staff for m in members):
        members[0] = Member(members[0].key, members[0].country, members[0].organization)
    non_staff = sum(not m.staff for m in members)
    rooms = draw(st.integers(1, min(non_staff, 12)))
    flag = draw(st.booleans()) if staff_one_per_room is None else staff_one_per_room
    wanted = draw(st.lists(st.none() | st.integers(0, rooms - 1), min_size=len(members)))
    # keep the wanted pins while each room stays within the cap for its part
    parts = Counter(m.staff and flag for m in members)
    held: Counter[tuple[bool, int]] = Counter()
    pins: dict[str, int] = {}
    for member, room in zip(members, wanted, strict=False):
        part = member.staff and flag
        cap = pin_cap(parts[part], rooms)
        if room is not None and (cap is None or held[part, room] < cap):
            held[part, room] += 1
            pins[member.key] = room
    return Case(tuple(draw(st.permutations(members))), rooms, pins, flag)


def examples(count: int) -> settings:
    return settings(max_examples=count, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def spread(values: Sequence[int]) -> int:
    return max(values) - min(values)


def counts(plan: Plan, case: Case, chosen: Callable[[Member], bool]) -> list[int]:
    """Per room, how many of the members for which `chosen` holds."""
    by_key = {m.key: m for m in case.members}
    return [sum(chosen(by_key[key]) for key in room) for room in plan]


def tally(
    plan: Plan, members: Sequence[Member], field: Callable[[Member], str]
) -> dict[str, list[int]]:
    """For each value of `field` among `members`, how many of them each room holds."""
    room_of = {key: i for i, room in enumerate(plan) for key in room}
    result: dict[str, list[int]] = {}
    for member in members:
        result.setdefault(field(member), [0] * len(plan))[room_of[member.key]] += 1
    return result


# --------------------------------------------------------------------------------------------
# Properties


@examples(300)
@given(cases())
def test_everyone_is_placed_once_and_pins_are_honoured(case: Case) -> None:
    plan = case.plan()
    assert len(plan) == case.rooms
    placed = [key for room in plan for key in room]
    assert sorted(placed) == sorted(m.key for m in case.members)
    for key, room in case.pins.items():
        assert key in plan[room]


@examples(300)
@given(cases())
def test_each_part_is_as_balanced_as_the_pins_allow(case: Case) -> None:
    """Per part (staff, others): L or L + 1 a room, unless the room holds only its pins."""
    plan = case.plan()
    for staff in (False, True):
        part = [m for m in case.members if case.is_staff(m) == staff]
        sizes = tally(plan, part, lambda m: "all").get("all", [0] * case.rooms)
        pinned = [sum(case.pins.get(m.key) == i for m in part) for i in range(case.rooms)]
        level = min(sizes)
        for size, held in zip(sizes, pinned, strict=True):
            assert size <= level + 1 or size == held


@examples(300)
@given(cases(balanced_pins))
def test_sizes_differ_by_at_most_one_when_the_pins_fit(case: Case) -> None:
    plan = case.plan()
    assert spread(counts(plan, case, lambda m: not case.is_staff(m))) <= 1
    assert spread(counts(plan, case, case.is_staff)) <= 1


@examples(300)
@given(cases(no_pins))
def test_without_pins_everything_is_spread(case: Case) -> None:
    plan = case.plan()
    assert spread([len(room) for room in plan]) <= 1
    assert spread(counts(plan, case, case.is_staff)) <= 1
    others = [m for m in case.members if not case.is_staff(m)]
    for country, per_room in tally(plan, others, lambda m: m.country).items():
        assert spread(per_room) <= 1, country
    for organization, per_room in tally(plan, others, lambda m: m.organization).items():
        spans = len({m.country for m in others if m.organization == organization})
        if organization:  # one when the organisation lies in one country
            assert spread(per_room) <= spans, organization


@examples(300)
@given(cases(any_pins, staff_one_per_room=True))
def test_no_room_has_two_staff_while_rooms_allow(case: Case) -> None:
    staff = sum(m.staff for m in case.members)
    # at most one staff pin per room, else the pins themselves put two staff together
    seen: set[int] = set()
    pins = {}
    for key, room in sorted(case.pins.items()):
        if any(m.key == key and m.staff for m in case.members):
            if room in seen:
                continue
            seen.add(room)
        pins[key] = room
    plan = balanced_plan(case.members, case.rooms, pins=pins)
    per_room = counts(plan, case, lambda m: m.staff)
    if staff <= case.rooms:
        assert max(per_room) <= 1
    elif not seen:
        assert spread(per_room) <= 1


@examples(200)
@given(cases())
def test_the_plan_depends_only_on_the_set_of_members(case: Case) -> None:
    plan = case.plan()
    assert case.plan() == plan
    reordered = list(reversed(case.members))
    again = balanced_plan(
        reordered, case.rooms, pins=dict(case.pins), staff_one_per_room=case.staff_one_per_room
    )
    assert again == plan


# --------------------------------------------------------------------------------------------
# Examples


def delegation(people: int, staff: int = 0) -> list[Member]:
    """`people` participants from the 21 member countries (dealt in turn), then staff."""
    members = [Member(f"p{i:03d}", MEMBER_COUNTRIES[i % 21], f"org-{i % 7}") for i in range(people)]
    members += [Member(f"s{i:02d}", MEMBER_COUNTRIES[i % 21], "APO", True) for i in range(staff)]
    return members


def sizes(plan: Plan, chosen: Callable[[str], bool] = lambda key: True) -> list[int]:
    return [sum(chosen(key) for key in room) for room in plan]


def is_staff_key(key: str) -> bool:
    return key.startswith("s")


def test_69_people_from_21_countries_in_6_rooms() -> None:
    members = delegation(69)
    plan = balanced_plan(members, 6)
    assert sizes(plan) == [12, 12, 12, 11, 11, 11]
    by_key = {m.key: m for m in members}
    for country in MEMBER_COUNTRIES:  # 4 delegates for the first 6 countries, else 3
        per_room = [sum(by_key[key].country == country for key in room) for room in plan]
        assert sorted(per_room) in ([0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1])
    assert plan == balanced_plan(list(reversed(members)), 6)


def test_one_staff_member_per_room() -> None:
    plan = balanced_plan(delegation(69, staff=6), 6)
    assert sizes(plan, is_staff_key) == [1, 1, 1, 1, 1, 1]
    assert sizes(plan) == [13, 13, 13, 12, 12, 12]
    assert all(is_staff_key(room[0]) for room in plan)  # staff first in each room


def test_fewer_staff_than_rooms_still_balances_the_totals() -> None:
    plan = balanced_plan(delegation(69, staff=4), 6)
    assert sizes(plan, is_staff_key) == [1, 1, 1, 1, 0, 0]
    # the others start where the staff ended, so the fuller rooms are 4, 5, 0
    assert sizes(plan, lambda key: not is_staff_key(key)) == [12, 11, 11, 11, 12, 12]
    assert sizes(plan) == [13, 12, 12, 12, 12, 12]


def test_more_staff_than_rooms() -> None:
    plan = balanced_plan(delegation(69, staff=9), 6)
    assert sizes(plan, is_staff_key) == [2, 2, 2, 1, 1, 1]
    assert sizes(plan) == [13, 13, 13, 13, 13, 13]


def test_staff_dealt_like_everyone_without_the_flag() -> None:
    plan = balanced_plan(delegation(66, staff=9), 5, staff_one_per_room=False)
    assert sizes(plan) == [15, 15, 15, 15, 15]


def test_pins_win_over_balance() -> None:
    members = [Member(f"p{i}", "TH", "") for i in range(10)]
    pins = {f"p{i}": 0 for i in range(8)}
    plan = balanced_plan(members, 2, pins=pins)
    assert plan == (tuple(f"p{i}" for i in range(8)), ("p8", "p9"))


def test_rooms_beside_an_overfull_pinned_room_stay_balanced() -> None:
    members = [Member(f"p{i}", "TH", "") for i in range(7)]
    plan = balanced_plan(members, 3, pins={"p3": 0, "p4": 0, "p5": 0, "p6": 0})
    assert sizes(plan) == [4, 2, 1]
    assert plan[0] == ("p3", "p4", "p5", "p6")


def test_pinned_staff_keep_one_per_room() -> None:
    plan = balanced_plan(delegation(12, staff=3), 4, pins={"s00": 3, "s01": 2})
    assert sizes(plan, is_staff_key) == [1, 0, 1, 1]
    assert "s00" in plan[3] and "s01" in plan[2]


def test_every_problem_is_reported_at_once() -> None:
    members = [Member("a", "TH", ""), Member("a", "TH", ""), Member("s", "TH", "", True)]
    with pytest.raises(PlanError) as caught:
        balanced_plan(members, 3, pins={"zz": 0, "s": 3})
    assert caught.value.problems == (
        "3 rooms but only 2 non-staff members",
        "member key 'a' appears 2 times",
        "pin of 's' to room 3, outside 0..2",
        "pin of unknown member key 'zz'",
    )
    with pytest.raises(PlanError) as caught:
        balanced_plan([Member("a", "TH", "")], 0)
    assert caught.value.problems == ("rooms must be at least 1, not 0",)
    assert isinstance(caught.value, ValueError)


def test_room_names() -> None:
    assert room_names(3) == ("breakout-1", "breakout-2", "breakout-3")
    assert room_names(0) == ()


def test_a_late_arrival_goes_to_the_smallest_room() -> None:
    assert smallest_room([3, 2, 2, 4]) == 1
    assert smallest_room([5]) == 0
    with pytest.raises(ValueError):
        smallest_room([])

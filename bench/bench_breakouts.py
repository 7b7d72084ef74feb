"""Speed of breakout planning: 10,000 people from 21 countries, ~400 organisations, 30 staff.

Run: ``.venv/bin/python bench/bench_breakouts.py``. Prints a Markdown table. The goal from
the issue: a balanced plan for 10,000 people from 21 countries in under 1 s.
"""

import random
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from studymission.domain.breakouts import Member, balanced_plan
from studymission.services.countries import member_countries

PEOPLE = 10_000
ORGANIZATIONS = 400
STAFF = 30


def timed(action: Callable[[], Any], repeat: int) -> list[float]:
    """Milliseconds of each of `repeat` runs of `action`."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def row(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"| {name} | {len(samples)} | {statistics.median(samples):.1f} | {p99:.1f} |"


def crowd(seed: int = 1) -> list[Member]:
    """Participants with uneven country sizes; each organisation lies in one country."""
    rng = random.Random(seed)
    codes = [c.code for c in member_countries()]
    weights = [1 + i % 5 for i in range(len(codes))]  # some delegations 5x others
    home = {f"org-{i:03d}": codes[i % len(codes)] for i in range(ORGANIZATIONS)}
    by_country: dict[str, list[str]] = {}
    for organization, country in home.items():
        by_country.setdefault(country, []).append(organization)
    members = []
    for i in range(PEOPLE - STAFF):
        country = rng.choices(codes, weights)[0]
        organization = rng.choice(by_country[country] + [""])
        members.append(Member(f"p{i:05d}", country, organization))
    for i in range(STAFF):
        members.append(Member(f"s{i:02d}", rng.choice(codes), "", staff=True))
    rng.shuffle(members)
    return members


def main() -> None:
    members = crowd()
    pins = {m.key: i % 50 for i, m in enumerate(members[:500])}
    rows = [
        f"| measure ({len(member_countries())} countries, {ORGANIZATIONS} organisations, "
        f"{STAFF} staff) | runs | median ms | p99 ms |",
        "| --- | --- | --- | --- |",
    ]
    for rooms in (500, 50):
        rows.append(
            row(
                f"plan {PEOPLE:,} people into {rooms} rooms",
                timed(partial(balanced_plan, members, rooms), 30),
            )
        )
    rows.append(
        row(
            f"plan {PEOPLE:,} people into 50 rooms, 500 pinned",
            timed(lambda: balanced_plan(members, 50, pins=pins), 30),
        )
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()

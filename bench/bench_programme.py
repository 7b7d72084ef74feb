"""Speed of the foundation: spec validation and loading, CSV import, the programme page.

Run: ``.venv/bin/python bench/bench_programme.py`` (SQLite in a temporary directory; pass
``--database-url postgresql+psycopg://...`` for PostgreSQL). Prints a Markdown table.
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from studymission.app import create_app
from studymission.config import Settings
from studymission.db.engine import make_engine
from studymission.db.events import get_event
from studymission.db.migrate import upgrade
from studymission.domain.clock import EventClock
from studymission.domain.spec import validate_spec
from studymission.services.clock import Clock
from studymission.services.countries import country_codes
from studymission.services.demo import build_demo_spec
from studymission.services.events import load_spec
from studymission.services.people import import_people_csv

SECRET = "bench-secret-key-of-enough-length"


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


def big_spec(people: int) -> dict[str, Any]:
    """The demo event with `people` participants instead of 69."""
    spec = build_demo_spec(first_day=date(2021, 11, 24))
    staff = [p for p in spec["people"] if p["role"] != "participant"]
    crowd = [
        {
            "key": f"x{i:05d}",
            "name": f"Delegate {i}",
            "email": f"d{i}@example.org",
            "country": "IN",
            "organization": "NPC",
            "role": "participant",
            "origin": "overseas",
        }
        for i in range(people)
    ]
    return {**spec, "people": staff + crowd}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sm-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public"))
    upgrade(engine)
    now = datetime(2021, 11, 24, 4, 30, tzinfo=UTC)
    clock = Clock(EventClock(now, now, 1.0), lambda: now)
    demo = build_demo_spec(first_day=date(2021, 11, 24))
    thousand = big_spec(1000)
    codes = country_codes()
    rows = [
        f"| measure ({engine.dialect.name}) | runs | median ms | p99 ms |",
        "| --- | --- | --- | --- |",
    ]
    rows.append(
        row(
            "validate the demo spec (76 people)",
            timed(lambda: validate_spec(demo, countries=codes), 50),
        )
    )
    rows.append(
        row(
            "validate a spec of 1,007 people",
            timed(lambda: validate_spec(thousand, countries=codes), 10),
        )
    )

    def load(raw: dict[str, Any]) -> None:
        with Session(engine, expire_on_commit=False) as db:
            load_spec(db, raw, secret=SECRET, now=now, actor="bench")

    rows.append(row("first load of the demo spec", timed(lambda: load(demo), 1)))
    rows.append(row("reload of the unchanged demo spec", timed(lambda: load(demo), 10)))
    csv_text = "key,name,email,country\n" + "".join(
        f"c{i:05d},Importee {i},c{i}@example.org,TH\n" for i in range(1000)
    )

    def import_csv() -> None:
        with Session(engine, expire_on_commit=False) as db:
            event = get_event(db, demo["code"])
            assert event is not None
            import_people_csv(db, event, csv_text, secret=SECRET, now=now, actor="bench")

    rows.append(row("CSV import of 1,000 new people", timed(import_csv, 1)))
    rows.append(row("CSV import of the same 1,000 again", timed(import_csv, 3)))
    settings = Settings(database_url=url, secret_key=SECRET, var_dir=workdir)
    with Session(engine, expire_on_commit=False) as db:
        token = load_spec(db, demo, secret=SECRET, now=now, actor="bench").join_tokens["p001"]
    with TestClient(create_app(settings, engine=engine, clock=clock)) as client:
        client.get(f"/join/{token}")
        page = f"/events/{demo['code']}"
        assert "Introduction to data governance" in client.get(page).text
        rows.append(row("programme page, whole (in-process)", timed(lambda: client.get(page), 200)))
        htmx = {"HX-Request": "true"}
        rows.append(
            row("programme page, htmx fragment", timed(lambda: client.get(page, headers=htmx), 200))
        )
    engine.dispose()
    print("\n".join(rows))


if __name__ == "__main__":
    main()

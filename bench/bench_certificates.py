"""Issuing 1,000 certificates and rendering their PDFs with both cores (issue 7).

Run: ``.venv/bin/python bench/bench_certificates.py [--people 1000] [--workers 2]`` (SQLite in
a temporary directory; ``--database-url postgresql+psycopg://...`` for PostgreSQL).

The event is the demo's two-day study mission (24–25 November 2021) with N participants
made eligible by presence: every minute of both sessions is written straight into the per-minute log
(as the server's minute flush does), so issuing reads the real attendance report over
N × 360 minute rows. Issuing (report, codes, rows, audit, one commit) runs in this
process; the PDFs are rendered by a pool of `workers` processes, each writing
``<person key>.pdf`` as ``studymission certificates`` does. Prints a Markdown table.
"""

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from studymission.db.engine import make_engine
from studymission.db.migrate import upgrade
from studymission.db.presence import MinuteCell, upsert_minutes
from studymission.db.tables import EventSession, Person
from studymission.exporters.certificate_pdf import CertificateContent, Design, render_certificate
from studymission.services import certificates as service
from studymission.services.certificate_design import load_design
from studymission.services.demo import build_demo_spec
from studymission.services.events import load_spec, require_event

SECRET = "bench-secret-key-of-enough-length"
BASE_URL = "https://studymission.example.org"
LOADED_AT = datetime(2021, 11, 20, tzinfo=UTC)
AFTER = datetime(2021, 11, 26, tzinfo=UTC)
FULL = (1 << 60) - 1


def build_spec(people: int) -> dict[str, object]:
    spec = build_demo_spec(first_day=date(2021, 11, 24))
    staff = [p for p in spec["people"] if p["role"] != "participant"]
    names = ["Nguyễn Thị Minh", "Şebnem Yıldız", "Sadeq Ḥosseini", "สมชาย ใจดี", "प्रिया शर्मा"]
    countries = ["VN", "TR", "IR", "TH", "IN"]
    spec["people"] = staff + [
        {
            "key": f"p{i:04d}",
            "name": f"{names[i % 5]} {i}",
            "email": f"p{i:04d}@example.org",
            "country": countries[i % 5],
            "organization": "NPO",
            "role": "participant",
            "origin": "overseas",
        }
        for i in range(people)
    ]
    return spec


def make_eligible(engine: Engine, code: str) -> int:
    """Every minute of every session present for every participant; returns rows written."""
    with Session(engine) as db:
        event = require_event(db, code)
        sessions = db.exec(select(EventSession).where(EventSession.event_id == event.id)).all()
        people = db.exec(
            select(Person).where(Person.event_id == event.id, Person.role == "participant")
        ).all()
    cells: list[MinuteCell] = []
    for session in sessions:
        minutes = int((session.end - session.start).total_seconds() // 60)
        for person in people:
            cells.extend(
                (session.id or 0, person.id or 0, m, "main", FULL, FULL) for m in range(minutes)
            )
    with engine.begin() as connection:
        for start in range(0, len(cells), 20_000):
            upsert_minutes(connection, cells[start : start + 20_000])
    return len(cells)


def render_chunk(chunk: Sequence[tuple[str, CertificateContent]], design: Design, out: str) -> int:
    """Render and write one worker's share; returns the bytes written."""
    written = 0
    for key, content in chunk:
        data = render_certificate(content, design)
        Path(out, f"{key}.pdf").write_bytes(data)
        written += len(data)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        upgrade(engine)
        with Session(engine, expire_on_commit=False) as db:
            outcome = load_spec(
                db, build_spec(args.people), secret=SECRET, now=LOADED_AT, actor="bench"
            )
        code = outcome.event.code
        rows = make_eligible(engine, code)

        started = time.perf_counter()
        with Session(engine, expire_on_commit=False) as db:
            event = require_event(db, code)
            issued = service.issue_certificates(
                db, event, people=None, actor="bench", now=AFTER, base_url=BASE_URL
            )
            contents = service.contents_for(db, event, base_url=BASE_URL)
            design = load_design(db, event)
        issue_seconds = time.perf_counter() - started
        assert len(issued.issued) == args.people == len(contents), "not everyone was issued"

        out = Path(tmp, "pdfs")
        out.mkdir()
        started = time.perf_counter()
        chunks = [contents[i :: args.workers * 8] for i in range(args.workers * 8)]
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            sizes = list(
                pool.map(render_chunk, chunks, [design] * len(chunks), [str(out)] * len(chunks))
            )
        render_seconds = time.perf_counter() - started
        assert len(os.listdir(out)) == args.people
        engine.dispose()

    total = issue_seconds + render_seconds
    print(
        f"{args.people} certificates, {rows:,} presence rows, "
        f"{args.workers} render workers, {os.cpu_count()} CPUs"
    )
    print()
    print("| step | seconds |")
    print("| --- | ---: |")
    print(f"| issue (report over the log, codes, rows, audit, commit) | {issue_seconds:.2f} |")
    print(f"| render {args.people} PDFs ({args.workers} processes) | {render_seconds:.2f} |")
    print(f"| total | {total:.2f} |")
    print(f"| PDFs per second (render) | {args.people / render_seconds:.1f} |")
    print(f"| average PDF size | {sum(sizes) / args.people / 1024:.0f} KiB |")
    print()
    print(f"target: total under 60 s — {'met' if total < 60 else 'MISSED'}")


if __name__ == "__main__":
    main()

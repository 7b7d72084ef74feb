"""Cost of the live stage's video tokens and of a run-of-show switch reaching every socket.

Run: ``.venv/bin/python bench/bench_stage.py [--sockets 10000]`` (``make bench`` runs it).
Prints Markdown tables for bench/README.md.

1. Minting: tokens per second for each Jitsi mode (none, self_hosted HS256, jaas RS256
   with a 2,048-bit key), one person and room at a time, as a socket's first state needs.
2. A switch: `Realtime.push_state` for N sockets of the demo event, each socket's
   websocket a stand-in that takes the frame and does nothing (the ASGI server queues the
   bytes without waiting for the peer, so this is the server's own work). Measured for a
   switch that keeps everyone's call (stage → break: tokens reused), one that takes them out
   of it (→ site visit) and one that brings them back (→ stage), per mode. The first
   state of every socket (connect) is timed too: it mints. Beside each switch a 10 ms
   timer measures the longest the event loop left every other socket waiting.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from sqlmodel import Session

from studymission.config import Settings
from studymission.db.engine import make_engine
from studymission.db.events import get_event
from studymission.db.migrate import upgrade
from studymission.domain.clock import EventClock
from studymission.integrations.jitsi import JitsiAdapter, VideoUser, jitsi_from_settings
from studymission.realtime.bus import InProcessBus
from studymission.realtime.hub import Connection
from studymission.realtime.runtime import Realtime
from studymission.services.clock import Clock
from studymission.services.demo import build_demo_spec
from studymission.services.events import load_spec
from studymission.services.run_of_show import ModeChange, change_mode

SECRET = "bench-secret-key-of-enough-length"


class QuietSocket:
    """Takes a frame and does nothing: what a socket costs the server, without a peer."""

    sent = 0

    async def send_text(self, text: str) -> None:
        QuietSocket.sent += 1


def adapters(tmp: Path) -> dict[str, JitsiAdapter]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp / "jaas.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    base = Settings(secret_key=SECRET, var_dir=tmp)
    app_id = "vpaas-magic-cookie-0123456789abcdef0123456789abcdef"
    return {
        "none": jitsi_from_settings(base, SECRET),
        "self_hosted": jitsi_from_settings(
            base.model_copy(
                update={
                    "jitsi_mode": "self_hosted",
                    "jitsi_domain": "meet.example.org",
                    "jitsi_app_id": "studymission",
                    "jitsi_app_secret": SecretStr("x" * 48),
                }
            ),
            SECRET,
        ),
        "jaas": jitsi_from_settings(
            base.model_copy(
                update={
                    "jitsi_mode": "jaas",
                    "jitsi_domain": "8x8.vc",
                    "jitsi_app_id": app_id,
                    "jitsi_kid": f"{app_id}/4f4910",
                    "jitsi_private_key_file": pem,
                }
            ),
            SECRET,
        ),
    }


def mint_rate(adapter: JitsiAdapter, count: int) -> float:
    user = VideoUser("p001", "Nguyễn Thị Minh", "minh@example.org", moderator=False)
    room = adapter.room("KOR-21-DM", "day1", "main")
    now = datetime.now(UTC)
    started = time.perf_counter()
    for _ in range(count):
        adapter.frame(user, room, now)
    return count / (time.perf_counter() - started)


def timed(run: Callable[[], Any], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        out.append((time.perf_counter() - started) * 1000)
    return out


async def switch_costs(
    tmp: Path, adapter: JitsiAdapter, sockets: int, repeats: int
) -> dict[str, list[float]]:
    engine = make_engine(f"sqlite:///{tmp / f'stage-{adapter.mode}.db'}")
    upgrade(engine)
    today = date(2026, 11, 27)
    spec = build_demo_spec(first_day=today)
    now = datetime(2026, 11, 27, 4, 30, tzinfo=UTC)  # Day 1 under way
    with Session(engine, expire_on_commit=False) as db:
        load_spec(db, spec, secret=SECRET, now=now, actor="bench")
        event = get_event(db, spec["code"])
        assert event is not None
    clock = Clock(EventClock(now, datetime.now(UTC), 1.0), lambda: datetime.now(UTC))
    realtime = Realtime(engine, clock, InProcessBus(), adapter)
    code = spec["code"]
    await realtime.snapshot(code)
    for index in range(sockets):
        realtime.hub.add(
            Connection(
                socket=f"s{index}",
                websocket=QuietSocket(),  # type: ignore[arg-type]
                event_code=code,
                person_id=index,
                person_key=f"p{index:05d}",
                role="participant",
                person_name=f"Participant {index}",
                person_email=f"p{index}@example.org",
            )
        )
    session = realtime.show(code)
    assert session is not None and session.session is not None
    costs: dict[str, list[float]] = {k: [] for k in ("connect", "keep", "out", "back")}
    stalls: dict[str, list[float]] = {k: [] for k in costs}

    async def probe(lateness: list[float], stop: asyncio.Event) -> None:
        # How late a 10 ms timer fires: how long the loop left every other socket waiting.
        while not stop.is_set():
            due = time.perf_counter() + 0.010
            await asyncio.sleep(0.010)
            lateness.append((time.perf_counter() - due) * 1000)

    async def switch(mode: str, key: str) -> float:
        with Session(engine, expire_on_commit=False) as db:
            change_mode(db, event, session.session or "", ModeChange(mode=mode), actor="b", now=now)
        realtime.snapshots.pop(code, None)
        await realtime.snapshot(code)
        lateness: list[float] = []
        stop = asyncio.Event()
        watcher = asyncio.create_task(probe(lateness, stop))
        await asyncio.sleep(0)
        started = time.perf_counter()
        await realtime.push_state(code, only_changed=True)
        elapsed = (time.perf_counter() - started) * 1000
        stop.set()
        await watcher
        stalls[key].append(max(lateness, default=0.0))
        return elapsed

    for _ in range(repeats):
        for connection in realtime.hub.connections(code):
            connection.video.clear()
            connection.last_state = None
        costs["connect"].append(await switch("stage", "connect"))
        costs["keep"].append(await switch("break", "keep"))
        costs["out"].append(await switch("site_visit", "out"))
        costs["back"].append(await switch("stage", "back"))
    engine.dispose()
    return {**costs, **{f"stall-{k}": v for k, v in stalls.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        modes = adapters(tmp)
        print("| mode | tokens minted per second (one core) |")
        print("| --- | --- |")
        for name, adapter in modes.items():
            count = 2_000 if name == "jaas" else 20_000
            print(f"| {name} | {mint_rate(adapter, count):,.0f} |")
        print()
        print(
            f"| switch, {args.sockets:,} sockets | mode | median ms | max ms "
            "| longest event-loop stall ms |"
        )
        print("| --- | --- | --- | --- | --- |")
        labels = {
            "connect": "first state of every socket (mints)",
            "keep": "stage → break (same call, tokens reused)",
            "out": "→ site visit (out of the call)",
            "back": "→ stage (back into the call, tokens reused)",
        }
        for name, adapter in modes.items():
            costs = asyncio.run(switch_costs(tmp, adapter, args.sockets, args.repeats))
            for key, label in labels.items():
                values = costs[key]
                stall = max(costs[f"stall-{key}"])
                print(
                    f"| {label} | {name} | {statistics.median(values):.0f} "
                    f"| {max(values):.0f} | {stall:.0f} |"
                )


if __name__ == "__main__":
    main()

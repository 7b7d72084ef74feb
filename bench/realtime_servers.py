"""The servers bench_realtime.py measures, each run in its own process by this script.

    python bench/realtime_servers.py ours --port P        # studymission, as `serve` runs it
    python bench/realtime_servers.py websockets --port P  # a bare websockets server
    python bench/realtime_servers.py fastapi --port P     # a bare FastAPI endpoint (uvicorn)

``ours`` is `studymission serve` itself (the same function, uvicorn options and garbage
collector settings); its settings come from the ``STUDYMISSION_*`` environment. Every
minute flush (rows, milliseconds, when) is appended to the file ``BENCH_FLUSH_LOG`` names,
as `Realtime.flush_stats` records it, and ``BENCH_SERVER_PATCH`` may name a Python file
run first, to measure a proposed change without editing the code.

The bare servers speak just enough of the protocol for the same clients: a ``welcome``
frame, ``pong`` for ``ping``, and every text frame parsed as JSON, which is all a bare
server does with a heartbeat. A ``{"type": "broadcast", "text": ...}`` frame makes them
send a ``notice`` to every socket in a plain loop (websockets' own ``broadcast``; a loop
of ``send_text`` under FastAPI, as studymission's hub does). They keep Python's default
garbage collector settings.
"""

import argparse
import json
import os
import runpy
import time
from datetime import UTC, datetime
from typing import Any

NOTICE_FROM = "bench"


def _welcome(heartbeat_seconds: float) -> str:
    return json.dumps(
        {"type": "welcome", "person": "bench", "role": "participant",
         "heartbeat_seconds": heartbeat_seconds, "server_time": _now()},
        separators=(",", ":"),
    )  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _pong(frame_id: object) -> str:
    return json.dumps(
        {"type": "pong", "id": frame_id, "server_time": _now()}, separators=(",", ":")
    )


def _notice(text: object) -> str:
    return json.dumps(
        {"type": "notice", "text": text, "room": None, "from": NOTICE_FROM},
        separators=(",", ":"),
    )


def run_ours(port: int) -> None:
    """`studymission serve --port PORT`, every minute flush noted in ``BENCH_FLUSH_LOG``."""
    from studymission import cli
    from studymission.realtime.runtime import FlushStats

    flush_log = os.environ.get("BENCH_FLUSH_LOG")
    if flush_log:
        record = FlushStats.record

        def noted(stats: FlushStats, rows: int, ms: float) -> None:
            record(stats, rows, ms)
            # Monotonic time is the machine's: the bench compares it with its own phases.
            with open(flush_log, "a", encoding="utf-8") as out:
                out.write(json.dumps({"at": time.monotonic(), "rows": rows, "ms": ms}) + "\n")

        FlushStats.record = noted  # type: ignore[method-assign,assignment]
    patch = os.environ.get("BENCH_SERVER_PATCH")
    if patch:
        # To measure a proposed change without editing the code: a file that patches it.
        runpy.run_path(patch)
    # The command's own function: whatever `serve` does (settings, logs, uvicorn), this does.
    cli.serve(host="127.0.0.1", port=port)


def run_websockets(port: int, heartbeat_seconds: float) -> None:
    """A bare `websockets` server: parse every frame, answer pings, broadcast on request."""
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.exceptions import ConnectionClosed

    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        clients.add(ws)
        try:
            await ws.send(_welcome(heartbeat_seconds))
            async for message in ws:
                frame = json.loads(message)
                kind = frame.get("type")
                if kind == "ping":
                    await ws.send(_pong(frame.get("id")))
                elif kind == "broadcast":
                    broadcast(clients, _notice(frame.get("text")))
        except ConnectionClosed:
            pass
        finally:
            clients.discard(ws)

    async def main() -> None:
        async with serve(
            handler,
            "127.0.0.1",
            port,
            compression=None,
            max_size=128 * 1024,
            ping_interval=20,
            ping_timeout=20,
            backlog=4096,
        ) as server:
            await server.serve_forever()

    import uvloop

    uvloop.run(main())


def run_fastapi(port: int, heartbeat_seconds: float) -> None:
    """A bare FastAPI endpoint under uvicorn, with the options `serve` uses."""
    import uvicorn
    from fastapi import FastAPI, WebSocket, WebSocketDisconnect

    from studymission.cli import UVICORN_OPTIONS

    app = FastAPI()
    clients: set[WebSocket] = set()

    @app.websocket("/ws/{code}")
    async def endpoint(websocket: WebSocket, code: str) -> None:
        await websocket.accept()
        clients.add(websocket)
        try:
            await websocket.send_text(_welcome(heartbeat_seconds))
            while True:
                frame = json.loads(await websocket.receive_text())
                kind = frame.get("type")
                if kind == "ping":
                    await websocket.send_text(_pong(frame.get("id")))
                elif kind == "broadcast":
                    text = _notice(frame.get("text"))
                    for client in list(clients):
                        try:
                            await client.send_text(text)
                        except Exception:  # a socket closing mid-send
                            continue
        except WebSocketDisconnect:
            pass
        finally:
            clients.discard(websocket)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    options = {**UVICORN_OPTIONS, "log_level": "warning"}
    uvicorn.run(app, host="127.0.0.1", port=port, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["ours", "websockets", "fastapi"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--heartbeat-seconds", type=float, default=1.5)
    args = parser.parse_args()
    if args.kind == "ours":
        run_ours(args.port)
    elif args.kind == "websockets":
        run_websockets(args.port, args.heartbeat_seconds)
    else:
        run_fastapi(args.port, args.heartbeat_seconds)


if __name__ == "__main__":
    main()

"""Segment serving: 500 concurrent viewers, by the app (one uvicorn process) and by nginx.

Run: ``.venv/bin/python bench/bench_media_serving.py [--quick | --paced]`` (``make bench``
runs both loads).
Prints a Markdown table for bench/README.md.

A fake package with realistic sizes is written to a temporary media directory: 4 s segments
of a 720p rendition at ~2.8 Mbit/s (1.4 MB) and a 360p one at ~0.8 Mbit/s (0.4 MB), random
bytes (serving does not look inside). The app runs as ``studymission serve`` runs it, in one
process with its access log on; nginx runs deploy/nginx/media.conf as is, one worker. The
load is wrk (Debian's ``wrk``): 500 connections each fetching segment after segment with a
valid grant cookie, three 720p fetches to one 360p, with no pause: a closed loop that finds
the most each server can do. 500 real viewers need far less — one segment per 4 s each — and
the table puts that need beside the capacity. The machine has two cores and wrk shares them
with the server (wrk runs one thread), so the figures are a floor for the server alone.
``--paced`` instead runs 500 viewers at the real pace — each fetching one segment every 4 s
on its own keep-alive connection, spread evenly over the 4 s — for 40 s, and times each
fetch from the moment it is due to its last byte: the latency a viewer sees.
"""

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import quantiles

import httpx

from studymission.services.media_access import EXPIRES_COOKIE, SIGNATURE_COOKIE, media_signature

ROOT = Path(__file__).resolve().parents[1]
MEDIA_CONF = ROOT / "deploy" / "nginx" / "media.conf"
NGINX = "/usr/sbin/nginx"
SECRET = "bench-media-secret-of-some-length"
NAME, VERSION = "sejong-dc", "v1"
PREFIX = f"/media/{NAME}/{VERSION}/"
RENDITIONS = {"720p": 1_400_000, "360p": 400_000}
SEGMENTS = 30  # two minutes of video per rendition
VIEWERS = 500
SEGMENT_SECONDS = 4


@dataclass
class Result:
    server: str
    requests_per_second: float
    megabytes_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def write_package(media_dir: Path) -> list[str]:
    """The package's segment URLs, in the order the load generator rotates through them."""
    version_dir = media_dir / NAME / VERSION
    for rendition, size in RENDITIONS.items():
        (version_dir / rendition).mkdir(parents=True)
        for index in range(SEGMENTS):
            (version_dir / rendition / f"seg_{index:05d}.ts").write_bytes(os.urandom(size))
    (version_dir / "master.m3u8").write_text("#EXTM3U\n")
    urls = []
    for index in range(SEGMENTS):
        urls += [f"{PREFIX}720p/seg_{index:05d}.ts"] * 3 + [f"{PREFIX}360p/seg_{index:05d}.ts"]
    return urls


def cookie() -> str:
    expires = int(time.time()) + 3600
    signature = media_signature(PREFIX, expires, SECRET)
    return f"{EXPIRES_COOKIE}={expires}; {SIGNATURE_COOKIE}={signature}"


def wrk_script(workdir: Path, urls: list[str]) -> Path:
    """A Lua script: every connection rotates through the segments, from its own offset."""
    paths = ", ".join(f'"{url}"' for url in urls)
    script = workdir / "segments.lua"
    script.write_text(
        f"""
local paths = {{{paths}}}
local counter = 0
wrk.headers["Cookie"] = "{cookie()}"
request = function()
    counter = counter + 1
    return wrk.format("GET", paths[(counter % #paths) + 1])
end
"""
    )
    return script


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited at start: {url}")
        try:
            if httpx.get(url, headers={"Cookie": cookie()}).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    sys.exit(f"server did not come up: {url}")


def start_app(workdir: Path, media_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDYMISSION_")}
    env.update(
        STUDYMISSION_DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}",
        STUDYMISSION_SECRET_KEY="bench-secret-key-of-enough-length",
        STUDYMISSION_MEDIA_SECRET=SECRET,
        STUDYMISSION_MEDIA_DIR=str(media_dir),
        STUDYMISSION_VAR_DIR=str(workdir / "var"),
    )
    command = [sys.executable, "-m", "studymission", "serve", "--port", str(port)]
    with open(workdir / "app.log", "wb") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=log)


def start_nginx(workdir: Path, media_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """deploy/nginx/media.conf in a wrapper like the one deploy/nginx/README.md shows."""
    user = "user root;" if os.geteuid() == 0 else ""
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"""
{user}
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        server_tokens off;
        set $studymission_media_root {media_dir};
        set $media_secret "{SECRET}";
        include {MEDIA_CONF};
    }}
}}
"""
    )
    command = [NGINX, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "nginx-error.log")]
    return subprocess.Popen(command)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(server: str, output: str) -> Result:
    """Requests/s, MB/s, p50 and p99 from wrk's ``--latency`` report."""
    requests = re.search(r"Requests/sec:\s+([\d.]+)", output)
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", output)
    assert requests is not None and transfer is not None, output
    rate = float(requests[1])
    scale = {"B": 1e-6, "KB": 1.024e-3, "MB": 1.048576, "GB": 1073.741824}[transfer[2]]
    latency = dict(re.findall(r"\s(50|99)%\s+([\d.]+\w+)", output))
    p50, p99 = (re.fullmatch(r"([\d.]+)(\w+)", latency[q]) for q in ("50", "99"))
    assert p50 is not None and p99 is not None, output
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if socket_errors:
        print(f"  {server}: socket errors: {socket_errors[1]}", file=sys.stderr)
    return Result(
        server,
        rate,
        float(transfer[1]) * scale,
        to_ms(p50[1], p50[2]),
        to_ms(p99[1], p99[2]),
        int(errors[1]) if errors else 0,
    )


def run_wrk(server: str, port: int, script: Path, seconds: int) -> Result:
    url = f"http://127.0.0.1:{port}"
    warm = ["wrk", "-t1", "-c50", "-d2s", "-s", str(script), url]
    subprocess.run(warm, check=True, capture_output=True)
    command = ["wrk", "-t1", f"-c{VIEWERS}", f"-d{seconds}s", "--timeout", "30s", "--latency"]
    output = subprocess.run(
        [*command, "-s", str(script), url], check=True, capture_output=True, text=True
    ).stdout
    return parse_wrk(server, output)


async def viewer(
    port: int, urls: list[str], first: int, start: float, until: float, latencies: list[float]
) -> int:
    """One viewer at the real pace: a segment every 4 s on one keep-alive connection, each
    timed from the moment it is due until its last byte is in. Returns the failures."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=4 * 1024 * 1024)
    header = f"Host: 127.0.0.1\r\nCookie: {cookie()}\r\n\r\n"
    failures = 0
    due = start
    index = first
    loop = asyncio.get_running_loop()
    try:
        while due < until:
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.write(f"GET {urls[index % len(urls)]} HTTP/1.1\r\n{header}".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"content-length: (\d+)", head.lower())
            await reader.readexactly(int(length[1]) if length else 0)
            latencies.append(loop.time() - due)
            failures += not head.startswith(b"HTTP/1.1 200")
            due += SEGMENT_SECONDS
            index += 4  # the next segment of the same rendition
    finally:
        writer.close()
    return failures


async def paced_load(port: int, urls: list[str], seconds: int) -> tuple[list[float], int]:
    loop = asyncio.get_running_loop()
    start = loop.time() + 1.0
    latencies: list[float] = []
    # Viewers spread evenly over the 4 s of a segment, as people who joined at any moment.
    runs = [
        viewer(port, urls, i, start + i * SEGMENT_SECONDS / VIEWERS, start + seconds, latencies)
        for i in range(VIEWERS)
    ]
    failures = sum(await asyncio.gather(*runs))
    return latencies, failures


def run_paced(server: str, port: int, urls: list[str], seconds: int) -> Result:
    latencies, failures = asyncio.run(paced_load(port, urls, seconds))
    cuts = quantiles(latencies, n=100)
    mean_bytes = (3 * RENDITIONS["720p"] + RENDITIONS["360p"]) / 4
    rate = len(latencies) / seconds
    return Result(server, rate, rate * mean_bytes / 1e6, cuts[49] * 1000, cuts[98] * 1000, failures)


Starter = Callable[[Path, Path, int], "subprocess.Popen[bytes]"]


def bench(
    name: str, start: Starter, workdir: Path, media_dir: Path, args: argparse.Namespace
) -> Result:
    port = free_port()
    process = start(workdir, media_dir, port)
    try:
        wait_until_up(f"http://127.0.0.1:{port}{PREFIX}360p/seg_00000.ts", process)
        if args.paced:
            return run_paced(name, port, args.urls, args.seconds)
        return run_wrk(name, port, args.script, args.seconds)
    finally:
        stop(process)


def need_line() -> str:
    """What 500 viewers actually ask for: one segment each per 4 s, in the 3:1 mix."""
    mean_bytes = (3 * RENDITIONS["720p"] + RENDITIONS["360p"]) / 4
    rate = VIEWERS / SEGMENT_SECONDS
    return f"{VIEWERS} real viewers need {rate:.0f} req/s, {rate * mean_bytes / 1e6:.0f} MB/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 s runs instead of 20 s")
    parser.add_argument(
        "--paced",
        action="store_true",
        help="500 viewers at the real pace (a segment each per 4 s, 40 s) instead of wrk",
    )
    args = parser.parse_args()
    args.seconds = 5 if args.quick else 20
    if args.paced:
        args.seconds = 40
    for tool in ("wrk", NGINX):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt-get install -y wrk nginx")
    with tempfile.TemporaryDirectory(prefix="bench-media-") as tmp:
        workdir = Path(tmp)
        media_dir = workdir / "media"
        args.urls = write_package(media_dir)
        args.script = wrk_script(workdir, args.urls)
        results = [
            bench("app (uvicorn, 1 process)", start_app, workdir, media_dir, args),
            bench("nginx (media.conf, 1 worker)", start_nginx, workdir, media_dir, args),
        ]
    load = "at the real pace (asyncio client)" if args.paced else "closed loop (wrk)"
    print(f"\n{VIEWERS} connections, {load}, {args.seconds} s; {need_line()}\n")
    print("| server | requests/s | MB/s | p50 ms | p99 ms | non-2xx |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r.server} | {r.requests_per_second:.0f} | {r.megabytes_per_second:.0f} "
            f"| {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.errors} |"
        )


if __name__ == "__main__":
    main()

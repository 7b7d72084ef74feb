"""Speed of packaging a recording into HLS: media seconds per wall second, and CPU.

Run: ``.venv/bin/python bench/bench_media_package.py [--seconds 60] [--runs 2]``
(``make bench`` runs it). Prints a Markdown table for bench/README.md.

The source is the demo's sample recording (1280x720, 25 fps, captions and sound) made
first; packaging is `services.media.package_recording` itself, three renditions in one
ffmpeg process. CPU is the children's user + system time over wall time (200 % is both
cores of a 2-core machine busy).
"""

import argparse
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from studymission.config import Settings
from studymission.integrations.ffmpeg import X264_PRESET
from studymission.services.media import ffmpeg_executable, generate_sample, package_recording


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds and children's CPU seconds of `action()`."""
    cpu, wall = children_cpu(), time.perf_counter()
    action()
    return time.perf_counter() - wall, children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of the source")
    parser.add_argument("--runs", type=int, default=2, help="packagings to time")
    args = parser.parse_args()
    ffmpeg = ffmpeg_executable(Settings())
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        source = work / "source.mp4"
        made = timed(lambda: generate_sample(source, ffmpeg=ffmpeg, seconds=args.seconds))
        results = []
        for run in range(args.runs):
            media_dir = work / f"media{run}"
            package = partial(
                package_recording, media_dir, source, "bench", ffmpeg=ffmpeg, now=datetime.now(UTC)
            )
            results.append(timed(package))
    print(f"Machine: {os.cpu_count()} cores, {platform.python_version()}, preset {X264_PRESET}")
    print()
    print("| step | media s | wall s | speed (× real time) | CPU % |")
    print("| --- | --- | --- | --- | --- |")
    print(_row(f"make the {args.seconds} s sample (1 rendition)", args.seconds, *made))
    for wall, cpu in results:
        print(_row("package 360p/540p/720p", args.seconds, wall, cpu))
    walls = [wall for wall, _ in results]
    print()
    print(f"median packaging speed: {args.seconds / statistics.median(walls):.2f}× real time")


def _row(step: str, seconds: int, wall: float, cpu: float) -> str:
    return f"| {step} | {seconds} | {wall:.1f} | {seconds / wall:.2f} | {100 * cpu / wall:.0f} |"


if __name__ == "__main__":
    main()

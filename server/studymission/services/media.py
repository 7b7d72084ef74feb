"""Site-visit recordings packaged for adaptive streaming (HLS), and the demo's sample.

On disk, under ``MEDIA_DIR``::

    NAME/package.json              the pointer: which version is served, and what it holds
    NAME/VERSION/master.m3u8       the master playlist (one variant per rendition)
    NAME/VERSION/720p/index.m3u8   a rendition's playlist, beside seg_00000.ts, ...
    .staging/                      work in progress, on the same filesystem

A version is built in ``.staging`` and renamed into place complete; only then is the
pointer replaced (``os.replace``), so a reader sees the old package or the new one, never
half of one. The previous version stays for viewers who are mid-stream on its URL.
"""

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from studymission.config import Settings
from studymission.domain.media_ladder import rendition_ladder
from studymission.integrations.ffmpeg import (
    Chapter,
    FfmpegError,
    SourceInfo,
    find_font,
    hls_command,
    parse_probe,
    probe_command,
    probe_report,
    run_with_progress,
    sample_command,
    write_caption_files,
)

__all__ = [
    "NAME_PATTERN",
    "MediaError",
    "MediaPackage",
    "Rendition",
    "SourceInfo",
    "ffmpeg_executable",
    "generate_sample",
    "list_packages",
    "package_recording",
    "probe",
    "read_package",
]

NAME_PATTERN = r"[a-z0-9][a-z0-9-]{0,62}"
VERSION_PATTERN = r"[a-z0-9]{1,32}"
STAGING = ".staging"
POINTER = "package.json"
MASTER = "master.m3u8"
#: A package shorter than this share of its source was cut short by a damaged file.
COMPLETE_SHARE = 0.9
SAMPLE_TITLE = "Site visit — data centre, Sejong"
SAMPLE_CHAPTERS = (
    "Arrival: Government Integrated Data Centre",
    "Cooling hall",
    "Server rooms of the ministries",
    "Network operations centre",
    "Data governance office",
)

Progress = Callable[[float], None]


def _ignore(_fraction: float) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Rendition:
    """One quality of a package: its frame size, peak bit/s and playlist (relative URI)."""

    height: int
    width: int
    bandwidth: int
    playlist: str


@dataclass(frozen=True, slots=True)
class MediaPackage:
    """A packaged recording as served: `created_at` is aware UTC real time."""

    name: str
    version: str
    duration: float
    renditions: tuple[Rendition, ...]
    has_audio: bool
    created_at: datetime

    @property
    def prefix(self) -> str:
        """The URL path every file of this version is under (what signed access covers)."""
        return f"/media/{self.name}/{self.version}/"

    @property
    def url(self) -> str:
        return f"{self.prefix}{MASTER}"


class MediaError(Exception):
    """A recording cannot be packaged; one plain-English message per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def ffmpeg_executable(settings: Settings) -> str:
    """The configured ffmpeg, or the one the imageio-ffmpeg wheel ships."""
    if settings.ffmpeg_binary:
        found = shutil.which(settings.ffmpeg_binary)
        if found is None:
            raise MediaError([f"FFMPEG_BINARY {settings.ffmpeg_binary!r} is not an executable"])
        return found
    import imageio_ffmpeg  # type: ignore[import-untyped]

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def probe(source: Path, *, ffmpeg: str) -> SourceInfo:
    """What `source` holds; `MediaError` when it is no readable, complete video."""
    problems = source_problems(source)
    if problems:
        raise MediaError(problems)
    try:
        return parse_probe(probe_report(probe_command(ffmpeg, source)))
    except FfmpegError as error:
        raise MediaError([f"{source.name} {error.reason}"]) from None


def package_recording(
    media_dir: Path,
    source: Path,
    name: str,
    *,
    ffmpeg: str,
    now: datetime,
    on_progress: Progress = _ignore,
) -> MediaPackage:
    """Package `source` as the new version of `name` and serve it; the old one stays on
    disk as the previous version. On any failure nothing of the attempt is left behind."""
    problems = [*name_problems(name), *source_problems(source)]
    if problems:
        raise MediaError(problems)
    info = probe(source, ffmpeg=ffmpeg)
    (media_dir / STAGING).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=media_dir / STAGING))
    try:
        version = secrets.token_hex(5)
        built = work / version
        built.mkdir()
        _encode(built, source, info, ffmpeg=ffmpeg, on_progress=on_progress)
        package = _describe(
            built, name=name, version=version, info=info, now=now, source_name=source.name
        )
        _check_complete(package, info, source)
        _publish(media_dir / name, built, package, _source_record(source, info))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    on_progress(1.0)
    return package


def source_problems(source: Path) -> list[str]:
    """Why `source` cannot even be read."""
    if not source.exists():
        return [f"{source.name} does not exist"]
    if not source.is_file():
        return [f"{source.name} is not a file"]
    return []


def name_problems(name: str) -> list[str]:
    """Why `name` cannot name a package (it becomes a directory and a URL segment)."""
    if re.fullmatch(NAME_PATTERN, name):
        return []
    return [
        f"name {name!r}: use 1 to 63 lowercase letters, digits and dashes, "
        "starting with a letter or digit (for example site-visit-sejong)"
    ]


def _encode(
    built: Path, source: Path, info: SourceInfo, *, ffmpeg: str, on_progress: Progress
) -> None:
    command = hls_command(ffmpeg, source, info, rendition_ladder(info.width, info.height))
    outcome = run_with_progress(command, duration=info.duration, on_progress=on_progress, cwd=built)
    if outcome.returncode != 0:
        detail = outcome.errors.splitlines()[-1] if outcome.errors else f"exit {outcome.returncode}"
        raise MediaError([f"{source.name} could not be converted by ffmpeg: {detail}"])


def _describe(
    built: Path, *, name: str, version: str, info: SourceInfo, now: datetime, source_name: str
) -> MediaPackage:
    """The package as ffmpeg wrote it: renditions from the master playlist, duration from
    the top rendition's segments (what a viewer will actually be able to watch)."""
    renditions = master_renditions((built / MASTER).read_text(encoding="utf-8"))
    empty = [r for r in renditions if not any((built / r.playlist).parent.glob("seg_*.ts"))]
    if not renditions or empty:
        # ffmpeg reads some non-video files (plain text, say) without complaint and then
        # produces nothing to watch: tell the secretariat what that means for them.
        raise MediaError(
            [f"{source_name} has no picture that could be converted: is it really a video file?"]
        )
    top = (built / renditions[-1].playlist).read_text(encoding="utf-8")
    return MediaPackage(
        name=name,
        version=version,
        duration=round(playlist_seconds(top), 3),
        renditions=renditions,
        has_audio=info.has_audio,
        created_at=now,
    )


def _check_complete(package: MediaPackage, info: SourceInfo, source: Path) -> None:
    # A file cut short after its index was written probes fine and decodes to an early end.
    if package.duration < info.duration * COMPLETE_SHARE - 1:
        raise MediaError(
            [
                f"{source.name} is incomplete: it plays for {package.duration:.0f} s "
                f"of the {info.duration:.0f} s it announces (cut short?)"
            ]
        )


_STREAM_INF = re.compile(r"#EXT-X-STREAM-INF:(.*)\n([^#\n][^\n]*)")


def master_renditions(master: str) -> tuple[Rendition, ...]:
    """The variants of a master playlist, lowest first."""
    found = []
    for attributes, uri in _STREAM_INF.findall(master.replace("\r\n", "\n")):
        bandwidth = re.search(r"(?:^|,)BANDWIDTH=(\d+)", attributes)
        size = re.search(r"RESOLUTION=(\d+)x(\d+)", attributes)
        if bandwidth is None or size is None:
            raise MediaError([f"the master playlist misses BANDWIDTH or RESOLUTION for {uri}"])
        width, height = int(size.group(1)), int(size.group(2))
        found.append(Rendition(height, width, int(bandwidth.group(1)), uri.strip()))
    return tuple(sorted(found, key=lambda r: r.height))


def playlist_seconds(playlist: str) -> float:
    """Seconds of media in a rendition playlist (the sum of its ``#EXTINF`` durations)."""
    return sum(float(d) for d in re.findall(r"#EXTINF:([\d.]+)", playlist))


def _publish(home: Path, built: Path, package: MediaPackage, source: dict[str, Any]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    with _locked(home):
        previous = _pointer(home)
        target = home / package.version
        os.rename(built, target)
        try:
            _write_pointer(home, {**package_record(package), "source": source})
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        keep = {package.version, previous.get("version")}
        _prune(home, keep)


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    """Two packagings of one name switch the pointer and prune one after the other."""
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _pointer(home: Path) -> dict[str, Any]:
    try:
        record = json.loads((home / POINTER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_pointer(home: Path, record: dict[str, Any]) -> None:
    temporary = home / f".{POINTER}.{secrets.token_hex(4)}"
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(record, file, ensure_ascii=False, indent=2)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, home / POINTER)
    finally:
        temporary.unlink(missing_ok=True)


def _prune(home: Path, keep: set[Any]) -> None:
    for entry in home.iterdir():
        is_version = entry.is_dir() and re.fullmatch(VERSION_PATTERN, entry.name)
        if is_version and entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)


def package_record(package: MediaPackage) -> dict[str, Any]:
    """`package` as JSON (the pointer file's shape, less the source)."""
    return {
        "name": package.name,
        "version": package.version,
        "duration": package.duration,
        "renditions": [
            {"height": r.height, "width": r.width, "bandwidth": r.bandwidth, "playlist": r.playlist}
            for r in package.renditions
        ],
        "has_audio": package.has_audio,
        "created_at": package.created_at.isoformat(),
        "url": package.url,
    }


def _source_record(source: Path, info: SourceInfo) -> dict[str, Any]:
    return {
        "file": source.name,
        "duration": info.duration,
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
        "has_audio": info.has_audio,
    }


def read_package(media_dir: Path, name: str) -> MediaPackage | None:
    """The package served under `name`, or None (no such name, or nothing complete)."""
    if not re.fullmatch(NAME_PATTERN, name):
        return None
    record = _pointer(media_dir / name)
    try:
        package = _package_from(record)
    except (KeyError, TypeError, ValueError):
        return None
    if package.name != name or not (media_dir / name / package.version / MASTER).is_file():
        return None
    return package


def _package_from(record: dict[str, Any]) -> MediaPackage:
    version = str(record["version"])
    if not re.fullmatch(VERSION_PATTERN, version):
        raise ValueError(f"bad version {version!r}")
    created_at = datetime.fromisoformat(record["created_at"])
    if created_at.tzinfo is None:
        raise ValueError("created_at has no offset")
    return MediaPackage(
        name=str(record["name"]),
        version=version,
        duration=float(record["duration"]),
        renditions=tuple(
            Rendition(int(r["height"]), int(r["width"]), int(r["bandwidth"]), str(r["playlist"]))
            for r in record["renditions"]
        ),
        has_audio=bool(record["has_audio"]),
        created_at=created_at,
    )


def list_packages(media_dir: Path) -> list[MediaPackage]:
    """Every package served from `media_dir`, by name."""
    if not media_dir.is_dir():
        return []
    found = (read_package(media_dir, entry.name) for entry in sorted(media_dir.iterdir()))
    return [package for package in found if package is not None]


def generate_sample(
    target: Path, *, ffmpeg: str, seconds: int = 240, on_progress: Progress = _ignore
) -> None:
    """Write the demo's site-visit recording to `target` (1280x720, 25 fps, with sound):
    a test pattern with a title, a chapter caption and a running timecode burned in."""
    if seconds < 1:
        raise MediaError([f"a sample lasts at least 1 second, not {seconds}"])
    font = find_font()
    if font is None:
        raise MediaError(["no font for the captions: install fonts-noto-core or fonts-dejavu-core"])
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".sample-", dir=target.parent) as scratch:
        work = Path(scratch)
        chapters = sample_chapters(seconds)
        write_caption_files(work, font=font, title=SAMPLE_TITLE, chapters=chapters)
        partial = work / "sample.mp4"
        command = sample_command(ffmpeg, partial, seconds=seconds, chapters=chapters)
        outcome = run_with_progress(command, duration=seconds, on_progress=on_progress, cwd=work)
        if outcome.returncode != 0:
            raise MediaError(
                [f"ffmpeg could not make the sample: {outcome.errors or 'no reason given'}"]
            )
        os.replace(partial, target)
    on_progress(1.0)


def sample_chapters(seconds: int) -> tuple[Chapter, ...]:
    """The sample's chapters, equally long, covering all of its `seconds`."""
    step = seconds / len(SAMPLE_CHAPTERS)
    return tuple(
        Chapter(start=i * step, end=(i + 1) * step, caption=caption)
        for i, caption in enumerate(SAMPLE_CHAPTERS)
    )


def package_sample(
    media_dir: Path,
    name: str,
    *,
    ffmpeg: str,
    now: datetime,
    seconds: int = 240,
    on_progress: Progress = _ignore,
) -> MediaPackage:
    """Generate the sample recording and package it as `name`; the source is not kept."""
    problems = name_problems(name)
    if problems:
        raise MediaError(problems)
    # Making the pattern is about a tenth of the work of packaging it (bench/).
    share = 0.1
    (media_dir / STAGING).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sample-", dir=media_dir / STAGING) as scratch:
        source = Path(scratch) / f"{name}.mp4"
        generate_sample(
            source, ffmpeg=ffmpeg, seconds=seconds, on_progress=lambda f: on_progress(f * share)
        )
        return package_recording(
            media_dir,
            source,
            name,
            ffmpeg=ffmpeg,
            now=now,
            on_progress=lambda f: on_progress(share + f * (1 - share)),
        )

"""ffmpeg: reading what a file holds, and running an encode with progress.

There is no ffprobe in the imageio-ffmpeg wheel, so a probe is ``ffmpeg -i FILE`` and its
report on stderr. The argument lists are built by pure functions so that tests can read
them without running anything.
"""

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from studymission.domain.media_ladder import AUDIO_BITRATE, SEGMENT_SECONDS, Rung, keyframe_interval

#: Fast enough for three renditions of 720p at over 3× real time on 2 cores (bench/).
X264_PRESET = "veryfast"
#: Known font files, tried after fontconfig: Debian's Noto, DejaVu and Liberation packages.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)


class FfmpegError(Exception):
    """ffmpeg could not read or encode something; `reason` is plain English."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What a recording holds: seconds, frame size, frames per second, and sound."""

    duration: float
    width: int
    height: int
    fps: float
    has_audio: bool


@dataclass(frozen=True, slots=True)
class Chapter:
    """A caption shown from `start` to `end` seconds of the sample recording."""

    start: float
    end: float
    caption: str


_DURATION = re.compile(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_STREAM = re.compile(r"^\s*Stream #\d+:\d+.*?: (Video|Audio): (.*)$", re.MULTILINE)
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
_FPS = re.compile(r"([\d.]+)(k?) (?:fps|tbr)\b")
_UNREADABLE = ("Invalid data found when processing input", "could not find codec parameters")


def parse_probe(report: str) -> SourceInfo:
    """The `SourceInfo` in the stderr of ``ffmpeg -i FILE``; `FfmpegError` when it has none."""
    # A text file named .mp4 is tried as MP4 "with low score" and then lacks an index too.
    if "misdetection possible" in report:
        raise FfmpegError("is not a video file that ffmpeg can read")
    if "moov atom not found" in report:
        raise FfmpegError("is incomplete: it ends before the recording's index (cut short?)")
    if "Input #0" not in report or any(marker in report for marker in _UNREADABLE):
        raise FfmpegError("is not a video file that ffmpeg can read")
    streams = _STREAM.findall(report)
    video = [spec for kind, spec in streams if kind == "Video" and "attached pic" not in spec]
    if not video:
        raise FfmpegError("has no video stream (is it a sound recording?)")
    size = _SIZE.search(video[0])
    if size is None:
        raise FfmpegError("has a video stream without a frame size")
    duration = _DURATION.search(report)
    if duration is None:
        raise FfmpegError("does not say how long it is (a live stream or a damaged file?)")
    hours, minutes, seconds = duration.groups()
    return SourceInfo(
        duration=int(hours) * 3600 + int(minutes) * 60 + float(seconds),
        width=int(size.group(1)),
        height=int(size.group(2)),
        fps=_frame_rate(video[0]),
        has_audio=any(kind == "Audio" for kind, _ in streams),
    )


def _frame_rate(spec: str) -> float:
    found = _FPS.search(spec)
    if found is None:
        return 25.0  # a guess only sets the keyframe spacing; force_key_frames keeps it exact
    rate = float(found.group(1)) * (1000 if found.group(2) else 1)
    return rate if 1 <= rate <= 240 else 25.0


def probe_command(ffmpeg: str, source: Path) -> list[str]:
    """``ffmpeg -i``: it exits 1 (no output named) after printing what the input holds."""
    return [ffmpeg, "-hide_banner", "-nostdin", "-i", _input(source)]


def hls_command(
    ffmpeg: str, source: Path, info: SourceInfo, rungs: Sequence[Rung], *, preset: str = X264_PRESET
) -> list[str]:
    """One ffmpeg run that writes every rung as VOD HLS into the working directory.

    Run it in the (empty) version directory: ``master.m3u8`` and ``<rung>/index.m3u8``
    with ``seg_00000.ts``… appear there, with URIs relative to the master playlist.
    """
    gop = str(keyframe_interval(info.fps))
    command = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    command += ["-i", _input(source), "-progress", "pipe:1", "-nostats"]
    command += ["-filter_complex", _scale_graph(rungs)]
    for index in range(len(rungs)):
        command += ["-map", f"[v{index}]"]
        if info.has_audio:
            command += ["-map", "0:a:0"]
    command += ["-c:v", "libx264", "-preset", preset, "-profile:v", "main"]
    command += ["-g", gop, "-keyint_min", gop, "-sc_threshold", "0"]
    # Frame counts drift on variable frame rates; times do not.
    command += ["-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT_SECONDS})"]
    for index, rung in enumerate(rungs):
        command += [f"-b:v:{index}", str(rung.video_bitrate)]
        command += [
            f"-maxrate:v:{index}",
            str(rung.maxrate),
            f"-bufsize:v:{index}",
            str(rung.bufsize),
        ]
    if info.has_audio:
        command += ["-c:a", "aac", "-b:a", str(AUDIO_BITRATE), "-ac", "2"]
    command += ["-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_playlist_type", "vod"]
    command += ["-hls_flags", "independent_segments", "-hls_segment_type", "mpegts"]
    command += ["-hls_segment_filename", "%v/seg_%05d.ts", "-master_pl_name", "master.m3u8"]
    command += ["-var_stream_map", stream_map(rungs, has_audio=info.has_audio), "%v/index.m3u8"]
    return command


def _scale_graph(rungs: Sequence[Rung]) -> str:
    splits = "".join(f"[s{i}]" for i in range(len(rungs)))
    chains = [
        f"[s{i}]scale={r.width}:{r.height},setsar=1,format=yuv420p[v{i}]"
        for i, r in enumerate(rungs)
    ]
    return ";".join([f"[0:v:0]split={len(rungs)}{splits}", *chains])


def stream_map(rungs: Sequence[Rung], *, has_audio: bool) -> str:
    """``-var_stream_map``: one variant per rung, each with its own copy of the sound."""
    audio = ",a:{}" if has_audio else ""
    return " ".join(f"v:{i}{audio.format(i)},name:{r.name}" for i, r in enumerate(rungs))


def sample_command(
    ffmpeg: str, target: Path, *, seconds: int, chapters: Sequence[Chapter]
) -> list[str]:
    """A test-pattern recording with captions and sound, to run where ``font.ttf``,
    ``title.txt`` and ``chapter<N>.txt`` are (relative names spare filtergraph escaping)."""
    video = f"testsrc2=size=1280x720:rate=25:duration={seconds}"
    # A quiet tone that steps up a fifth per chapter, over a little noise: audible, not shrill.
    tone = f"220*pow(1.5,floor(t/{max(1.0, seconds / max(1, len(chapters))):.3f}))"
    sound = f"aevalsrc=exprs='0.08*sin(2*PI*{tone}*t)+0.01*(2*random(0)-1)':s=48000:d={seconds}"
    command = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    command += ["-f", "lavfi", "-i", video, "-f", "lavfi", "-i", sound]
    command += ["-filter_complex", _caption_graph(chapters), "-map", "[v]", "-map", "1:a"]
    command += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-pix_fmt", "yuv420p"]
    command += ["-c:a", "aac", "-b:a", str(AUDIO_BITRATE), "-movflags", "+faststart"]
    command += ["-progress", "pipe:1", "-nostats", "-t", str(seconds), _output(target)]
    return command


def _caption_graph(chapters: Sequence[Chapter]) -> str:
    text = "fontfile=font.ttf:fontcolor=white:box=1:boxcolor=black@0.55:boxborderw=14"
    layers = [
        f"drawtext={text}:textfile=title.txt:fontsize=40:x=40:y=64",
        f"drawtext={text}:text='%{{pts\\:hms}}':fontsize=32:x=w-tw-40:y=64",
    ]
    layers += [
        f"drawtext={text}:textfile=chapter{i}.txt:fontsize=48:x=(w-tw)/2:y=h-th-60"
        f":enable='between(t,{c.start:.3f},{c.end:.3f})'"
        for i, c in enumerate(chapters)
    ]
    return f"[0:v]{','.join(layers)}[v]"


def write_caption_files(
    directory: Path, *, font: Path, title: str, chapters: Sequence[Chapter]
) -> None:
    """The files `sample_command` reads, in `directory`."""
    shutil.copyfile(font, directory / "font.ttf")
    (directory / "title.txt").write_text(title, encoding="utf-8")
    for index, chapter in enumerate(chapters):
        (directory / f"chapter{index}.txt").write_text(chapter.caption, encoding="utf-8")


def find_font(candidates: Sequence[str] = FONT_CANDIDATES) -> Path | None:
    """A sans-serif font file for captions: fontconfig's choice, else a known Debian path."""
    fc_match = shutil.which("fc-match")
    if fc_match is not None:
        found = subprocess.run(
            [fc_match, "-f", "%{file}", "sans"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if found.lower().endswith((".ttf", ".otf")) and Path(found).is_file():
            return Path(found)
    return next((Path(c) for c in candidates if Path(c).is_file()), None)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How an encode ended: its exit status, its last error lines, and seconds written."""

    returncode: int
    errors: str
    reached: float


def run_with_progress(
    command: Sequence[str],
    *,
    duration: float,
    on_progress: Callable[[float], None],
    cwd: Path | None = None,
) -> RunOutcome:
    """Run an encode that reports on ``-progress pipe:1``; `on_progress` gets 0.0..1.0.

    The process is killed if the caller is interrupted (KeyboardInterrupt included), so
    nothing keeps writing after the caller has cleaned up.
    """
    reached = 0.0
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as errors:
        with subprocess.Popen(
            list(command), cwd=cwd, stdout=subprocess.PIPE, stderr=errors, text=True
        ) as process:
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    seconds = progress_seconds(line)
                    if seconds is not None:
                        reached = max(reached, seconds)
                        on_progress(min(1.0, reached / duration) if duration > 0 else 0.0)
            except BaseException:
                # Popen's exit waits for the process: stop it first when the caller gives up.
                process.kill()
                raise
        returncode = process.returncode
        errors.seek(0)
        tail = "\n".join(errors.read().strip().splitlines()[-5:])
    return RunOutcome(returncode, tail, reached)


def progress_seconds(line: str) -> float | None:
    """Seconds of output written, from one ``-progress`` line, or None for other lines."""
    key, _, value = line.strip().partition("=")
    # out_time_ms is in microseconds too (an old ffmpeg misnomer kept for compatibility).
    if key not in ("out_time_us", "out_time_ms") or not value.lstrip("-").isdigit():
        return None
    return max(0.0, int(value) / 1_000_000)


def probe_report(command: Sequence[str]) -> str:
    """The stderr of a probe command (its exit status says nothing: no output is named)."""
    try:
        completed = subprocess.run(
            list(command), capture_output=True, text=True, errors="replace", check=False, timeout=60
        )
    except subprocess.TimeoutExpired:
        raise FfmpegError(
            "could not be read within a minute (a network share that hangs?)"
        ) from None
    except OSError as error:
        raise FfmpegError(f"could not be read: ffmpeg did not start ({error.strerror})") from None
    return completed.stderr


def _input(path: Path) -> str:
    # "file:" keeps ffmpeg from reading a name with a colon or a leading dash as an option.
    return f"file:{path.resolve()}"


def _output(path: Path) -> str:
    return f"file:{path.resolve()}"

"""A short real recording, packaged once per test run, for the site-visit tests.

The clip is made by the ffmpeg of the imageio-ffmpeg wheel from its test sources: a
moving pattern with a running timecode and a tone, so that a screenshot shows where the
video stands. Packaged with the product's own packager (services/media.py).
"""

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from studymission.config import Settings
from studymission.services.media import MediaPackage, ffmpeg_executable, package_recording

ASSET = "site-visit-sejong"


def make_clip(target: Path, *, seconds: int, size: str = "640x360", fps: int = 10) -> Path:
    ffmpeg = ffmpeg_executable(Settings())
    subprocess.run(
        [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate={fps}:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(target),
        ],
        check=True,
    )
    return target


def packaged(cache: Path, *, seconds: int) -> tuple[Path, MediaPackage]:
    """A media directory holding `ASSET`, `seconds` long, made once into `cache`."""
    media_dir = cache / "media"
    clip = make_clip(cache / "clip.mp4", seconds=seconds)
    package = package_recording(
        media_dir, clip, ASSET, ffmpeg=ffmpeg_executable(Settings()), now=datetime.now(UTC)
    )
    return media_dir, package


def copy_media(source: Path, target: Path) -> None:
    """A test's own copy of the packaged media directory (tests may add versions)."""
    shutil.copytree(source, target, dirs_exist_ok=True)

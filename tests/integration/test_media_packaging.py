"""Packaging recordings into HLS with the real ffmpeg, on clips made here in a few seconds."""

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from studymission.cli import app
from studymission.config import Settings
from studymission.services import media
from studymission.services.demo import SAMPLE_NAME, ensure_site_visit
from studymission.services.media import MediaError, MediaPackage, package_recording, read_package
from tests.conftest import TEST_SECRET

pytestmark = pytest.mark.integration

NOW = datetime(2021, 11, 24, 6, 5, tzinfo=UTC)
LATER = datetime(2021, 11, 24, 6, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Clips:
    visit: Path  # 3 s, 1280x720, 10 fps, with sound; index at the end (ffmpeg's default)
    small: Path  # 2 s, 640x360, with sound
    silent: Path  # 2 s, 854x480, no sound
    long_visit: Path  # 8 s, 1280x720, index at the start: still probes when cut short
    sound: Path  # 2 s of AAC, no picture
    text: Path  # a text file named .mp4


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    return media.ffmpeg_executable(Settings())


def _make(ffmpeg: str, target: Path, *inputs_and_options: str) -> Path:
    command = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    subprocess.run([*command, *inputs_and_options, str(target)], check=True)
    return target


def _pattern(size: str, seconds: int) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=10:duration={seconds}"]


def _tone(seconds: int) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]


@pytest.fixture(scope="session")
def clips(ffmpeg: str, tmp_path_factory: pytest.TempPathFactory) -> Clips:
    where = tmp_path_factory.mktemp("clips")
    fast = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    text = where / "notes.mp4"
    text.write_text("Minutes of the preparatory meeting.\n" * 40, encoding="utf-8")
    return Clips(
        visit=_make(ffmpeg, where / "visit.mp4", *_pattern("1280x720", 3), *_tone(3), *fast),
        small=_make(ffmpeg, where / "small.mp4", *_pattern("640x360", 2), *_tone(2), *fast),
        silent=_make(ffmpeg, where / "silent.mp4", *_pattern("854x480", 2), *fast),
        long_visit=_make(
            ffmpeg,
            where / "long.mp4",
            *_pattern("1280x720", 8),
            *_tone(8),
            *fast,
            "-movflags",
            "+faststart",
        ),
        sound=_make(ffmpeg, where / "sound.m4a", *_tone(2)),
        text=text,
    )


@dataclass(frozen=True)
class Packaged:
    media_dir: Path
    package: MediaPackage

    @property
    def version_dir(self) -> Path:
        return self.media_dir / self.package.name / self.package.version


@pytest.fixture(scope="session")
def packaged(ffmpeg: str, clips: Clips, tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    """The 720p clip packaged once, for the tests that only read the result."""
    media_dir = tmp_path_factory.mktemp("packaged")
    package = package_recording(media_dir, clips.visit, "site-visit", ffmpeg=ffmpeg, now=NOW)
    return Packaged(media_dir, package)


def _cut(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def _snapshot(media_dir: Path) -> dict[str, bytes]:
    """Every file under `media_dir` with its bytes (the staging area included)."""
    return {
        str(p.relative_to(media_dir)): p.read_bytes()
        for p in sorted(media_dir.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def _staged(media_dir: Path) -> list[Path]:
    return list((media_dir / ".staging").iterdir())


def test_720p_source_gets_three_renditions(packaged: Packaged) -> None:
    package = packaged.package
    assert [(r.height, r.width, r.playlist) for r in package.renditions] == [
        (360, 640, "360p/index.m3u8"),
        (540, 960, "540p/index.m3u8"),
        (720, 1280, "720p/index.m3u8"),
    ]
    assert package.has_audio is True
    assert package.created_at == NOW
    assert package.prefix == f"/media/site-visit/{package.version}/"
    assert package.url == f"/media/site-visit/{package.version}/master.m3u8"
    bandwidths = [r.bandwidth for r in package.renditions]
    assert bandwidths == sorted(bandwidths) and bandwidths[0] > 100_000


def test_master_playlist_plays_in_hls_js(packaged: Packaged) -> None:
    master = (packaged.version_dir / "master.m3u8").read_text()
    variants = re.findall(r"#EXT-X-STREAM-INF:(.*)\n(.*)", master)
    assert [uri for _, uri in variants] == ["360p/index.m3u8", "540p/index.m3u8", "720p/index.m3u8"]
    for (attributes, _), rendition in zip(variants, packaged.package.renditions, strict=True):
        assert f"BANDWIDTH={rendition.bandwidth}," in attributes
        assert f"RESOLUTION={rendition.width}x{rendition.height}" in attributes
        codecs = re.search(r'CODECS="([^"]+)"', attributes)
        assert codecs is not None
        video, audio = codecs.group(1).split(",")
        assert (video[:5], audio) == ("avc1.", "mp4a.40.2")


def test_every_rendition_has_vod_segments_as_long_as_the_source(packaged: Packaged) -> None:
    assert packaged.package.duration == pytest.approx(3.0, abs=0.15)
    for rendition in packaged.package.renditions:
        playlist_file = packaged.version_dir / rendition.playlist
        playlist = playlist_file.read_text()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in playlist
        assert playlist.rstrip().endswith("#EXT-X-ENDLIST")
        segments = re.findall(r"^(seg_\d{5}\.ts)$", playlist, re.MULTILINE)
        assert segments == ["seg_00000.ts"]  # 3 s fit in one 4-second segment
        assert (playlist_file.parent / segments[0]).stat().st_size > 0
        assert media.playlist_seconds(playlist) == pytest.approx(3.0, abs=0.15)


def test_pointer_describes_the_package_and_its_source(packaged: Packaged) -> None:
    media_dir = packaged.media_dir
    pointer = json.loads((media_dir / "site-visit" / "package.json").read_text())
    assert pointer["version"] == packaged.package.version
    assert pointer["source"] == {
        "file": "visit.mp4",
        "duration": 3.0,
        "width": 1280,
        "height": 720,
        "fps": 10.0,
        "has_audio": True,
    }
    assert read_package(media_dir, "site-visit") == packaged.package
    assert media.list_packages(media_dir) == [packaged.package]
    assert _staged(media_dir) == []


def test_smaller_source_is_not_upscaled(ffmpeg: str, clips: Clips, tmp_path: Path) -> None:
    package = package_recording(tmp_path, clips.small, "small", ffmpeg=ffmpeg, now=NOW)
    assert [(r.height, r.width) for r in package.renditions] == [(360, 640)]
    assert package.duration == pytest.approx(2.0, abs=0.15)


def test_source_without_sound_packages_without_audio(
    ffmpeg: str, clips: Clips, tmp_path: Path
) -> None:
    package = package_recording(tmp_path, clips.silent, "silent", ffmpeg=ffmpeg, now=NOW)
    assert [(r.height, r.width) for r in package.renditions] == [(360, 640), (480, 854)]
    assert package.has_audio is False
    master = (tmp_path / "silent" / package.version / "master.m3u8").read_text()
    codecs = re.findall(r'CODECS="([^"]+)"', master)
    assert len(codecs) == 2 and all("mp4a" not in c and c.startswith("avc1.") for c in codecs)


def test_bad_file_leaves_the_earlier_package_exactly_as_it_was(
    ffmpeg: str, clips: Clips, tmp_path: Path
) -> None:
    good = package_recording(tmp_path, clips.small, "visit", ffmpeg=ffmpeg, now=NOW)
    before = _snapshot(tmp_path)
    with pytest.raises(MediaError) as caught:
        package_recording(tmp_path, clips.text, "visit", ffmpeg=ffmpeg, now=LATER)
    assert caught.value.problems == ["notes.mp4 is not a video file that ffmpeg can read"]
    assert str(caught.value) == "notes.mp4 is not a video file that ffmpeg can read"
    assert _snapshot(tmp_path) == before
    assert _staged(tmp_path) == []
    assert read_package(tmp_path, "visit") == good


def test_file_cut_before_its_index_is_incomplete(ffmpeg: str, clips: Clips, tmp_path: Path) -> None:
    cut = _cut(clips.visit, tmp_path / "upload.mp4")
    with pytest.raises(MediaError) as caught:
        package_recording(tmp_path / "media", cut, "visit", ffmpeg=ffmpeg, now=NOW)
    assert caught.value.problems == [
        "upload.mp4 is incomplete: it ends before the recording's index (cut short?)"
    ]
    assert not (tmp_path / "media").exists()


def test_file_cut_after_its_index_is_incomplete_and_nothing_stays(
    ffmpeg: str, clips: Clips, tmp_path: Path
) -> None:
    cut = _cut(clips.long_visit, tmp_path / "upload.mp4")
    media_dir = tmp_path / "media"
    with pytest.raises(MediaError) as caught:
        package_recording(media_dir, cut, "visit", ffmpeg=ffmpeg, now=NOW)
    [problem] = caught.value.problems
    assert re.fullmatch(
        r"upload\.mp4 is incomplete: it plays for \d s of the 8 s it announces \(cut short\?\)",
        problem,
    )
    assert _staged(media_dir) == []
    assert sorted(p.name for p in media_dir.iterdir()) == [".staging"]


def test_sound_only_file_has_no_video_stream(ffmpeg: str, clips: Clips, tmp_path: Path) -> None:
    with pytest.raises(MediaError) as caught:
        package_recording(tmp_path, clips.sound, "visit", ffmpeg=ffmpeg, now=NOW)
    assert caught.value.problems == ["sound.m4a has no video stream (is it a sound recording?)"]


def test_missing_file_and_bad_name_are_reported_together(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as caught:
        package_recording(tmp_path / "media", tmp_path / "gone.mp4", "../x", ffmpeg="-", now=NOW)
    assert caught.value.problems == [*media.name_problems("../x"), "gone.mp4 does not exist"]
    assert not (tmp_path / "media").exists()


@pytest.mark.parametrize("name", ["../x", "Big Name", ".staging"])
def test_name_outside_the_pattern_is_refused(
    ffmpeg: str, clips: Clips, tmp_path: Path, name: str
) -> None:
    with pytest.raises(MediaError) as caught:
        package_recording(tmp_path / "media", clips.small, name, ffmpeg=ffmpeg, now=NOW)
    assert caught.value.problems == media.name_problems(name) != []
    assert not (tmp_path / "media").exists()
    assert read_package(tmp_path, name) is None


def test_repackaging_switches_the_pointer_and_keeps_one_previous_version(
    ffmpeg: str, clips: Clips, tmp_path: Path
) -> None:
    first = package_recording(tmp_path, clips.small, "visit", ffmpeg=ffmpeg, now=NOW)
    second = package_recording(tmp_path, clips.silent, "visit", ffmpeg=ffmpeg, now=LATER)
    assert read_package(tmp_path, "visit") == second
    assert second.version != first.version
    assert sorted(p.name for p in (tmp_path / "visit").iterdir() if p.is_dir()) == sorted(
        [first.version, second.version]
    )
    assert (tmp_path / "visit" / first.version / "master.m3u8").is_file()
    third = package_recording(tmp_path, clips.small, "visit", ffmpeg=ffmpeg, now=LATER)
    kept = sorted(p.name for p in (tmp_path / "visit").iterdir() if p.is_dir())
    assert kept == sorted([second.version, third.version])
    assert read_package(tmp_path, "visit") == third


def test_interrupted_packaging_removes_its_work_and_keeps_the_old_package(
    ffmpeg: str, clips: Clips, tmp_path: Path
) -> None:
    good = package_recording(tmp_path, clips.small, "visit", ffmpeg=ffmpeg, now=NOW)
    before = _snapshot(tmp_path)

    def interrupt(fraction: float) -> None:
        if 0 < fraction < 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        package_recording(
            tmp_path, clips.long_visit, "visit", ffmpeg=ffmpeg, now=LATER, on_progress=interrupt
        )
    assert _snapshot(tmp_path) == before
    assert _staged(tmp_path) == []
    assert read_package(tmp_path, "visit") == good


def test_progress_rises_to_one(ffmpeg: str, clips: Clips, tmp_path: Path) -> None:
    seen: list[float] = []
    package_recording(
        tmp_path, clips.small, "visit", ffmpeg=ffmpeg, now=NOW, on_progress=seen.append
    )
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 2
    assert all(0.0 <= f <= 1.0 for f in seen)


def test_unknown_or_damaged_names_read_as_none(tmp_path: Path) -> None:
    assert read_package(tmp_path, "nothing-here") is None
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "package.json").write_text("{not json")
    assert read_package(tmp_path, "broken") is None
    assert media.list_packages(tmp_path) == []
    assert media.list_packages(tmp_path / "absent") == []


def test_sample_is_a_captioned_720p_recording_with_sound(ffmpeg: str, tmp_path: Path) -> None:
    target = tmp_path / "sample.mp4"
    seen: list[float] = []
    media.generate_sample(target, ffmpeg=ffmpeg, seconds=3, on_progress=seen.append)
    info = media.probe(target, ffmpeg=ffmpeg)
    assert (info.width, info.height, info.fps, info.has_audio) == (1280, 720, 25.0, True)
    assert info.duration == pytest.approx(3.0, abs=0.1)
    assert seen[-1] == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample.mp4"]


def test_demo_site_visit_is_made_once(ffmpeg: str, tmp_path: Path) -> None:
    made = ensure_site_visit(tmp_path, ffmpeg=ffmpeg, now=NOW, seconds=2)
    assert made.name == SAMPLE_NAME and made.duration == pytest.approx(2.0, abs=0.15)
    again = ensure_site_visit(tmp_path, ffmpeg="/nonexistent/ffmpeg", now=LATER, seconds=2)
    assert again == made
    assert _staged(tmp_path) == []


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., Any]:
    env = {
        "STUDYMISSION_MEDIA_DIR": str(tmp_path / "media"),
        "STUDYMISSION_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "STUDYMISSION_SECRET_KEY": TEST_SECRET,
        "STUDYMISSION_VAR_DIR": str(tmp_path / "var"),
        "STUDYMISSION_CLOCK_START": "2021-11-24T03:00:00Z",
    }
    runner = CliRunner()

    def invoke(*args: str, **extra_env: str) -> Any:
        return runner.invoke(app, list(args), env={**env, **extra_env}, catch_exceptions=False)

    return invoke


def test_cli_packages_and_prints_the_package(cli: Any, clips: Clips, tmp_path: Path) -> None:
    result = cli("media", "package", str(clips.visit), "--name", "site-visit-sejong")
    assert result.exit_code == 0, result.output
    package = read_package(tmp_path / "media", "site-visit-sejong")
    assert package is not None
    lines = result.stdout.splitlines()
    assert lines[:2] == ["name      site-visit-sejong", f"version   {package.version}"]
    assert lines[2] == "duration  0:03 (3.0 s)"
    assert [line.split()[0] for line in lines[4:7]] == ["360p", "540p", "720p"]
    assert lines[-1] == f"url       {package.url}"
    assert "Packaging visit.mp4" in result.stderr
    listed = cli("media", "list")
    assert listed.stdout.split() == [
        "site-visit-sejong",
        package.version,
        "0:03",
        "360p/540p/720p",
        package.url,
    ]


def test_cli_reports_each_problem_on_its_own_line(cli: Any, clips: Clips, tmp_path: Path) -> None:
    result = cli("media", "package", str(clips.text), "--name", "Big Name")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [*media.name_problems("Big Name")]
    bad = cli("media", "package", str(clips.text), "--name", "visit")
    assert bad.exit_code == 1
    assert bad.stderr.splitlines() == ["notes.mp4 is not a video file that ffmpeg can read"]
    assert media.list_packages(tmp_path / "media") == []


def test_cli_sample_makes_and_packages_the_recording(cli: Any, tmp_path: Path) -> None:
    result = cli("media", "sample", "--name", "tour", "--seconds", "2")
    assert result.exit_code == 0, result.output
    package = read_package(tmp_path / "media", "tour")
    assert package is not None and package.has_audio
    assert [r.height for r in package.renditions] == [360, 540, 720]


def test_demo_makes_the_site_visit_only_when_asked_or_serving(cli: Any, tmp_path: Path) -> None:
    seeded = cli("demo", "--no-serve", "--original-dates")
    assert seeded.exit_code == 0, seeded.output
    assert not (tmp_path / "media").exists()
    made = cli("demo", "--no-serve", "--original-dates", "--sample", "--sample-seconds", "2")
    assert made.exit_code == 0, made.output
    package = read_package(tmp_path / "media", SAMPLE_NAME)
    assert package is not None
    assert made.stdout.splitlines()[-1] == (f"  site visit       {package.url} (2 s)")
    again = cli("demo", "--no-serve", "--original-dates", "--sample")
    assert again.stdout.splitlines()[-1] == made.stdout.splitlines()[-1]
    assert again.stderr == ""


def test_demo_without_ffmpeg_warns_and_goes_on(cli: Any, tmp_path: Path) -> None:
    result = cli("demo", "--no-serve", "--sample", STUDYMISSION_FFMPEG_BINARY="/nonexistent/ffmpeg")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "FFMPEG_BINARY '/nonexistent/ffmpeg' is not an executable",
        "warning: the demo runs without its site-visit recording",
    ]
    assert "Demo event 21-IP-06-GE-OSM-B" in result.stdout
    assert media.list_packages(tmp_path / "media") == []


def test_cli_prints_the_media_secret_that_signs_the_cookies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STUDYMISSION_SECRET_KEY", "a-secret-key-of-the-test-event-0001")
    monkeypatch.setenv("STUDYMISSION_VAR_DIR", str(tmp_path))
    derived = CliRunner().invoke(app, ["media", "secret"])
    assert derived.exit_code == 0, derived.output
    assert derived.output.strip() == Settings().media_signing_key()
    assert re.fullmatch(r"[0-9a-f]{40}", derived.output.strip())
    monkeypatch.setenv("STUDYMISSION_MEDIA_SECRET", "one-the-operator-chose-for-nginx")
    chosen = CliRunner().invoke(app, ["media", "secret"])
    assert chosen.output.strip() == "one-the-operator-chose-for-nginx"

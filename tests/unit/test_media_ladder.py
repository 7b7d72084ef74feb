"""The rendition ladder, the ffmpeg argument lists and the parsers of ffmpeg's reports."""

from pathlib import Path

import pytest

from studymission.domain.media_ladder import Rung, keyframe_interval, rendition_ladder
from studymission.integrations.ffmpeg import (
    Chapter,
    FfmpegError,
    SourceInfo,
    hls_command,
    parse_probe,
    progress_seconds,
    sample_command,
    stream_map,
)
from studymission.services.media import (
    master_renditions,
    name_problems,
    playlist_seconds,
    sample_chapters,
)

pytestmark = pytest.mark.unit


def _sizes(width: int, height: int) -> list[tuple[int, int, int]]:
    return [(r.width, r.height, r.video_bitrate) for r in rendition_ladder(width, height)]


def test_ladder_of_720p_has_three_rungs() -> None:
    assert _sizes(1280, 720) == [(640, 360, 800_000), (960, 540, 1_400_000), (1280, 720, 2_800_000)]


def test_ladder_of_1080p_stops_at_720p() -> None:
    assert _sizes(1920, 1080) == _sizes(1280, 720)


def test_ladder_of_360p_is_the_source_alone() -> None:
    assert _sizes(640, 360) == [(640, 360, 800_000)]


def test_ladder_of_480p_tops_out_at_the_source_height() -> None:
    assert _sizes(854, 480) == [(640, 360, 800_000), (854, 480, 1_400_000)]


def test_ladder_of_pal_sd_keeps_its_aspect_and_height() -> None:
    assert _sizes(720, 576) == [(450, 360, 800_000), (674, 540, 1_400_000), (720, 576, 2_800_000)]


@pytest.mark.parametrize(("height", "expected"), [(361, [360]), (479, [360, 478]), (240, [240])])
def test_ladder_never_upscales_and_keeps_heights_even(height: int, expected: list[int]) -> None:
    assert [r.height for r in rendition_ladder(height * 16 // 9, height)] == expected


def test_ladder_of_portrait_video_has_even_widths() -> None:
    assert [(r.width, r.height) for r in rendition_ladder(720, 1280)] == [
        (202, 360),
        (304, 540),
        (404, 720),
    ]


def test_ladder_refuses_an_empty_frame() -> None:
    with pytest.raises(ValueError, match="positive"):
        rendition_ladder(0, 720)


def test_rung_peak_and_buffer_follow_the_average() -> None:
    rung = Rung(720, 1280, 2_800_000)
    assert (rung.name, rung.maxrate, rung.bufsize) == ("720p", 2_996_000, 4_200_000)


@pytest.mark.parametrize(("fps", "frames"), [(25.0, 100), (29.97, 120), (10.0, 40), (0.1, 1)])
def test_keyframe_interval_is_one_segment_of_frames(fps: float, frames: int) -> None:
    assert keyframe_interval(fps) == frames


def test_keyframe_interval_refuses_no_frame_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        keyframe_interval(0)


INFO = SourceInfo(duration=60.0, width=1280, height=720, fps=25.0, has_audio=True)


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_hls_command_encodes_every_rung_in_one_run() -> None:
    command = hls_command("ffmpeg", Path("/in/visit.mp4"), INFO, rendition_ladder(1280, 720))
    assert command[0] == "ffmpeg"
    assert _option(command, "-i") == "file:/in/visit.mp4"
    assert _option(command, "-filter_complex") == (
        "[0:v:0]split=3[s0][s1][s2];"
        "[s0]scale=640:360,setsar=1,format=yuv420p[v0];"
        "[s1]scale=960:540,setsar=1,format=yuv420p[v1];"
        "[s2]scale=1280:720,setsar=1,format=yuv420p[v2]"
    )
    maps = [command[i + 1] for i, arg in enumerate(command) if arg == "-map"]
    assert maps == ["[v0]", "0:a:0", "[v1]", "0:a:0", "[v2]", "0:a:0"]
    assert [_option(command, f"-b:v:{i}") for i in range(3)] == ["800000", "1400000", "2800000"]
    assert _option(command, "-maxrate:v:2") == "2996000"
    assert _option(command, "-var_stream_map") == (
        "v:0,a:0,name:360p v:1,a:1,name:540p v:2,a:2,name:720p"
    )
    assert command[-1] == "%v/index.m3u8"


def test_hls_command_cuts_aligned_four_second_vod_segments() -> None:
    command = hls_command("ffmpeg", Path("/in/visit.mp4"), INFO, rendition_ladder(1280, 720))
    assert (_option(command, "-g"), _option(command, "-keyint_min")) == ("100", "100")
    assert _option(command, "-sc_threshold") == "0"
    assert _option(command, "-force_key_frames") == "expr:gte(t,n_forced*4)"
    assert (_option(command, "-hls_time"), _option(command, "-hls_playlist_type")) == ("4", "vod")
    assert _option(command, "-c:v") == "libx264"
    assert _option(command, "-preset") == "veryfast"
    assert _option(command, "-master_pl_name") == "master.m3u8"
    assert _option(command, "-hls_segment_filename") == "%v/seg_%05d.ts"
    assert _option(command, "-progress") == "pipe:1"


def test_hls_command_without_sound_maps_no_audio() -> None:
    silent = SourceInfo(duration=5.0, width=640, height=360, fps=30.0, has_audio=False)
    command = hls_command("ffmpeg", Path("/in/silent.mp4"), silent, rendition_ladder(640, 360))
    assert "-c:a" not in command
    assert [command[i + 1] for i, arg in enumerate(command) if arg == "-map"] == ["[v0]"]
    assert _option(command, "-var_stream_map") == "v:0,name:360p"
    assert _option(command, "-g") == "120"


def test_stream_map_names_each_variant_after_its_height() -> None:
    rungs = rendition_ladder(854, 480)
    assert stream_map(rungs, has_audio=True) == "v:0,a:0,name:360p v:1,a:1,name:480p"


def test_sample_command_captions_each_chapter_in_its_time() -> None:
    chapters = [Chapter(0, 30, "Cooling hall"), Chapter(30, 60, "Network operations centre")]
    command = sample_command("ffmpeg", Path("/out/s.mp4"), seconds=60, chapters=chapters)
    graph = _option(command, "-filter_complex")
    assert graph.count("drawtext=") == 4  # title, timecode, two chapters
    assert "textfile=chapter1.txt" in graph
    assert "enable='between(t,30.000,60.000)'" in graph
    assert "testsrc2=size=1280x720:rate=25:duration=60" in command
    assert command[-1] == "file:/out/s.mp4"


def test_sample_chapters_cover_the_whole_recording() -> None:
    chapters = sample_chapters(240)
    assert [(c.start, c.end) for c in chapters] == [(i * 48.0, (i + 1) * 48.0) for i in range(5)]
    assert chapters[1].caption == "Cooling hall"


PROBE_VIDEO = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'visit.mp4':
  Duration: 00:04:00.04, start: 0.000000, bitrate: 7814 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), \
1280x720 [SAR 1:1 DAR 16:9], 7681 kb/s, 29.97 fps, 29.97 tbr, 30k tbn (default)
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 127 kb/s
At least one output file must be specified
"""


def test_probe_reads_duration_size_rate_and_sound() -> None:
    assert parse_probe(PROBE_VIDEO) == SourceInfo(240.04, 1280, 720, 29.97, True)


def test_probe_of_a_silent_video_has_no_audio() -> None:
    silent = "\n".join(line for line in PROBE_VIDEO.splitlines() if "Audio:" not in line)
    assert parse_probe(silent).has_audio is False


def test_probe_without_a_frame_rate_guesses_25() -> None:
    assert parse_probe(PROBE_VIDEO.replace("29.97 fps, 29.97 tbr", "")).fps == 25.0


def test_probe_of_a_sound_file_with_cover_art_has_no_video() -> None:
    report = PROBE_VIDEO.replace(
        "Video: h264 (High)", "Video: mjpeg (Baseline), 600x600, 90k tbr (attached pic)"
    )
    report = report.replace("1280x720 [SAR 1:1 DAR 16:9], 7681 kb/s, 29.97 fps, ", "")
    with pytest.raises(FfmpegError, match="has no video stream"):
        parse_probe(report)


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        (
            "[in#0] Format mov,mp4 detected only with low score of 1, misdetection possible!\n"
            "[in#0] moov atom not found\nError opening input files: Invalid data found",
            "is not a video file that ffmpeg can read",
        ),
        (
            "[in#0] moov atom not found\nError opening input files: Invalid data found",
            "is incomplete: it ends before the recording's index (cut short?)",
        ),
        (
            "Error opening input files: Invalid data found when processing input",
            "is not a video file that ffmpeg can read",
        ),
        (
            PROBE_VIDEO.replace("00:04:00.04", "N/A"),
            "does not say how long it is (a live stream or a damaged file?)",
        ),
    ],
)
def test_probe_explains_what_is_wrong(report: str, reason: str) -> None:
    with pytest.raises(FfmpegError) as caught:
        parse_probe(report)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("line", "seconds"),
    [
        ("out_time_us=2500000\n", 2.5),
        ("out_time_ms=4000000", 4.0),
        ("out_time_us=N/A", None),
        ("out_time=00:00:02.500000", None),
        ("progress=continue", None),
        ("out_time_us=-23220", 0.0),
    ],
)
def test_progress_seconds_reads_microseconds(line: str, seconds: float | None) -> None:
    assert progress_seconds(line) == seconds


MASTER = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-STREAM-INF:BANDWIDTH=3030936,AVERAGE-BANDWIDTH=2985515,RESOLUTION=1280x720,\
CODECS="avc1.4d401f,mp4a.40.2"
720p/index.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=974968,AVERAGE-BANDWIDTH=942256,RESOLUTION=640x360,\
CODECS="avc1.4d401e,mp4a.40.2"
360p/index.m3u8
"""


def test_master_renditions_are_read_lowest_first() -> None:
    assert [(r.height, r.width, r.bandwidth, r.playlist) for r in master_renditions(MASTER)] == [
        (360, 640, 974968, "360p/index.m3u8"),
        (720, 1280, 3030936, "720p/index.m3u8"),
    ]


def test_playlist_seconds_adds_the_segments() -> None:
    playlist = "#EXTM3U\n#EXTINF:4.000000,\nseg_00000.ts\n#EXTINF:1.520000,\nseg_00001.ts\n"
    assert playlist_seconds(playlist) == pytest.approx(5.52)


@pytest.mark.parametrize("name", ["site-visit-sejong", "a", "0day", "x" * 63])
def test_names_that_can_be_a_url_segment(name: str) -> None:
    assert name_problems(name) == []


@pytest.mark.parametrize("name", ["../x", "Big Name", "", "-x", "x" * 64, "a/b", "visit.mp4"])
def test_names_that_cannot(name: str) -> None:
    assert name_problems(name) == [
        f"name {name!r}: use 1 to 63 lowercase letters, digits and dashes, "
        "starting with a letter or digit (for example site-visit-sejong)"
    ]

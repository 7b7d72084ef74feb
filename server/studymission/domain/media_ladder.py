"""The rendition ladder of a recording: which sizes and bitrates it is streamed at.

Pure: a source size in, rungs out. Bitrates are bits per second.
"""

from dataclasses import dataclass

#: Seconds per HLS segment; every rendition has a keyframe at each boundary.
SEGMENT_SECONDS = 4

# (height, video bitrate) of the full ladder. 360p stays watchable on a hotel network
# across the region; 720p is what a data-centre hall needs to be legible.
_LADDER: tuple[tuple[int, int], ...] = ((360, 800_000), (540, 1_400_000), (720, 2_800_000))
#: Peak over average that x264 may spend, and the decoder buffer in seconds of average rate.
MAXRATE_FACTOR = 1.07
BUFSIZE_FACTOR = 1.5
AUDIO_BITRATE = 128_000


@dataclass(frozen=True, slots=True)
class Rung:
    """One rendition to encode: its frame size and video bitrates (bit/s)."""

    height: int
    width: int
    video_bitrate: int

    @property
    def name(self) -> str:
        return f"{self.height}p"

    @property
    def maxrate(self) -> int:
        return round(self.video_bitrate * MAXRATE_FACTOR)

    @property
    def bufsize(self) -> int:
        return round(self.video_bitrate * BUFSIZE_FACTOR)


def rendition_ladder(width: int, height: int) -> tuple[Rung, ...]:
    """The rungs for a `width`x`height` source, lowest first, never taller than the source.

    A source shorter than the top rung gets its own height as the top rung (at the bitrate
    of the rung it replaces), so that every recording streams at its best quality.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"a frame size must be positive, got {width}x{height}")
    top_height = even(min(height, _LADDER[-1][0]))
    below = [(h, bitrate) for h, bitrate in _LADDER if h < top_height]
    top_bitrate = next(bitrate for h, bitrate in _LADDER if h >= top_height)
    return tuple(
        Rung(h, scaled_width(width, height, h), bitrate)
        for h, bitrate in [*below, (top_height, top_bitrate)]
    )


def scaled_width(width: int, height: int, target_height: int) -> int:
    """The width that keeps the source's aspect ratio at `target_height`, even for x264."""
    return max(2, even(round(width * target_height / height)))


def even(value: int) -> int:
    """`value` rounded down to an even number (4:2:0 chroma needs even sizes)."""
    return max(2, value - value % 2)


def keyframe_interval(fps: float) -> int:
    """Frames per segment at `fps`, so that keyframes fall on segment boundaries."""
    if fps <= 0:
        raise ValueError(f"a frame rate must be positive, got {fps}")
    return max(1, round(fps * SEGMENT_SECONDS))

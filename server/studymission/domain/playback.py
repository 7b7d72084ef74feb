"""The site visit's playback clock: where the recording stands at any event instant.

The server holds one clock per session; every page plays the position it gives, so that
everyone watches the same second together, late joiners included. A clock is a state
(playing or paused), a position and the event instant `at` of that position. While
playing, the position advances by one second of recording per *real* second — the
recording plays at its natural speed whatever the time scale — which is `rate` seconds
of recording per second of event time (1 / time scale).
"""

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from studymission.domain.errors import InvalidInputError
from studymission.domain.values import Problem


class PlaybackState(StrEnum):
    PLAYING = "playing"
    PAUSED = "paused"


class PlaybackAction(StrEnum):
    PLAY = "play"
    PAUSE = "pause"
    SEEK = "seek"
    #: Show an external live stream instead of a recording.
    LIVE = "live"


@dataclass(frozen=True, slots=True)
class Recording:
    """A packaged recording as the clock needs it."""

    asset: str
    version: str
    duration: float


@dataclass(frozen=True, slots=True)
class Playback:
    """One session's playback clock. Exactly one of `recording` and `live_url` is set."""

    recording: Recording | None
    live_url: str | None
    state: PlaybackState
    position: float
    at: datetime

    @property
    def live(self) -> bool:
        return self.live_url is not None

    def position_at(self, now: datetime, rate: float) -> float:
        """The recording's second at event time `now` (never past its end)."""
        if self.state is PlaybackState.PAUSED or self.recording is None:
            return self.position
        advanced = self.position + (now - self.at).total_seconds() * rate
        return max(0.0, min(advanced, self.recording.duration))

    def ended(self, now: datetime, rate: float) -> bool:
        return self.recording is not None and self.position_at(now, rate) >= (
            self.recording.duration
        )


@dataclass(frozen=True, slots=True)
class PlaybackRequest:
    """A moderator's command (CONTRACT §4b ``playback``)."""

    action: str
    recording: Recording | None = None
    position: float | None = None
    live_url: str | None = None
    #: Seek relative to where the recording stands (the console's −30 s … +30 s), kept
    #: within the recording; instead of `position`.
    step: float | None = None


def apply(
    current: Playback | None, request: PlaybackRequest, *, now: datetime, rate: float
) -> Playback:
    """The clock after `request` at event time `now`; every problem is listed at once."""
    problems = _problems(current, request)
    if problems:
        raise InvalidInputError("the playback was not changed", problems)
    action = PlaybackAction(request.action)
    if action is PlaybackAction.LIVE:
        return Playback(None, request.live_url, PlaybackState.PLAYING, 0.0, now)
    if request.recording is not None and (
        current is None or current.recording != request.recording
    ):
        # A new recording (or a new version of it) starts from the beginning unless told.
        current = Playback(request.recording, None, PlaybackState.PAUSED, 0.0, now)
    assert current is not None  # _problems refuses a first command without a recording
    here = current.position_at(now, rate)
    position = here if request.position is None else request.position
    if request.step is not None and current.recording is not None:
        position = max(0.0, min(here + request.step, current.recording.duration))
    if action is PlaybackAction.PLAY:
        return replace(current, state=PlaybackState.PLAYING, position=position, at=now)
    if action is PlaybackAction.PAUSE:
        return replace(current, state=PlaybackState.PAUSED, position=position, at=now)
    return replace(current, position=position, at=now)


def _problems(current: Playback | None, request: PlaybackRequest) -> list[Problem]:
    problems: list[Problem] = []
    actions = [a.value for a in PlaybackAction]
    if request.action not in actions:
        problems.append(Problem("action", request.action, f"must be one of {', '.join(actions)}"))
        return problems
    action = PlaybackAction(request.action)
    if action is PlaybackAction.LIVE:
        url = request.live_url or ""
        if not url.startswith(("https://", "http://")):
            problems.append(Problem("url", request.live_url, "must be an http(s) URL of a stream"))
        if request.position is not None:
            problems.append(Problem("position", request.position, "a live stream has none"))
        return problems
    recording = request.recording or (current.recording if current else None)
    if recording is None:
        where = "live stream" if current is not None and current.live else "recording"
        reason = (
            "a live stream cannot be paused or sought; start a recording with an asset"
            if where == "live stream"
            else "name the recording to play (the --name given to media package)"
        )
        problems.append(Problem("asset", None, reason))
    position = request.position
    if position is not None and (position < 0 or position != position):
        problems.append(Problem("position", position, "must be 0 or more seconds"))
    elif position is not None and recording is not None and position > recording.duration:
        problems.append(
            Problem("position", position, f"the recording lasts {recording.duration:.0f} s")
        )
    if request.step is not None and (position is not None or action is not PlaybackAction.SEEK):
        problems.append(
            Problem("step", request.step, "only a seek takes a step, without a position")
        )
    if action is PlaybackAction.SEEK and position is None and request.step is None:
        problems.append(Problem("position", None, "seek needs a position"))
    return problems

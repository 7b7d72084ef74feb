"""The console's view of the site visit: the recordings that can be played, the session's
playback clock and where the recording stands now."""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from studymission.db.playback import read_playbacks
from studymission.db.tables import Event
from studymission.domain.playback import Playback
from studymission.domain.values import Mode
from studymission.services.media import MediaPackage, list_packages
from studymission.services.stage import StageView, stage_view


@dataclass(frozen=True)
class SiteVisitView:
    stage: StageView
    playback: Playback | None
    #: The recording's second now (None without a recording).
    position: float | None
    packages: tuple[MediaPackage, ...]
    rate: float

    @property
    def on(self) -> bool:
        """Whether every page shows the site visit now."""
        return self.stage.show.mode is Mode.SITE_VISIT

    @property
    def ended(self) -> bool:
        playback = self.playback
        return playback is not None and playback.ended(self.stage.now, self.rate)

    @property
    def asset(self) -> str | None:
        recording = self.playback.recording if self.playback else None
        return recording.asset if recording else None


def site_visit_view(
    db: Session, event: Event, *, media_dir: Path, now: datetime, rate: float
) -> SiteVisitView:
    stage = stage_view(db, event, now)
    key = stage.session.key if stage.session else None
    playback = read_playbacks(db, event.id or 0).get(key) if key else None
    position = playback.position_at(now, rate) if playback and playback.recording else None
    return SiteVisitView(stage, playback, position, tuple(list_packages(media_dir)), rate)


def clock_text(seconds: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``) of a position in the recording."""
    if seconds is None:
        return "–:––"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def parse_clock(text: str) -> float | None:
    """Seconds from ``ss``, ``m:ss`` or ``h:mm:ss`` as a moderator types them; None if not."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(p.strip().replace(".", "", 1).isdigit() for p in parts):
        return None
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return seconds

"""The moderators' hand on the site visit: play, pause and seek a packaged recording, or
show a live stream (CONTRACT §4b ``playback``). The console and the JSON API call here.

A command moves the session into ``site_visit`` mode (it is what a moderator means by
pressing play) and is written with its audit entry in one transaction; the caller then
publishes ``{"kind": "state"}`` so that every process tells its pages the new clock.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlmodel import Session

from studymission.db.events import lock_event, read_programme
from studymission.db.playback import read_playbacks, store_playback
from studymission.db.run_of_show import read_controls
from studymission.db.tables import AuditEntry, Event
from studymission.domain.errors import InvalidInputError
from studymission.domain.playback import Playback, PlaybackRequest, Recording, apply
from studymission.domain.run_of_show import scheduled_item, show_state
from studymission.domain.values import Mode, Problem
from studymission.services.media import read_package
from studymission.services.run_of_show import find_session, take_control


@dataclass(frozen=True, slots=True)
class PlaybackCommand:
    """What the moderator asked for, as sent (names, not yet checked)."""

    action: str
    asset: str | None = None
    position: float | None = None
    url: str | None = None
    #: Seconds to seek by from where the recording stands (the console's buttons).
    step: float | None = None


def live_origin_problem(url: str, allowed: Collection[str]) -> Problem | None:
    """Why pages could not play `url`, when its origin is not one of `allowed`."""
    parts = urlsplit(url.strip())
    origin = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or origin in allowed:
        return None  # the playback rules name a URL that is no http(s) URL at all
    where = ", ".join(allowed) if allowed else "none are configured"
    return Problem(
        "url",
        url,
        f"live streams may only come from the origins in STUDYMISSION_LIVE_STREAM_ORIGINS"
        f" ({where}); pages are not allowed to fetch from {origin}",
    )


def change_playback(
    db: Session,
    event: Event,
    session_key: str,
    command: PlaybackCommand,
    *,
    media_dir: Path,
    live_origins: Collection[str],
    rate: float,
    actor: str,
    now: datetime,
) -> Playback:
    """Apply `command` to the session's clock at event time `now`; commits.

    `rate` is seconds of recording per second of event time (1 / time scale); a live stream
    must come from one of `live_origins` (the pages' Content-Security-Policy lets them fetch
    from these only). Every problem is listed at once and nothing is written when there is one.
    """
    if command.action == "live" and command.url:
        refused = live_origin_problem(command.url, live_origins)
        if refused is not None:
            raise InvalidInputError("this live stream cannot be shown", [refused])
    programme = read_programme(db, event)
    session_id, session = find_session(programme, session_key)
    recording = _recording(media_dir, command.asset)
    # Held before the clock is read: two moderators pressing at once apply one after the other.
    lock_event(db, event)
    current = read_playbacks(db, event.id or 0).get(session_key)
    request = PlaybackRequest(
        command.action, recording, command.position, command.url, step=command.step
    )
    playback = apply(current, request, now=now, rate=rate)
    store_playback(db, event.id or 0, session_id, playback, actor=actor)
    shown = show_state([session], read_controls(db, event.id or 0), now)
    if shown.mode is not Mode.SITE_VISIT:
        item = shown.item or scheduled_item(session, now)
        take_control(db, event, session_id, actor=actor, now=now, mode=Mode.SITE_VISIT, item=item)
    db.add(
        AuditEntry(
            event_id=event.id or 0,
            at=now,
            actor=actor,
            action="run_of_show.playback",
            detail={
                "session": session_key,
                "action": command.action,
                "asset": recording.asset if recording else None,
                "version": recording.version if recording else None,
                "position": round(playback.position, 3),
                "url": playback.live_url,
            },
        )
    )
    db.commit()
    return playback


def _recording(media_dir: Path, asset: str | None) -> Recording | None:
    if asset is None:
        return None
    package = read_package(media_dir, asset)
    if package is None:
        raise InvalidInputError(
            "the playback was not changed",
            [Problem("asset", asset, "no packaged recording of that name (media package)")],
        )
    return Recording(package.name, package.version, package.duration)

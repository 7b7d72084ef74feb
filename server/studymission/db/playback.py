"""Reading and writing each session's site-visit playback clock (table ``session_playback``)."""

from sqlmodel import Session, select

from studymission.db.tables import EventSession, SessionPlayback
from studymission.domain.playback import Playback, PlaybackState, Recording


def to_playback(row: SessionPlayback) -> Playback:
    recording = None
    if row.asset is not None and row.version is not None:
        recording = Recording(row.asset, row.version, row.duration or 0.0)
    return Playback(recording, row.live_url, PlaybackState(row.state), row.position, row.at)


def read_playbacks(db: Session, event_id: int) -> dict[str, Playback]:
    """Every session's playback clock of the event, by session key."""
    query = (
        select(EventSession.key, SessionPlayback)
        .join(SessionPlayback, SessionPlayback.session_id == EventSession.id)  # type: ignore[arg-type]
        .where(EventSession.event_id == event_id)
    )
    return {key: to_playback(row) for key, row in db.exec(query).all()}


def store_playback(
    db: Session, event_id: int, session_id: int, playback: Playback, *, actor: str
) -> None:
    """Add the session's clock to `db` (not committed)."""
    row = db.get(SessionPlayback, session_id) or SessionPlayback(
        session_id=session_id, event_id=event_id, at=playback.at, changed_by=actor
    )
    recording = playback.recording
    row.asset = recording.asset if recording else None
    row.version = recording.version if recording else None
    row.duration = recording.duration if recording else None
    row.live_url = playback.live_url
    row.state = playback.state.value
    row.position = playback.position
    row.at = playback.at
    row.changed_by = actor
    db.add(row)


def event_assets(db: Session, event_id: int) -> set[tuple[str, str]]:
    """The (asset, version) pairs the event's sessions play or have played last."""
    query = select(SessionPlayback.asset, SessionPlayback.version).where(
        SessionPlayback.event_id == event_id
    )
    return {(a, v) for a, v in db.exec(query).all() if a is not None and v is not None}

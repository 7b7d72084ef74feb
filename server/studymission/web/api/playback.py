"""``POST /api/events/{code}/sessions/{key}/playback`` (CONTRACT §4b) drives the site
visit's shared clock; ``GET`` reads it. ``GET /api/events/{code}/media-access`` gives a
person of the event the short-lived signed cookies that let their page (and nginx, in
production) fetch the recording the event plays.
"""

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from studymission.db.playback import event_assets, read_playbacks
from studymission.domain.errors import NotFoundError
from studymission.domain.values import STAFF_ROLES
from studymission.services.access import require_event, require_role
from studymission.services.live_state import playback_body
from studymission.services.media import NAME_PATTERN, read_package
from studymission.services.media_access import grant
from studymission.services.playback import PlaybackCommand, change_playback
from studymission.web.api.run_of_show import announce
from studymission.web.deps import ClockDep, CurrentIdentity, SessionDep, SettingsDep

router = APIRouter(prefix="/api/events/{code}", tags=["site visit"])


class PlaybackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str
    #: The ``--name`` given to ``media package``; needed on the first call.
    asset: str | None = Field(default=None, pattern=f"^{NAME_PATTERN}$")
    #: Seconds into the recording (play: default where it stands; seek: required).
    position: float | None = None
    #: ``live`` only: the external HLS stream's URL.
    url: str | None = Field(default=None, max_length=2000)


@router.post("/sessions/{key}/playback")
async def drive_playback(
    code: str,
    key: str,
    body: PlaybackIn,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    request: Request,
) -> dict[str, Any]:
    """Play, pause or seek the site visit for every page, or show a live stream."""
    event = require_event(identity, code)
    require_role(identity, STAFF_ROLES, action="driving the site-visit playback")
    command = PlaybackCommand(body.action, body.asset, body.position, body.url)
    playback = await run_in_threadpool(
        change_playback,
        db,
        event,
        key,
        command,
        media_dir=settings.media_dir,
        live_origins=settings.live_stream_origins,
        rate=1 / clock.scale,
        actor=identity.person.name,
        now=clock.now(),
    )
    await announce(request, code)
    return {"mode": "site_visit", "playback": playback_body(playback, 1 / clock.scale)}


@router.get("/sessions/{key}/playback")
def read_playback(
    code: str, key: str, identity: CurrentIdentity, db: SessionDep, clock: ClockDep
) -> dict[str, Any]:
    """The session's clock, and the recording's second now (staff)."""
    event = require_event(identity, code)
    require_role(identity, STAFF_ROLES, action="reading the site-visit playback")
    playback = read_playbacks(db, event.id or 0).get(key)
    rate = 1 / clock.scale
    return {
        "playback": playback_body(playback, rate),
        "position_now": playback.position_at(clock.now(), rate) if playback else None,
    }


@router.get("/media-access", status_code=204)
def media_access(
    code: str,
    asset: str,
    version: str,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    response: Response,
) -> None:
    """Signed cookies for one version of a recording: to people of the event that plays
    it, and to its staff for any packaged recording (the console previews before playing)."""
    event = require_event(identity, code)
    played = (asset, version) in event_assets(db, event.id or 0)
    if not played:
        package = read_package(settings.media_dir, asset)
        staff = identity.role in STAFF_ROLES
        if not staff or package is None or package.version != version:
            raise NotFoundError("this event plays no such recording")
    grant(
        response,
        f"/media/{asset}/{version}/",
        secret=settings.media_signing_key(),
        now=clock.real_now().timestamp(),
        lifetime=settings.media_access_seconds,
        secure=settings.is_https,
    )

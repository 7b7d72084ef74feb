"""``GET``/``HEAD /media/NAME/VERSION/[RENDITION/]FILE``: packaged recordings, for signed people.

In production nginx or a CDN serves these same files with the same cookies and headers
(deploy/nginx/media.conf); this route is the development server and the fallback.

Order of checks, as nginx has them: a path that is not one a package can have is 404; then
the grant for ``/media/NAME/VERSION/`` (missing, expired or forged: 403, so that without a
grant every well-formed path looks alike and probing reveals nothing); then, with a grant, a
file that does not exist is 404. Answers name no file and no directory.

The route is a plain Starlette route: no dependency injection, no database, the settings
read once per application; a request costs the regexes, a realpath, a stat and the file.
"""

import math
import os
import re
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate

from fastapi import APIRouter
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from studymission.config import Settings
from studymission.services.clock import Clock
from studymission.services.media_access import allowed

#: Versions never change once written, so a browser may keep them; ``private`` because each
#: person's access is their own and no shared cache may answer for it. nginx sends the same.
CACHE_CONTROL = "private, max-age=86400, immutable"

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
VERSION = re.compile(r"[a-z0-9]{1,32}")
RENDITION = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
MASTER = "master.m3u8"
RENDITION_FILE = re.compile(r"index\.m3u8|init\.mp4|seg_[0-9]{5,6}\.(?:ts|m4s|mp4|aac|vtt)")

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".aac": "audio/aac",
    ".vtt": "text/vtt",
}

router = APIRouter()


@dataclass(frozen=True)
class MediaConfig:
    """What serving needs from the application, worked out once per application."""

    root: str
    secret: str
    #: Real Unix seconds from the clock the app grants with (tests move it), else the wall's.
    real_now: Callable[[], float]

    @classmethod
    def of(cls, state: State) -> "MediaConfig":
        settings: Settings = state.settings
        clock: Clock | None = getattr(state, "clock", None)
        real_now = time.time if clock is None else lambda: clock.real_now().timestamp()
        root = os.path.realpath(settings.media_dir)
        return cls(root=root, secret=settings.media_signing_key(), real_now=real_now)


class MediaFileResponse(FileResponse):
    # A 4 s 720p segment is ~1.4 MB: Starlette's 64 KiB chunks cost ~22 thread hops each and
    # halved throughput in bench/. One chunk per response is in memory at a time.
    chunk_size = 512 * 1024


def _config(request: Request) -> MediaConfig:
    state = request.app.state
    config: MediaConfig | None = getattr(state, "media_config", None)
    if config is None:
        config = MediaConfig.of(state)
        state.media_config = config
    return config


def _plain(status: int, text: str) -> Response:
    # no-store: a cached 403 would outlive the grant that follows it, a cached 404 a package.
    return PlainTextResponse(text, status_code=status, headers={"Cache-Control": "no-store"})


def _relative_parts(name: str, version: str, rest: str) -> tuple[str, ...] | None:
    """The path below the media directory when every part has a package's form, else None."""
    if not (NAME.fullmatch(name) and VERSION.fullmatch(version)):
        return None
    parts = rest.split("/")
    if parts == [MASTER]:
        return (name, version, MASTER)
    if len(parts) == 2 and RENDITION.fullmatch(parts[0]) and RENDITION_FILE.fullmatch(parts[1]):
        return (name, version, parts[0], parts[1])
    return None


def _existing_file(root: str, parts: tuple[str, ...]) -> tuple[str, os.stat_result] | None:
    """The regular file at `parts` under `root`, unless missing or a symlink leads out."""
    real = os.path.realpath(os.path.join(root, *parts))
    if not real.startswith(root + os.sep):
        return None
    try:
        stat_result = os.stat(real)
    except OSError:
        return None
    if not stat.S_ISREG(stat_result.st_mode):
        return None
    return real, stat_result


def _validators(stat_result: os.stat_result) -> tuple[str, str]:
    """ETag and Last-Modified; the ETag has nginx's form, so both servers agree."""
    etag = f'"{math.floor(stat_result.st_mtime):x}-{stat_result.st_size:x}"'
    return etag, formatdate(stat_result.st_mtime, usegmt=True)


def _is_not_modified(request: Request, etag: str, last_modified: str) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    return request.headers.get("if-modified-since") == last_modified


async def serve_media(request: Request) -> Response:
    """A playlist or segment of a packaged recording, to a person holding a grant."""
    params = request.path_params
    name, version, rest = params["name"], params["version"], params["rest"]
    parts = _relative_parts(name, version, rest)
    # Decoded paths hide "%2F" and "%2e%2e"; no part of a package's path needs escaping.
    if parts is None or b"%" in request.scope.get("raw_path", b""):
        return _plain(404, "Not Found")
    config = _config(request)
    prefix = f"/media/{name}/{version}/"
    if allowed(prefix, request.cookies, secret=config.secret, now=config.real_now()) != "ok":
        return _plain(403, "Forbidden")
    found = _existing_file(config.root, parts)
    if found is None:
        return _plain(404, "Not Found")
    path, stat_result = found
    etag, last_modified = _validators(stat_result)
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag, "Last-Modified": last_modified}
    if _is_not_modified(request, etag, last_modified):
        return Response(status_code=304, headers=headers)
    media_type = CONTENT_TYPES[os.path.splitext(parts[-1])[1]]
    return MediaFileResponse(path, headers=headers, media_type=media_type, stat_result=stat_result)


router.add_route(
    "/media/{name}/{version}/{rest:path}",
    serve_media,
    methods=["GET", "HEAD"],
    include_in_schema=False,
)

"""Serving tests' helpers: a fake package, a grant's Cookie header, a real nginx.

The files have a package's layout (``NAME/VERSION/master.m3u8``, ``NAME/VERSION/720p/...``)
and known bytes, so that a test can compare what came back byte for byte. `nginx_conf`
wraps deploy/nginx/media.conf in the smallest configuration that runs unprivileged on
loopback, with everything nginx writes kept in one directory.
"""

import json
import os
import time
from pathlib import Path

from starlette.responses import Response

from studymission.services.media_access import grant

NAME = "sejong-dc"
VERSION = "v1"
PREFIX = f"/media/{NAME}/{VERSION}/"

MASTER = (
    "#EXTM3U\n#EXT-X-VERSION:3\n"
    "#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\n360p/index.m3u8\n"
    "#EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720\n720p/index.m3u8\n"
)
RENDITION = (
    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    "#EXTINF:4.0,\nseg_00000.ts\n#EXTINF:4.0,\nseg_00001.ts\n#EXT-X-ENDLIST\n"
)


def segment_bytes(index: int, size: int = 10_000) -> bytes:
    """Distinct, recognisable bytes for segment `index` (every offset differs)."""
    return bytes((index * 7 + offset * 13) % 256 for offset in range(size))


def write_package(media_dir: Path, name: str = NAME, version: str = VERSION) -> Path:
    """The version directory of a two-rendition, two-segment package."""
    root = media_dir / name / version
    (root / "720p").mkdir(parents=True)
    (root / "360p").mkdir()
    (root / "master.m3u8").write_text(MASTER)
    for rendition in ("360p", "720p"):
        (root / rendition / "index.m3u8").write_text(RENDITION)
        for index in range(2):
            (root / rendition / f"seg_{index:05d}.ts").write_bytes(segment_bytes(index))
    (media_dir / name / "package.json").write_text(json.dumps({"current": version}))
    return root


def cookie_header(
    secret: str, prefix: str = PREFIX, *, now: float | None = None, lifetime: int = 900
) -> str:
    """The Cookie header a browser sends after the app's `grant` for `prefix`."""
    response = Response()
    now = time.time() if now is None else now
    grant(response, prefix, secret=secret, now=now, lifetime=lifetime, secure=False)
    pairs = [header.split(";", 1)[0] for header in response.headers.getlist("set-cookie")]
    return "; ".join(pairs)


MEDIA_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "media.conf"
NGINX = "/usr/sbin/nginx"


def nginx_conf(workdir: Path, *, port: int, media_dir: Path, secret: str, workers: int = 1) -> Path:
    """A complete nginx.conf in `workdir` that includes deploy/nginx/media.conf as is."""
    # As root, nginx would hand its workers to "nobody", who cannot read a test's tmp dir.
    user = "user root;" if os.geteuid() == 0 else ""
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"""
{user}
daemon off;
worker_processes {workers};
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        server_tokens off;
        set $studymission_media_root {media_dir};
        set $media_secret "{secret}";
        include {MEDIA_CONF};
    }}
}}
"""
    )
    return conf

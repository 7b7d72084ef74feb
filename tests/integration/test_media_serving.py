"""``/media/NAME/VERSION/...``: content types, ranges, caching, signed access, traversal.

Serving touches no database, so most tests use an application of the media router alone;
one checks that the real application serves the route too.
"""

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Message

from studymission.app import create_app
from studymission.config import Settings
from studymission.db.engine import make_engine
from studymission.services.clock import Clock
from studymission.services.media_access import EXPIRES_COOKIE, SIGNATURE_COOKIE
from studymission.web import media
from tests.conftest import TEST_SECRET, RealTime
from tests.integration.media_helpers import (
    MASTER,
    PREFIX,
    RENDITION,
    cookie_header,
    segment_bytes,
    write_package,
)

pytestmark = pytest.mark.integration

MEDIA_SECRET = "media-secret-for-the-serving-tests"
SEGMENT = PREFIX + "720p/seg_00001.ts"
CACHE_CONTROL = "private, max-age=86400, immutable"


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    media_dir = tmp_path / "media"
    write_package(media_dir)
    return media_dir


@pytest.fixture
def media_settings(tmp_path: Path, media_dir: Path) -> Settings:
    return Settings(
        secret_key=TEST_SECRET,
        media_secret=MEDIA_SECRET,
        media_dir=media_dir,
        var_dir=tmp_path / "var",
        base_url="http://testserver",
    )


@pytest.fixture
def app(media_settings: Settings) -> FastAPI:
    app = FastAPI()
    app.state.settings = media_settings
    app.include_router(media.router)
    return app


@pytest.fixture
def web(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="http://testserver")


@pytest.fixture
def signed() -> dict[str, str]:
    return {"Cookie": cookie_header(MEDIA_SECRET)}


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("master.m3u8", "application/vnd.apple.mpegurl", MASTER.encode()),
        ("720p/index.m3u8", "application/vnd.apple.mpegurl", RENDITION.encode()),
        ("360p/seg_00000.ts", "video/mp2t", segment_bytes(0)),
        ("720p/seg_00001.ts", "video/mp2t", segment_bytes(1)),
    ],
)
def test_package_files_are_served_with_their_types(
    web: TestClient, signed: dict[str, str], path: str, content_type: str, body: bytes
) -> None:
    response = web.get(PREFIX + path, headers=signed)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == body
    assert response.headers["content-length"] == str(len(body))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["cache-control"] == CACHE_CONTROL


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("seg_00000.m4s", "video/iso.segment"),
        ("init.mp4", "video/mp4"),
        ("seg_00000.mp4", "video/mp4"),
        ("seg_00000.aac", "audio/aac"),
        ("seg_00000.vtt", "text/vtt; charset=utf-8"),
    ],
)
def test_future_formats_have_their_types(
    web: TestClient, media_dir: Path, signed: dict[str, str], filename: str, content_type: str
) -> None:
    (media_dir / "sejong-dc/v1/720p" / filename).write_bytes(b"x" * 10)
    response = web.get(f"{PREFIX}720p/{filename}", headers=signed)
    assert (response.status_code, response.headers["content-type"]) == (200, content_type)


def test_range_gives_exact_bytes(web: TestClient, signed: dict[str, str]) -> None:
    response = web.get(SEGMENT, headers={**signed, "Range": "bytes=100-1099"})
    assert response.status_code == 206
    assert response.content == segment_bytes(1)[100:1100]
    assert response.headers["content-range"] == "bytes 100-1099/10000"
    assert response.headers["content-length"] == "1000"
    assert response.headers["content-type"] == "video/mp2t"


def test_suffix_range_gives_the_tail(web: TestClient, signed: dict[str, str]) -> None:
    response = web.get(SEGMENT, headers={**signed, "Range": "bytes=-500"})
    assert response.status_code == 206
    assert response.content == segment_bytes(1)[-500:]
    assert response.headers["content-range"] == "bytes 9500-9999/10000"


def test_open_range_runs_to_the_end(web: TestClient, signed: dict[str, str]) -> None:
    response = web.get(SEGMENT, headers={**signed, "Range": "bytes=9000-"})
    assert response.status_code == 206
    assert response.content == segment_bytes(1)[9000:]


def test_unsatisfiable_range_is_416(web: TestClient, signed: dict[str, str]) -> None:
    response = web.get(SEGMENT, headers={**signed, "Range": "bytes=20000-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */10000"


def test_head_has_headers_and_no_body(web: TestClient, signed: dict[str, str]) -> None:
    response = web.head(SEGMENT, headers=signed)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "10000"
    assert response.headers["content-type"] == "video/mp2t"


def test_etag_and_last_modified_have_nginx_form(
    web: TestClient, media_dir: Path, signed: dict[str, str]
) -> None:
    os.utime(media_dir / "sejong-dc/v1/720p/seg_00001.ts", (1_637_730_000, 1_637_730_000))
    response = web.get(SEGMENT, headers=signed)
    assert response.headers["etag"] == '"619dc6d0-2710"'
    assert response.headers["last-modified"] == "Wed, 24 Nov 2021 05:00:00 GMT"


def test_if_none_match_gives_304(web: TestClient, signed: dict[str, str]) -> None:
    etag = web.get(SEGMENT, headers=signed).headers["etag"]
    response = web.get(SEGMENT, headers={**signed, "If-None-Match": f'"nope", W/{etag}'})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == CACHE_CONTROL


def test_other_etag_gives_the_file(web: TestClient, signed: dict[str, str]) -> None:
    response = web.get(SEGMENT, headers={**signed, "If-None-Match": '"other"'})
    assert (response.status_code, response.content) == (200, segment_bytes(1))


def test_if_modified_since_gives_304(web: TestClient, signed: dict[str, str]) -> None:
    last_modified = web.get(SEGMENT, headers=signed).headers["last-modified"]
    response = web.get(SEGMENT, headers={**signed, "If-Modified-Since": last_modified})
    assert response.status_code == 304


def test_304_still_needs_a_grant(web: TestClient, signed: dict[str, str]) -> None:
    etag = web.get(SEGMENT, headers=signed).headers["etag"]
    assert web.get(SEGMENT, headers={"If-None-Match": etag}).status_code == 403


def forbidden(web: TestClient, headers: dict[str, str], path: str = SEGMENT) -> None:
    response = web.get(path, headers=headers)
    assert response.status_code == 403
    assert response.text == "Forbidden"
    assert response.headers["cache-control"] == "no-store"


def test_no_cookie_is_403(web: TestClient) -> None:
    forbidden(web, {})


def test_expired_cookie_is_403(web: TestClient) -> None:
    forbidden(web, {"Cookie": cookie_header(MEDIA_SECRET, now=time.time() - 1000)})


def test_forged_signature_is_403(web: TestClient) -> None:
    expires = int(time.time()) + 900
    cookie = f"{EXPIRES_COOKIE}={expires}; {SIGNATURE_COOKIE}=XnBq1EtJY4JmHNVxkL-dIg"
    forbidden(web, {"Cookie": cookie})


def test_cookie_of_another_secret_is_403(web: TestClient) -> None:
    forbidden(web, {"Cookie": cookie_header("another-secret")})


def test_cookie_of_another_version_is_403(web: TestClient, media_dir: Path) -> None:
    write_package(media_dir, version="v2")
    v2 = {"Cookie": cookie_header(MEDIA_SECRET, "/media/sejong-dc/v2/")}
    assert web.get("/media/sejong-dc/v2/master.m3u8", headers=v2).status_code == 200
    forbidden(web, v2)


def test_unsigned_unknown_name_is_403(web: TestClient) -> None:
    """Without a grant every well-formed path looks alike: probing finds nothing."""
    forbidden(web, {}, "/media/no-such-visit/v1/master.m3u8")


def not_found(web: TestClient, path: str, cookie: str) -> None:
    response = web.get(path, headers={"Cookie": cookie})
    assert response.status_code == 404
    assert "media" not in response.text.lower()
    assert "/" not in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/media/../secret.txt",
        "/media/sejong-dc/v1/%2e%2e/%2e%2e/secret.txt",
        "/media/sejong-dc/v1/..%2F..%2Fsecret.txt",
        "/media/sejong-dc/v1/720p%2Fseg_00001.ts",
        "/media/sejong-dc/v1/720p/%2e%2e/master.m3u8",
        "/media/sejong-dc/v1//etc/passwd",
        "/media/sejong-dc/v1/720p/seg_00001.ts/",
        "/media/sejong-dc/V1/master.m3u8",
        "/media/sejong-dc/v.1/master.m3u8",
        "/media/Sejong-dc/v1/master.m3u8",
        "/media/-sejong/v1/master.m3u8",
        "/media/sejong-dc/package.json",
        "/media/sejong-dc/v1/index.m3u8",
        "/media/sejong-dc/v1/720p/master.m3u8",
        "/media/sejong-dc/v1/720p/seg_1.ts",
        "/media/sejong-dc/v1/720p/seg_00001.exe",
        "/media/sejong-dc/v1/720p/x/seg_00001.ts",
    ],
)
def test_paths_a_package_cannot_have_are_404(web: TestClient, path: str) -> None:
    not_found(web, path, cookie_header(MEDIA_SECRET))


@pytest.mark.parametrize(
    ("prefix", "path"),
    [
        ("/media/no-such-visit/v1/", "master.m3u8"),
        ("/media/sejong-dc/v9/", "master.m3u8"),
        (PREFIX, "720p/seg_00099.ts"),
        (PREFIX, "1080p/index.m3u8"),
    ],
)
def test_signed_but_unknown_is_404(web: TestClient, prefix: str, path: str) -> None:
    not_found(web, prefix + path, cookie_header(MEDIA_SECRET, prefix))


def test_symlink_out_of_the_media_dir_is_404(
    web: TestClient, media_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "outside.ts").write_bytes(b"not yours")
    (media_dir / "sejong-dc/v1/720p/seg_00007.ts").symlink_to(tmp_path / "outside.ts")
    not_found(web, PREFIX + "720p/seg_00007.ts", cookie_header(MEDIA_SECRET))


def test_symlinked_version_out_of_the_media_dir_is_404(
    web: TestClient, media_dir: Path, tmp_path: Path
) -> None:
    write_package(tmp_path / "elsewhere")
    (media_dir / "sejong-dc/v2").symlink_to(tmp_path / "elsewhere/sejong-dc/v1")
    prefix = "/media/sejong-dc/v2/"
    not_found(web, prefix + "master.m3u8", cookie_header(MEDIA_SECRET, prefix))


def test_a_directory_is_404(web: TestClient, media_dir: Path) -> None:
    (media_dir / "sejong-dc/v1/720p/seg_00005.ts").mkdir()
    not_found(web, PREFIX + "720p/seg_00005.ts", cookie_header(MEDIA_SECRET))


def raw_status(app: FastAPI, path: str, cookie: str) -> int:
    """The status for `path` exactly as given: HTTP clients would resolve its dot segments."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    # In a thread of its own: an earlier test may leave asyncio marked as running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(anyio.run, app, scope, receive, send).result()
    status: int = sent[0]["status"]
    return status


@pytest.mark.parametrize(
    "path",
    [
        "/media/sejong-dc/v1/../../../secret.txt",
        "/media/sejong-dc/v1/720p/../../v1/master.m3u8",
        "/media/sejong-dc/v1/./master.m3u8",
        "/media/sejong-dc/v1/720p/..",
    ],
)
def test_unresolved_dot_segments_are_404(app: FastAPI, tmp_path: Path, path: str) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    assert raw_status(app, path, cookie_header(MEDIA_SECRET)) == 404


def test_the_application_serves_media_on_its_clock(
    tmp_path: Path, media_dir: Path, clock: Clock, real_time: RealTime
) -> None:
    settings = Settings(
        secret_key=TEST_SECRET,
        media_dir=media_dir,
        var_dir=tmp_path / "var",
        database_url=f"sqlite:///{tmp_path / 'app.db'}",
        base_url="http://testserver",
    )
    app = create_app(settings, engine=make_engine(settings.effective_database_url), clock=clock)
    web = TestClient(app, base_url="http://testserver")
    # Without MEDIA_SECRET the key is derived from SECRET_KEY, as nginx is told it; the
    # grant is checked on the same real clock the app grants with (2021 here).
    granted_at = clock.real_now().timestamp()
    cookie = {"Cookie": cookie_header(settings.media_signing_key(), now=granted_at)}
    response = web.get(SEGMENT, headers=cookie)
    assert (response.status_code, response.content) == (200, segment_bytes(1))
    assert web.get(SEGMENT).status_code == 403
    real_time.advance(seconds=901)
    assert web.get(SEGMENT, headers=cookie).status_code == 403

"""deploy/nginx/media.conf in a real nginx: it accepts the app's cookies and refuses the rest.

nginx runs on loopback from a temporary prefix, unprivileged where it can, with the media
directory and the secret set in a wrapper server block exactly as deploy/nginx/README.md
tells an operator to. Without nginx the tests skip (fail in CI).
"""

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from studymission.services.media_access import EXPIRES_COOKIE, SIGNATURE_COOKIE
from tests.conftest import need
from tests.integration.media_helpers import (
    MASTER,
    NGINX,
    PREFIX,
    cookie_header,
    nginx_conf,
    segment_bytes,
    write_package,
)
from tests.integration.servers import free_port

pytestmark = pytest.mark.integration

SECRET = "nginx-test-media-secret"
SEGMENT = PREFIX + "720p/seg_00001.ts"


def nginx_command(conf: Path, *args: str) -> list[str]:
    workdir = conf.parent
    return [NGINX, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log"), *args]


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, "nginx exited at start"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nginx did not listen on {port}")


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    need(os.access(NGINX, os.X_OK), f"{NGINX} is not installed (apt-get install nginx)")
    media_dir = tmp_path / "media"
    write_package(media_dir)
    workdir = tmp_path / "nginx"
    workdir.mkdir()
    return nginx_conf(workdir, port=free_port(), media_dir=media_dir, secret=SECRET)


@pytest.fixture
def nginx(conf: Path) -> Iterator[httpx.Client]:
    port = int(conf.read_text().split("listen 127.0.0.1:")[1].split(";")[0])
    with open(conf.parent / "stderr.log", "wb") as stderr:
        process = subprocess.Popen(nginx_command(conf), stderr=stderr)
    try:
        wait_for_port(port, process)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        process.terminate()
        process.wait(timeout=10)


def signed(**headers: str) -> dict[str, str]:
    return {"Cookie": cookie_header(SECRET), **headers}


def test_config_passes_nginx_t(conf: Path) -> None:
    result = subprocess.run(nginx_command(conf, "-t"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_app_cookie_is_accepted(nginx: httpx.Client) -> None:
    segment = nginx.get(SEGMENT, headers=signed())
    assert segment.status_code == 200
    assert segment.content == segment_bytes(1)
    assert segment.headers["content-type"] == "video/mp2t"
    assert segment.headers["cache-control"] == "private, max-age=86400, immutable"
    assert segment.headers["x-content-type-options"] == "nosniff"
    master = nginx.get(PREFIX + "master.m3u8", headers=signed())
    assert master.status_code == 200
    assert master.text == MASTER
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"


def test_range_is_206(nginx: httpx.Client) -> None:
    response = nginx.get(SEGMENT, headers=signed(Range="bytes=100-1099"))
    assert response.status_code == 206
    assert response.content == segment_bytes(1)[100:1100]
    assert response.headers["content-range"] == "bytes 100-1099/10000"


def test_unsatisfiable_range_is_416(nginx: httpx.Client) -> None:
    response = nginx.get(SEGMENT, headers=signed(Range="bytes=20000-"))
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */10000"


def test_etag_gives_304(nginx: httpx.Client) -> None:
    etag = nginx.get(SEGMENT, headers=signed()).headers["etag"]
    assert nginx.get(SEGMENT, headers=signed(**{"If-None-Match": etag})).status_code == 304


def assert_forbidden(response: httpx.Response) -> None:
    assert response.status_code == 403
    assert response.headers["cache-control"] == "no-store"


def test_no_cookie_is_403(nginx: httpx.Client) -> None:
    assert_forbidden(nginx.get(SEGMENT))


def test_forged_cookie_is_403(nginx: httpx.Client) -> None:
    expires = int(time.time()) + 900
    cookie = f"{EXPIRES_COOKIE}={expires}; {SIGNATURE_COOKIE}=XnBq1EtJY4JmHNVxkL-dIg"
    assert_forbidden(nginx.get(SEGMENT, headers={"Cookie": cookie}))


def test_moved_expiry_is_403(nginx: httpx.Client) -> None:
    genuine = cookie_header(SECRET, lifetime=60)
    extended = genuine.replace(f"{EXPIRES_COOKIE}=", f"{EXPIRES_COOKIE}=9")
    assert_forbidden(nginx.get(SEGMENT, headers={"Cookie": extended}))


def test_expired_cookie_is_403(nginx: httpx.Client) -> None:
    cookie = cookie_header(SECRET, now=time.time() - 1000)
    assert_forbidden(nginx.get(SEGMENT, headers={"Cookie": cookie}))


def test_cookie_of_another_version_is_403(nginx: httpx.Client) -> None:
    other = cookie_header(SECRET, "/media/sejong-dc/v2/")
    assert_forbidden(nginx.get(SEGMENT, headers={"Cookie": other}))


@pytest.mark.parametrize(
    "path",
    [
        "/media/sejong-dc/v1/%2e%2e/%2e%2e/secret.txt",
        "/media/sejong-dc/v1/720p%2Fseg_00001.ts",
        "/media/sejong-dc/package.json",
        "/media/sejong-dc/V1/master.m3u8",
        "/media/sejong-dc/v1/720p/seg_00099.ts",
    ],
)
def test_other_paths_are_404(nginx: httpx.Client, path: str) -> None:
    response = nginx.get(path, headers=signed())
    assert response.status_code == 404
    assert response.headers["cache-control"] == "no-store"

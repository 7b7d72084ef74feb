"""A real nginx on loopback in front of app processes, running deploy/nginx/studymission.conf.

The site file is rendered, not copied: the lines that name ports, hosts and paths are
replaced (`site_replacements`) and every other line runs as the operator's nginx runs it.
Each replaced line must be found exactly once, so a change to one of them in the site file
fails here loudly instead of leaving a test that checks a stale configuration.

The front listens on three loopback ports: `port` serves the site's https server block
over plain HTTP (the ``listen 443 ssl`` line becomes a plain listen *and* a TLS listen on
`tls_port`, with a throwaway self-signed certificate), so that test clients need no
certificate; `redirect_port` is the port-80 server (redirect to https, ACME challenges).

Apps behind the front must be started with ``base_url=front.url``: a browser's WebSocket
carries that Origin, which the app compares with its base URL. To serve recordings through
the front, give it the apps' media directory (`server_env` puts it at ``WORKDIR/media``);
the default `media_secret` is the one apps started with ``servers.SECRET`` sign with.

    front = NginxFront(tmp_path / "nginx", [a.port, b.port])
    env = server_env(..., base_url=front.url)
    ... start a and b ...
    front.start()
    try:
        LiveClient(front.ws_url(code), token)
    finally:
        front.stop()
"""

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from studymission.config import Settings
from tests.integration.servers import SECRET, free_port

ROOT = Path(__file__).resolve().parents[2]
SITE_CONF = ROOT / "deploy" / "nginx" / "studymission.conf"
MEDIA_CONF = ROOT / "deploy" / "nginx" / "media.conf"
NGINX = "/usr/sbin/nginx"
OPENSSL = "/usr/bin/openssl"

#: The media secret of apps started with servers.SECRET as their SECRET_KEY (derived).
DEFAULT_MEDIA_SECRET = Settings(secret_key=SECRET, media_secret=None).media_signing_key()

#: The site file's lines that are specific to a deployment, as written there.
LISTEN_HTTP = "listen 80;"
LISTEN_TLS = "listen 443 ssl;"
UPSTREAM_SERVER = "server app:8000 max_fails=1 fail_timeout=10s resolve;"
CERTIFICATE = "ssl_certificate /etc/nginx/tls/fullchain.pem;"
CERTIFICATE_KEY = "ssl_certificate_key /etc/nginx/tls/privkey.pem;"
MEDIA_ROOT = "set $studymission_media_root /srv/studymission/media;"
MEDIA_SECRET_INCLUDE = "include /etc/nginx/studymission/media-secret.conf;"
MEDIA_INCLUDE = "include /etc/nginx/studymission/media.conf;"
ACME_ROOT = "root /var/www/certbot;"


def render_site(text: str, replacements: dict[str, str]) -> str:
    """`text` with each key replaced by its value; each key must occur exactly once."""
    for old, new in replacements.items():
        count = text.count(old)
        if count != 1:
            raise AssertionError(
                f"{SITE_CONF.name}: expected the line {old!r} once, found it {count} times; "
                "update tests/integration/nginx_front.py along with the site file"
            )
        text = text.replace(old, new)
    return text


def site_replacements(
    *,
    upstreams: list[str],
    certificate: Path,
    certificate_key: Path,
    media_dir: Path,
    media_secret_conf: Path,
    acme_root: Path,
    listen_http: str | None = None,
    listen_tls: str | None = None,
) -> dict[str, str]:
    """What `render_site` swaps: upstream `HOST:PORT`s, paths, and (optionally) listens."""
    # max_fails/fail_timeout as in the site file; the addresses are the test's, and need no
    # `resolve` (which Debian's nginx, older than 1.27.3, would not know anyway).
    servers = "\n    ".join(
        UPSTREAM_SERVER.replace("app:8000", upstream).replace(" resolve;", ";")
        for upstream in upstreams
    )
    replacements = {
        UPSTREAM_SERVER: servers,
        CERTIFICATE: f"ssl_certificate {certificate};",
        CERTIFICATE_KEY: f"ssl_certificate_key {certificate_key};",
        MEDIA_ROOT: f"set $studymission_media_root {media_dir};",
        MEDIA_SECRET_INCLUDE: f"include {media_secret_conf};",
        MEDIA_INCLUDE: f"include {MEDIA_CONF};",
        ACME_ROOT: f"root {acme_root};",
    }
    if listen_http is not None:
        replacements[LISTEN_HTTP] = listen_http
    if listen_tls is not None:
        replacements[LISTEN_TLS] = listen_tls
    return replacements


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and localhost: (certificate, key)."""
    directory.mkdir(parents=True, exist_ok=True)
    certificate, key = directory / "fullchain.pem", directory / "privkey.pem"
    command = [
        OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "2", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout", str(key), "-out", str(certificate),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"openssl req failed:\n{done.stderr}")
    return certificate, key


def media_secret_conf(path: Path, secret: str) -> Path:
    """The file the nginx image's template step writes from STUDYMISSION_MEDIA_SECRET."""
    path.write_text(f'set $media_secret "{secret}";\n')
    return path


def wrapper_conf(
    workdir: Path, site: Path, *, workers: int = 1, worker_connections: int = 16384
) -> Path:
    """The smallest nginx.conf that runs `site` (an http-context file) from `workdir`."""
    # As root, nginx would hand its workers to "nobody", who cannot read a test's tmp dir.
    user = "user root;" if os.geteuid() == 0 else ""
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"""
{user}
daemon off;
worker_processes {workers};
worker_rlimit_nofile {worker_connections * 2 + 64};
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    include {site};
}}
"""
    )
    return conf


def nginx_command(conf: Path, *args: str) -> list[str]:
    workdir = conf.parent
    return [NGINX, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log"), *args]


def nginx_test(conf: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on `conf`: its exit status and what it printed (on stderr)."""
    return subprocess.run(nginx_command(conf, "-t"), capture_output=True, text=True, check=False)


class NginxFront:
    """nginx on loopback in front of app processes, rendering deploy/nginx/studymission.conf."""

    def __init__(
        self,
        workdir: Path,
        upstream_ports: list[int],
        *,
        media_dir: Path | None = None,
        media_secret: str = DEFAULT_MEDIA_SECRET,
        workers: int = 1,
        worker_connections: int = 16384,
    ) -> None:
        assert upstream_ports, "at least one app process"
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.upstream_ports = list(upstream_ports)
        self.media_dir = media_dir if media_dir is not None else workdir / "media"
        self.media_dir.mkdir(parents=True, exist_ok=True)
        self.media_secret = media_secret
        self.workers = workers
        self.worker_connections = worker_connections
        self.port = free_port()
        self.tls_port = free_port()
        self.redirect_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.conf = self.workdir / "nginx.conf"
        self.site = self.workdir / "studymission.conf"

    @staticmethod
    def available() -> bool:
        """Whether nginx and openssl are installed (for `need(...)` in a fixture)."""
        return os.access(NGINX, os.X_OK) and os.access(OPENSSL, os.X_OK)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    @property
    def certificate(self) -> Path:
        """The self-signed certificate of `tls_url` (for ``verify=``), once rendered."""
        return self.workdir / "tls" / "fullchain.pem"

    def ws_url(self, code: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/{code}"

    def render(self) -> Path:
        """Write the rendered site and its wrapper; returns the wrapper (nginx.conf)."""
        certificate, key = self_signed_certificate(self.workdir / "tls")
        acme = self.workdir / "acme"
        acme.mkdir(exist_ok=True)
        replacements = site_replacements(
            upstreams=[f"127.0.0.1:{port}" for port in self.upstream_ports],
            certificate=certificate,
            certificate_key=key,
            media_dir=self.media_dir,
            media_secret_conf=media_secret_conf(
                self.workdir / "media-secret.conf", self.media_secret
            ),  # fmt: skip
            acme_root=acme,
            listen_http=f"listen 127.0.0.1:{self.redirect_port};",
            # The https server block, reachable over plain HTTP and over TLS.
            listen_tls=(
                f"listen 127.0.0.1:{self.port};\n    listen 127.0.0.1:{self.tls_port} ssl;"
            ),
        )
        self.site.write_text(render_site(SITE_CONF.read_text(), replacements))
        return wrapper_conf(
            self.workdir,
            self.site,
            workers=self.workers,
            worker_connections=self.worker_connections,
        )

    def start(self, timeout: float = 15.0) -> None:
        """`nginx -t`, then run it until it listens; AssertionError with its log if not."""
        assert self.process is None or self.process.poll() is not None, "already running"
        if not os.access(NGINX, os.X_OK):
            raise AssertionError(f"{NGINX} is not installed (apt-get install nginx)")
        conf = self.render()
        checked = nginx_test(conf)
        if checked.returncode != 0:
            raise AssertionError(f"nginx -t failed:\n{checked.stderr}\n{self.site.read_text()}")
        with (
            (self.workdir / "access.log").open("ab") as stdout,
            (self.workdir / "stderr.log").open("ab") as stderr,
        ):
            self.process = subprocess.Popen(
                nginx_command(conf), stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"nginx exited at start:\n{self.log()}")
            try:
                for port in (self.port, self.tls_port, self.redirect_port):
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(
                        f"nginx did not listen in {timeout} s:\n{self.log()}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop nginx (SIGTERM, then SIGKILL); never raises."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(Exception):
            process.send_signal(signal.SIGTERM)
            process.wait(10)
        if process.poll() is None:
            with contextlib.suppress(Exception):
                process.kill()
                process.wait(10)

    def log(self) -> str:
        """nginx's error log and anything it wrote on stderr."""
        parts = []
        for name in ("error.log", "stderr.log"):
            with contextlib.suppress(OSError):
                parts.append((self.workdir / name).read_text(errors="replace"))
        return "".join(parts)

    def access_log(self) -> str:
        """The JSON access lines (the site logs to stdout, kept in access.log)."""
        try:
            return (self.workdir / "access.log").read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> "NginxFront":
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

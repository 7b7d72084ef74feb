"""deploy/: the compose file's structure, the site's nginx configuration, `studymission migrate`.

No Docker engine runs here, so the compose file is checked as data: every service, how the
app replicas start (after the one-shot migration, on a healthy database), the settings they
get, and the self-hosted Jitsi services' authentication. The nginx site file is checked by
the real `nginx -t` with only its ports, hosts and paths swapped (nginx_front.py), and its
TLS server block with a throwaway certificate.
"""

import json
import os
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, inspect, make_url, text
from sqlmodel import Session, select
from typer.testing import CliRunner

from studymission.app import create_app
from studymission.cli import app as cli
from studymission.config import Settings
from studymission.db.engine import make_engine
from studymission.db.events import get_event
from studymission.db.migrate import MIGRATIONS_DIR, upgrade
from studymission.db.tables import Event
from studymission.integrations.jitsi import room_name
from studymission.services.access import ensure_join_links
from studymission.services.clock import Clock
from studymission.services.people import renew_join_link
from tests.conftest import POSTGRES_URL, _reset_postgres, need
from tests.factories import make_spec
from tests.integration.helpers import load_event
from tests.integration.nginx_front import (
    CERTIFICATE,
    LISTEN_HTTP,
    LISTEN_TLS,
    MEDIA_CONF,
    NGINX,
    OPENSSL,
    SITE_CONF,
    media_secret_conf,
    nginx_test,
    render_site,
    self_signed_certificate,
    site_replacements,
    wrapper_conf,
)
from tests.integration.servers import SECRET, Server, free_port, server_env

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
JITSI_SERVICES = ("jitsi-web", "prosody", "jicofo", "jvb")
#: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}; `$$` is a literal dollar.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def env_example() -> dict[str, str]:
    """The active NAME=value lines of .env.example (commented ones are optional)."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip().strip("\"'")
    return values


def named_in_env_example() -> set[str]:
    """Every NAME= of .env.example, commented out or not."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


# --- compose.yaml -------------------------------------------------------------------------


def test_every_service_is_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "app", "nginx", *JITSI_SERVICES}
    # The Jitsi services are left out unless asked for (an operator using JaaS).
    for name in JITSI_SERVICES:
        assert services[name]["profiles"] == ["jitsi"], name
        image, _, tag = services[name]["image"].partition(":")
        assert image == f"jitsi/{name.removeprefix('jitsi-')}"
        # A pinned stable release (overridable), never a moving tag.
        assert re.fullmatch(r"\$\{JITSI_IMAGE_VERSION:-stable-\d+(-\d+)?\}", tag), tag
    for name in ("postgres", "redis", "migrate", "app", "nginx"):
        assert "profiles" not in services[name], name


def test_app_replicas_start_after_the_migration_on_a_healthy_database(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    app, migrate = services["app"], services["migrate"]
    assert app["deploy"]["replicas"] == "${APP_REPLICAS:-2}"
    assert app["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert migrate["command"] == ["studymission", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "pgdata" in compose["volumes"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    # The same image, built from deploy/Dockerfile at the repository root.
    assert app["image"] == migrate["image"]
    assert app["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert app["command"] == ["studymission", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert "/healthz" in " ".join(app["healthcheck"]["test"])
    # Long enough for uvicorn's 10 s of closing sockets plus the final flush.
    assert int(app["stop_grace_period"].removesuffix("s")) >= 30
    assert "ports" not in app  # only nginx reaches the replicas


def test_the_app_gets_its_settings_from_env(compose: dict[str, Any]) -> None:
    app = compose["services"]["app"]
    assert app["env_file"] == ".env"
    env = environment(app)
    assert env["STUDYMISSION_DATABASE_URL"].startswith("postgresql+psycopg://studymission:")
    assert "${POSTGRES_PASSWORD:?" in env["STUDYMISSION_DATABASE_URL"]
    assert env["STUDYMISSION_DATABASE_URL"].endswith("@postgres:5432/studymission")
    assert env["STUDYMISSION_REDIS_URL"] == "redis://redis:6379/0"
    assert env["STUDYMISSION_MEDIA_DIR"] == "/srv/studymission/media"
    # uvicorn trusts X-Forwarded-* from the backend network, where nginx is.
    subnet = compose["networks"]["backend"]["ipam"]["config"][0]["subnet"]
    assert env["FORWARDED_ALLOW_IPS"] == subnet == "${BACKEND_SUBNET:-172.30.240.0/24}"
    # What the app needs and compose does not set comes from .env, with a placeholder the
    # app refuses, so that an unedited copy cannot run an event.
    example = env_example()
    for name in ("STUDYMISSION_SECRET_KEY", "STUDYMISSION_BASE_URL", "STUDYMISSION_MEDIA_SECRET"):
        assert name in example, name
    with pytest.raises(ValueError, match="placeholder"):
        Settings(secret_key=example["STUDYMISSION_SECRET_KEY"]).signing_key()
    with pytest.raises(ValueError, match="placeholder"):
        Settings(media_secret=example["STUDYMISSION_MEDIA_SECRET"])
    assert example["STUDYMISSION_BASE_URL"].startswith("https://")
    # The media volume: written by the replicas, read-only for nginx.
    assert "media:/srv/studymission/media" in app["volumes"]
    assert "media:/srv/studymission/media:ro" in compose["services"]["nginx"]["volumes"]


def test_nginx_mounts_the_site_media_conf_and_the_media_secret(compose: dict[str, Any]) -> None:
    nginx = compose["services"]["nginx"]
    volumes = nginx["volumes"]
    assert "./nginx/studymission.conf:/etc/nginx/conf.d/default.conf:ro" in volumes
    assert "./nginx/media.conf:/etc/nginx/studymission/media.conf:ro" in volumes
    assert "./nginx/templates:/etc/nginx/templates:ro" in volumes
    assert "${TLS_DIR:-./tls}:/etc/nginx/tls:ro" in volumes
    assert nginx["ports"] == ["${HTTP_PORT:-80}:80", "${HTTPS_PORT:-443}:443"]
    env = environment(nginx)
    assert env["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx/studymission"
    assert env["STUDYMISSION_MEDIA_SECRET"].startswith("${STUDYMISSION_MEDIA_SECRET:?")
    # The template writes the file the site includes, from the secret the app signs with.
    template = (DEPLOY / "nginx" / "templates" / "media-secret.conf.template").read_text()
    assert 'set $media_secret "${STUDYMISSION_MEDIA_SECRET}";' in template
    site = SITE_CONF.read_text()
    assert "include /etc/nginx/studymission/media-secret.conf;" in site
    assert "include /etc/nginx/studymission/media.conf;" in site
    assert (DEPLOY / "nginx" / "media.conf").exists()
    assert nginx["depends_on"] == {"app": {"condition": "service_healthy"}}
    # The site re-resolves the replicas (`resolve`, open-source nginx since 1.27.3) through
    # Docker's DNS: the image must be that new.
    assert "server app:8000 max_fails=1 fail_timeout=10s resolve;" in site
    assert "resolver 127.0.0.11 valid=5s ipv6=off;" in site
    assert re.search(r"upstream studymission \{\s+zone ", site)
    version = re.fullmatch(r"nginx:(\d+)\.(\d+)(?:\.(\d+))?-bookworm", nginx["image"])
    assert version, nginx["image"]
    major, minor, patch = (int(part or 99) for part in version.groups())
    assert (major, minor, patch) >= (1, 27, 3), nginx["image"]


def test_jitsi_uses_the_app_tokens_and_the_moderator_claim(compose: dict[str, Any]) -> None:
    services = compose["services"]
    prosody, jicofo, web = (environment(services[n]) for n in ("prosody", "jicofo", "jitsi-web"))
    for env in (prosody, jicofo, web):
        assert (env["ENABLE_AUTH"], env["AUTH_TYPE"]) == ("1", "jwt")
    # The secret and issuer are the app's own settings, so the two sides cannot disagree.
    assert prosody["JWT_APP_ID"] == "${STUDYMISSION_JITSI_APP_ID:-studymission}"
    assert prosody["JWT_ACCEPTED_ISSUERS"] == prosody["JWT_APP_ID"]
    assert prosody["JWT_APP_SECRET"] == "${STUDYMISSION_JITSI_APP_SECRET:-}"
    assert prosody["JWT_ACCEPTED_AUDIENCES"] == "jitsi"
    assert prosody["JWT_ALLOW_EMPTY"] == "0"
    assert prosody["ENABLE_GUESTS"] == "0"
    assert "token_affiliation" in prosody["XMPP_MUC_MODULES"].split(",")
    assert "event_sync_component" in prosody["XMPP_MUC_MODULES"].split(",")
    assert "Bearer ${STUDYMISSION_JITSI_EVENTS_TOKEN:-}" in prosody["XMPP_MUC_CONFIGURATION"]
    assert 'api_prefix = "http://app:8000/webhooks/jitsi"' in prosody["XMPP_MUC_CONFIGURATION"]
    # No value of the list may hold a comma: the image splits the setting on commas.
    for setting in prosody["XMPP_MUC_CONFIGURATION"].split(","):
        assert setting.count("=") >= 1, setting
    assert (jicofo["ENABLE_AUTO_OWNER"], jicofo["JICOFO_ENABLE_AUTH"]) == ("0", "0")
    assert (
        "./jitsi/prosody-plugins-custom:/prosody-plugins-custom:ro"
        in (services["prosody"]["volumes"])
    )
    # Prosody's callbacks reach the app on the backend network.
    assert "backend" in services["prosody"]["networks"]
    # The same values as deploy/jitsi/self-hosted.env.example, for a separate Jitsi host.
    separate = (DEPLOY / "jitsi" / "self-hosted.env.example").read_text()
    for line in ("AUTH_TYPE=jwt", "ENABLE_AUTO_OWNER=0", "JICOFO_ENABLE_AUTH=0",
                 "JWT_ACCEPTED_AUDIENCES=jitsi", "JWT_ALLOW_EMPTY=0",
                 f"XMPP_MUC_MODULES={prosody['XMPP_MUC_MODULES']}"):  # fmt: skip
        assert line in separate.splitlines(), line


def test_every_compose_variable_is_in_env_example() -> None:
    used = set(VARIABLE.findall(COMPOSE.read_text()))
    assert {"APP_REPLICAS", "POSTGRES_PASSWORD", "STUDYMISSION_MEDIA_SECRET"} <= used
    missing = used - named_in_env_example()
    assert not missing, f"compose.yaml uses variables .env.example does not name: {missing}"


def test_every_setting_in_env_example_is_a_real_setting() -> None:
    names = {n for n in named_in_env_example() if n.startswith("STUDYMISSION_")}
    assert len(names) >= 10
    fields = {f"STUDYMISSION_{name.upper()}" for name in Settings.model_fields}
    assert names <= fields, f"not settings: {names - fields}"
    # The active values are valid settings (secrets aside, which are placeholders).
    active = {k.removeprefix("STUDYMISSION_").lower(): v for k, v in env_example().items()
              if k.startswith("STUDYMISSION_") and v != "changeme"}  # fmt: skip
    assert {"base_url", "jitsi_mode", "jitsi_domain", "jitsi_app_id"} <= set(active)
    settings = Settings(**active)
    assert settings.jitsi_mode == "self_hosted"
    assert settings.is_https


def test_the_dockerfile_runs_the_server_as_the_compose_file_expects() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "\nFROM python:3.11-slim" in dockerfile
    assert "libpango-1.0-0" in dockerfile and "libpangoft2-1.0-0" in dockerfile
    assert 'CMD ["studymission", "serve", "--host", "0.0.0.0", "--port", "8000"]' in dockerfile
    assert "USER studymission" in dockerfile
    # Everything the image copies is let through the build context's ignore file.
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    for copied in re.findall(r"^COPY (\S+)", dockerfile, re.MULTILINE):
        assert f"!{copied}" in ignore, copied


# --- nginx -t --------------------------------------------------------------------------------


def render_for_check(tmp_path: Path, **listens: str) -> Path:
    certificate, key = self_signed_certificate(tmp_path / "tls")
    (tmp_path / "acme").mkdir()
    replacements = site_replacements(
        upstreams=["127.0.0.1:8001", "127.0.0.1:8002"],
        certificate=certificate,
        certificate_key=key,
        media_dir=tmp_path,
        media_secret_conf=media_secret_conf(tmp_path / "media-secret.conf", "a-media-secret"),
        acme_root=tmp_path / "acme",
        **listens,
    )
    site = tmp_path / "studymission.conf"
    site.write_text(render_site(SITE_CONF.read_text(), replacements))
    return wrapper_conf(tmp_path, site)


def test_nginx_accepts_the_site_with_its_tls_server(tmp_path: Path) -> None:
    need(os.access(NGINX, os.X_OK), f"{NGINX} is not installed (apt-get install nginx)")
    need(os.access(OPENSSL, os.X_OK), f"{OPENSSL} is not installed (apt-get install openssl)")
    # Only the upstream addresses and paths differ from the file as deployed: the listens
    # on 80 and 443 (ssl) stay, and `nginx -t` loads the certificate.
    conf = render_for_check(tmp_path)
    rendered = (tmp_path / "studymission.conf").read_text()
    assert LISTEN_HTTP in rendered and LISTEN_TLS in rendered
    assert f"include {MEDIA_CONF};" in rendered
    checked = nginx_test(conf)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr
    # And it would refuse the same file without a readable certificate: the test can fail.
    (tmp_path / "tls" / "fullchain.pem").write_text("not a certificate\n")
    refused = nginx_test(conf)
    assert refused.returncode != 0
    assert "fullchain.pem" in refused.stderr


def test_the_main_config_has_room_for_the_live_sockets_and_loads_the_site(
    tmp_path: Path, compose: dict[str, Any]
) -> None:
    """deploy/nginx/nginx.conf replaces the image's own (1,024 connections a worker, which
    caps a host at about a thousand pages: a proxied socket costs two connections)."""
    need(os.access(NGINX, os.X_OK), f"{NGINX} is not installed (apt-get install nginx)")
    need(os.access(OPENSSL, os.X_OK), f"{OPENSSL} is not installed (apt-get install openssl)")
    main = DEPLOY / "nginx" / "nginx.conf"
    volumes = compose["services"]["nginx"]["volumes"]
    assert "./nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in volumes
    text = main.read_text()
    connections = int(re.search(r"worker_connections (\d+);", text).group(1))  # type: ignore[union-attr]
    files = int(re.search(r"worker_rlimit_nofile (\d+);", text).group(1))  # type: ignore[union-attr]
    assert connections >= 16_384 and files > 2 * connections
    # The deployed file with only the image's user, paths and the site's location swapped.
    render_for_check(tmp_path)
    site = tmp_path / "studymission.conf"
    checked_conf = tmp_path / "main.conf"
    checked_conf.write_text(
        render_site(
            text,
            {
                "user nginx;": "user www-data;",
                "error_log /var/log/nginx/error.log notice;": f"error_log {tmp_path}/error.log;",
                "pid /run/nginx.pid;": f"pid {tmp_path}/nginx.pid;",
                "include /etc/nginx/conf.d/*.conf;": f"include {site};",
            },
        )
    )
    checked = nginx_test(checked_conf)
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_site_file_keeps_the_lines_the_tests_render() -> None:
    text = SITE_CONF.read_text()
    for line in (LISTEN_HTTP, LISTEN_TLS, CERTIFICATE):
        assert text.count(line) == 1, line
    with pytest.raises(AssertionError, match="expected the line"):
        render_site(text, {"listen 8443 ssl;": "listen 1;"})
    # The TLS server block: modern protocols, no version in error pages, HTTP -> HTTPS.
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in text
    assert text.count("server_tokens off;") == 2
    assert "return 301 https://$host$request_uri;" in text


def test_the_certificate_is_what_nginx_was_given(tmp_path: Path) -> None:
    need(os.access(OPENSSL, os.X_OK), f"{OPENSSL} is not installed (apt-get install openssl)")
    certificate, _key = self_signed_certificate(tmp_path)
    shown = subprocess.run(
        [OPENSSL, "x509", "-in", str(certificate), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "IP Address:127.0.0.1" in shown and "DNS:localhost" in shown


# --- studymission migrate ------------------------------------------------------------------


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None
    return head


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrate_brings_an_empty_database_to_the_newest_revision(
    backend: str, tmp_path: Path
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        need(bool(POSTGRES_URL), "STUDYMISSION_TEST_POSTGRES_URL is not set (no PostgreSQL)")
        url = POSTGRES_URL
        engine = make_engine(url)
        _reset_postgres(engine)
        engine.dispose()
    # No SECRET_KEY: migrating needs the database only (a one-shot container).
    env = {"STUDYMISSION_DATABASE_URL": url, "STUDYMISSION_VAR_DIR": str(tmp_path / "var")}
    runner = CliRunner()
    first = runner.invoke(cli, ["migrate"], env=env, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {"revision": head_revision()}
    engine = make_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"alembic_version", "event", "person", "presence_minute"} <= tables
    assert not (tmp_path / "var" / "secret_key").exists()
    # Again: nothing to do, same answer.
    again = runner.invoke(cli, ["migrate"], env=env, catch_exceptions=False)
    assert (again.exit_code, json.loads(again.stdout)) == (0, {"revision": head_revision()})


def test_migrate_says_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    env = {"STUDYMISSION_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    result = CliRunner().invoke(cli, ["migrate"], env=env)
    assert result.exit_code == 1
    assert "error: cannot reach the database" in result.stderr


# --- the runbook: rotating the secret key ------------------------------------------------


def test_rotating_the_secret_key_does_what_the_runbook_says(
    engine: Engine, settings: Settings, clock: Clock
) -> None:
    """deploy/README.md §5: cookies refused, links sent keep working, links printed anew
    do not until renewed, Jitsi rooms renamed."""
    outcome = load_event(engine, settings, clock)
    sent = outcome.join_tokens["p001"]
    rotated = settings.model_copy(
        update={"secret_key": SecretStr("a-new-secret-key-after-rotation")}
    )
    old_app = create_app(settings, engine=engine, clock=clock)
    new_app = create_app(rotated, engine=engine, clock=clock)
    with TestClient(old_app, base_url="http://testserver") as before:
        assert before.get(f"/join/{sent}", follow_redirects=False).status_code == 303
        cookie = before.cookies["studymission_session"]
        assert "Welcome" in before.get("/events/TEST-EVENT-1").text
    with TestClient(new_app, base_url="http://testserver") as after:
        # The sign-in cookie is refused: the page sends the person back to their link.
        after.cookies.set("studymission_session", cookie)
        assert "Welcome" not in after.get("/events/TEST-EVENT-1").text
        # The link already sent still signs in.
        assert after.get(f"/join/{sent}", follow_redirects=False).status_code == 303
        # A link printed with the new key does not, until the person's link is renewed.
        with Session(engine) as db:
            event = get_event(db, "TEST-EVENT-1")
            assert event is not None
            printed = ensure_join_links(db, event, secret=rotated.signing_key(), now=clock.now())
            db.commit()
        assert printed["p001"] != sent
        assert after.get(f"/join/{printed['p001']}", follow_redirects=False).status_code == 404
        with Session(engine) as db:
            event = get_event(db, "TEST-EVENT-1")
            assert event is not None
            renewed = renew_join_link(
                db, event, "p001", secret=rotated.signing_key(), now=clock.now(), actor="test"
            )
        assert after.get(f"/join/{renewed}", follow_redirects=False).status_code == 303
        assert after.get(f"/join/{sent}", follow_redirects=False).status_code == 404
    # Every Jitsi room gets another name.
    assert room_name(settings.signing_key(), "TEST-EVENT-1", "day1", "main") != room_name(
        rotated.signing_key(), "TEST-EVENT-1", "day1", "main"
    )
    # The media secret changes only when it is derived (compose.yaml sets it).
    assert settings.media_signing_key() != rotated.media_signing_key()
    pinned = {"media_secret": SecretStr("a-media-secret-set-explicitly")}
    assert (
        settings.model_copy(update=pinned).media_signing_key()
        == rotated.model_copy(update=pinned).media_signing_key()
    )


# --- the runbook: backing up and restoring ----------------------------------------------


def pg_args(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq options for pg_dump/pg_restore, and the password in the environment."""
    parsed = make_url(url)
    args = ["-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432)]
    args += ["-U", parsed.username or "postgres"]
    env = {**os.environ, "PGPASSWORD": parsed.password or ""}
    return args, env


def event_codes(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with Session(engine) as db:
            return sorted(db.exec(select(Event.code)).all())
    finally:
        engine.dispose()


def test_backup_and_restore_as_the_runbook_says(tmp_path: Path, clock: Clock) -> None:
    """deploy/README.md §4's pg_dump and pg_restore commands, against a real PostgreSQL."""
    need(bool(POSTGRES_URL), "STUDYMISSION_TEST_POSTGRES_URL is not set (no PostgreSQL)")
    for tool in ("pg_dump", "pg_restore"):
        need(shutil.which(tool) is not None, f"{tool} is not installed (postgresql-client)")
    engine = make_engine(POSTGRES_URL)
    settings = Settings(secret_key=SECRET, var_dir=tmp_path / "var")
    try:
        _reset_postgres(engine)
        upgrade(engine)
        load_event(engine, settings, clock, make_spec(code="BEFORE-BACKUP"))
    finally:
        engine.dispose()
    args, env = pg_args(POSTGRES_URL)
    database = make_url(POSTGRES_URL).database or "postgres"
    dump = tmp_path / "studymission.dump"
    subprocess.run(["pg_dump", *args, "-d", database, "-Fc", "-f", str(dump)], env=env, check=True)
    listing = subprocess.run(
        ["pg_restore", "--list", str(dump)], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert "TABLE DATA public event " in listing
    # What happens after the backup is what a restore takes back.
    engine = make_engine(POSTGRES_URL)
    try:
        load_event(engine, settings, clock, make_spec(code="AFTER-BACKUP"))
    finally:
        engine.dispose()
    assert event_codes(POSTGRES_URL) == ["AFTER-BACKUP", "BEFORE-BACKUP"]
    restore = ["pg_restore", *args, "-d", database, "--clean", "--if-exists", "--no-owner"]
    subprocess.run([*restore, "--single-transaction", str(dump)], env=env, check=True)
    assert event_codes(POSTGRES_URL) == ["BEFORE-BACKUP"]
    # The restored schema is current: migrate has nothing to do and the server could start.
    result = CliRunner().invoke(
        cli, ["migrate"], env={"STUDYMISSION_DATABASE_URL": POSTGRES_URL}, catch_exceptions=False
    )
    assert json.loads(result.stdout) == {"revision": head_revision()}
    # A scratch database, to check a backup without touching the event.
    scratch = f"restorecheck_{secrets.token_hex(4)}"
    admin = make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{scratch}"'))
        subprocess.run(
            ["pg_restore", *args, "-d", scratch, "--no-owner", str(dump)], env=env, check=True
        )
        scratch_url = make_url(POSTGRES_URL).set(database=scratch)
        assert event_codes(scratch_url.render_as_string(hide_password=False)) == ["BEFORE-BACKUP"]
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{scratch}"'))
        admin.dispose()


# --- FORWARDED_ALLOW_IPS --------------------------------------------------------------------


def test_serve_believes_forwarded_headers_only_from_forwarded_allow_ips(tmp_path: Path) -> None:
    """compose.yaml sets uvicorn's FORWARDED_ALLOW_IPS to the backend network; `serve` honours
    it: X-Forwarded-For from a listed address names the client, from another it is ignored."""
    env = server_env(f"sqlite:///{tmp_path / 'forwarded.db'}", tmp_path)
    env["FORWARDED_ALLOW_IPS"] = "127.0.0.2"  # a stand-in for nginx's address
    server = Server("forwarded", free_port(), env, tmp_path / "server")
    try:
        server.start(timeout=180)
        forwarded = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
        ids = {}
        for source in ("127.0.0.1", "127.0.0.2"):
            transport = httpx.HTTPTransport(local_address=source)
            with httpx.Client(transport=transport) as http:
                response = http.get(f"{server.url}/healthz", headers=forwarded)
            assert response.status_code == 200
            ids[response.headers["x-request-id"]] = source
        deadline = time.monotonic() + 10
        while True:
            clients = {
                ids[line["request_id"]]: line["client"]
                for line in map(json.loads, re.findall(r"^\{.*\}$", server.log(), re.MULTILINE))
                if line.get("logger") == "studymission.access" and line.get("request_id") in ids
            }
            if len(clients) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert clients == {"127.0.0.1": "127.0.0.1", "127.0.0.2": "198.51.100.7"}
    finally:
        server.stop()

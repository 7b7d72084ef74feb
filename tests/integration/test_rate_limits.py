"""Rate limits on join links and certificate lookups: per client IP, in the process or shared
through Redis by every process, 429 with Retry-After, and open when Redis is down."""

import logging
import os
import secrets
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from studymission.app import create_app
from studymission.config import Settings
from studymission.db.engine import make_engine
from studymission.db.migrate import upgrade
from studymission.domain.clock import EventClock
from studymission.services.clock import Clock
from studymission.web.rate_limit import KEY_PREFIX, RateLimiter, RedisRateLimiter
from tests.conftest import TEST_SECRET, need
from tests.integration.helpers import load_event
from tests.integration.servers import SECRET, Server, free_port, server_env

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("STUDYMISSION_TEST_REDIS_URL", "")
T0 = datetime(2021, 11, 24, 4, 0, tzinfo=UTC)


def an_ip() -> str:
    """A client address no other test uses (the Redis keys are per IP)."""
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


@pytest.fixture
def redis_url() -> Iterator[str]:
    need(bool(REDIS_URL), "STUDYMISSION_TEST_REDIS_URL is not set (no Redis)")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as error:
        need(False, f"Redis at {REDIS_URL} is unreachable: {error}")
    try:
        yield REDIS_URL
    finally:
        client.close()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'limits.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def app_settings(tmp_path: Path, engine: Engine, **changes: object) -> Settings:
    values: dict[str, object] = {
        "database_url": str(engine.url),
        "secret_key": TEST_SECRET,
        "base_url": "http://testserver",
        "var_dir": tmp_path / "var",
        "media_dir": tmp_path / "media",
    }
    return Settings(**(values | changes))  # type: ignore[arg-type]


def client_from(app_client: TestClient, ip: str) -> TestClient:
    """Another client of the same app, as seen from `ip`."""
    return TestClient(app_client.app, base_url="http://testserver", client=(ip, 50000))


# --- join links, in the process --------------------------------------------------------


def test_join_attempts_over_the_limit_get_429_with_retry_after(
    tmp_path: Path, sqlite_engine: Engine, clock: Clock
) -> None:
    settings = app_settings(tmp_path, sqlite_engine, join_rate_limit=3)
    outcome = load_event(sqlite_engine, settings, clock)
    good = outcome.join_tokens["p001"]
    with TestClient(create_app(settings, engine=sqlite_engine, clock=clock)) as app:
        office = client_from(app, "192.0.2.10")
        answers = [
            office.get(f"/join/{link}", follow_redirects=False).status_code
            for link in (good, "guess-1", "guess-2")
        ]
        assert answers == [303, 404, 404]
        # Valid or not, the fourth attempt is refused the same way: nothing about the token.
        for link in ("guess-3", good):
            refused = office.get(f"/join/{link}", follow_redirects=False)
            assert refused.status_code == 429
            assert 1 <= int(refused.headers["retry-after"]) <= 60
            assert refused.headers["referrer-policy"] == "no-referrer"
            assert refused.headers["cache-control"] == "no-store"
            assert "set-cookie" not in refused.headers
            assert "Too many join attempts" in refused.text
            assert link not in refused.text
            assert "unknown" not in refused.text
        # Another address is not affected.
        home = client_from(app, "192.0.2.11")
        assert home.get(f"/join/{good}", follow_redirects=False).status_code == 303


def test_the_default_limits_come_from_the_settings() -> None:
    defaults = Settings(secret_key=TEST_SECRET)
    assert (defaults.join_rate_limit, defaults.verify_rate_limit) == (30, 30)
    with pytest.raises(ValueError, match="at least 1"):
        Settings(join_rate_limit=0)


def test_the_process_limiter_forgets_a_window_once_it_ends() -> None:
    limiter = RateLimiter(1, 60.0)
    assert limiter.hit("a", 0.0) is None
    assert limiter.hit("a", 59.0) == 1.0
    assert limiter.hit("a", 60.0) is None


# --- shared through Redis --------------------------------------------------------------


def test_two_app_instances_share_the_count_in_redis(
    tmp_path: Path, sqlite_engine: Engine, clock: Clock, redis_url: str
) -> None:
    settings = app_settings(tmp_path, sqlite_engine, join_rate_limit=3, redis_url=redis_url)
    outcome = load_event(sqlite_engine, settings, clock)
    good = outcome.join_tokens["p002"]
    ip = an_ip()
    with (
        TestClient(create_app(settings, engine=sqlite_engine, clock=clock)) as one,
        TestClient(create_app(settings, engine=sqlite_engine, clock=clock)) as two,
    ):
        first, second = client_from(one, ip), client_from(two, ip)
        assert first.get(f"/join/{good}", follow_redirects=False).status_code == 303
        assert second.get("/join/guess", follow_redirects=False).status_code == 404
        assert first.get("/join/guess", follow_redirects=False).status_code == 404
        refused = second.get(f"/join/{good}", follow_redirects=False)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert (
            client_from(one, an_ip()).get(f"/join/{good}", follow_redirects=False).status_code
            == 303
        )
    stored = redis.Redis.from_url(redis_url)
    try:
        key = f"{KEY_PREFIX}join_limiter:{ip}"
        assert int(stored.get(key) or 0) == 4
        assert 0 < stored.pttl(key) <= 60_000
    finally:
        stored.close()


def test_verification_is_limited_across_instances_too(
    tmp_path: Path, sqlite_engine: Engine, clock: Clock, redis_url: str
) -> None:
    settings = app_settings(tmp_path, sqlite_engine, verify_rate_limit=2, redis_url=redis_url)
    ip = an_ip()
    with (
        TestClient(create_app(settings, engine=sqlite_engine, clock=clock)) as one,
        TestClient(create_app(settings, engine=sqlite_engine, clock=clock)) as two,
    ):
        assert client_from(one, ip).get("/api/verify/ABCDEFGHJKLMNPQR").status_code == 404
        assert client_from(two, ip).get("/verify/ABCDEFGHJKLMNPQR").status_code == 404
        api = client_from(one, ip).get("/api/verify/ABCDEFGHJKLMNPQR")
        page = client_from(two, ip).get("/verify/ABCDEFGHJKLMNPQR")
        assert (api.status_code, page.status_code) == (429, 429)
        assert api.json() == {"error": "rate_limited", "detail": "at most 2 lookups a minute"}
        assert 1 <= int(page.headers["retry-after"]) <= 60
        assert "Too many lookups" in page.text


def test_a_redis_window_ends_and_keys_are_apart(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        limiter = RedisRateLimiter(client, f"test-{secrets.token_hex(4)}", 2, 0.5)
        assert [limiter.hit("a", 0.0), limiter.hit("a", 0.0)] == [None, None]
        wait = limiter.hit("a", 0.0)
        assert wait is not None and 0 < wait <= 0.5
        assert limiter.hit("b", 0.0) is None
        # Waiting longer than the window always opens a new one (no upper bound asserted).
        deadline = 0
        while limiter.hit("a", 0.0) is not None:
            deadline += 1
            assert deadline < 100, "the window never ended"
            time.sleep(0.1)
    finally:
        client.close()


def test_an_unreachable_redis_lets_people_join_and_says_so(
    tmp_path: Path, sqlite_engine: Engine, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = app_settings(tmp_path, sqlite_engine, join_rate_limit=1, redis_url=dead)
    outcome = load_event(sqlite_engine, settings, clock)
    good = outcome.join_tokens["p001"]
    # The app's live bus needs Redis at start; the limiter alone is what is tested here.
    client = redis.Redis.from_url(dead, socket_timeout=0.2, socket_connect_timeout=0.2)
    limiter = RedisRateLimiter(client, "join_limiter", 1, 60.0)
    app = create_app(
        settings.model_copy(update={"redis_url": None}), engine=sqlite_engine, clock=clock
    )
    app.state.join_limiter = limiter
    with caplog.at_level(logging.WARNING, logger="studymission.web.rate_limit"):
        with TestClient(app) as http:
            answers = [
                http.get(f"/join/{good}", follow_redirects=False).status_code for _ in range(3)
            ]
    assert answers == [303, 303, 303]
    warnings = [r.getMessage() for r in caplog.records if r.name == "studymission.web.rate_limit"]
    # Logged once, not once per request.
    assert len(warnings) == 1
    assert "Redis is unreachable" in warnings[0] and "join_limiter" in warnings[0]
    client.close()


# --- two real processes behind a proxy -------------------------------------------------


def test_two_processes_count_the_forwarded_client_together(
    tmp_path: Path, sqlite_engine: Engine, redis_url: str
) -> None:
    """Two ``studymission serve`` processes on one Redis, reached as through nginx: the
    client is the X-Forwarded-For address (uvicorn's proxy_headers trust loopback)."""
    settings = Settings(secret_key=SECRET, var_dir=tmp_path / "var")
    outcome = load_event(sqlite_engine, settings, Clock(EventClock(T0, T0, 1.0)))
    good = outcome.join_tokens["p001"]
    env = server_env(str(sqlite_engine.url), tmp_path, clock_start=T0, redis_url=redis_url)
    env["STUDYMISSION_JOIN_RATE_LIMIT"] = "3"
    a = Server("a", free_port(), env, tmp_path / "a")
    b = Server("b", free_port(), env, tmp_path / "b")
    try:
        a.launch()
        b.launch()
        a.wait_ready(120)
        b.wait_ready(120)
        visitor = {"X-Forwarded-For": an_ip()}

        def join(server: Server, link: str, headers: dict[str, str]) -> httpx.Response:
            return httpx.get(f"{server.url}/join/{link}", headers=headers, timeout=60)

        statuses = [
            join(a, good, visitor).status_code,
            join(b, "guess", visitor).status_code,
            join(a, "guess", visitor).status_code,
        ]
        assert statuses == [303, 404, 404]
        refused = join(b, good, visitor)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert join(b, good, {"X-Forwarded-For": an_ip()}).status_code == 303
        assert (a.terminate(), b.terminate()) == (-signal.SIGTERM, -signal.SIGTERM)
    finally:
        a.stop()
        b.stop()

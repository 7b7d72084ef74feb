"""Shared fixtures: settings, a migrated database per test (SQLite, and PostgreSQL when
``STUDYMISSION_TEST_POSTGRES_URL`` is set), a controllable clock, and an app client.

Outside CI a missing PostgreSQL, Redis or Chromium skips the tests that need it, saying
why; with ``STUDYMISSION_TEST_REQUIRE_ALL=1`` (set by ``.ci/run``) it fails them instead.
"""

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from studymission.app import create_app
from studymission.config import Settings
from studymission.db.engine import make_engine
from studymission.db.migrate import upgrade
from studymission.domain.clock import EventClock
from studymission.services.clock import Clock

POSTGRES_URL = os.environ.get("STUDYMISSION_TEST_POSTGRES_URL", "")
REQUIRE_ALL = os.environ.get("STUDYMISSION_TEST_REQUIRE_ALL") == "1"
TEST_SECRET = "test-secret-key-of-enough-length"


def need(condition: bool, reason: str) -> None:
    """Skip with `reason` when `condition` fails, or fail outright in CI."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


class RealTime:
    """A wall clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def real_time() -> RealTime:
    return RealTime(datetime(2021, 11, 24, 3, 0, tzinfo=UTC))


@pytest.fixture
def clock(real_time: RealTime) -> Clock:
    """Event time equals the controllable real time (scale 1), 2021-11-24 12:00 in Seoul."""
    return Clock(EventClock(real_time.now, real_time.now, 1.0), real_time)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    need(bool(POSTGRES_URL), "STUDYMISSION_TEST_POSTGRES_URL is not set (no PostgreSQL to test)")
    return POSTGRES_URL


def _reset_postgres(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A freshly migrated, empty database of the parametrised backend."""
    engine = make_engine(database_url)
    if engine.dialect.name == "postgresql":
        try:
            _reset_postgres(engine)
        except Exception as error:
            need(False, f"PostgreSQL at {database_url} is unreachable: {error}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        base_url="http://testserver",
        var_dir=tmp_path / "var",
        media_dir=tmp_path / "media",
        max_upload_bytes=200_000,
    )


@pytest.fixture
def client(settings: Settings, engine: Engine, clock: Clock) -> Iterator[TestClient]:
    app = create_app(settings, engine=engine, clock=clock)
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client

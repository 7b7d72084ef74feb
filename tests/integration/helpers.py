"""Helpers for integration tests: load an event, sign in as one of its people."""

import asyncio
import re
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from studymission.config import Settings
from studymission.db.events import get_event, get_person
from studymission.services.access import create_api_token
from studymission.services.clock import Clock
from studymission.services.events import LoadOutcome, load_spec
from tests.factories import make_spec

T = TypeVar("T")

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def load_event(
    engine: Engine, settings: Settings, clock: Clock, raw: dict[str, Any] | None = None
) -> LoadOutcome:
    """Store `raw` (default: the factory spec) and return its join tokens."""
    with Session(engine, expire_on_commit=False) as db:
        return load_spec(
            db, raw or make_spec(), secret=settings.signing_key(), now=clock.now(), actor="test"
        )


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def sign_in(client: TestClient, outcome: LoadOutcome, key: str) -> str:
    """Open `key`'s join link in `client`; returns the CSRF token of the new session."""
    response = client.get(f"/join/{outcome.join_tokens[key]}")
    assert response.status_code == 200, response.text
    return csrf_from(response.text)


def bearer(engine: Engine, clock: Clock, code: str, key: str) -> dict[str, str]:
    """Authorization headers with a fresh script token acting as `key`."""
    with Session(engine) as db:
        event = get_event(db, code)
        assert event is not None
        person = get_person(db, event, key)
        assert person is not None
        token = create_api_token(db, person, now=clock.now())
        db.commit()
    return {"Authorization": f"Bearer {token}"}


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own.

    Playwright's sync API (the browser tests, which run first) leaves an event loop set as
    running on the main thread for the rest of the session, and ``asyncio.run`` refuses to
    start beside it.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="asyncio-run") as pool:
        return pool.submit(asyncio.run, coroutine).result()

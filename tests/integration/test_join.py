"""Personal join links and the session cookie (CONTRACT §3)."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from studymission.config import Settings
from studymission.db.tables import Credential
from studymission.services.clock import Clock
from tests.conftest import RealTime
from tests.factories import make_spec
from tests.integration.helpers import load_event

pytestmark = pytest.mark.integration


def test_join_link_sets_a_safe_cookie_and_redirects_to_the_event(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    outcome = load_event(engine, settings, clock)
    response = client.get(f"/join/{outcome.join_tokens['p001']}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/events/TEST-EVENT-1"
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("studymission_session=")
    assert "httponly" in cookie and "samesite=lax" in cookie
    page = client.get("/events/TEST-EVENT-1")
    assert "Welcome, <strong>Nguyễn Thị Minh</strong>" in page.text


@pytest.mark.parametrize("token", ["nope", "A" * 43, "%3Cscript%3Ealert(1)"])
def test_unknown_join_link_is_404_without_cookie(client: TestClient, token: str) -> None:
    response = client.get(f"/join/{token}", follow_redirects=False)
    assert response.status_code == 404
    assert "set-cookie" not in response.headers
    assert "unknown, revoked or expired" in response.text
    assert "<script>" not in response.text


def test_unknown_page_is_an_html_404_and_unknown_api_path_json(client: TestClient) -> None:
    page = client.get("/no/such/page")
    assert page.status_code == 404
    assert "<h1>Not found</h1>" in page.text
    api = client.get("/api/no/such/thing")
    assert (api.status_code, api.json()["error"]) == (404, "not_found")


def test_join_tokens_have_256_bits_and_only_their_hash_is_stored(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    outcome = load_event(engine, settings, clock)
    tokens = set(outcome.join_tokens.values())
    assert len(tokens) == 5
    assert all(len(t) == 43 for t in tokens)  # 32 bytes, base64url without padding
    with Session(engine) as db:
        stored = db.exec(select(Credential)).all()
    kept = {value for c in stored for value in (c.token_hash, c.salt)}
    assert tokens.isdisjoint(kept)


def test_reloading_the_spec_prints_the_same_links(
    engine: Engine, settings: Settings, clock: Clock
) -> None:
    first = load_event(engine, settings, clock)
    second = load_event(engine, settings, clock)
    assert second.changed is False
    assert second.join_tokens == first.join_tokens


def test_withdrawn_person_loses_access_and_gets_it_back_when_listed_again(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    outcome = load_event(engine, settings, clock)
    link = f"/join/{outcome.join_tokens['p002']}"
    spec = make_spec()
    without = make_spec(people=[p for p in spec["people"] if p["key"] != "p002"])
    assert load_event(engine, settings, clock, without).changed is True
    assert client.get(link, follow_redirects=False).status_code == 404
    again = load_event(engine, settings, clock, spec)
    assert again.join_tokens["p002"] == outcome.join_tokens["p002"]
    assert client.get(link, follow_redirects=False).status_code == 303


def test_join_link_expires_30_days_after_the_last_session(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    outcome = load_event(engine, settings, clock)
    link = f"/join/{outcome.join_tokens['p001']}"
    # The last session ends 2021-11-25 07:00 UTC; the clock stands at 2021-11-24 03:00 UTC.
    real_time.advance(days=31, hours=3, minutes=59)
    assert client.get(link, follow_redirects=False).status_code == 303
    real_time.advance(minutes=1)
    assert client.get(link, follow_redirects=False).status_code == 404


def test_an_expired_session_cookie_no_longer_signs_in(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    outcome = load_event(engine, settings, clock)
    client.get(f"/join/{outcome.join_tokens['p001']}")
    assert client.get("/events/TEST-EVENT-1").status_code == 200
    real_time.advance(days=40)
    response = client.get("/events/TEST-EVENT-1")
    assert response.status_code == 401
    assert "personal join link" in response.text


def test_sign_out_needs_the_csrf_token_and_then_forgets_the_person(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock
) -> None:
    outcome = load_event(engine, settings, clock)
    page = client.get(f"/join/{outcome.join_tokens['p001']}")
    assert client.post("/signout", follow_redirects=False).status_code == 403
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post("/signout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/events/TEST-EVENT-1").status_code == 401

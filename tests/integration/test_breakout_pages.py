"""The breakout rooms in the console and the groups page: the same service as the API,
each form with its CSRF token, the overview showing who is really in which room."""

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from studymission.config import Settings
from studymission.services.clock import Clock
from tests.conftest import RealTime
from tests.integration.helpers import bearer, load_event, sign_in
from tests.integration.test_realtime_socket import (
    CODE,
    DAY1,
    fence,
    flush,
    hello,
    move_to,
    socket,
)

HTMX = {"HX-Request": "true"}


def test_groups_are_prepared_pinned_and_opened_from_the_console(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    outcome = load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=100))
    csrf = sign_in(client, outcome, "mod1")
    plan_url = f"/events/{CODE}/breakouts/plan/day1"

    page = client.get(plan_url)
    assert page.status_code == 200
    assert "Not in a group (2)" in page.text
    generated = client.post(
        f"{plan_url}/generate", data={"rooms": "2", "csrf_token": csrf}, headers=HTMX
    )
    assert generated.status_code == 200
    assert generated.text.count('class="breakout-room"') == 2
    assert "Not in a group" not in generated.text
    # Pin p001 to room 2 and p002 to room 1; generating again keeps the pins.
    for person, room in (("p001", "breakout-2"), ("p002", "breakout-1")):
        saved = client.post(
            f"{plan_url}/assign",
            data={"person": person, "room": room, "pinned": "true", "csrf_token": csrf},
            headers=HTMX,
        )
        assert saved.status_code == 200
    again = client.post(
        f"{plan_url}/generate", data={"rooms": "2", "csrf_token": csrf}, headers=HTMX
    )
    room_2 = again.text.split('data-room="breakout-2"')[1].split("</ul>")[0]
    assert 'data-key="p001"' in room_2 and "Pinned" in room_2
    too_many = client.post(
        f"{plan_url}/generate", data={"rooms": "1", "csrf_token": csrf}, headers=HTMX
    )
    assert too_many.status_code == 422
    assert "p001 is pinned to breakout-2; unpin first" in too_many.text
    assert client.post(f"{plan_url}/generate", data={"rooms": "2"}).status_code == 403

    # The console offers the prepared groups and opens them.
    panel = client.get(f"/events/{CODE}/console/breakouts")
    assert "The prepared groups (2 rooms, 2 people)" in panel.text
    with socket(client, bearer(engine, clock, CODE, "p001")) as ws:
        hello(ws)
        flush(client)  # the roster (live_socket) hears of the socket
        opened = client.post(
            f"/events/{CODE}/console/breakouts/open",
            data={"session": "day1", "strategy": "plan", "minutes": "20", "csrf_token": csrf},
            headers=HTMX,
        )
        assert opened.status_code == 200, opened.text
        [state] = [f for f in fence(ws) if f["type"] == "state"]
        assert state["room"]["name"] == "breakout-2"
        # p001 is connected but its page has not said it is in the call yet: elsewhere.
        assert 'class="seat seat--elsewhere" data-key="p001"' in opened.text
        assert 'class="seat seat--away" data-key="p002"' in opened.text
        assert "2 rooms open until" in opened.text
        # The plan is locked while the round is open.
        locked = client.post(
            f"{plan_url}/assign",
            data={"person": "p002", "room": "breakout-2", "csrf_token": csrf},
            headers=HTMX,
        )
        assert locked.status_code == 422
        assert "a round is open: move people in it" in locked.text

        moved = client.post(
            f"/events/{CODE}/console/breakouts/move",
            data={"session": "day1", "person": "p001", "room": "breakout-1", "csrf_token": csrf},
            headers=HTMX,
        )
        assert moved.status_code == 200
        [state] = [f for f in fence(ws) if f["type"] == "state"]
        assert state["room"]["name"] == "breakout-1"
        shorter = client.post(
            f"/events/{CODE}/console/breakouts/time",
            data={"session": "day1", "minutes": "-30", "csrf_token": csrf},
            headers=HTMX,
        )
        assert shorter.status_code == 422
        assert "the round would end in the past" in shorter.text
        closed = client.post(
            f"/events/{CODE}/console/breakouts/close",
            data={"session": "day1", "csrf_token": csrf},
            headers=HTMX,
        )
        assert closed.status_code == 200
        assert "Open the rooms and move everyone" in closed.text
        [state] = [f for f in fence(ws) if f["type"] == "state"]
        assert (state["mode"], state["room"]["name"]) == ("stage", "main")


def test_participants_cannot_run_or_prepare_rooms(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    outcome = load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=100))
    csrf = sign_in(client, outcome, "p001")
    assert client.get(f"/events/{CODE}/console/breakouts").status_code == 403
    assert client.get(f"/events/{CODE}/breakouts/plan/day1").status_code == 403
    refused = client.post(
        f"/events/{CODE}/console/breakouts/open",
        data={"session": "day1", "rooms": "1", "minutes": "10", "csrf_token": csrf},
    )
    assert refused.status_code == 403

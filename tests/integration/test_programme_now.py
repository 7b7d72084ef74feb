"""The programme's "now / next" box names what the run of show has put on, not only what
the timetable says, and every page fetches it again when the run of show changes."""

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from studymission.config import Settings
from studymission.services.clock import Clock
from tests.conftest import RealTime
from tests.integration.helpers import bearer, load_event, sign_in
from tests.integration.test_realtime_socket import CODE, DAY1, move_to

_CELL = re.compile(r'id="(now|next)">.*?<p class="now-next__title[^"]*">([^<]+)</p>', re.DOTALL)


def now_and_next(client: TestClient) -> dict[str, str]:
    fragment = client.get(f"/events/{CODE}", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert 'hx-trigger="sm:live-state from:body"' in fragment.text
    return {cell: title.strip() for cell, title in _CELL.findall(fragment.text)}


def test_now_follows_the_item_a_moderator_puts_on(
    client: TestClient, engine: Engine, settings: Settings, clock: Clock, real_time: RealTime
) -> None:
    outcome = load_event(engine, settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=10))
    sign_in(client, outcome, "p001")
    assert now_and_next(client) == {"now": "Introduction", "next": "Break"}
    moderator = bearer(engine, clock, CODE, "mod1")
    switch = f"/api/events/{CODE}/sessions/day1/mode"
    answer = client.post(switch, json={"mode": "break", "item": "d1-break"}, headers=moderator)
    assert answer.status_code == 200, answer.text
    assert now_and_next(client) == {"now": "Break", "next": "Benefits and challenges"}
    client.post(switch, json={"follow_timetable": True}, headers=moderator)
    assert now_and_next(client) == {"now": "Introduction", "next": "Break"}

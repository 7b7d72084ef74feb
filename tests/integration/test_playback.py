"""The site visit's playback (CONTRACT §4b ``playback``): the API and the console drive one
clock per session, every page's state frame carries it, and only people of the event get
the signed cookies that let them fetch the recording."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from studymission.app import create_app
from studymission.config import Settings
from studymission.db.tables import AuditEntry
from studymission.domain.clock import EventClock
from studymission.services.clock import Clock
from studymission.services.media import MediaPackage
from studymission.services.media_access import allowed
from tests.conftest import RealTime
from tests.integration.helpers import bearer, csrf_from, load_event, sign_in
from tests.integration.test_realtime_socket import CODE, DAY1, fence, hello, move_to, socket
from tests.media import ASSET, copy_media, packaged

PLAYBACK = f"/api/events/{CODE}/sessions/day1/playback"


@pytest.fixture(scope="session")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MediaPackage]:
    """A 12-second recording packaged once for every test of this file."""
    return packaged(tmp_path_factory.mktemp("recording"), seconds=12)


@pytest.fixture
def media_settings(settings: Settings, recording: tuple[Path, MediaPackage]) -> Settings:
    copy_media(recording[0], settings.media_dir)
    return settings.model_copy(update={"live_stream_origins": ("https://stream.example.org",)})


@pytest.fixture
def app_client(media_settings: Settings, engine: Engine, clock: Clock) -> Iterator[TestClient]:
    app = create_app(media_settings, engine=engine, clock=clock)
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


def audit(engine: Engine) -> list[dict[str, object]]:
    with Session(engine) as db:
        rows = db.exec(
            select(AuditEntry)
            .where(AuditEntry.action == "run_of_show.playback")
            .order_by(col(AuditEntry.id))
        ).all()
    return [row.detail for row in rows]


def test_play_pause_seek_reach_every_page_as_one_clock(
    app_client: TestClient,
    engine: Engine,
    media_settings: Settings,
    clock: Clock,
    real_time: RealTime,
    recording: tuple[Path, MediaPackage],
) -> None:
    package = recording[1]
    load_event(engine, media_settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=10))
    moderator = bearer(engine, clock, CODE, "mod1")
    with socket(app_client, bearer(engine, clock, CODE, "p001")) as ws:
        _welcome, state = hello(ws)
        assert (state["mode"], state["playback"]) == ("stage", None)

        answer = app_client.post(
            PLAYBACK, json={"action": "play", "asset": ASSET}, headers=moderator
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["mode"] == "site_visit"
        started = body["playback"]
        assert started == {
            "asset": ASSET,
            "url": f"/media/{ASSET}/{package.version}/master.m3u8",
            "state": "playing",
            "position": 0.0,
            "at": "2021-11-24T04:10:00Z",
            "duration": package.duration,
            "rate": 1.0,
            "live": False,
        }
        [pushed] = fence(ws)
        assert pushed["mode"] == "site_visit"
        assert pushed["room"] == {"name": "site-visit", "jitsi": None}
        assert pushed["playback"] == started

        # Five seconds later the moderator pauses: the clock keeps the second reached.
        move_to(real_time, DAY1 + timedelta(minutes=10, seconds=5))
        app_client.post(PLAYBACK, json={"action": "pause"}, headers=moderator)
        [pushed] = fence(ws)
        assert (pushed["playback"]["state"], pushed["playback"]["position"]) == ("paused", 5.0)
        assert pushed["playback"]["at"] == "2021-11-24T04:10:05Z"

        # A seek keeps it paused; play resumes from there.
        app_client.post(PLAYBACK, json={"action": "seek", "position": 9.5}, headers=moderator)
        [pushed] = fence(ws)
        assert (pushed["playback"]["state"], pushed["playback"]["position"]) == ("paused", 9.5)
        app_client.post(PLAYBACK, json={"action": "play"}, headers=moderator)
        [pushed] = fence(ws)
        assert (pushed["playback"]["state"], pushed["playback"]["position"]) == ("playing", 9.5)

        # A page opened late gets the clock in its first state frame.
        move_to(real_time, DAY1 + timedelta(minutes=10, seconds=7))
        with socket(app_client, bearer(engine, clock, CODE, "p002")) as late:
            _welcome, late_state = hello(late)
            assert late_state["playback"] == pushed["playback"]

        read = app_client.get(PLAYBACK, headers=moderator).json()
        assert read["position_now"] == pytest.approx(11.5)

        # Back to the stage: the playback leaves the state frames, the clock is kept.
        app_client.post(
            f"/api/events/{CODE}/sessions/day1/mode", json={"mode": "stage"}, headers=moderator
        )
        [pushed] = fence(ws)
        assert (pushed["mode"], pushed["playback"]) == ("stage", None)
    assert [(d["action"], d["position"]) for d in audit(engine)] == [
        ("play", 0.0),
        ("pause", 5.0),
        ("seek", 9.5),
        ("play", 9.5),
    ]


def test_the_clock_runs_at_the_recordings_own_speed_at_time_scale_60(
    media_settings: Settings,
    engine: Engine,
    real_time: RealTime,
) -> None:
    fast = Clock(EventClock(DAY1 + timedelta(minutes=10), real_time.now, 60.0), real_time)
    app = create_app(media_settings, engine=engine, clock=fast)
    with TestClient(app, base_url="http://testserver") as client:
        load_event(engine, media_settings, fast)
        moderator = bearer(engine, fast, CODE, "mod1")
        answer = client.post(PLAYBACK, json={"action": "play", "asset": ASSET}, headers=moderator)
        assert answer.json()["playback"]["rate"] == pytest.approx(1 / 60)
        real_time.now += timedelta(seconds=3)  # 3 real seconds = 3 event minutes
        read = client.get(PLAYBACK, headers=moderator).json()
        assert read["position_now"] == pytest.approx(3.0)


def test_bad_commands_list_every_problem_and_change_nothing(
    app_client: TestClient, engine: Engine, media_settings: Settings, clock: Clock
) -> None:
    load_event(engine, media_settings, clock)
    moderator = bearer(engine, clock, CODE, "mod1")
    answer = app_client.post(PLAYBACK, json={"action": "seek", "position": -4}, headers=moderator)
    assert answer.status_code == 422
    problems = answer.json()["problems"]
    assert [p["path"] for p in problems] == ["asset", "position"]

    answer = app_client.post(
        PLAYBACK, json={"action": "play", "asset": "no-such-visit"}, headers=moderator
    )
    assert answer.status_code == 422
    assert answer.json()["problems"][0]["path"] == "asset"
    assert "no packaged recording" in answer.json()["problems"][0]["reason"]

    answer = app_client.post(
        PLAYBACK, json={"action": "play", "asset": "../etc"}, headers=moderator
    )
    assert answer.status_code == 422

    answer = app_client.post(
        PLAYBACK, json={"action": "play", "asset": ASSET, "position": 999}, headers=moderator
    )
    assert answer.status_code == 422
    assert "lasts" in answer.json()["problems"][0]["reason"]

    answer = app_client.post(
        f"/api/events/{CODE}/sessions/no-day/playback",
        json={"action": "play", "asset": ASSET},
        headers=moderator,
    )
    assert answer.status_code == 404
    assert audit(engine) == []
    assert app_client.get(PLAYBACK, headers=moderator).json() == {
        "playback": None,
        "position_now": None,
    }


def test_only_moderators_and_the_secretariat_drive_the_playback(
    app_client: TestClient, engine: Engine, media_settings: Settings, clock: Clock
) -> None:
    load_event(engine, media_settings, clock)
    for key, status in (("p001", 403), ("rp1", 403), ("sec1", 200), ("mod1", 200)):
        answer = app_client.post(
            PLAYBACK,
            json={"action": "play", "asset": ASSET},
            headers=bearer(engine, clock, CODE, key),
        )
        assert answer.status_code == status, (key, answer.text)
        assert app_client.get(PLAYBACK, headers=bearer(engine, clock, CODE, key)).status_code == (
            403 if status == 403 else 200
        )


def test_a_live_stream_is_shown_instead_of_the_recording(
    app_client: TestClient,
    engine: Engine,
    media_settings: Settings,
    clock: Clock,
    real_time: RealTime,
) -> None:
    load_event(engine, media_settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=10))
    moderator = bearer(engine, clock, CODE, "mod1")
    with socket(app_client, bearer(engine, clock, CODE, "p001")) as ws:
        hello(ws)
        url = "https://stream.example.org/sejong/live.m3u8"
        answer = app_client.post(PLAYBACK, json={"action": "live", "url": url}, headers=moderator)
        assert answer.status_code == 200, answer.text
        [pushed] = fence(ws)
        assert pushed["playback"]["live"] is True
        assert (pushed["playback"]["url"], pushed["playback"]["asset"]) == (url, None)
        answer = app_client.post(PLAYBACK, json={"action": "pause"}, headers=moderator)
        assert answer.status_code == 422
        answer = app_client.post(
            PLAYBACK, json={"action": "live", "url": "javascript:alert(1)"}, headers=moderator
        )
        assert answer.status_code == 422
        assert answer.json()["problems"][0]["path"] == "url"
        # A stream from an origin the pages may not fetch from is refused up front.
        elsewhere = "https://other.example.org/live.m3u8"
        answer = app_client.post(
            PLAYBACK, json={"action": "live", "url": elsewhere}, headers=moderator
        )
        assert answer.status_code == 422
        [problem] = answer.json()["problems"]
        assert problem["path"] == "url"
        assert "STUDYMISSION_LIVE_STREAM_ORIGINS" in problem["reason"]


def test_media_access_goes_to_people_of_the_event_that_plays_the_recording(
    app_client: TestClient,
    engine: Engine,
    media_settings: Settings,
    clock: Clock,
    recording: tuple[Path, MediaPackage],
) -> None:
    package = recording[1]
    load_event(engine, media_settings, clock)
    query = {"asset": ASSET, "version": package.version}
    access = f"/api/events/{CODE}/media-access"
    participant = bearer(engine, clock, CODE, "p001")
    # Before the event plays it, a participant gets nothing; staff may preview.
    assert app_client.get(access, params=query, headers=participant).status_code == 404
    staff = app_client.get(access, params=query, headers=bearer(engine, clock, CODE, "mod1"))
    assert staff.status_code == 204
    assert "sm_media_sig" in staff.cookies
    moderator = bearer(engine, clock, CODE, "mod1")
    app_client.post(PLAYBACK, json={"action": "play", "asset": ASSET}, headers=moderator)

    app_client.cookies.clear()
    granted = app_client.get(access, params=query, headers=participant)
    assert granted.status_code == 204
    cookies = {c.name: c for c in app_client.cookies.jar}
    assert cookies["sm_media_sig"].path == package.prefix
    assert cookies["sm_media_exp"].path == package.prefix
    values = {name: cookie.value or "" for name, cookie in cookies.items()}
    now = clock.real_now().timestamp()
    secret = media_settings.media_signing_key()
    assert allowed(package.prefix, values, secret=secret, now=now) == "ok"
    assert allowed(f"/media/{ASSET}/other/", values, secret=secret, now=now) != "ok"
    assert int(values["sm_media_exp"]) == pytest.approx(
        now + media_settings.media_access_seconds, abs=2
    )

    # The grant lets the page fetch the playlist; without cookies it is refused.
    playlist = app_client.get(package.url)
    assert playlist.status_code == 200
    assert playlist.text.startswith("#EXTM3U")
    app_client.cookies.clear()
    assert app_client.get(package.url).status_code == 403

    # Another version or another name is not granted.
    other = app_client.get(access, params={**query, "version": "0000000000"}, headers=participant)
    assert other.status_code == 404
    # No sign-in, no grant.
    assert app_client.get(access, params=query).status_code == 401


def test_console_drives_the_playback_with_its_csrf_token(
    app_client: TestClient,
    engine: Engine,
    media_settings: Settings,
    clock: Clock,
    real_time: RealTime,
) -> None:
    outcome = load_event(engine, media_settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=10))
    csrf = sign_in(app_client, outcome, "mod1")
    panel = app_client.get(f"/events/{CODE}/console/site-visit")
    assert panel.status_code == 200
    assert f'<option value="{ASSET}"' in panel.text
    assert "Nothing is playing yet." in panel.text
    console = app_client.get(f"/events/{CODE}/console")
    assert 'id="site-visit-preview"' in console.text
    csrf = csrf_from(console.text)

    def press(**fields: str) -> tuple[int, str]:
        answer = app_client.post(
            f"/events/{CODE}/console/site-visit",
            data={"csrf_token": csrf, "session": "day1", **fields},
            headers={"HX-Request": "true"},
        )
        return answer.status_code, answer.text

    status, html = press(action="play", asset=ASSET, position="0")
    assert status == 200, html
    assert "Every page plays" in html and 'data-state="playing"' in html
    move_to(real_time, DAY1 + timedelta(minutes=10, seconds=4))
    status, html = press(action="seek", step="5")
    assert 'data-position="9.0"' in html
    status, html = press(action="pause")
    assert 'data-state="paused"' in html and 'data-position="9.0"' in html
    status, html = press(action="seek", position="0:03")
    assert 'data-position="3.0"' in html
    status, html = press(action="seek", step="-30")
    assert 'data-position="0.0"' in html

    status, html = press(action="seek", position="soon")
    assert status == 422
    assert "type it as m:ss" in html
    status, html = press(action="seek", position="9:99:99:99")
    assert status == 422
    # Without its CSRF token a press changes nothing.
    refused = app_client.post(
        f"/events/{CODE}/console/site-visit",
        data={"session": "day1", "action": "play"},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 403
    assert [d["action"] for d in audit(engine)] == ["play", "seek", "pause", "seek", "seek"]


def test_participants_cannot_open_the_console_panel(
    app_client: TestClient, engine: Engine, media_settings: Settings, clock: Clock
) -> None:
    outcome = load_event(engine, media_settings, clock)
    csrf = sign_in(app_client, outcome, "p001")
    assert app_client.get(f"/events/{CODE}/console/site-visit").status_code == 403
    answer = app_client.post(
        f"/events/{CODE}/console/site-visit",
        data={"csrf_token": csrf, "session": "day1", "action": "play", "asset": ASSET},
    )
    assert answer.status_code == 403
    assert audit(engine) == []


def test_a_page_opened_after_a_change_made_while_no_page_was_open_sees_that_change(
    app_client: TestClient,
    engine: Engine,
    media_settings: Settings,
    clock: Clock,
    real_time: RealTime,
) -> None:
    # The process caches each event's run of show while pages are connected; a change made
    # when none is must still reach the next page (it once got the state cached before).
    load_event(engine, media_settings, clock)
    move_to(real_time, DAY1 + timedelta(minutes=10))
    moderator = bearer(engine, clock, CODE, "mod1")
    with socket(app_client, bearer(engine, clock, CODE, "p001")) as ws:
        _welcome, state = hello(ws)
        assert state["mode"] == "stage"
    app_client.post(PLAYBACK, json={"action": "play", "asset": ASSET}, headers=moderator)
    with socket(app_client, bearer(engine, clock, CODE, "p001")) as ws:
        _welcome, state = hello(ws)
        assert state["mode"] == "site_visit"
        assert state["playback"]["asset"] == ASSET

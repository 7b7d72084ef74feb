"""The site visit's playback clock (domain/playback.py): where the recording stands at any
event instant, and what each of the moderator's commands does to it."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studymission.domain.errors import InvalidInputError
from studymission.domain.playback import (
    Playback,
    PlaybackRequest,
    PlaybackState,
    Recording,
    apply,
)

T0 = datetime(2021, 11, 24, 5, 0, tzinfo=UTC)
VISIT = Recording("site-visit-sejong", "v1", 240.0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def play(position: float | None = None, *, now: float = 0, rate: float = 1.0) -> Playback:
    return apply(None, PlaybackRequest("play", VISIT, position), now=at(now), rate=rate)


def test_playing_advances_one_second_of_recording_per_second_at_scale_one() -> None:
    clock = play()
    assert clock.state is PlaybackState.PLAYING
    assert clock.position_at(at(0), 1.0) == 0
    assert clock.position_at(at(12.5), 1.0) == 12.5


def test_at_time_scale_sixty_the_recording_still_plays_at_its_own_speed() -> None:
    # One real second is sixty event seconds; the recording advances one second.
    clock = play(now=0, rate=1 / 60)
    assert clock.position_at(at(60), 1 / 60) == pytest.approx(1.0)
    assert clock.position_at(at(600), 1 / 60) == pytest.approx(10.0)


def test_the_clock_stops_at_the_end_of_the_recording() -> None:
    clock = play(230)
    assert clock.position_at(at(5), 1.0) == 235
    assert clock.position_at(at(60), 1.0) == 240
    assert clock.ended(at(60), 1.0)
    assert not clock.ended(at(5), 1.0)


def test_pause_keeps_the_position_reached() -> None:
    clock = play(10)
    paused = apply(clock, PlaybackRequest("pause"), now=at(20), rate=1.0)
    assert paused.state is PlaybackState.PAUSED
    assert paused.position == 30
    assert paused.position_at(at(500), 1.0) == 30


def test_play_after_pause_resumes_where_it_stood() -> None:
    paused = apply(play(10), PlaybackRequest("pause"), now=at(20), rate=1.0)
    resumed = apply(paused, PlaybackRequest("play"), now=at(100), rate=1.0)
    assert resumed.position_at(at(100), 1.0) == 30
    assert resumed.position_at(at(110), 1.0) == 40


def test_seek_keeps_playing_or_paused_as_it_was() -> None:
    playing = apply(play(), PlaybackRequest("seek", position=120), now=at(5), rate=1.0)
    assert playing.state is PlaybackState.PLAYING
    assert playing.position_at(at(15), 1.0) == 130
    paused = apply(
        apply(play(), PlaybackRequest("pause"), now=at(5), rate=1.0),
        PlaybackRequest("seek", position=60),
        now=at(8),
        rate=1.0,
    )
    assert paused.state is PlaybackState.PAUSED
    assert paused.position_at(at(99), 1.0) == 60


def test_naming_the_same_recording_again_does_not_restart_it() -> None:
    clock = play(50)
    again = apply(clock, PlaybackRequest("play", VISIT), now=at(10), rate=1.0)
    assert again.position_at(at(10), 1.0) == 60


def test_a_new_version_of_the_recording_starts_from_the_beginning() -> None:
    clock = play(50)
    newer = Recording(VISIT.asset, "v2", 250.0)
    switched = apply(clock, PlaybackRequest("play", newer), now=at(10), rate=1.0)
    assert switched.recording == newer
    assert switched.position_at(at(10), 1.0) == 0


def test_live_stream_replaces_the_recording() -> None:
    clock = apply(
        play(50),
        PlaybackRequest("live", live_url="https://stream.example/live.m3u8"),
        now=at(3),
        rate=1.0,
    )
    assert clock.live and clock.recording is None
    assert clock.live_url == "https://stream.example/live.m3u8"


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(InvalidInputError) as raised:
        apply(None, PlaybackRequest("seek", position=-3), now=T0, rate=1.0)
    paths = [p.path for p in raised.value.problems]
    assert paths == ["asset", "position"]
    with pytest.raises(InvalidInputError) as raised:
        apply(play(), PlaybackRequest("seek", position=999), now=T0, rate=1.0)
    assert [p.reason for p in raised.value.problems] == ["the recording lasts 240 s"]
    with pytest.raises(InvalidInputError) as raised:
        apply(play(), PlaybackRequest("rewind"), now=T0, rate=1.0)
    assert raised.value.problems[0].path == "action"
    with pytest.raises(InvalidInputError) as raised:
        apply(None, PlaybackRequest("seek"), now=T0, rate=1.0)
    assert [p.path for p in raised.value.problems] == ["asset", "position"]


def test_a_live_stream_needs_an_http_address_and_cannot_be_sought() -> None:
    with pytest.raises(InvalidInputError) as raised:
        apply(
            None, PlaybackRequest("live", live_url="file:///etc/passwd", position=3), now=T0, rate=1
        )
    assert [p.path for p in raised.value.problems] == ["url", "position"]
    live = apply(None, PlaybackRequest("live", live_url="https://s.example/a.m3u8"), now=T0, rate=1)
    with pytest.raises(InvalidInputError) as raised:
        apply(live, PlaybackRequest("pause"), now=T0, rate=1.0)
    assert "live stream" in raised.value.problems[0].reason


@given(
    start=st.floats(0, 240),
    steps=st.lists(
        st.tuples(
            st.sampled_from(["play", "pause", "seek"]),
            st.floats(0, 240),
            st.floats(0, 600),
        ),
        max_size=12,
    ),
    rate=st.sampled_from([1.0, 0.1, 1 / 60]),
)
def test_the_position_is_always_within_the_recording_and_pause_freezes_it(
    start: float, steps: list[tuple[str, float, float]], rate: float
) -> None:
    clock = play(start, rate=rate)
    now = 0.0
    for action, position, wait in steps:
        now += wait
        before = clock.position_at(at(now), rate)
        request = PlaybackRequest(action, position=position if action == "seek" else None)
        clock = apply(clock, request, now=at(now), rate=rate)
        if action != "seek":
            # Play and pause without a position keep the second reached: no jump.
            assert clock.position_at(at(now), rate) == pytest.approx(before)
        else:
            assert clock.position_at(at(now), rate) == position
        later = clock.position_at(at(now + 30), rate)
        assert 0 <= later <= VISIT.duration
        if clock.state is PlaybackState.PAUSED:
            assert later == clock.position


def test_a_step_seeks_from_where_the_recording_stands_within_its_length() -> None:
    clock = play(10)
    forward = apply(clock, PlaybackRequest("seek", step=30), now=at(5), rate=1.0)
    assert forward.position_at(at(5), 1.0) == 45
    back = apply(clock, PlaybackRequest("seek", step=-30), now=at(5), rate=1.0)
    assert back.position_at(at(5), 1.0) == 0
    end = apply(clock, PlaybackRequest("seek", step=999), now=at(5), rate=1.0)
    assert end.position_at(at(5), 1.0) == 240
    with pytest.raises(InvalidInputError) as raised:
        apply(clock, PlaybackRequest("seek", position=3, step=5), now=at(5), rate=1.0)
    assert [p.path for p in raised.value.problems] == ["step"]
    with pytest.raises(InvalidInputError) as raised:
        apply(clock, PlaybackRequest("pause", step=5), now=at(5), rate=1.0)
    assert [p.path for p in raised.value.problems] == ["step"]

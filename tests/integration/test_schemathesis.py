"""Schemathesis against the app's own OpenAPI schema: no request may earn a 5xx.

Every operation of ``/openapi.json`` gets generated requests, valid and invalid (positive
and negative generation), on a loaded event, as the secretariat (bearer token), as a
participant and without credentials. Path parameters mostly name the real event and its
real sessions, people and rooms, so handlers get past "no such event" to the code that
does the work. Requests go through the test's own ``TestClient``, so the app's lifespan
is the one the fixture starts and stops.

The run is derandomised (same examples every run, for CI) and bounded per operation. A
deeper run: ``STUDYMISSION_FUZZ_SCALE=10 pytest --timeout 0 -k no_operation THIS_FILE``.
"""

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from studymission.app import create_app
from studymission.config import Settings
from studymission.services.clock import Clock
from tests.conftest import RealTime
from tests.integration.helpers import bearer, load_event

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"
DAY1 = f"/api/events/{CODE}/sessions/day1"

#: Real values for each path parameter, by the path it appears in (the same name means
#: different things: ``key`` is a session under ``/sessions/`` and a person elsewhere).
SESSION_KEYS = ["day1", "day2"]
PERSON_KEYS = ["p001", "p002", "rp1", "mod1", "sec1"]
ROOMS = ["breakout-1", "breakout-2"]
WEBHOOK_KINDS = ["occupant/joined", "occupant/left", "muc-room-created"]

#: More examples for a deeper local run: ``STUDYMISSION_FUZZ_SCALE=10``.
SCALE = float(os.environ.get("STUDYMISSION_FUZZ_SCALE", "1"))

#: Checks that must hold for every response.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def real_values(path: str, name: str) -> list[Any]:
    if name == "code":
        return [CODE] if path.startswith("/api/events") else ["NOPE-0000"]
    if name == "key":
        return SESSION_KEYS if "/sessions/{key}" in path else PERSON_KEYS
    if name == "person":
        return PERSON_KEYS
    if name == "room":
        return ROOMS
    if name == "question_id":
        return [1]
    if name == "kind":
        return WEBHOOK_KINDS
    return []


@st.composite
def grounded(draw: st.DrawFn, cases: st.SearchStrategy[Case]) -> Case:
    """A generated case whose path parameters are, three times in four, real values."""
    case = draw(cases)
    parameters = case.path_parameters
    if parameters and draw(st.integers(0, 3)) > 0:
        for name in list(parameters):
            choices = real_values(case.operation.path, name)
            if choices:
                parameters[name] = draw(st.sampled_from(choices))
    return case


def send(client: TestClient, case: Case, headers: dict[str, str]) -> Any:
    """Send `case` through the test client: schemathesis serialises for ``requests``; the
    keyword arguments that differ in httpx are translated."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    request: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": kwargs.get("headers") or {},
        "params": kwargs.get("params"),
    }
    cookies = kwargs.get("cookies") or {}
    if cookies:
        request["headers"]["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    data = kwargs.get("data")
    if isinstance(data, (bytes, str)):
        request["content"] = data
    elif data is not None:
        request["data"] = data
    if kwargs.get("files"):
        request["files"] = kwargs["files"]
    return client.request(**request)


@dataclass
class Target:
    app: FastAPI
    client: TestClient
    headers: dict[str, dict[str, str]]

    def prepare(self) -> None:
        """Put back what earlier operations may have undone (the mode switched, the round
        closed), so that each operation meets the live event: day 1 in a breakout round."""
        staff = self.headers["secretariat"]
        self.client.post(f"{DAY1}/mode", json={"mode": "breakouts"}, headers=staff)
        self.client.post(f"{DAY1}/breakouts", json={"minutes": 60, "rooms": 2}, headers=staff)


@pytest.fixture
def target(
    settings: Settings, engine: Engine, clock: Clock, real_time: RealTime
) -> Iterator[Target]:
    load_event(engine, settings, clock)
    real_time.advance(hours=1, minutes=30)  # 13:30 in Seoul: day 1 is on
    app = create_app(settings, engine=engine, clock=clock)
    headers = {
        "secretariat": bearer(engine, clock, CODE, "sec1"),
        "participant": bearer(engine, clock, CODE, "p001"),
        "anonymous": {},
    }
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        target = Target(app, client, headers)
        target.prepare()
        asked = client.post(
            f"/api/events/{CODE}/questions",
            json={"session": "day1", "text": "How is consent recorded?"},
            headers=bearer(engine, clock, CODE, "p002"),
        )
        assert asked.status_code == 201, asked.text
        yield target


@dataclass
class Outcome:
    failures: list[str] = field(default_factory=list)
    #: Operations that answered 2xx at least once: the run reached their handlers' work.
    succeeded: set[str] = field(default_factory=set)


def fuzz_operations(
    target: Target, who: str, examples: int, modes: list[GenerationMode], outcome: Outcome
) -> None:
    """Run every operation for `who`, recording every failure in `outcome`."""
    schema = schemathesis.openapi.from_dict(target.app.openapi())
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes:
            if mode is GenerationMode.NEGATIVE and not _can_be_invalid(operation):
                continue
            if "/sessions/{key}" in operation.path:
                target.prepare()
            strategy = grounded(operation.as_strategy(generation_mode=mode))
            test = _operation_test(target, who, strategy, examples, outcome)
            try:
                test()
            except Unsatisfiable:
                continue  # nothing in this operation's parameters can be made invalid
            # Every operation runs and every failure is reported: schemathesis raises a
            # FailureGroup, which is a BaseExceptionGroup.
            except (Exception, BaseExceptionGroup) as error:
                causes = error.exceptions if isinstance(error, BaseExceptionGroup) else ()
                detail = "\n".join([str(error), *(f"  {c!r}" for c in causes)])
                outcome.failures.append(f"{who} {mode.value} {operation.label}: {detail}")


def _can_be_invalid(operation: APIOperation) -> bool:
    """Whether negative generation has something to break: a body or a query parameter
    (a free-form path string cannot be invalid)."""
    definition = operation.definition.raw
    return "requestBody" in definition or any(
        p.get("in") == "query" for p in definition.get("parameters", [])
    )


def _operation_test(
    target: Target, who: str, strategy: st.SearchStrategy[Case], examples: int, outcome: Outcome
) -> Callable[[], None]:
    @settings(
        max_examples=max(1, round(examples * SCALE)),
        deadline=None,
        derandomize=True,  # the same examples on every run: a CI failure reproduces
        database=None,
        # Filtered and slow generation is expected from schema-derived strategies.
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Case) -> None:
        response = send(target.client, case, target.headers[who])
        if 200 <= response.status_code < 300:
            outcome.succeeded.add(case.operation.label)
        case.validate_response(response, checks=CHECKS)

    return run


def test_no_operation_answers_a_server_error(target: Target, database_url: str) -> None:
    outcome = Outcome()
    both = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    if database_url.startswith("sqlite"):
        fuzz_operations(target, "secretariat", 6, both, outcome)
        fuzz_operations(target, "participant", 2, [GenerationMode.POSITIVE], outcome)
        fuzz_operations(target, "anonymous", 1, [GenerationMode.POSITIVE], outcome)
        deep_enough = 25
    else:
        # Requests are slower on PostgreSQL; a short run still catches what only it
        # refuses (text with NUL, integers out of range), who may call what does not vary.
        fuzz_operations(target, "secretariat", 2, both, outcome)
        deep_enough = 15
    assert not outcome.failures, "\n\n".join(outcome.failures)
    # The real path values took the requests past "no such event" into the handlers.
    assert len(outcome.succeeded) >= deep_enough, sorted(outcome.succeeded)


# Regressions: each answered 500 before, found by the run above.

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def staff(client: TestClient, settings: Settings, engine: Engine, clock: Clock) -> dict[str, str]:
    load_event(engine, settings, clock)
    return bearer(engine, clock, CODE, "sec1")


def test_text_with_nul_is_refused_and_nothing_is_written(
    client: TestClient, staff: dict[str, str]
) -> None:
    # PostgreSQL cannot store U+0000 (a driver error, 500); both backends now refuse it.
    asked = client.post(
        f"/api/events/{CODE}/questions", json={"session": "day1", "text": "a\x00b"}, headers=staff
    )
    assert asked.status_code == 422, asked.text
    assert asked.json()["problems"] == [
        {"path": "text", "value": "a\x00b", "reason": "contains a NUL character (U+0000)"}
    ]
    queue = client.get(f"/api/events/{CODE}/questions?session=day1", headers=staff)
    assert queue.status_code == 200
    assert "a\x00b" not in queue.text
    looked_up = client.get(f"/api/events/{CODE}/presence?person=p0%0001", headers=staff)
    assert looked_up.status_code == 422, looked_up.text
    assert looked_up.json()["error"] == "invalid"


@pytest.mark.parametrize(
    "method,action", [("POST", "vote"), ("DELETE", "vote"), ("POST", "moderate")]
)
@pytest.mark.parametrize(
    "question", ["99999999999999999999", "-99999999999999999999", "2147483648"]
)
def test_a_question_id_beyond_any_row_is_not_found(
    client: TestClient, staff: dict[str, str], method: str, action: str, question: str
) -> None:
    # Handed to the driver it overflowed (SQLite: OverflowError; PostgreSQL: out of range).
    body = {"action": "pin"} if action == "moderate" else None
    answer = client.request(
        method, f"/api/events/{CODE}/questions/{question}/{action}", json=body, headers=staff
    )
    assert answer.status_code == 404, answer.text
    assert answer.json() == {
        "error": "not_found",
        "detail": f"no question {question} in this event",
    }


def test_a_breakout_round_is_not_moved_by_an_impossible_number_of_minutes(
    client: TestClient, staff: dict[str, str], real_time: RealTime
) -> None:
    real_time.advance(hours=1, minutes=30)
    opened = client.post(f"{DAY1}/breakouts", json={"minutes": 20, "rooms": 2}, headers=staff)
    assert opened.status_code == 200, opened.text
    ends_at = opened.json()["ends_at"]
    # JSON numbers that Python reads as infinity (1e999) or that overflow a date (1e300);
    # NaN is accepted by FastAPI's JSON reader too.
    for minutes, shown, reason in [
        ("1e999", "inf", "must be a number of minutes"),
        ("-1e999", "-inf", "must be a number of minutes"),
        ("NaN", "nan", "must be a number of minutes"),
        ("1e300", 1e300, "the round would outlast the session day1"),
        ("-1e300", -1e300, "the round would end in the past"),
    ]:
        moved = client.post(
            f"{DAY1}/breakouts/time", content=f'{{"minutes": {minutes}}}', headers=staff | JSON
        )
        assert moved.status_code == 422, (minutes, moved.text)
        assert moved.json()["problems"] == [{"path": "minutes", "value": shown, "reason": reason}]
    now = client.get(f"{DAY1}/breakouts", headers=staff)
    assert now.json()["ends_at"] == ends_at


def test_refused_input_that_json_cannot_carry_is_echoed_safely(
    client: TestClient, staff: dict[str, str], real_time: RealTime
) -> None:
    # A problem echoing NaN, or a validation error echoing a lone surrogate, failed the
    # JSON encoding of the 422 itself.
    real_time.advance(hours=1, minutes=30)
    opened = client.post(f"{DAY1}/breakouts", content='{"minutes": NaN}', headers=staff | JSON)
    assert opened.status_code == 422, opened.text
    assert {"path": "minutes", "value": "nan", "reason": "must be more than 0"} in opened.json()[
        "problems"
    ]
    notice = client.post(
        f"/api/events/{CODE}/notices", content='{"text": "hi \\ud800"}', headers=staff | JSON
    )
    assert notice.status_code == 422, notice.text
    (problem,) = notice.json()["detail"]
    assert problem["loc"] == ["body", "text"]
    assert problem["input"] == "hi \\ud800"
    override = client.put(
        f"/api/events/{CODE}/overrides/p001",
        content='{"session": "day1", "minutes": Infinity}',
        headers=staff | JSON,
    )
    assert override.status_code == 422, override.text
    assert override.json()["detail"][0]["input"]["minutes"] == "inf"

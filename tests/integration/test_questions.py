"""The session Q&A over HTTP and the socket (docs/questions.md), on SQLite and PostgreSQL.

The clock of conftest stands at 12:00 in Seoul on 24 November, an hour before day 1: the
default session of the Q&A is day 1, the next one.
"""

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.testclient import WebSocketTestSession

from studymission.config import Settings
from studymission.db.tables import AuditEntry
from studymission.services.clock import Clock
from studymission.services.events import LoadOutcome
from tests.integration.helpers import bearer, load_event, sign_in

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"
API = f"/api/events/{CODE}/questions"
PAGE = f"/events/{CODE}/questions"
HX = {"HX-Request": "true"}

Headers = dict[str, str]


@pytest.fixture
def outcome(engine: Engine, settings: Settings, clock: Clock) -> LoadOutcome:
    return load_event(engine, settings, clock)


@pytest.fixture
def people(outcome: LoadOutcome, engine: Engine, clock: Clock) -> dict[str, Headers]:
    """Bearer headers of each person of the factory event, by key."""
    return {
        key: bearer(engine, clock, CODE, key) for key in ("p001", "p002", "rp1", "mod1", "sec1")
    }


def ask(client: TestClient, headers: Headers, text: str, **extra: Any) -> dict[str, Any]:
    response = client.post(API, json={"text": text, **extra}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def queue(client: TestClient, headers: Headers, **params: str) -> list[dict[str, Any]]:
    response = client.get(API, params=params, headers=headers)
    assert response.status_code == 200, response.text
    questions: list[dict[str, Any]] = response.json()["questions"]
    return questions


def act(client: TestClient, headers: Headers, qid: int, action: str) -> Any:
    return client.post(f"{API}/{qid}/moderate", json={"action": action}, headers=headers)


# -- asking --------------------------------------------------------------------------------------


def test_post_strips_the_text_and_defaults_to_the_next_session(
    client: TestClient, people: dict[str, Headers]
) -> None:
    body = ask(client, people["p001"], "  How is consent recorded?  ")
    assert body == {
        "id": body["id"],
        "session": "day1",
        "text": "How is consent recorded?",
        "author": {"name": "Nguyễn Thị Minh", "country": "VN"},
        "created_at": "2021-11-24T03:00:00Z",
        "votes": 0,
        "voted": False,
        "mine": True,
        "pinned": False,
        "answered": False,
        "answered_at": None,
        "hidden": False,
        "status": "open",
    }
    assert "email" not in str(body)
    assert ask(client, people["p001"], "On day 2?", session="day2")["session"] == "day2"


def test_post_lists_every_problem(client: TestClient, people: dict[str, Headers]) -> None:
    response = client.post(API, json={"text": "   ", "session": "day9"}, headers=people["p001"])
    assert response.status_code == 422
    assert response.json()["error"] == "invalid"
    assert [(p["path"], p["reason"]) for p in response.json()["problems"]] == [
        ("text", "write a question: it is empty"),
        ("session", "no such session in this event"),
    ]
    too_long = client.post(API, json={"text": "x" * 501}, headers=people["p001"])
    assert too_long.status_code == 422
    assert too_long.json()["problems"][0]["reason"] == "at most 500 characters; this has 501"
    assert queue(client, people["mod1"]) == []


def test_post_limits_unanswered_questions_and_repeats(
    client: TestClient, people: dict[str, Headers]
) -> None:
    first = ask(client, people["p001"], "One?")
    ask(client, people["p001"], "Two?")
    ask(client, people["p001"], "Three?")
    fourth = client.post(API, json={"text": "four?"}, headers=people["p001"])
    assert fourth.status_code == 422
    assert [p["reason"] for p in fourth.json()["problems"]] == [
        "you have 3 unanswered questions in this session; at most 3 until one is answered"
    ]
    # Another session has its own allowance; an answered question frees a place.
    ask(client, people["p001"], "Four?", session="day2")
    assert act(client, people["mod1"], first["id"], "answer").status_code == 200
    ask(client, people["p001"], "Four?")
    again = client.post(API, json={"text": " two? "}, headers=people["p001"])
    assert [p["reason"] for p in again.json()["problems"]] == [
        "you have 3 unanswered questions in this session; at most 3 until one is answered",
        "you have already asked this",
    ]
    # Staff relay questions from the room: no limit for them.
    for n in range(5):
        ask(client, people["mod1"], f"From the chat {n}")


# -- votes -------------------------------------------------------------------------------------


def test_vote_counts_once_and_not_for_ones_own(
    client: TestClient, people: dict[str, Headers]
) -> None:
    qid = ask(client, people["p001"], "Vote for me?")["id"]
    url = f"{API}/{qid}/vote"
    first = client.post(url, headers=people["p002"])
    assert (first.status_code, first.json()["votes"], first.json()["voted"]) == (200, 1, True)
    assert first.json()["changed"] is True
    again = client.post(url, headers=people["p002"])
    assert (again.status_code, again.json()["votes"], again.json()["changed"]) == (200, 1, False)
    assert client.post(url, headers=people["rp1"]).json()["votes"] == 2
    own = client.post(url, headers=people["p001"])
    assert (own.status_code, own.json()["problems"][0]["reason"]) == (
        422,
        "you cannot vote for your own question",
    )
    withdrawn = client.delete(url, headers=people["p002"])
    assert (withdrawn.json()["votes"], withdrawn.json()["voted"]) == (1, False)
    assert client.delete(url, headers=people["p002"]).json()["changed"] is False
    assert [(q["votes"], q["voted"]) for q in queue(client, people["rp1"])] == [(1, True)]
    assert client.post(f"{API}/999999/vote", headers=people["p002"]).status_code == 404


# -- hidden questions ---------------------------------------------------------------------------


def test_hidden_questions_never_reach_other_participants(
    client: TestClient, people: dict[str, Headers]
) -> None:
    qid = ask(client, people["p002"], "Something rude")["id"]
    kept = ask(client, people["p002"], "A fair question")["id"]
    hidden = act(client, people["mod1"], qid, "hide")
    assert (hidden.status_code, hidden.json()["hidden"], hidden.json()["changed"]) == (
        200,
        True,
        True,
    )
    assert hidden.json()["hidden_by"] == "Moderator One"
    assert act(client, people["mod1"], qid, "hide").json()["changed"] is False

    for other in ("p001", "rp1"):
        assert [q["id"] for q in queue(client, people[other])] == [kept]
        assert client.post(f"{API}/{qid}/vote", headers=people[other]).status_code == 404
        html = client.get(f"{PAGE}/list", headers={**people[other], **HX}).text
        assert "Something rude" not in html
    rp_panel = client.get(f"{PAGE}/moderate", headers={**people["rp1"], **HX}).text
    assert "Something rude" not in rp_panel
    # The author sees it, marked hidden, without who hid it.
    mine = queue(client, people["p002"])
    assert [(q["id"], q["hidden"], "hidden_by" in q) for q in mine] == [
        (kept, False, False),
        (qid, True, False),
    ]
    # Staff see it, marked, last, with who hid it and when; no one may vote for it.
    staff = queue(client, people["sec1"])
    assert [(q["id"], q["status"], q["hidden_by"]) for q in staff] == [
        (kept, "open", None),
        (qid, "hidden", "Moderator One"),
    ]
    assert client.post(f"{API}/{qid}/vote", headers=people["sec1"]).status_code == 422
    unhidden = act(client, people["sec1"], qid, "unhide").json()
    assert (unhidden["hidden"], unhidden["hidden_by"]) == (False, None)
    assert len(queue(client, people["p001"])) == 2


# -- moderation ---------------------------------------------------------------------------------


def test_moderation_is_refused_to_participants(
    client: TestClient, people: dict[str, Headers]
) -> None:
    qid = ask(client, people["p001"], "Pin me?")["id"]
    for action in ("hide", "unhide", "pin", "unpin", "answer", "reopen"):
        refused = act(client, people["p002"], qid, action)
        assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")
    assert client.get(f"{PAGE}/moderate", headers=people["p001"]).status_code == 403
    assert act(client, people["mod1"], qid, "explode").status_code == 422


def test_resource_person_marks_answered_but_does_not_moderate(
    client: TestClient, people: dict[str, Headers], engine: Engine
) -> None:
    qid = ask(client, people["p001"], "For the speaker")["id"]
    answered = act(client, people["rp1"], qid, "answer")
    assert (answered.status_code, answered.json()["answered"]) == (200, True)
    assert answered.json()["answered_at"] == "2021-11-24T03:00:00Z"
    assert act(client, people["rp1"], qid, "reopen").json()["answered"] is False
    for action in ("hide", "pin"):
        assert act(client, people["rp1"], qid, action).status_code == 403
    act(client, people["mod1"], qid, "hide")
    with Session(engine) as db:
        entries = db.exec(
            select(AuditEntry).where(col(AuditEntry.action).startswith("question."))
        ).all()
        assert [(e.actor, e.action, e.detail["question"]) for e in entries] == [
            ("Kim Min-jun", "question.answer", qid),
            ("Kim Min-jun", "question.reopen", qid),
            ("Moderator One", "question.hide", qid),
        ]


def test_queue_order_pinned_votes_age_answered(
    client: TestClient, people: dict[str, Headers]
) -> None:
    a = ask(client, people["p001"], "A")["id"]
    b = ask(client, people["p001"], "B")["id"]
    c = ask(client, people["p002"], "C")["id"]
    d = ask(client, people["p002"], "D")["id"]
    for voter in ("rp1", "mod1"):
        client.post(f"{API}/{c}/vote", headers=people[voter])
    client.post(f"{API}/{b}/vote", headers=people["p002"])
    act(client, people["mod1"], d, "pin")
    act(client, people["mod1"], a, "answer")
    order = queue(client, people["p001"])
    assert [(q["id"], q["status"], q["votes"]) for q in order] == [
        (d, "pinned", 0),
        (c, "open", 2),
        (b, "open", 1),
        (a, "answered", 0),
    ]


# -- exports -------------------------------------------------------------------------------------


def test_csv_and_xlsx_exports_hold_every_question(
    client: TestClient, people: dict[str, Headers]
) -> None:
    first = ask(client, people["p001"], "=1+1 is this a formula?")["id"]
    second = ask(client, people["p002"], "On day two", session="day2")["id"]
    client.post(f"{API}/{first}/vote", headers=people["p002"])
    act(client, people["mod1"], second, "hide")

    response = client.get(API, params={"format": "csv"}, headers=people["sec1"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="{CODE}-questions.csv"'
    assert response.text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert [
        (r["id"], r["session"], r["status"], r["text"], r["votes"], r["author_key"], r["hidden_by"])
        for r in rows
    ] == [
        (str(first), "day1", "open", "'=1+1 is this a formula?", "1", "p001", ""),
        (str(second), "day2", "hidden", "On day two", "0", "p002", "Moderator One"),
    ]
    assert rows[0]["author_name"] == "Nguyễn Thị Minh"
    assert rows[0]["created_at_utc"] == "2021-11-24T03:00:00Z"
    assert "email" not in rows[0]

    one = client.get(API, params={"format": "xlsx", "session": "day2"}, headers=people["mod1"])
    assert one.status_code == 200
    sheet = load_workbook(io.BytesIO(one.content))["Questions"]
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 2
    assert values[1][:8] == (
        second,
        "day2",
        "hidden",
        "On day two",
        0,
        False,
        "p002",
        "Şebnem Yıldız",
    )
    assert values[1][12] == "Moderator One"

    assert client.get(API, params={"format": "csv"}, headers=people["p001"]).status_code == 403
    missing = client.get(API, params={"format": "csv", "session": "day9"}, headers=people["sec1"])
    assert missing.status_code == 404


# -- cookies, CSRF and the htmx fragments --------------------------------------------------------


def test_cookie_writes_need_the_csrf_token(
    client: TestClient, outcome: LoadOutcome, people: dict[str, Headers]
) -> None:
    token = sign_in(client, outcome, "p001")
    refused = client.post(API, json={"text": "No token"})
    assert (refused.status_code, refused.json()["error"]) == (403, "csrf")
    accepted = client.post(API, json={"text": "With token"}, headers={"X-CSRF-Token": token})
    assert accepted.status_code == 201
    # The plain form (no JavaScript): the token as a field, then back to the live page.
    form = client.post(
        PAGE, data={"text": "From a form", "csrf_token": token}, follow_redirects=False
    )
    assert (form.status_code, form.headers["location"]) == (303, f"/events/{CODE}")
    assert client.post(PAGE, data={"text": "No token"}).status_code == 403
    assert [q["text"] for q in queue(client, people["mod1"])] == ["With token", "From a form"]


def test_live_panel_fragment_and_page(
    client: TestClient, outcome: LoadOutcome, people: dict[str, Headers]
) -> None:
    qid = ask(client, people["p002"], "Fragment <b>question</b>?")["id"]
    token = sign_in(client, outcome, "p001")
    fragment = client.get(PAGE, headers=HX)
    assert fragment.status_code == 200
    assert fragment.headers["vary"].startswith("HX-Request")
    html = fragment.text
    assert "<html" not in html
    assert 'id="questions"' in html and 'id="question-form"' in html
    assert 'maxlength="500"' in html
    assert 'aria-live="polite"' in html
    assert 'hx-trigger="sm:questions from:body, every 30s' in html
    assert "Fragment &lt;b&gt;question&lt;/b&gt;?" in html
    assert f'id="question-{qid}-vote"' in html and 'aria-pressed="false"' in html
    assert "Şebnem Yıldız" in html and "sebnem@example.org" not in html
    page = client.get(PAGE)
    assert page.status_code == 200 and "<html" in page.text and 'id="question-form"' in page.text

    # Voting through the fragment returns the list, pressed.
    voted = client.post(
        f"{PAGE}/{qid}/vote", data={"vote": "add"}, headers={**HX, "X-CSRF-Token": token}
    )
    assert voted.status_code == 200
    assert 'aria-pressed="true"' in voted.text and '<form id="question-form"' not in voted.text
    version = voted.text.split('id="questions-version" name="v" value="')[1].split('"')[0]
    unchanged = client.get(f"{PAGE}/list", params={"v": version}, headers=HX)
    assert unchanged.status_code == 204
    unvoted = client.post(
        f"{PAGE}/{qid}/vote", data={"vote": "remove"}, headers={**HX, "X-CSRF-Token": token}
    )
    assert 'aria-pressed="false"' in unvoted.text

    # A bad question comes back in the form, with its problems and the draft kept.
    bad = client.post(PAGE, data={"text": "x" * 501}, headers={**HX, "X-CSRF-Token": token})
    assert bad.status_code == 422
    assert 'aria-invalid="true"' in bad.text and "at most 500 characters" in bad.text
    assert "x" * 501 in bad.text
    good = client.post(PAGE, data={"text": "Fine"}, headers={**HX, "X-CSRF-Token": token})
    assert good.status_code == 200
    assert "Your question was posted." in good.text
    assert 'hx-swap-oob="innerHTML"' in good.text and "Fine" in good.text


def test_console_panels_by_role(client: TestClient, people: dict[str, Headers]) -> None:
    qid = ask(client, people["p001"], "Console?")["id"]
    staff = client.get(f"{PAGE}/moderate", headers={**people["mod1"], **HX}).text
    assert "<html" not in staff
    for action in ("pin", "answer", "hide"):
        assert f'id="question-{qid}-{action}"' in staff
    presenter = client.get(f"{PAGE}/moderate", headers={**people["rp1"], **HX}).text
    assert f'id="question-{qid}-answer"' in presenter
    assert f'id="question-{qid}-hide"' not in presenter
    hidden = client.post(
        f"{PAGE}/{qid}/moderate", data={"action": "hide"}, headers={**people["mod1"], **HX}
    )
    assert hidden.status_code == 200
    assert f'id="question-{qid}-unhide"' in hidden.text and "Hidden by Moderator One" in hidden.text
    listed = client.get(f"{PAGE}/moderate/list", headers={**people["sec1"], **HX})
    assert listed.status_code == 200 and "<section" not in listed.text
    assert (
        client.get(
            f"{PAGE}/moderate", params={"session": "day9"}, headers=people["mod1"]
        ).status_code
        == 404
    )


# -- live updates --------------------------------------------------------------------------------


def frames_before_pong(ws: WebSocketTestSession, ident: str) -> list[dict[str, Any]]:
    ws.send_json({"type": "ping", "id": ident})
    frames: list[dict[str, Any]] = []
    while True:
        frame: dict[str, Any] = ws.receive_json()
        if frame.get("type") == "pong" and frame.get("id") == ident:
            return frames
        frames.append(frame)


def test_every_change_reaches_the_sockets(client: TestClient, people: dict[str, Headers]) -> None:
    with client.websocket_connect(f"/ws/{CODE}", headers=people["p002"]) as ws:
        assert [ws.receive_json()["type"], ws.receive_json()["type"]] == ["welcome", "state"]
        expected = [{"type": "questions", "session": "day1"}]
        qid = ask(client, people["p001"], "Live?")["id"]
        assert frames_before_pong(ws, "posted") == expected
        client.post(f"{API}/{qid}/vote", headers=people["p002"])
        assert frames_before_pong(ws, "voted") == expected
        # A vote again changes nothing, and tells no one.
        client.post(f"{API}/{qid}/vote", headers=people["p002"])
        assert frames_before_pong(ws, "again") == []
        for action in ("pin", "hide", "unhide", "answer", "reopen", "unpin"):
            assert act(client, people["mod1"], qid, action).status_code == 200
            assert frames_before_pong(ws, action) == expected
        client.delete(f"{API}/{qid}/vote", headers=people["p002"])
        assert frames_before_pong(ws, "unvoted") == expected
        # Refused requests publish nothing.
        client.post(API, json={"text": ""}, headers=people["p001"])
        act(client, people["p001"], qid, "hide")
        assert frames_before_pong(ws, "refused") == []

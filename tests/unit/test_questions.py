"""The Q&A rules without a database: text limits, queue order, who sees hidden questions,
and the CSV/XLSX export."""

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from studymission.domain.values import Role
from studymission.exporters.questions_tables import COLUMNS, questions_csv, questions_xlsx
from studymission.services.questions import (
    MAX_LENGTH,
    QuestionItem,
    check_text,
    is_visible,
    order_queue,
    same_text,
)

pytestmark = pytest.mark.unit

T0 = datetime(2021, 11, 24, 4, 0, tzinfo=UTC)


def item(qid: int, *, votes: int = 0, minute: int = 0, **extra: object) -> QuestionItem:
    base = QuestionItem(
        id=qid,
        session="day1",
        text=f"Question {qid}",
        author_key="p001",
        author_name="Nguyễn Thị Minh",
        author_country="VN",
        created_at=T0 + timedelta(minutes=minute),
        votes=votes,
        pinned=False,
        answered_at=None,
        hidden_at=None,
        hidden_by=None,
    )
    return replace(base, **extra)  # type: ignore[arg-type]


def test_check_text_strips_and_accepts_up_to_the_limit() -> None:
    assert check_text("  What is data governance?\n") == ("What is data governance?", [])
    assert check_text("x" * MAX_LENGTH) == ("x" * MAX_LENGTH, [])


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_check_text_refuses_empty(text: str) -> None:
    _stripped, problems = check_text(text)
    assert [(p.path, p.reason) for p in problems] == [("text", "write a question: it is empty")]


def test_check_text_refuses_one_character_too_many() -> None:
    _stripped, problems = check_text(" " + "x" * (MAX_LENGTH + 1) + " ")
    assert [(p.path, p.value, p.reason) for p in problems] == [
        ("text", "501 characters", "at most 500 characters; this has 501")
    ]


def test_same_text_ignores_case_and_spacing() -> None:
    assert same_text("What  is\nX?", "what is x?")
    assert not same_text("What is X?", "What is Y?")


def test_order_queue_pinned_then_votes_then_oldest_answered_and_hidden_last() -> None:
    items = [
        item(1, votes=5, answered_at=T0),
        item(2, votes=1, minute=3),
        item(3, votes=3, minute=5),
        item(4, votes=1, minute=1),
        item(5, votes=0, pinned=True, minute=9),
        item(6, votes=9, hidden_at=T0, hidden_by="Moderator One"),
        item(7, votes=0, minute=2),
        # Pinned and answered: answered wins, it goes with the answered ones.
        item(8, votes=0, pinned=True, answered_at=T0, minute=4),
    ]
    assert [q.id for q in order_queue(items)] == [5, 3, 4, 2, 7, 1, 8, 6]


def test_order_queue_breaks_ties_of_the_same_instant_by_id() -> None:
    assert [q.id for q in order_queue([item(9), item(2)])] == [2, 9]


@pytest.mark.parametrize(
    ("role", "viewer", "shown"),
    [
        (Role.PARTICIPANT, "p002", False),
        (Role.RESOURCE_PERSON, "rp1", False),
        (Role.PARTICIPANT, "p001", True),  # the author sees their own, marked hidden
        (Role.MODERATOR, "mod1", True),
        (Role.SECRETARIAT, "sec1", True),
    ],
)
def test_hidden_questions_are_for_staff_and_the_author(
    role: Role, viewer: str, shown: bool
) -> None:
    hidden = item(1, hidden_at=T0, hidden_by="Moderator One")
    assert is_visible(hidden, role=role, person_key=viewer) is shown
    assert is_visible(item(2), role=role, person_key=viewer)


def test_item_status() -> None:
    assert [
        item(1).status,
        item(2, pinned=True).status,
        item(3, pinned=True, answered_at=T0).status,
        item(4, answered_at=T0, hidden_at=T0).status,
    ] == ["open", "pinned", "answered", "hidden"]


def test_csv_defuses_formulas_and_writes_utc_times() -> None:
    rows = [
        item(1, votes=2, text="=HYPERLINK(1)", pinned=True),
        item(2, hidden_at=T0, hidden_by="Moderator One", answered_at=T0 + timedelta(minutes=1)),
    ]
    parsed = list(csv.reader(io.StringIO(questions_csv(rows))))
    assert parsed[0] == list(COLUMNS)
    assert parsed[1] == [
        "1",
        "day1",
        "pinned",
        "'=HYPERLINK(1)",
        "2",
        "true",
        "p001",
        "Nguyễn Thị Minh",
        "VN",
        "2021-11-24T04:00:00Z",
        "",
        "",
        "",
    ]
    assert parsed[2][2] == "hidden"
    assert parsed[2][10:] == ["2021-11-24T04:01:00Z", "2021-11-24T04:00:00Z", "Moderator One"]


def test_xlsx_holds_the_same_values_and_is_reproducible() -> None:
    rows = [item(1, votes=2, text="+1 question"), item(2, hidden_at=T0, hidden_by="Mod")]
    data = questions_xlsx(rows, title="Mission")
    assert data == questions_xlsx(rows, title="Mission")
    sheet = load_workbook(io.BytesIO(data))["Questions"]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == COLUMNS
    assert values[1][:9] == (
        1,
        "day1",
        "open",
        "'+1 question",
        2,
        False,
        "p001",
        "Nguyễn Thị Minh",
        "VN",
    )
    assert values[1][9] == datetime(2021, 11, 24, 4, 0)
    assert values[2][2:3] == ("hidden",)
    assert values[2][11:] == (datetime(2021, 11, 24, 4, 0), "Mod")

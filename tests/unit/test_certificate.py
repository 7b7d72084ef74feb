"""The text a certificate prints: its dates, its code's shape, what changed since issue."""

from datetime import date

import pytest

from studymission.domain.certificate import (
    changes_since_issue,
    dates_text,
    is_code_shaped,
    normalise_code,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("first", "last", "text"),
    [
        (date(2021, 11, 24), date(2021, 11, 24), "24 November 2021"),
        (date(2021, 11, 24), date(2021, 11, 25), "24–25 November 2021"),
        (date(2021, 11, 30), date(2021, 12, 1), "30 November – 1 December 2021"),
        (date(2021, 12, 31), date(2022, 1, 1), "31 December 2021 – 1 January 2022"),
    ],
)
def test_dates_text(first: date, last: date, text: str) -> None:
    assert dates_text(first, last) == text


def test_code_normalised_and_shaped() -> None:
    assert normalise_code(" abcd-efgh jkmn-pqr2 ") == "ABCDEFGHJKMNPQR2"
    assert is_code_shaped("ABCDEFGHJKMNPQR2")
    assert not is_code_shaped("ABCDEFGHJKMNPQR0")  # 0 is not in the alphabet
    assert not is_code_shaped("ABC")


def test_changes_since_issue() -> None:
    same = {"printed_name": "A", "printed_country": "IN", "name": "A", "country": "IN"}
    assert changes_since_issue(**same) is None
    changed = {**same, "name": "B", "country": "NP"}
    assert changes_since_issue(**changed) == "name 'A' → 'B'; country IN → NP"

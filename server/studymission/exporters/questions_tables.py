"""The Q&A of an event as CSV and XLSX, for the event's reports (docs/questions.md).

Pure: each function takes the questions (services.questions.QuestionItem, every one,
hidden ones included) and returns text or bytes. Times are UTC; text cells that a
spreadsheet would run as a formula are defused as in the attendance exports.
"""

import csv
import io
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.writer.excel import ExcelWriter  # type: ignore[import-untyped]

from studymission.exporters.attendance_tables import (
    FIXED_STAMP,
    _finish,
    _restamp,
    _xlsx_text,
    defuse,
)
from studymission.services.questions import QuestionItem

COLUMNS = (
    "id",
    "session",
    "status",
    "text",
    "votes",
    "pinned",
    "author_key",
    "author_name",
    "author_country",
    "created_at_utc",
    "answered_at_utc",
    "hidden_at_utc",
    "hidden_by",
)


def questions_csv(items: Sequence[QuestionItem]) -> str:
    """One line per question; booleans ``true``/``false``, times ISO 8601 in UTC (``Z``)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for item in items:
        writer.writerow(
            [
                item.id,
                defuse(item.session),
                item.status,
                defuse(item.text),
                item.votes,
                "true" if item.pinned else "false",
                defuse(item.author_key),
                defuse(item.author_name),
                defuse(item.author_country),
                _iso(item.created_at),
                _iso(item.answered_at),
                _iso(item.hidden_at),
                defuse(item.hidden_by or ""),
            ]
        )
    return out.getvalue()


def questions_xlsx(
    items: Sequence[QuestionItem], *, title: str, stamp: datetime = FIXED_STAMP
) -> bytes:
    """A workbook with one "Questions" sheet of the CSV's columns; times as UTC dates."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Questions"
    sheet.append(list(COLUMNS))
    for item in items:
        sheet.append(
            [
                item.id,
                _xlsx_text(item.session),
                item.status,
                _xlsx_text(item.text),
                item.votes,
                item.pinned,
                _xlsx_text(item.author_key),
                _xlsx_text(item.author_name),
                _xlsx_text(item.author_country),
                _naive(item.created_at),
                _naive(item.answered_at),
                _naive(item.hidden_at),
                _xlsx_text(item.hidden_by) if item.hidden_by else None,
            ]
        )
    for column in ("J", "K", "L"):
        for (cell,) in sheet[f"{column}2:{column}{sheet.max_row}"] if sheet.max_row > 1 else ():
            cell.number_format = "yyyy-mm-dd hh:mm:ss"
    _finish(sheet, frozen="A2")
    naive = stamp.astimezone(UTC).replace(tzinfo=None)
    properties = workbook.properties
    properties.created = naive
    properties.modified = naive
    properties.creator = "studymission"
    properties.lastModifiedBy = "studymission"
    properties.title = _xlsx_text(title)
    buffer = io.BytesIO()
    # Not workbook.save(): it overwrites `modified` with the clock.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(workbook, archive).write_data()
    return _restamp(buffer.getvalue(), naive)


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _naive(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)

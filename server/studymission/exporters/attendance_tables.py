"""The attendance report (CONTRACT §4) as CSV, XLSX and the JSON of the attendance API.

Pure: each function takes an `AttendanceReport` and returns text, bytes or a dict; the
server decides where they go.
"""

import csv
import io
import math
import re
import zipfile
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from openpyxl.writer.excel import ExcelWriter  # type: ignore[import-untyped]

from studymission.domain.attendance import AttendanceReport, PersonAttendance, SessionAttendance

PERSON_COLUMNS = ("person", "name", "role", "country", "origin", "eligible", "ground")
SESSION_COLUMNS = ("required", "present", "ratio", "attended")

#: Spreadsheets run a cell starting with one of these as a formula (CSV/formula injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

#: The default stamp of the XLSX: the earliest a ZIP entry can hold, so nothing depends on
#: the moment the file was made and the same report always gives the same bytes.
FIXED_STAMP = datetime(1980, 1, 1, tzinfo=UTC)

# openpyxl refuses these control characters in a cell (XML 1.0 cannot hold them).
_XLSX_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def defuse(text: str) -> str:
    """`text` with a leading ``'`` when a spreadsheet would otherwise read it as a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def header(report: AttendanceReport) -> list[str]:
    """The column names shared by the CSV and the XLSX."""
    columns = list(PERSON_COLUMNS)
    for key, _title, _required in report.sessions:
        columns.extend(f"{key}_{suffix}" for suffix in SESSION_COLUMNS)
    return columns


def attendance_csv(report: AttendanceReport) -> str:
    """One line per person; booleans ``true``/``false``, ratios rounded to 3 decimals."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([defuse(column) for column in header(report)])
    for person in report.people:
        cells: list[str | int] = [
            *(defuse(text) for text in _person_texts(person)),
            _bool(person.eligible),
            defuse(person.eligibility.ground),
        ]
        for session in _aligned(report, person):
            cells.extend(
                [
                    session.required_minutes,
                    session.present_minutes,
                    f"{session.ratio_rounded:.3f}",
                    _bool(session.attended),
                ]
                if session
                else ["", "", "", ""]
            )
        writer.writerow(cells)
    return out.getvalue()


def attendance_xlsx(report: AttendanceReport, *, stamp: datetime = FIXED_STAMP) -> bytes:
    """A workbook with an "Attendance" sheet (the CSV's columns) and a "Sessions" sheet.

    `stamp` (timezone-aware) is written as the created and modified time, and as the time
    of every part of the ZIP, so the output depends on nothing but the arguments.
    """
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Attendance"
    columns = header(report)
    sheet.append([_xlsx_text(column) for column in columns])
    for person in report.people:
        row: list[object] = [
            *(_xlsx_text(text) for text in _person_texts(person)),
            person.eligible,
            _xlsx_text(person.eligibility.ground),
        ]
        for session in _aligned(report, person):
            # The exact ratio, not the rounded one: the cell's format rounds for display,
            # and a formula comparing it with the threshold then agrees with `attended`.
            row.extend(
                [
                    session.required_minutes,
                    session.present_minutes,
                    float(session.ratio),
                    session.attended,
                ]
                if session
                else [None, None, None, None]
            )
        sheet.append(row)
    for number in range(len(report.sessions)):
        index = len(PERSON_COLUMNS) + len(SESSION_COLUMNS) * number + 3  # 1-based "_ratio"
        for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
            cell.number_format = "0.0%"
    _finish(sheet, frozen="C2")

    sessions = workbook.create_sheet("Sessions")
    sessions.append(
        ["session", "title", "required_minutes", "session_threshold", "minimum_present_minutes"]
    )
    for key, title, required in report.sessions:
        sessions.append(
            [
                _xlsx_text(key),
                _xlsx_text(title),
                required,
                float(report.session_threshold),
                math.ceil(report.session_threshold * required),
            ]
        )
    for (cell,) in sessions.iter_rows(min_row=2, min_col=4, max_col=4):
        cell.number_format = "0%"
    _finish(sessions, frozen="A2")

    naive = stamp.astimezone(UTC).replace(tzinfo=None)
    properties = workbook.properties
    properties.created = naive
    properties.modified = naive
    properties.creator = "studymission"
    properties.lastModifiedBy = "studymission"
    properties.title = _XLSX_ILLEGAL.sub("", report.title)
    buffer = io.BytesIO()
    # Not workbook.save(): it overwrites `modified` with the clock.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(workbook, archive).write_data()
    return _restamp(buffer.getvalue(), naive)


def attendance_json(report: AttendanceReport) -> dict[str, Any]:
    """The body of ``GET /api/events/{code}/attendance``, with the extra fields per person
    ``country``, ``origin``, ``ground`` and ``override``."""
    return {
        "event": report.event,
        "session_threshold": float(report.session_threshold),
        "people": [_person_json(person) for person in report.people],
    }


def _person_json(person: PersonAttendance) -> dict[str, Any]:
    override = person.eligibility.override
    return {
        "key": person.key,
        "name": person.name,
        "role": person.role,
        "eligible": person.eligible,
        "sessions": [
            {
                "key": session.key,
                "required_minutes": session.required_minutes,
                "present_minutes": session.present_minutes,
                "ratio": session.ratio_rounded,
                "attended": session.attended,
            }
            for session in person.sessions
        ],
        "country": person.country,
        "origin": person.origin,
        "ground": person.eligibility.ground,
        "override": None
        if override is None
        else {
            "eligible": override.eligible,
            "reason": override.reason,
            "author": override.author,
            "at": override.at.isoformat(),
        },
    }


def _aligned(report: AttendanceReport, person: PersonAttendance) -> list[SessionAttendance | None]:
    """The person's sessions in the report's column order; None where one is missing, so a
    short or reordered tuple can never shift values into another session's columns."""
    by_key = {session.key: session for session in person.sessions}
    return [by_key.get(key) for key, _title, _required in report.sessions]


def _person_texts(person: PersonAttendance) -> tuple[str, ...]:
    return (person.key, person.name, person.role, person.country, person.origin)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _xlsx_text(text: str) -> str:
    # openpyxl would store a string starting with "=" as a formula; defused, it stays text.
    return defuse(_XLSX_ILLEGAL.sub("", text))


def _finish(sheet: Any, *, frozen: str) -> None:
    """Bold, frozen header; each column as wide as its longest value, within reason."""
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = frozen
    sheet.auto_filter.ref = sheet.dimensions
    for index, cells in enumerate(sheet.iter_cols(values_only=True), start=1):
        longest = max(len(_shown(value)) for value in cells)
        sheet.column_dimensions[get_column_letter(index)].width = min(max(longest + 2, 8), 40)


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "FALSE" if not value else "TRUE"
    if isinstance(value, float):
        return "100.0%"
    return "" if value is None else str(value)


def _restamp(data: bytes, when: datetime) -> bytes:
    """The same ZIP with every entry dated `when`: ZipFile stamps entries with the clock."""
    # ZIP can only date entries 1980–2107.
    when = min(max(when, datetime(1980, 1, 1)), datetime(2107, 12, 31, 23, 59, 58))
    stamp = (when.year, when.month, when.day, when.hour, when.minute, when.second)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=stamp)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = entry.external_attr
            target.writestr(fixed, source.read(entry))
    return out.getvalue()

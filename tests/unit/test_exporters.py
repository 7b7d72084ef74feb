"""The exporters: the heatmap SVG, and the attendance report as CSV, XLSX and JSON."""

import csv
import io
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from studymission.domain.attendance import (
    AttendanceReport,
    Override,
    PersonAttendance,
    SessionAttendance,
    eligibility,
)
from studymission.exporters.attendance_tables import (
    FIXED_STAMP,
    attendance_csv,
    attendance_json,
    attendance_xlsx,
)
from studymission.exporters.heatmap import (
    CELL_H,
    GRID_TOP,
    LABEL_MIN_W,
    MINUTE_W,
    PAD,
    ROW_H,
    SESSION_GAP,
    STATUS_W,
    HeatmapRow,
    HeatmapSession,
    render_heatmap,
)

pytestmark = pytest.mark.unit

SVG = "{http://www.w3.org/2000/svg}"
NASTY = "<b>&\"'Zoë</b>"

# -- heatmap -------------------------------------------------------------------------------

#: With short names the label column has its minimum width, so the first session starts here.
X0 = PAD + LABEL_MIN_W + STATUS_W
DAY1 = HeatmapSession("day1", "Day 1", 10, frozenset({5, 6, 7}), 10)
DAY2 = HeatmapSession("day2", "Day 2 <visit>", 6, frozenset(), 4)
X1 = X0 + 10 * MINUTE_W + SESSION_GAP


def heatmap_rows() -> list[HeatmapRow]:
    return [
        # present ×3, absent, partial, [break ×3, covered but not counted], present ×2
        HeatmapRow("p001", "Ana", "PH", True, {"day1": [60, 60, 30, 0, 29, 60, 60, 60, 60, 60]}),
        # no log for day1 at all; day2 longer than reached (the tail is ignored)
        HeatmapRow("p002", "Bo", "KR", False, {"day2": [60, 0, 60, 60, 60, 60]}),
        HeatmapRow("p003", "Chen", "TW", False, {"day1": [10] * 10, "day2": [60, 60]}),
    ]


def render(rows: list[HeatmapRow] | None = None, **kwargs: str) -> ET.Element:
    svg = render_heatmap(
        [DAY1, DAY2],
        heatmap_rows() if rows is None else rows,
        title="Smart Factories 2021",
        minute_threshold_seconds=30,
        **kwargs,
    )
    return ET.fromstring(svg)


def person_rows(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "row"]


def cells(row: ET.Element) -> list[tuple[str | None, int, int]]:
    """(class, x, width) of the state rects of one person's row."""
    return [
        (rect.get("class"), int(rect.get("x", "")), int(rect.get("width", "")))
        for rect in row.iter(f"{SVG}rect")
    ]


def test_svg_is_accessible_and_scalable() -> None:
    root = render()
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    labelled = (root.get("aria-labelledby") or "").split()
    ids = {element.get("id"): element for element in root.iter() if element.get("id")}
    assert [ids[name].tag for name in labelled] == [f"{SVG}title", f"{SVG}desc"]
    assert ids[labelled[0]].text == "Smart Factories 2021"
    assert "3 people, 1 eligible, across 2 sessions" in (ids[labelled[1]].text or "")
    width, height = int(root.get("width", "")), int(root.get("height", ""))
    assert root.get("viewBox") == f"0 0 {width} {height}"
    assert height == GRID_TOP + 3 * ROW_H + PAD
    assert width >= X1 + 6 * MINUTE_W + PAD


def test_one_group_per_person_with_label_and_hover_title() -> None:
    rows = person_rows(render())
    assert [row.get("data-person") for row in rows] == ["p001", "p002", "p003"]
    label = rows[0].find(f"{SVG}text")
    assert label is not None
    assert "".join(label.itertext()) == "Ana PH"
    assert rows[0].findtext(f"{SVG}title") == (
        "Ana (PH): eligible\n"
        "Day 1: 5 of 7 required minutes present\n"
        "Day 2 <visit>: 0 of 6 required minutes present so far"
    )
    assert rows[1].findtext(f"{SVG}title") == (
        "Bo (KR): not eligible\n"
        "Day 1: 0 of 7 required minutes present\n"
        "Day 2 <visit>: 3 of 6 required minutes present so far"
    )
    # The eligible mark is a symbol, not just a colour.
    marks = [[t.text for t in row.iter(f"{SVG}text") if t.get("class") == "ok"] for row in rows]
    assert marks == [["✓"], [], []]


def test_runs_are_merged_and_placed_by_minute() -> None:
    ana, bo, chen = person_rows(render())
    assert cells(ana) == [
        ("p", X0, 3 * MINUTE_W),  # 60, 60, 30: the threshold itself is present
        ("a", X0 + 3 * MINUTE_W, MINUTE_W),
        ("q", X0 + 4 * MINUTE_W, MINUTE_W),  # 29 s: partly there
        # minutes 5–7 are a break: no cell, the band shows through
        ("p", X0 + 8 * MINUTE_W, 2 * MINUTE_W),
        # day 2, not reached by Ana's log: absent for the 4 reached minutes
        ("a", X1, 4 * MINUTE_W),
    ]
    assert cells(bo) == [
        ("a", X0, 5 * MINUTE_W),
        ("a", X0 + 8 * MINUTE_W, 2 * MINUTE_W),
        ("p", X1, MINUTE_W),
        ("a", X1 + MINUTE_W, MINUTE_W),
        ("p", X1 + 2 * MINUTE_W, 2 * MINUTE_W),  # minutes 4–5 not reached: not drawn
    ]
    assert cells(chen)[:2] == [("q", X0, 5 * MINUTE_W), ("q", X0 + 8 * MINUTE_W, 2 * MINUTE_W)]
    for row in (ana, bo, chen):
        for rect in row.iter(f"{SVG}rect"):
            assert int(rect.get("height", "")) == CELL_H


def test_break_band_and_not_reached_span_every_row() -> None:
    root = render()
    rects = list(root.iter(f"{SVG}rect"))
    bands = [r for r in rects if r.get("class") == "brk"]
    assert len(bands) == 1
    band = bands[0]
    assert (int(band.get("x", "")), int(band.get("width", ""))) == (X0 + 15, 9)
    assert band.get("fill") == "url(#heatmap-hatch)"
    top, bottom = int(band.get("y", "")), int(band.get("y", "")) + int(band.get("height", ""))
    assert top <= GRID_TOP and bottom == GRID_TOP + 3 * ROW_H
    (later,) = [r for r in rects if r.get("class") == "nr" and r.get("y") == str(GRID_TOP)]
    assert (int(later.get("x", "")), int(later.get("width", ""))) == (X1 + 12, 6)
    assert int(later.get("height", "")) == 3 * ROW_H
    # The bands come before the rows, so the cells are drawn over them.
    order = list(root)
    first_row = next(i for i, e in enumerate(order) if e.get("class") == "row")
    assert all(order.index(e) < first_row for e in order if e.get("class") == "session")


def test_session_headers_and_ticks() -> None:
    long = HeatmapSession("d", "Day", 180, frozenset(), 180)
    root = ET.fromstring(
        render_heatmap([long], [], title="t", minute_threshold_seconds=30, id_prefix="h")
    )
    ticks = [
        (t.text, int(t.get("x", ""))) for t in root.iter(f"{SVG}text") if t.get("class") == "tk"
    ]
    start = PAD + LABEL_MIN_W + STATUS_W
    assert ticks == [
        (f"+{h}:{m:02d}", start + (60 * h + m) * MINUTE_W + 2)
        for h, m in [(0, 0), (0, 30), (1, 0), (1, 30), (2, 0), (2, 30)]
    ]
    headers = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "h2"]
    assert headers == ["Day"]
    assert person_rows(root) == []


def test_text_from_users_is_escaped() -> None:
    rows = [HeatmapRow("k'\"<", NASTY + "\x00\x1b", "V&N", True, {"day1": [60] * 10})]
    svg = render_heatmap(
        [DAY1], rows, title="A & <B>", minute_threshold_seconds=30, id_prefix="x y"
    )
    assert "<b>" not in svg and "\x00" not in svg and "\x1b" not in svg
    assert "&lt;b&gt;&amp;&quot;&apos;Zoë&lt;/b&gt;" in svg
    root = ET.fromstring(svg)
    (row,) = person_rows(root)
    assert row.get("data-person") == "k'\"<"
    label = row.find(f"{SVG}text")
    assert label is not None
    assert "".join(label.itertext()) == f"{NASTY} V&N"
    assert (row.findtext(f"{SVG}title") or "").startswith(f"{NASTY} (V&N): eligible\n")
    assert root.findtext(f"{SVG}title") == "A & <B>"
    assert root.get("id") == "x-y"  # an id (and the CSS scoped to it) holds no space


def test_long_names_are_shortened_in_the_label_only() -> None:
    name = "Maria " + "de la " * 30 + "Cruz"
    svg = render_heatmap(
        [DAY1],
        [HeatmapRow("p1", name, "PH", False, {})],
        title="t",
        minute_threshold_seconds=30,
    )
    (row,) = person_rows(ET.fromstring(svg))
    label = row.find(f"{SVG}text")
    assert label is not None
    assert (label.text or "").endswith("… ")
    assert len(label.text or "") < len(name)
    assert (row.findtext(f"{SVG}title") or "").startswith(name)


def test_legend_names_every_state() -> None:
    root = render()
    (legend,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "legend"]
    texts = [t.text for t in legend.iter(f"{SVG}text")]
    assert texts == [
        "present (≥ 30 s)",
        "partly there",
        "absent",
        "not reached yet",
        "break (not counted)",
        "✓",
        "eligible",
    ]
    swatches = [r.get("class") or r.get("fill") for r in legend.iter(f"{SVG}rect")]
    assert swatches == ["p", "q", "a", "nr", "url(#heatmap-hatch)"]
    style = root.findtext(f"{SVG}style") or ""
    assert "#heatmap .p{" in style  # scoped: an inline <style> reaches the whole page


def test_a_thousand_people_over_two_sessions() -> None:
    sessions = [
        HeatmapSession("day1", "Day 1", 180, frozenset(range(90, 105)), 180),
        HeatmapSession("day2", "Day 2", 180, frozenset(range(60, 75)), 120),
    ]
    # Every person leaves for a while at a different minute: a few runs each.
    rows = [
        HeatmapRow(
            f"p{i:04d}",
            f"Participant {i}",
            "KR",
            i % 2 == 0,
            {
                "day1": [0 if i % 170 <= m < i % 170 + 10 else 60 for m in range(180)],
                "day2": [15 if m == i % 120 else 60 for m in range(120)],
            },
        )
        for i in range(1000)
    ]
    svg = render_heatmap(sessions, rows, title="Big", minute_threshold_seconds=30)
    root = ET.fromstring(svg)
    assert len(person_rows(root)) == 1000
    rects = sum(1 for row in person_rows(root) for _ in row.iter(f"{SVG}rect"))
    assert 4000 <= rects <= 12_000  # run-length: a handful per person, not 300
    assert len(svg) < 1_500_000


# -- attendance tables ---------------------------------------------------------------------

AT = datetime(2021, 11, 26, 9, 30, tzinfo=UTC)


def person(
    key: str,
    name: str,
    sessions: tuple[SessionAttendance, ...],
    override: Override | None = None,
    role: str = "participant",
) -> PersonAttendance:
    return PersonAttendance(
        key, name, role, "KR", "local", sessions, eligibility(sessions, override)
    )


def report() -> AttendanceReport:
    return AttendanceReport(
        event="SM21",
        title="Smart Manufacturing",
        session_threshold=Fraction(9, 10),
        sessions=(("day1", "Day 1", 165), ("day2", "Day 2", 0)),
        people=(
            person(
                "p001",
                "Kim Min-jun",
                (SessionAttendance("day1", 165, 160, True), SessionAttendance("day2", 0, 0, True)),
            ),
            person(
                "p002",
                '=HYPERLINK("http://x","y")',
                (SessionAttendance("day1", 165, 2, False), SessionAttendance("day2", 0, 0, True)),
                Override(True, "Connection failed; watched the recording", "s001", AT),
                role="resource_person",
            ),
        ),
    )


def test_csv_columns_and_values() -> None:
    rows = list(csv.reader(io.StringIO(attendance_csv(report()))))
    assert rows == [
        [
            "person",
            "name",
            "role",
            "country",
            "origin",
            "eligible",
            "ground",
            "day1_required",
            "day1_present",
            "day1_ratio",
            "day1_attended",
            "day2_required",
            "day2_present",
            "day2_ratio",
            "day2_attended",
        ],  # fmt: skip
        [
            "p001",
            "Kim Min-jun",
            "participant",
            "KR",
            "local",
            "true",
            "attendance",
            "165",
            "160",
            "0.970",
            "true",
            "0",
            "0",
            "1.000",
            "true",
        ],  # fmt: skip
        [
            "p002",
            '\'=HYPERLINK("http://x","y")',
            "resource_person",
            "KR",
            "local",
            "true",
            "override",
            "165",
            "2",
            "0.012",
            "false",
            "0",
            "0",
            "1.000",
            "true",
        ],  # fmt: skip
    ]


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+82 10", "'+82 10"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Jean-Luc", "Jean-Luc"),
        ('O"Brien, "Jr"\nline', 'O"Brien, "Jr"\nline'),
        ("", ""),
    ],
)
def test_csv_defuses_formulas(name: str, written: str) -> None:
    sessions = (SessionAttendance("day1", 165, 160, True), SessionAttendance("day2", 0, 0, True))
    one = AttendanceReport(
        "E", "E", Fraction(9, 10), report().sessions, (person("p", name, sessions),)
    )
    rows = list(csv.reader(io.StringIO(attendance_csv(one), newline="")))
    assert rows[1][1] == written


def test_csv_keeps_columns_when_a_session_is_missing() -> None:
    short = person("p9", "Lee", (SessionAttendance("day2", 0, 0, True),))
    one = AttendanceReport("E", "E", Fraction(9, 10), report().sessions, (short,))
    rows = list(csv.reader(io.StringIO(attendance_csv(one))))
    assert rows[1][7:] == ["", "", "", "", "0", "0", "1.000", "true"]


def test_xlsx_attendance_sheet() -> None:
    book = load_workbook(io.BytesIO(attendance_xlsx(report())))
    assert book.sheetnames == ["Attendance", "Sessions"]
    sheet = book["Attendance"]
    assert sheet.freeze_panes == "C2"
    assert [c.value for c in sheet[1]][:8] == [
        "person", "name", "role", "country", "origin", "eligible", "ground", "day1_required",
    ]  # fmt: skip
    assert all(c.font.b for c in sheet[1])
    assert sheet.max_row == 3 and sheet.max_column == 15
    first = [c.value for c in sheet[2]]
    assert first == [
        "p001", "Kim Min-jun", "participant", "KR", "local", True, "attendance",
        165, 160, pytest.approx(160 / 165), True, 0, 0, 1.0, True,
    ]  # fmt: skip
    assert sheet["F2"].data_type == "b" and sheet["K2"].data_type == "b"
    assert sheet["J2"].data_type == "n" and sheet["J2"].number_format == "0.0%"
    assert sheet["N2"].number_format == "0.0%"
    name = sheet["B3"]
    assert name.value == '\'=HYPERLINK("http://x","y")' and name.data_type == "s"
    assert sheet["F3"].value is True and sheet["G3"].value == "override"
    assert sheet.column_dimensions["B"].width >= len(name.value)
    assert sheet.column_dimensions["A"].width >= 8


def test_xlsx_sessions_sheet_and_properties() -> None:
    stamp = datetime(2021, 11, 26, 18, 0, tzinfo=UTC)
    data = attendance_xlsx(report(), stamp=stamp)
    book = load_workbook(io.BytesIO(data))
    sheet = book["Sessions"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["session", "title", "required_minutes", "session_threshold", "minimum_present_minutes"],
        ["day1", "Day 1", 165, 0.9, 149],
        ["day2", "Day 2", 0, 0.9, 0],
    ]
    assert sheet["D2"].number_format == "0%"
    assert sheet.freeze_panes == "A2"
    assert book.properties.created == datetime(2021, 11, 26, 18, 0)
    assert book.properties.modified == datetime(2021, 11, 26, 18, 0)
    assert book.properties.title == "Smart Manufacturing"


def test_xlsx_depends_on_nothing_but_its_arguments() -> None:
    first = attendance_xlsx(report())
    assert attendance_xlsx(report()) == first
    # Nothing in it reads the clock: every time in the file is the fixed stamp.
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {entry.date_time for entry in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = archive.read("docProps/core.xml").decode()
    assert core.count("1980-01-01T00:00:00Z") == 2
    book = load_workbook(io.BytesIO(first))
    assert book.properties.created == FIXED_STAMP.replace(tzinfo=None)
    assert book.properties.modified == FIXED_STAMP.replace(tzinfo=None)


def test_xlsx_survives_control_characters() -> None:
    sessions = (SessionAttendance("day1", 165, 160, True), SessionAttendance("day2", 0, 0, True))
    one = AttendanceReport(
        "E", "E", Fraction(9, 10), report().sessions, (person("p", "\x01=Bad\x02", sessions),)
    )
    book = load_workbook(io.BytesIO(attendance_xlsx(one)))
    assert book["Attendance"]["B2"].value == "'=Bad"


def test_json_is_the_contract_shape() -> None:
    assert attendance_json(report()) == {
        "event": "SM21",
        "session_threshold": 0.9,
        "people": [
            {
                "key": "p001",
                "name": "Kim Min-jun",
                "role": "participant",
                "eligible": True,
                "sessions": [
                    {
                        "key": "day1",
                        "required_minutes": 165,
                        "present_minutes": 160,
                        "ratio": 0.97,
                        "attended": True,
                    },
                    {
                        "key": "day2",
                        "required_minutes": 0,
                        "present_minutes": 0,
                        "ratio": 1.0,
                        "attended": True,
                    },
                ],
                "country": "KR",
                "origin": "local",
                "ground": "attendance",
                "override": None,
            },
            {
                "key": "p002",
                "name": '=HYPERLINK("http://x","y")',
                "role": "resource_person",
                "eligible": True,
                "sessions": [
                    {
                        "key": "day1",
                        "required_minutes": 165,
                        "present_minutes": 2,
                        "ratio": 0.012,
                        "attended": False,
                    },
                    {
                        "key": "day2",
                        "required_minutes": 0,
                        "present_minutes": 0,
                        "ratio": 1.0,
                        "attended": True,
                    },
                ],
                "country": "KR",
                "origin": "local",
                "ground": "override",
                "override": {
                    "eligible": True,
                    "reason": "Connection failed; watched the recording",
                    "author": "s001",
                    "at": "2021-11-26T09:30:00+00:00",
                },
            },
        ],
    }

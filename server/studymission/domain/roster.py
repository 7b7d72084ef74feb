"""People from a CSV file, and join links back out to one.

The secretariat imports nominated participants from a spreadsheet (web upload and
CLI). Every bad row is reported by its physical line and field in one pass, and
nothing is imported when any row is bad. Here are the parsing-level checks and the
obvious per-field ones that read best next to a line number; spec validation
(`people[]`) still runs on the result.
"""

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Set
from types import MappingProxyType
from typing import NamedTuple

from studymission.domain.values import Origin, Problem, Role

PEOPLE_CSV_COLUMNS = ("key", "name", "email", "country", "organization", "role", "origin")
REQUIRED_COLUMNS = ("key", "name", "email", "country")
DEFAULTS: Mapping[str, str] = MappingProxyType(
    {"organization": "", "role": Role.PARTICIPANT.value, "origin": Origin.OVERSEAS.value}
)
JOIN_LINKS_COLUMNS = ("key", "name", "email", "role", "join_url")

_BOM = "\ufeff"
_DELIMITERS = (",", ";", "\t")
# Deliberately loose: spec validation has the last word; this catches typos early.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_COUNTRY = re.compile(r"[A-Z]{2}")
# Spreadsheets run a cell starting with these as a formula (OWASP "CSV injection");
# tab and carriage return are on OWASP's list too.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class PersonRow(NamedTuple):
    """One person read from the file, with the physical line their row starts on."""

    line: int
    person: dict[str, str]


class _Header(NamedTuple):
    line: int
    columns: tuple[str, ...]


def parse_people_csv(
    text: str, *, countries: Set[str] | None = None
) -> tuple[list[dict[str, str]], list[Problem]]:
    """Return the people of a CSV file, or no people and every problem found."""
    rows, problems = parse_people_rows(text, countries=countries)
    # All or nothing: a caller that forgets to look at `problems` still imports nothing.
    return ([] if problems else [row.person for row in rows]), problems


def parse_people_rows(
    text: str, *, countries: Set[str] | None = None, include_bad: bool = False
) -> tuple[list[PersonRow], list[Problem]]:
    """Return every good row with its line number, and every problem, in one pass.

    With `include_bad`, rows with bad fields come back too, so that a caller can check
    them against more rules and still report every problem of the file at once.
    """
    problems: list[Problem] = []
    records = _records(text.removeprefix(_BOM), problems)
    header = _read_header(records, problems)
    if header is None:
        return [], problems
    rows: list[PersonRow] = []
    for line, cells in records:
        person = _read_row(line, cells, header, problems)
        if person is not None:
            rows.append(PersonRow(line, person))
    _check_fields(rows, countries, problems)
    _check_unique(rows, problems)
    problems.sort(key=_line_of)  # stable: within a line, in the order found
    if include_bad:
        return rows, problems
    bad_lines = {_line_of(problem) for problem in problems}
    return [row for row in rows if row.line not in bad_lines], problems


def people_csv_template() -> str:
    """Return a CSV with the expected header and one example row."""
    example = (
        "p001",
        "Nguyễn Thị Minh",
        "minh.nguyen@example.org",
        "VN",
        "Vietnam National Productivity Institute",
        Role.PARTICIPANT.value,
        Origin.OVERSEAS.value,
    )
    return _write_csv([PEOPLE_CSV_COLUMNS, example])


def join_links_csv(rows: Iterable[tuple[str, str, str, str, str]]) -> str:
    """Return CSV "key,name,email,role,join_url", safe to open in a spreadsheet."""
    return _write_csv([JOIN_LINKS_COLUMNS, *(tuple(map(_defuse, row)) for row in rows)])


def _write_csv(rows: Iterable[Iterable[str]]) -> str:
    # csv's default "\r\n" is RFC 4180; callers that serve it for Excel should encode
    # with "utf-8-sig" so that non-ASCII names survive.
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def _defuse(cell: str) -> str:
    # A leading apostrophe makes the spreadsheet show the text instead of evaluating
    # it; a name like "=HYPERLINK(...)" from a nomination form must stay inert.
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _sniff_delimiter(text: str) -> str:
    # European spreadsheets save with ";"; pick the delimiter that splits the
    # header into the most known column names (csv.Sniffer guesses on content).
    first = next((line for line in text.splitlines() if line.strip()), "")
    known = set(PEOPLE_CSV_COLUMNS)

    def score(delimiter: str) -> int:
        cells = next(csv.reader([first], delimiter=delimiter), [])
        return sum(_column_name(cell) in known for cell in cells)

    return max(_DELIMITERS, key=score)  # ties keep the first: ","


def _records(text: str, problems: list[Problem]) -> Iterator[tuple[int, list[str]]]:
    """Yield (first physical line, cells) of every non-blank record."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text))
    # reader.line_num counts physical lines read so far, so a record starts on the
    # line after the previous one ended, however many newlines its quoted fields hold.
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):  # blank lines and ",,,," rows
                yield start, cells
            start = reader.line_num + 1
    except csv.Error as error:  # e.g. a field over csv.field_size_limit()
        problems.append(Problem(f"line {start}", "", f"unreadable CSV: {error}"))


def _read_header(
    records: Iterator[tuple[int, list[str]]], problems: list[Problem]
) -> _Header | None:
    first = next(records, None)
    if first is None:
        if not problems:
            problems.append(Problem("line 1", "", "the file is empty: expected a header line"))
        return None
    line, cells = first
    columns = tuple(_column_name(cell) for cell in cells)
    problems.extend(_header_problems(line, columns))
    return _Header(line, columns)


def _header_problems(line: int, columns: tuple[str, ...]) -> Iterator[Problem]:
    expected = ", ".join(PEOPLE_CSV_COLUMNS)
    for index, name in enumerate(columns, start=1):
        if not name:
            yield Problem(f"line {line}.column {index}", "", "column without a name")
        elif name not in PEOPLE_CSV_COLUMNS:
            yield Problem(f"line {line}.{name}", name, f"unknown column (expected {expected})")
        elif columns.index(name) != index - 1:
            yield Problem(f"line {line}.{name}", name, "duplicate column")
    for name in REQUIRED_COLUMNS:
        if name not in columns:
            yield Problem(f"line {line}.{name}", "", "required column is missing")


def _read_row(
    line: int, cells: list[str], header: _Header, problems: list[Problem]
) -> dict[str, str] | None:
    if len(cells) != len(header.columns):
        reason = f"expected {len(header.columns)} fields as in the header, found {len(cells)}"
        problems.append(Problem(f"line {line}", len(cells), reason))
        return None
    given = {name: cell.strip() for name, cell in zip(header.columns, cells, strict=True)}
    person = {name: given.get(name) or DEFAULTS.get(name, "") for name in PEOPLE_CSV_COLUMNS}
    for name in REQUIRED_COLUMNS:
        if name in header.columns and not person[name]:
            problems.append(Problem(f"line {line}.{name}", "", "required field is empty"))
    return _normalised(person)


def _normalised(person: dict[str, str]) -> dict[str, str]:
    # Codes are case-insensitive for people typing them; the spec wants them exact.
    return {
        **person,
        "country": person["country"].upper(),
        "role": person["role"].lower(),
        "origin": person["origin"].lower(),
    }


def _check_fields(
    rows: list[PersonRow], countries: Set[str] | None, problems: list[Problem]
) -> None:
    roles, origins = {r.value for r in Role}, {o.value for o in Origin}
    for line, person in rows:
        email, country = person["email"], person["country"]
        if email and not _EMAIL.fullmatch(email):
            problems.append(Problem(f"line {line}.email", email, "not a valid email address"))
        if country and not _COUNTRY.fullmatch(country):
            problems.append(Problem(f"line {line}.country", country, "not a two-letter code"))
        elif country and countries is not None and country not in countries:
            problems.append(Problem(f"line {line}.country", country, "unknown country code"))
        if person["role"] not in roles:
            reason = f"not a role (one of {', '.join(sorted(roles))})"
            problems.append(Problem(f"line {line}.role", person["role"], reason))
        if person["origin"] not in origins:
            reason = f"not an origin (one of {', '.join(sorted(origins))})"
            problems.append(Problem(f"line {line}.origin", person["origin"], reason))


def _check_unique(rows: list[PersonRow], problems: list[Problem]) -> None:
    for field, fold in (("key", str), ("email", str.casefold)):
        seen: dict[str, int] = {}
        for line, person in rows:
            value = fold(person[field])
            if value and value in seen:
                reason = f"duplicate of line {seen[value]}"
                problems.append(Problem(f"line {line}.{field}", person[field], reason))
            seen.setdefault(value, line)


def _column_name(cell: str) -> str:
    return cell.strip().lower()


def _line_of(problem: Problem) -> int:
    return int(problem.path.removeprefix("line ").split(".", 1)[0])

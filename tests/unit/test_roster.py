"""People from a CSV file: every bad row by line and field, all or nothing."""

import csv
import io

import pytest

from studymission.domain.roster import (
    PEOPLE_CSV_COLUMNS,
    join_links_csv,
    parse_people_csv,
    parse_people_rows,
    people_csv_template,
)
from studymission.domain.values import Problem

pytestmark = pytest.mark.unit

GOOD = (
    "key,name,email,country,organization,role,origin\n"
    "p001,Nguyễn Thị Minh,minh@vn.example.org,VN,Vietnam National Productivity Institute,"
    "participant,overseas\n"
    "p002,Şebnem Yıldız,sebnem@tr.example.org,TR,Ministry of Industry and Technology,,\n"
    "p003,김민준,minjun@kr.example.net,kr,Korea Productivity Center,participant,local\n"
)


def paths(problems: list[Problem]) -> list[str]:
    return [p.path for p in problems]


def test_good_file() -> None:
    people, problems = parse_people_csv(GOOD)
    assert problems == []
    assert [p["key"] for p in people] == ["p001", "p002", "p003"]
    assert people[0] == {
        "key": "p001",
        "name": "Nguyễn Thị Minh",
        "email": "minh@vn.example.org",
        "country": "VN",
        "organization": "Vietnam National Productivity Institute",
        "role": "participant",
        "origin": "overseas",
    }
    # Empty role and origin take the defaults; codes are normalised.
    assert (people[1]["role"], people[1]["origin"]) == ("participant", "overseas")
    assert (people[2]["country"], people[2]["origin"]) == ("KR", "local")


def test_only_required_columns_take_defaults() -> None:
    people, problems = parse_people_csv("name,key,country,email\nA. Person,p9,IN,a@example.org\n")
    assert problems == []
    assert people == [
        {
            "key": "p9",
            "name": "A. Person",
            "email": "a@example.org",
            "country": "IN",
            "organization": "",
            "role": "participant",
            "origin": "overseas",
        }
    ]


def test_utf8_bom_is_accepted() -> None:
    people, problems = parse_people_csv("\ufeff" + GOOD)
    assert problems == []
    assert people[0]["key"] == "p001"


def test_semicolons_and_crlf() -> None:
    text = GOOD.replace(",", ";").replace("\n", "\r\n")
    people, problems = parse_people_csv(text)
    assert problems == []
    assert [p["name"] for p in people] == ["Nguyễn Thị Minh", "Şebnem Yıldız", "김민준"]


def test_semicolons_with_commas_inside_fields() -> None:
    text = (
        "key;name;email;country;organization\n"
        "p1;Chan, Ka-wai;chan@hk.example.org;HK;Hong Kong Productivity Council, HK\n"
    )
    people, problems = parse_people_csv(text)
    assert problems == []
    assert people[0]["name"] == "Chan, Ka-wai"


def test_blank_lines_are_skipped_and_counted() -> None:
    text = "\nkey,name,email,country\n\n   \n,,,\np1,A,a@example.org,IN\n\np2,B,b@,IN\n"
    people, problems = parse_people_csv(text)
    assert people == []
    assert problems == [Problem("line 8.email", "b@", "not a valid email address")]


def test_quoted_multiline_field_keeps_line_numbers() -> None:
    text = (
        "key,name,email,country,organization\n"  # line 1
        'p1,"Dela Cruz, Maria",maria@ph.example.org,PH,"Development Academy\n'  # line 2
        'of the Philippines,\nManila"\n'  # lines 3-4
        "p2,Budi,budi@id,ID,Ministry\n"  # line 5
        'p3,"Tan\r\nWei Ming",,SG,GovTech\n'  # lines 6-7
        "p4,Siti,siti@id.example.org,ID,Ministry\n"  # line 8
        "p5,Dewi,dewi@id.example.org,ID\n"  # line 9
    )
    rows, problems = parse_people_rows(text)
    assert paths(problems) == ["line 5.email", "line 6.email", "line 9"]
    assert [(r.line, r.person["key"]) for r in rows] == [(2, "p1"), (8, "p4")]
    assert rows[0].person["organization"] == "Development Academy\nof the Philippines,\nManila"
    assert rows[0].person["name"] == "Dela Cruz, Maria"


def test_every_bad_row_is_reported_in_one_pass() -> None:
    text = (
        "key,name,email,country,organization,role,origin\n"
        "p1,Good One,good@example.org,IN,NPC,participant,overseas\n"  # 2: fine
        "p2,,x@,India,NPC,chair,abroad\n"  # 3: five problems
        ",Nameless,nameless@example.org,ZZ,NPC,,\n"  # 4: empty key; ZZ unknown
        "p1,Again,GOOD@example.org,IN,NPC,,\n"  # 5: duplicate key and email
        "p6,Short,short@example.org,IN\n"  # 6: too few fields
        "p7,Long,long@example.org,IN,NPC,participant,overseas,extra\n"  # 7: too many
    )
    people, problems = parse_people_csv(text, countries={"IN", "KR"})
    assert people == []
    assert [(p.path, p.value) for p in problems] == [
        ("line 3.name", ""),
        ("line 3.email", "x@"),
        ("line 3.country", "INDIA"),
        ("line 3.role", "chair"),
        ("line 3.origin", "abroad"),
        ("line 4.key", ""),
        ("line 4.country", "ZZ"),
        ("line 5.key", "p1"),
        ("line 5.email", "GOOD@example.org"),
        ("line 6", 4),
        ("line 7", 8),
    ]
    assert problems[1].reason == "not a valid email address"
    assert problems[7].reason == "duplicate of line 2"
    assert "expected 7 fields" in problems[-1].reason
    assert str(problems[1]) == "line 3.email: 'x@': not a valid email address"


def test_good_rows_are_still_returned_with_their_lines() -> None:
    text = "key,name,email,country\np1,A,a@example.org,IN\np2,B,,IN\np3,C,c@example.org,IN\n"
    rows, problems = parse_people_rows(text)
    assert paths(problems) == ["line 3.email"]
    assert [r.line for r in rows] == [2, 4]
    # ... but the all-or-nothing entry point imports nothing.
    assert parse_people_csv(text)[0] == []
    every, _ = parse_people_rows(text, include_bad=True)
    assert [r.line for r in every] == [2, 3, 4]


def test_missing_header_column() -> None:
    text = "key,name,country\np1,A,IN\n"
    people, problems = parse_people_csv(text)
    assert people == []
    assert problems == [Problem("line 1.email", "", "required column is missing")]


def test_missing_header_after_blank_lines_is_on_its_own_line() -> None:
    _, problems = parse_people_csv("\n\nkey;name;email\np1;A;a@example.org\n")
    assert paths(problems) == ["line 3.country"]


def test_unknown_duplicate_and_unnamed_columns() -> None:
    text = "key,name,email,country,phone,email,\np1,A,a@example.org,IN,123,b@example.org,\n"
    people, problems = parse_people_csv(text)
    assert people == []
    assert [(p.path, p.reason.split(" (")[0]) for p in problems] == [
        ("line 1.phone", "unknown column"),
        ("line 1.email", "duplicate column"),
        ("line 1.column 7", "column without a name"),
    ]


def test_header_names_are_case_and_space_insensitive() -> None:
    people, problems = parse_people_csv(" Key , NAME,Email,Country\np1,A,a@example.org,in\n")
    assert problems == []
    assert people[0]["country"] == "IN"


@pytest.mark.parametrize("text", ["", "\ufeff", "\n\n  \n"])
def test_empty_file(text: str) -> None:
    people, problems = parse_people_csv(text)
    assert people == []
    assert paths(problems) == ["line 1"]


def test_header_only_is_no_people_and_no_problem() -> None:
    assert parse_people_csv("key,name,email,country\n") == ([], [])


def test_unreadable_csv_is_a_problem_not_a_crash() -> None:
    huge = "x" * (csv.field_size_limit() + 1)
    text = f"key,name,email,country\np1,A,a@example.org,IN\np2,{huge},b@example.org,IN\n"
    people, problems = parse_people_csv(text)
    assert people == []
    assert paths(problems) == ["line 3"]
    assert problems[0].reason.startswith("unreadable CSV")


def test_template_parses_to_one_person() -> None:
    template = people_csv_template()
    assert template.splitlines()[0] == ",".join(PEOPLE_CSV_COLUMNS)
    people, problems = parse_people_csv(template)
    assert problems == []
    assert len(people) == 1


def test_join_links_csv() -> None:
    text = join_links_csv(
        [("p001", "Şebnem Yıldız", "s@example.org", "participant", "https://x.example/join/t1")]
    )
    assert list(csv.reader(io.StringIO(text))) == [
        ["key", "name", "email", "role", "join_url"],
        ["p001", "Şebnem Yıldız", "s@example.org", "participant", "https://x.example/join/t1"],
    ]


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("Plain Name", "Plain Name"),
        ("a=b", "a=b"),
    ],
)
def test_join_links_csv_defuses_formulas(cell: str, written: str) -> None:
    text = join_links_csv([("p1", cell, "a@example.org", "participant", "https://x.example/j")])
    assert list(csv.reader(io.StringIO(text)))[1][1] == written

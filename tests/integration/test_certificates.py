"""Certificates of attendance (issue 7): issued to exactly the eligible plus overrides, issued
again after a correction under the same code, revoked with a reason, downloaded (own PDF,
ZIP, merged PDF, CLI), and verified in public without saying anything else about the person.

Eligibility comes from presence minutes written straight into the log (as in
test_attendance_api.py) and from a secretariat override with its reason.
"""

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from studymission.cli import app as cli_app
from studymission.config import Settings
from studymission.db.tables import AuditEntry, Certificate, CertificateRevision, Person
from studymission.exporters.certificate_pdf import pdf_to_png
from studymission.services.clock import Clock
from studymission.web.rate_limit import RateLimiter
from tests.conftest import TEST_SECRET, RealTime
from tests.factories import make_spec
from tests.integration.helpers import bearer, load_event, sign_in
from tests.integration.test_attendance_api import full_minutes, ids, write_minutes

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"
AFTER = datetime(2021, 11, 26, 0, 0, tzinfo=UTC)
API = f"/api/events/{CODE}"
P003 = {
    "key": "p003",
    "name": "Sadeq Ḥosseini",
    "email": "sadeq@example.org",
    "country": "IR",
    "organization": "NIPO",
    "role": "participant",
    "origin": "overseas",
}
OVERRIDE_REASON = "Missed day 2 for a documented medical emergency; watched the recording"


def spec(**changes: str) -> dict[str, Any]:
    """The factory event plus p003; `changes` rename p001 (a name fix)."""
    raw = make_spec()
    raw["people"].append(dict(P003))
    if "p001_name" in changes:
        raw["people"][0]["name"] = changes["p001_name"]
    return raw


@pytest.fixture
def event(engine: Engine, settings: Settings, clock: Clock, real_time: RealTime) -> Any:
    """p001 attended everything; p002 and p003 only day 1; the clock after both days."""
    outcome = load_event(engine, settings, clock, spec())
    sessions, people = ids(engine)
    day1, day2 = sessions["day1"], sessions["day2"]
    write_minutes(
        engine,
        [
            *full_minutes(day1, people["p001"], range(180)),
            *full_minutes(day2, people["p001"], range(180)),
            *full_minutes(day1, people["p002"], range(180)),
            *full_minutes(day1, people["p003"], range(180)),
        ],
    )
    real_time.now = AFTER
    return outcome


@pytest.fixture
def sec(engine: Engine, clock: Clock, event: Any) -> dict[str, str]:
    return bearer(engine, clock, CODE, "sec1")


def override_p003(client: TestClient, sec: dict[str, str]) -> None:
    body = {"eligible": True, "reason": OVERRIDE_REASON}
    response = client.put(f"{API}/overrides/p003", json=body, headers=sec)
    assert response.status_code == 200, response.text


def issued(engine: Engine) -> dict[str, Certificate]:
    with Session(engine) as db:
        rows = db.exec(
            select(Certificate, Person).join(Person, col(Person.id) == col(Certificate.person_id))
        ).all()
    return {person.key: certificate for certificate, person in rows}


def issue(client: TestClient, sec: dict[str, str], people: list[str] | None = None) -> Any:
    body = {} if people is None else {"people": people}
    return client.post(f"{API}/certificates", json=body, headers=sec)


# --- issuing ---------------------------------------------------------------------------


def test_issue_to_all_is_exactly_the_eligible_plus_overrides(
    client: TestClient, engine: Engine, sec: dict[str, str]
) -> None:
    override_p003(client, sec)
    response = issue(client, sec)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued"] == ["p001", "p003"]
    assert body["reissued"] == body["unchanged"] == body["revoked"] == []
    certificates = issued(engine)
    assert sorted(certificates) == ["p001", "p003"]
    p001, p003 = certificates["p001"], certificates["p003"]
    assert body["links"] == {
        "p001": f"http://testserver/verify/{p001.code}",
        "p003": f"http://testserver/verify/{p003.code}",
    }
    assert (p001.by_override, p003.by_override) == (False, True)
    # 165 required minutes of day 1 (the break not counted) and 180 of day 2.
    assert p001.hours == 5.75
    assert p001.sessions == [
        {"key": "day1", "title": "Day 1", "date": "2021-11-24", "hours": 2.75},
        {"key": "day2", "title": "Day 2", "date": "2021-11-25", "hours": 3.0},
    ]
    assert p003.hours == 2.75
    assert (p001.name, p001.country, p001.revision) == ("Nguyễn Thị Minh", "VN", 1)
    assert len(p001.code) == 16 and p001.code != p003.code
    assert set(p001.code) <= set("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
    listing = client.get(f"{API}/certificates", headers=sec).json()
    assert (listing["eligible"], listing["ineligible"], listing["by_override"]) == (2, 1, 1)
    by_key = {p["key"]: p for p in listing["people"]}
    assert by_key["p003"]["override_reason"] == OVERRIDE_REASON
    assert by_key["p003"]["by_override"] is True
    assert (by_key["p002"]["status"], by_key["p002"]["code"]) == ("not issued", None)
    assert by_key["p001"]["status"] == "issued"
    with Session(engine) as db:
        audit = db.exec(select(AuditEntry).where(AuditEntry.action == "certificate.issue")).all()
    assert {a.detail["person"]: a.detail.get("override_reason") for a in audit} == {
        "p001": None,
        "p003": OVERRIDE_REASON,
    }


def test_issuing_twice_issues_nothing_new(
    client: TestClient, engine: Engine, sec: dict[str, str]
) -> None:
    first = issue(client, sec).json()
    codes = {k: c.code for k, c in issued(engine).items()}
    second = issue(client, sec).json()
    assert first["issued"] == ["p001"]
    assert (second["issued"], second["unchanged"]) == ([], ["p001"])
    assert {k: c.code for k, c in issued(engine).items()} == codes


def test_chosen_people_and_an_ineligible_one_refuses_all(
    client: TestClient, engine: Engine, sec: dict[str, str]
) -> None:
    refused = issue(client, sec, ["p001", "p002", "nobody"])
    assert refused.status_code == 422
    problems = refused.json()["problems"]
    assert [(p["path"], p["value"]) for p in problems] == [
        ("people[1]", "p002"),
        ("people[2]", "nobody"),
    ]
    assert "not eligible: 1 of 2 sessions attended" in problems[0]["reason"]
    assert issued(engine) == {}
    chosen = issue(client, sec, ["p001"])
    assert chosen.json()["issued"] == ["p001"]
    assert sorted(issued(engine)) == ["p001"]


def test_a_name_fix_is_issued_again_under_the_same_code(
    client: TestClient,
    engine: Engine,
    settings: Settings,
    clock: Clock,
    sec: dict[str, str],
) -> None:
    issue(client, sec)
    before = issued(engine)["p001"]
    load_event(engine, settings, clock, spec(p001_name="Nguyễn Thị Minh Anh"))
    body = issue(client, sec).json()
    assert (body["issued"], body["reissued"]) == ([], ["p001"])
    after = issued(engine)["p001"]
    assert (after.code, after.revision, after.name) == (before.code, 2, "Nguyễn Thị Minh Anh")
    with Session(engine) as db:
        revisions = db.exec(select(CertificateRevision)).all()
    assert [(r.revision, r.name, r.country) for r in revisions] == [(1, "Nguyễn Thị Minh", "VN")]
    assert revisions[0].reason == "name 'Nguyễn Thị Minh' → 'Nguyễn Thị Minh Anh'"
    verified = client.get(f"/api/verify/{before.code}").json()
    assert (verified["status"], verified["name"]) == ("valid", "Nguyễn Thị Minh Anh")


# --- revoking and verifying ------------------------------------------------------------


def test_revoke_needs_a_reason_then_verify_says_revoked(
    client: TestClient, engine: Engine, sec: dict[str, str]
) -> None:
    issue(client, sec)
    code = issued(engine)["p001"].code
    missing = client.post(f"{API}/certificates/p001/revoke", json={"reason": " "}, headers=sec)
    assert missing.status_code == 422
    assert [p["path"] for p in missing.json()["problems"]] == ["reason"]
    assert issued(engine)["p001"].revoked_at is None
    done = client.post(
        f"{API}/certificates/p001/revoke", json={"reason": "wrong person"}, headers=sec
    )
    assert done.status_code == 200, done.text
    assert (done.json()["code"], done.json()["reason"]) == (code, "wrong person")
    again = client.post(f"{API}/certificates/{code}/revoke", json={"reason": "x"}, headers=sec)
    assert again.status_code == 422
    page = client.get(f"/verify/{code}")
    assert page.status_code == 200
    assert "Revoked certificate" in page.text
    assert "revoked</strong> on 26 November 2021" in page.text
    api = client.get(f"/api/verify/{code}").json()
    assert (api["status"], api["revoked_at"]) == ("revoked", "2021-11-26T00:00:00+00:00")
    # A revoked certificate is not issued again by "issue to all".
    assert issue(client, sec).json()["revoked"] == ["p001"]


def test_verify_shows_only_name_event_and_dates(
    client: TestClient, engine: Engine, sec: dict[str, str]
) -> None:
    issue(client, sec)
    code = issued(engine)["p001"].code
    page = client.get(f"/verify/{code.lower()}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "Valid certificate" in page.text
    for shown in ("Nguyễn Thị Minh", "Study Mission on Data Governance", "24–25 November 2021"):
        assert shown in page.text
    for hidden in ("minh@example.org", "p001", "Viet Nam", "VNPI", "5.75", "participant"):
        assert hidden not in page.text
    assert client.get(f"/api/verify/{code}").json() == {
        "status": "valid",
        "name": "Nguyễn Thị Minh",
        "event": "Study Mission on Data Governance",
        "dates": "24–25 November 2021",
        "revoked_at": None,
    }


def test_verify_unknown_code_is_404_in_the_same_shape(client: TestClient, event: Any) -> None:
    page = client.get("/verify/ABCDEFGHJKLMNPQR")
    assert page.status_code == 404
    assert "Unknown certificate" in page.text and 'id="verify"' in page.text
    assert page.headers["cache-control"] == "no-store"
    api = client.get("/api/verify/not-a-code")
    assert (api.status_code, api.json()["status"]) == (404, "unknown")


def test_verify_is_rate_limited_per_client(client: TestClient, event: Any) -> None:
    answers = [client.get(f"/verify/ABCDEFGHJKLMN{i:03d}").status_code for i in range(30)]
    assert answers == [404] * 30
    limited = client.get("/api/verify/ABCDEFGHJKLMNPQR")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert client.get("/verify/ABCDEFGHJKLMNPQR").status_code == 429


def test_rate_limiter_window_resets_and_keys_are_apart() -> None:
    limiter = RateLimiter(2, 60.0)
    assert [limiter.hit("a", 0.0), limiter.hit("a", 1.0)] == [None, None]
    assert limiter.hit("a", 10.0) == 50.0
    assert limiter.hit("b", 10.0) is None
    assert limiter.hit("a", 60.0) is None


# --- downloads -------------------------------------------------------------------------


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_participant_downloads_their_own_pdf_with_text_and_qr(
    client: TestClient, engine: Engine, event: Any, sec: dict[str, str]
) -> None:
    sign_in(client, event, "p002")
    assert client.get(f"/events/{CODE}/certificate.pdf").status_code == 404
    issue(client, sec)
    assert client.get(f"/events/{CODE}/certificate.pdf").status_code == 404
    fragment = client.get(f"/events/{CODE}/certificate", headers={"HX-Request": "true"})
    assert "certificate.pdf" not in fragment.text
    sign_in(client, event, "p001")
    code = issued(engine)["p001"].code
    response = client.get(f"/events/{CODE}/certificate.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.content)
    for expected in ("Nguyễn Thị Minh", code, "5.75", "Study Mission on Data Governance"):
        assert expected in text
    assert "Şebnem" not in text
    image = Image.open(io.BytesIO(pdf_to_png(response.content, scale=3)))
    decoded = [barcode.text for barcode in zxingcpp.read_barcodes(image)]
    assert decoded == [f"http://testserver/verify/{code}"]
    fragment = client.get(f"/events/{CODE}/certificate", headers={"HX-Request": "true"})
    assert f'href="/events/{CODE}/certificate.pdf"' in fragment.text
    assert "<html" not in fragment.text
    client.post(f"{API}/certificates/p001/revoke", json={"reason": "duplicate"}, headers=sec)
    assert client.get(f"/events/{CODE}/certificate.pdf").status_code == 404


def test_zip_and_merged_pdf_hold_every_certificate(
    client: TestClient, engine: Engine, sec: dict[str, str]
) -> None:
    assert client.get(f"{API}/certificates.pdf", headers=sec).status_code == 404
    override_p003(client, sec)
    issue(client, sec)
    archive = client.get(f"{API}/certificates.zip", headers=sec)
    assert archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as files:
        assert files.namelist() == ["p001.pdf", "p003.pdf"]
        contents = {name: files.read(name) for name in files.namelist()}
    assert all(data.startswith(b"%PDF-") for data in contents.values())
    assert "Sadeq Ḥosseini" in pdf_text(contents["p003.pdf"])
    merged = client.get(f"{API}/certificates.pdf", headers=sec)
    reader = PdfReader(io.BytesIO(merged.content))
    assert len(reader.pages) == 2
    assert "Nguyễn Thị Minh" in reader.pages[0].extract_text()
    assert "Sadeq Ḥosseini" in reader.pages[1].extract_text()


@pytest.mark.parametrize(
    ("key", "allowed"), [("p001", False), ("mod1", False), ("rp1", False), ("sec1", True)]
)
def test_role_matrix(
    client: TestClient, engine: Engine, clock: Clock, event: Any, key: str, allowed: bool
) -> None:
    headers = bearer(engine, clock, CODE, key)
    calls = [
        client.get(f"{API}/certificates", headers=headers),
        client.post(f"{API}/certificates", json={"people": ["p001"]}, headers=headers),
        client.get(f"{API}/certificates.zip", headers=headers),
        client.get(f"{API}/certificates.pdf", headers=headers),
        client.post(f"{API}/certificates/p001/revoke", json={"reason": "r"}, headers=headers),
        client.get(f"/events/{CODE}/certificates", headers=headers),
    ]
    expected = [200, 200, 200, 200, 200, 200] if allowed else [403] * 6
    assert [r.status_code for r in calls] == expected
    assert len(issued(engine)) == (1 if allowed else 0)


# --- the secretariat's page ------------------------------------------------------------


def test_certificates_page_issues_lists_problems_and_revokes(
    client: TestClient, engine: Engine, event: Any
) -> None:
    csrf = sign_in(client, event, "sec1")
    page = client.get(f"/events/{CODE}/certificates")
    assert page.status_code == 200
    assert 'id="count-eligible"><strong>1</strong>' in page.text
    assert f'href="/events/{CODE}/certificates/design"' in page.text
    fragment = client.get(f"/events/{CODE}/certificates", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and 'id="certificates-page"' in fragment.text
    form = {"csrf_token": csrf, "chosen": "1", "people": ["p001", "p002"]}
    refused = client.post(f"/events/{CODE}/certificates/issue", data=form)
    assert refused.status_code == 422
    assert "<code>people[1]</code>" in refused.text and issued(engine) == {}
    done = client.post(f"/events/{CODE}/certificates/issue", data={"csrf_token": csrf})
    assert done.status_code == 200
    assert "1 issued, 0 issued again" in done.text
    assert sorted(issued(engine)) == ["p001"]
    no_csrf = client.post(f"/events/{CODE}/certificates/p001/revoke", data={"reason": "x"})
    assert no_csrf.status_code == 403
    no_reason = client.post(
        f"/events/{CODE}/certificates/p001/revoke", data={"csrf_token": csrf, "reason": ""}
    )
    assert no_reason.status_code == 422 and "<code>p001: reason</code>" in no_reason.text
    revoked = client.post(
        f"/events/{CODE}/certificates/p001/revoke",
        data={"csrf_token": csrf, "reason": "issued by mistake"},
        headers={"HX-Request": "true"},
    )
    assert revoked.status_code == 200 and "<html" not in revoked.text
    assert "issued by mistake" in revoked.text
    assert issued(engine)["p001"].revoke_reason == "issued by mistake"


# --- the command line ------------------------------------------------------------------


def test_cli_writes_one_pdf_per_certificate_in_force(
    client: TestClient, engine: Engine, settings: Settings, sec: dict[str, str], tmp_path: Path
) -> None:
    override_p003(client, sec)
    issue(client, sec)
    client.post(f"{API}/certificates/p003/revoke", json={"reason": "withdrawn"}, headers=sec)
    out = tmp_path / "out"
    env = {
        "STUDYMISSION_DATABASE_URL": settings.database_url,
        "STUDYMISSION_SECRET_KEY": TEST_SECRET,
        "STUDYMISSION_VAR_DIR": str(settings.var_dir),
        "STUDYMISSION_BASE_URL": "https://sm.example.org",
    }
    result = CliRunner().invoke(
        cli_app, ["certificates", CODE, "--out", str(out)], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary == {
        "event": CODE,
        "issued": [],
        "reissued": [],
        "written": 1,
        "files": [str(out / "p001.pdf")],
    }
    data = (out / "p001.pdf").read_bytes()
    assert issued(engine)["p001"].code in pdf_text(data)
    unknown = CliRunner().invoke(cli_app, ["certificates", "NOPE", "--out", str(out)], env=env)
    assert unknown.exit_code == 1


def test_cli_issues_to_the_eligible_first_then_writes_them(
    event: Any, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    # CONTRACT §1: "writes one PDF per eligible participant" — with nothing issued yet.
    out = tmp_path / "out"
    env = {
        "STUDYMISSION_DATABASE_URL": settings.database_url,
        "STUDYMISSION_SECRET_KEY": TEST_SECRET,
        "STUDYMISSION_VAR_DIR": str(settings.var_dir),
        "STUDYMISSION_BASE_URL": "https://sm.example.org",
    }
    first = CliRunner().invoke(cli_app, ["certificates", CODE, "--out", str(out)], env=env)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert (summary["issued"], summary["written"]) == (["p001"], 1)
    assert issued(engine)["p001"].code in pdf_text((out / "p001.pdf").read_bytes())
    again = json.loads(
        CliRunner().invoke(cli_app, ["certificates", CODE, "--out", str(out)], env=env).stdout
    )
    assert (again["issued"], again["written"]) == ([], 1)

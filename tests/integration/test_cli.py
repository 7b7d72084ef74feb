"""The ``studymission`` command line (CONTRACT §1), on SQLite and PostgreSQL."""

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select
from typer.testing import CliRunner

from studymission.cli import app
from studymission.config import Settings
from studymission.db.presence import upsert_minutes
from studymission.db.tables import AuditEntry, Event, EventSession, Person
from tests.conftest import TEST_SECRET
from tests.factories import make_spec

pytestmark = pytest.mark.integration


@pytest.fixture
def run(settings: Settings, engine: Engine) -> Any:
    """Invoke the CLI against the test database; returns the Result."""
    env = {
        "STUDYMISSION_DATABASE_URL": settings.database_url,
        "STUDYMISSION_SECRET_KEY": TEST_SECRET,
        "STUDYMISSION_VAR_DIR": str(settings.var_dir),
        "STUDYMISSION_BASE_URL": "http://testserver",
        "STUDYMISSION_CLOCK_START": "2021-11-24T03:00:00Z",
    }
    runner = CliRunner()

    def invoke(*args: str, clock_start: str | None = None) -> Any:
        settings_env = {**env, "STUDYMISSION_CLOCK_START": clock_start} if clock_start else env
        return runner.invoke(app, list(args), env=settings_env, catch_exceptions=False)

    return invoke


def _write(tmp_path: Path, spec: dict[str, Any]) -> str:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    return str(path)


def _count(engine: Engine, table: type[Any]) -> int:
    with Session(engine) as db:
        return int(db.exec(select(func.count()).select_from(table)).one())


def test_event_load_prints_links_that_stay_the_same(
    run: Any, tmp_path: Path, engine: Engine
) -> None:
    first = run("event", "load", _write(tmp_path, make_spec()))
    assert first.exit_code == 0, first.output
    printed = json.loads(first.stdout)
    assert printed["event"] == "TEST-EVENT-1"
    assert sorted(printed["join_links"]) == ["mod1", "p001", "p002", "rp1", "sec1"]
    assert all(u.startswith("http://testserver/join/") for u in printed["join_links"].values())
    audits = _count(engine, AuditEntry)
    second = run("event", "load", _write(tmp_path, make_spec()))
    assert json.loads(second.stdout) == printed
    assert _count(engine, AuditEntry) == audits  # the same spec changes nothing


def test_event_load_rejects_a_bad_spec_whole(run: Any, tmp_path: Path, engine: Engine) -> None:
    spec = make_spec(timezone="Asia/Atlantis")
    spec["people"][1]["email"] = "not-an-email"
    spec["sessions"][0]["agenda"][1]["start"] = "13:30"  # overlaps the introduction
    result = run("event", "load", _write(tmp_path, spec))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "timezone: 'Asia/Atlantis': unknown time zone"
    assert any(line.startswith("people[1].email: 'not-an-email': ") for line in lines)
    assert any(line.startswith("sessions[0].agenda[1].start: '13:30': ") for line in lines)
    assert lines[-1] == f"error: the event spec has {len(lines) - 1} problem(s)"
    assert result.stdout == ""
    assert _count(engine, Event) == 0


def test_event_load_reports_broken_json_and_missing_files(run: Any, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"code": "X",\n  "title": }', encoding="utf-8")
    result = run("event", "load", str(broken))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith("line 2 column 12: ''")
    missing = run("event", "load", str(tmp_path / "nope.json"))
    assert missing.exit_code == 1
    assert "cannot read" in missing.stderr


def test_token_create_prints_only_a_working_token(
    run: Any, tmp_path: Path, client: TestClient
) -> None:
    run("event", "load", _write(tmp_path, make_spec()))
    result = run("token", "create", "TEST-EVENT-1", "--person", "sec1")
    assert result.exit_code == 0
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and len(token) >= 43
    people = client.get(
        "/api/events/TEST-EVENT-1/people", headers={"Authorization": f"Bearer {token}"}
    )
    assert len(people.json()) == 5
    unknown = run("token", "create", "TEST-EVENT-1", "--person", "nobody")
    assert (unknown.exit_code, unknown.stderr.strip()) == (
        1,
        "error: no person 'nobody' in event 'TEST-EVENT-1'",
    )


def test_people_import_all_or_nothing(run: Any, tmp_path: Path, engine: Engine) -> None:
    run("event", "load", _write(tmp_path, make_spec()))
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "key;name;email;country\np100;Rahul Sharma;rahul@example.org;IN\np101;;x@;ZZ\n",
        encoding="utf-8",
    )
    result = run("people", "import", "TEST-EVENT-1", str(bad))
    assert result.exit_code == 1
    assert [line.split(":")[0] for line in result.stderr.splitlines()[:-1]] == [
        "line 3.name",
        "line 3.email",
        "line 3.country",
    ]
    assert _count(engine, Person) == 5
    good = tmp_path / "good.csv"
    good.write_text(
        "\ufeffkey,name,email,country,origin\np100,राहुल शर्मा,rahul@example.org,IN,overseas\n",
        encoding="utf-8",
    )
    result = run("people", "import", "TEST-EVENT-1", str(good))
    assert json.loads(result.stdout) == {"created": ["person p100"], "updated": []}
    with Session(engine) as db:
        person = db.exec(select(Person).where(col(Person.key) == "p100")).one()
    assert (person.name, person.country, person.role) == ("राहुल शर्मा", "IN", "participant")
    links = run("people", "links", "TEST-EVENT-1")
    rows = links.stdout.splitlines()
    assert rows[0] == "key,name,email,role,join_url"
    assert len(rows) == 7


def test_demo_seeds_the_study_mission(run: Any, engine: Engine) -> None:
    result = run("demo", "--no-serve", "--original-dates")
    assert result.exit_code == 0, result.output
    assert "Demo event 21-IP-06-GE-OSM-B" in result.stdout
    assert sum("/join/" in line for line in result.stdout.splitlines()) == 6
    with Session(engine) as db:
        people = db.exec(select(Person)).all()
        event = db.exec(select(Event)).one()
    participants = [p for p in people if p.role == "participant"]
    assert sum(p.origin == "overseas" for p in participants) == 57
    assert sum(p.origin == "local" for p in participants) == 12
    assert len({p.country for p in participants}) == 21
    assert (event.host_country, event.modality) == ("KR", "Digital Multicountry")
    assert any(not p.name.isascii() for p in people)


def test_demo_by_default_is_running_now(run: Any, engine: Engine) -> None:
    result = run("demo", "--no-serve")
    assert result.exit_code == 0, result.output
    client_clock = "2021-11-24T03:00:00+00:00"  # STUDYMISSION_CLOCK_START: 12:00 in Seoul
    with Session(engine) as db:
        from studymission.db.tables import EventSession

        sessions = db.exec(select(EventSession).order_by(col(EventSession.start))).all()
    assert sessions[0].start.isoformat() == client_clock
    assert (sessions[0].end - sessions[0].start).total_seconds() == 3 * 3600


def test_attendance_prints_the_report_as_json_and_csv(
    run: Any, tmp_path: Path, engine: Engine
) -> None:
    assert run("event", "load", _write(tmp_path, make_spec())).exit_code == 0
    with Session(engine) as db:
        day1 = db.exec(select(EventSession).where(EventSession.key == "day1")).one()
        p001 = db.exec(select(Person).where(Person.key == "p001")).one()
        day1_id, p001_id = day1.id or 0, p001.id or 0
    full = (1 << 60) - 1
    with engine.begin() as connection:
        # 149 of day 1's 165 required minutes (13:00–14:00 and 14:15–15:44; the break is skipped).
        minutes = [*range(60), *range(75, 164)]
        upsert_minutes(connection, [(day1_id, p001_id, m, "main", full, full) for m in minutes])
    # On the fixture's clock (03:00Z, before day 1) no minute is reached yet.
    before = json.loads(run("attendance", "TEST-EVENT-1").stdout)
    assert next(p for p in before["people"] if p["key"] == "p001")["sessions"][0] == {
        "key": "day1",
        "required_minutes": 165,
        "present_minutes": 0,
        "ratio": 0.0,
        "attended": False,
    }
    result = run("attendance", "TEST-EVENT-1", clock_start="2021-11-26T00:00:00Z")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["event"] == "TEST-EVENT-1"
    assert report["session_threshold"] == 0.9
    p001_row = next(p for p in report["people"] if p["key"] == "p001")
    assert p001_row["sessions"][0] == {
        "key": "day1",
        "required_minutes": 165,
        "present_minutes": 149,
        "ratio": 0.903,
        "attended": True,
    }
    # Day 2 has no minutes at all: not eligible.
    assert p001_row["sessions"][1]["attended"] is False
    assert p001_row["eligible"] is False
    csv_result = run(
        "attendance", "TEST-EVENT-1", "--format", "csv", clock_start="2021-11-26T00:00:00Z"
    )
    assert csv_result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(csv_result.stdout)))
    assert [r["person"] for r in rows] == ["mod1", "p001", "p002", "rp1", "sec1"]
    assert rows[1]["day1_present"] == "149"
    assert rows[1]["day1_attended"] == "true"
    bad = run("attendance", "TEST-EVENT-1", "--format", "pdf")
    assert bad.exit_code == 2
    assert "--format: 'pdf': must be json or csv" in bad.stderr
    unknown = run("attendance", "NO-SUCH-EVENT")
    assert unknown.exit_code == 1
    assert "NO-SUCH-EVENT" in unknown.stderr


def test_serve_refuses_a_jitsi_configuration_that_cannot_work(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    not_a_key = tmp_path / "jaas.pem"
    not_a_key.write_text("not a key")
    env = {
        "STUDYMISSION_DATABASE_URL": settings.database_url,
        "STUDYMISSION_SECRET_KEY": TEST_SECRET,
        "STUDYMISSION_VAR_DIR": str(settings.var_dir),
        "STUDYMISSION_JITSI_MODE": "jaas",
        "STUDYMISSION_JITSI_APP_ID": "my-app",
        "STUDYMISSION_JITSI_PRIVATE_KEY_FILE": str(not_a_key),
    }
    result = CliRunner().invoke(app, ["serve", "--port", "1"], env=env)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    # Every problem, one a line, then the summary; the server never started.
    assert lines[:3] == [
        "JITSI_MODE=jaas needs JITSI_APP_ID, the AppID starting 'vpaas-magic-cookie-', "
        "got 'my-app'",
        "JITSI_KID must be the API key id '<JITSI_APP_ID>/<key>' from the JaaS console, got ''",
        f"JITSI_PRIVATE_KEY_FILE '{not_a_key}' is not a PEM private key",
    ]
    assert lines[-1] == "error: the Jitsi settings cannot work; see deploy/jitsi/README.md"

"""Mail delivery: two senders at once mail each person once, certificates go out once per
revision with their PDF, the dev outbox when no SMTP server is set, and who may send."""

import threading
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from studymission.config import Settings
from studymission.db.events import get_event
from studymission.db.tables import Delivery, Event
from studymission.services.attendance import set_override
from studymission.services.certificate_mail import send_certificates
from studymission.services.certificates import issue_certificates, revoke
from studymission.services.clock import Clock
from studymission.services.deliveries import SendReport
from studymission.services.dispatch import dispatch
from studymission.services.invitations import send_invitations
from studymission.services.mail import parse_smtp_url
from tests.factories import make_spec
from tests.integration.helpers import bearer, csrf_from, load_event, sign_in
from tests.integration.smtp_helpers import Collector, attachment, smtp_server

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"


def _event(db: Session) -> Event:
    event = get_event(db, CODE)
    assert event is not None
    return event


def _rows(engine: Engine) -> list[Delivery]:
    with Session(engine) as db:
        return list(db.exec(select(Delivery).order_by(col(Delivery.id))).all())


def _invite_all(engine: Engine, settings: Settings, clock: Clock) -> None:
    with Session(engine, expire_on_commit=False) as db:
        send_invitations(
            db,
            _event(db),
            people=None,
            actor="sec1",
            now=clock.real_now(),
            base_url=settings.base_url,
            secret=settings.signing_key(),
        )


def test_smtp_url_forms_are_read_with_decoded_credentials() -> None:
    mailer = parse_smtp_url("smtp+starttls://user%40x.org:p%3As%2Fs@mail.example.org", sender="a@b")
    assert (mailer.scheme, mailer.host, mailer.port) == ("smtp+starttls", "mail.example.org", 587)
    assert (mailer.username, mailer.password) == ("user@x.org", "p:s/s")
    assert parse_smtp_url("smtps://mail:2465", sender="a@b").port == 2465
    assert parse_smtp_url("smtp://mail", sender="a@b").username is None
    with pytest.raises(ValueError, match="smtp://user:pass@host:port"):
        parse_smtp_url("http://mail", sender="a@b")


def test_two_concurrent_senders_mail_each_person_once(
    engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock)
    _invite_all(engine, settings, clock)
    collector = Collector()
    reports: list[SendReport] = []
    start = threading.Barrier(2)
    with smtp_server(collector) as mailer:

        def sender() -> None:
            start.wait()
            with Session(engine, expire_on_commit=False) as db:
                reports.append(dispatch(db, settings, now=clock.real_now(), mailer=mailer))

        threads = [threading.Thread(target=sender) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sum(r.sent for r in reports) == 5
    assert sum(r.failed for r in reports) == 0
    assert sorted(str(m["To"]) for m in collector.messages) == sorted(
        p["email"] for p in make_spec()["people"]
    )
    assert [(r.status, r.attempts) for r in _rows(engine)] == [("sent", 1)] * 5


def test_a_sender_that_died_mid_send_is_taken_over_with_the_same_message_id(
    engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock)
    _invite_all(engine, settings, clock)
    now = clock.real_now()
    with Session(engine) as db:
        db.execute(update(Delivery).values(status="sending", attempts=1, updated_at=now))
        db.commit()
    collector = Collector()
    with smtp_server(collector) as mailer, Session(engine) as db:
        assert dispatch(db, settings, now=now + timedelta(minutes=1), mailer=mailer).sent == 0
        assert dispatch(db, settings, now=now + timedelta(minutes=6), mailer=mailer).sent == 5
    rows = _rows(engine)
    assert [(r.status, r.attempts) for r in rows] == [("sent", 2)] * 5
    assert sorted(str(m["Message-ID"]) for m in collector.messages) == sorted(
        r.message_id for r in rows
    )


def test_failing_delivery_is_given_up_after_five_attempts(
    engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock)
    with Session(engine, expire_on_commit=False) as db:
        send_invitations(
            db,
            _event(db),
            people=["p001"],
            actor="sec1",
            now=clock.real_now(),
            base_url=settings.base_url,
            secret=settings.signing_key(),
        )
    collector = Collector(refuse=99)
    now = clock.real_now()
    with smtp_server(collector) as mailer, Session(engine) as db:
        for hour in range(7):
            dispatch(db, settings, now=now + timedelta(hours=hour), mailer=mailer)
    (row,) = _rows(engine)
    assert (row.status, row.attempts, row.last_error) == (
        "failed",
        5,
        "451 4.3.0 try again later",
    )
    assert collector.refused == 5


def _certify(engine: Engine, settings: Settings, clock: Clock) -> None:
    with Session(engine, expire_on_commit=False) as db:
        event = _event(db)
        for key in ("p001", "p002"):
            set_override(
                db,
                event,
                key,
                eligible=True,
                reason="attended by phone",
                author="sec1",
                now=clock.now(),
            )
        db.commit()
        issue_certificates(
            db, event, people=None, actor="sec1", now=clock.now(), base_url=settings.base_url
        )


def _mail_certificates(engine: Engine, settings: Settings, clock: Clock) -> tuple[str, ...]:
    with Session(engine, expire_on_commit=False) as db:
        outcome = send_certificates(
            db,
            _event(db),
            people=None,
            actor="sec1",
            now=clock.real_now(),
            base_url=settings.base_url,
        )
    return outcome.queued


def test_certificates_mailed_once_per_revision_with_their_pdf(
    engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock)
    _certify(engine, settings, clock)
    collector = Collector()
    with smtp_server(collector) as mailer:
        assert _mail_certificates(engine, settings, clock) == ("p001", "p002")
        assert _mail_certificates(engine, settings, clock) == ()
        with Session(engine) as db:
            assert dispatch(db, settings, now=clock.real_now(), mailer=mailer).sent == 2
        assert [attachment(m, ".pdf")[:4] for m in collector.messages] == [b"%PDF", b"%PDF"]
        # A corrected name re-issues p001's certificate: a new mail; p002's is revoked.
        renamed = make_spec()
        renamed["people"][0]["name"] = "Nguyễn Thị Minh Anh"
        load_event(engine, settings, clock, renamed)
        _certify(engine, settings, clock)
        with Session(engine, expire_on_commit=False) as db:
            revoke(db, _event(db), "p002", reason="duplicate", actor="sec1", now=clock.now())
        assert _mail_certificates(engine, settings, clock) == ("p001",)
        with Session(engine) as db:
            assert dispatch(db, settings, now=clock.real_now(), mailer=mailer).sent == 1
    assert [str(m["To"]) for m in collector.messages] == [
        "minh@example.org",
        "sebnem@example.org",
        "minh@example.org",
    ]
    keys = [r.key for r in _rows(engine)]
    assert [k.rpartition("/")[2] for k in keys] == ["r1", "r1", "r2"]
    assert keys[0].partition("/")[0] == keys[2].partition("/")[0]


def test_outbox_mode_marks_sent_and_shows_the_messages(
    engine: Engine, settings: Settings, clock: Clock, client: TestClient
) -> None:
    outcome = load_event(engine, settings, clock)
    headers = bearer(engine, clock, CODE, "sec1")
    queued = client.post(
        f"/api/events/{CODE}/invitations", json={"people": ["p001", "p002"]}, headers=headers
    )
    assert queued.status_code == 200
    assert queued.json()["queued"] == 2
    again = client.post(
        f"/api/events/{CODE}/invitations", json={"people": ["p001"]}, headers=headers
    )
    assert (again.json()["queued"], again.json()["already"]) == (0, 1)
    sent = client.post(f"/api/events/{CODE}/deliveries/send", headers=headers)
    assert sent.json() == {"sent": 2, "failed": 0, "lost": 0, "requeued": 0}
    status = client.get(f"/api/events/{CODE}/deliveries", headers=headers).json()
    assert [(d["person"], d["status"], d["outbox"], d["attempts"]) for d in status] == [
        ("p001", "sent", True, 1),
        ("p002", "sent", True, 1),
    ]
    sign_in(client, outcome, "sec1")
    page = client.get(f"/events/{CODE}/outbox")
    assert page.status_code == 200
    assert page.text.count('class="panel outbox-message"') == 2
    assert "minh@example.org" in page.text
    assert "Invitation: Study Mission on Data Governance" in page.text
    assert "invitation.ics" in page.text
    fragment = client.get(f"/events/{CODE}/outbox", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text
    assert fragment.text.count('class="panel outbox-message"') == 2


def test_invitations_page_sends_and_lists_problems(
    engine: Engine, settings: Settings, clock: Clock, client: TestClient
) -> None:
    outcome = load_event(engine, settings, clock)
    sign_in(client, outcome, "sec1")
    page = client.get(f"/events/{CODE}/invitations")
    assert page.status_code == 200
    csrf = csrf_from(page.text)
    none = client.post(f"/events/{CODE}/invitations", data={"csrf_token": csrf, "scope": "chosen"})
    assert none.status_code == 422
    assert "tick at least one person" in none.text
    bad = client.post(
        f"/events/{CODE}/invitations",
        data={"csrf_token": csrf, "scope": "chosen", "people": ["p001", "ghost"]},
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 422
    assert "<html" not in bad.text
    assert "no such person in the event" in bad.text
    assert _rows(engine) == []
    done = client.post(f"/events/{CODE}/invitations", data={"csrf_token": csrf, "scope": "all"})
    assert done.status_code == 200
    assert "5 queued, 0 already" in done.text
    sent = client.post(f"/events/{CODE}/invitations/send", data={"csrf_token": csrf})
    assert "Sent 5, failed 0" in sent.text
    assert sent.text.count('data-status="sent"') == 5
    no_csrf = client.post(f"/events/{CODE}/invitations", data={"scope": "all"})
    assert no_csrf.status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/events/{code}/invitations"),
        ("get", "/events/{code}/outbox"),
        ("get", "/api/events/{code}/deliveries"),
        ("post", "/api/events/{code}/invitations"),
        ("post", "/api/events/{code}/certificates/mail"),
        ("post", "/api/events/{code}/deliveries/send"),
    ],
)
def test_participants_may_not_send_or_read_mail(
    engine: Engine, settings: Settings, clock: Clock, client: TestClient, method: str, path: str
) -> None:
    load_event(engine, settings, clock)
    headers: dict[str, Any] = bearer(engine, clock, CODE, "p001")
    response = client.request(method.upper(), path.format(code=CODE), headers=headers)
    assert response.status_code == 403
    other = client.request(method.upper(), path.format(code="OTHER-1"), headers=headers)
    assert other.status_code == 404
    assert _rows(engine) == []

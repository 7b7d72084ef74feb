"""Certificates of attendance: issue to exactly the eligible, re-issue, revoke, verify, render.

Eligibility is the attendance report's (services/attendance.py): every session attended, or a
secretariat override in force, whose reason stays with the override. Issuing to everyone
means every eligible *participant* (CONTRACT §4); people chosen by key may be of any role,
but each must be eligible, or nothing is issued. A certificate's code never changes: a
corrected name or country is a new revision of the same certificate, the old text kept.
"""

import io
import secrets
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from studymission.db import certificates as store
from studymission.db import events as event_store
from studymission.db.tables import (
    AuditEntry,
    Certificate,
    CertificateRevision,
    Event,
    EventSession,
    Person,
)
from studymission.domain.attendance import PersonAttendance
from studymission.domain.certificate import (
    CODE_ALPHABET,
    CODE_LENGTH,
    changes_since_issue,
    date_text,
    dates_text,
    is_code_shaped,
    normalise_code,
)
from studymission.domain.errors import InvalidInputError, NotFoundError
from studymission.domain.values import Problem, Role
from studymission.exporters.certificate_pdf import (
    CertificateContent,
    render_certificate,
    render_merged,
)
from studymission.services.attendance import attendance_report
from studymission.services.certificate_design import load_design
from studymission.services.countries import country_name

MAX_REASON = 1000


@dataclass(frozen=True, slots=True)
class IssueOutcome:
    """What one issuing did, by person key."""

    issued: tuple[str, ...]
    #: Issued again under the same code (a corrected name or country).
    reissued: tuple[str, ...]
    #: Already issued and unchanged: nothing written.
    unchanged: tuple[str, ...]
    #: Their certificate is revoked; it is not issued again by itself.
    revoked: tuple[str, ...]
    #: The verification URL of each certificate issued or issued again.
    links: dict[str, str]


@dataclass(frozen=True, slots=True)
class CertificateRow:
    """One person on the certificates page: eligibility and their certificate, if any."""

    key: str
    name: str
    role: str
    country: str
    eligible: bool
    by_override: bool
    override_reason: str | None
    certificate: Certificate | None

    @property
    def status(self) -> str:
        if self.certificate is None:
            return "not issued"
        return "revoked" if self.certificate.revoked_at is not None else "issued"


@dataclass(frozen=True, slots=True)
class CertificateOverview:
    rows: tuple[CertificateRow, ...]

    def _count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)

    @property
    def participants(self) -> tuple[CertificateRow, ...]:
        return tuple(r for r in self.rows if r.role == Role.PARTICIPANT.value)

    @property
    def eligible(self) -> int:
        return sum(1 for row in self.participants if row.eligible)

    @property
    def ineligible(self) -> int:
        return sum(1 for row in self.participants if not row.eligible)

    @property
    def by_override(self) -> int:
        return sum(1 for row in self.rows if row.eligible and row.by_override)

    @property
    def issued(self) -> int:
        return self._count("issued")

    @property
    def revoked(self) -> int:
        return self._count("revoked")

    @property
    def waiting(self) -> int:
        """Eligible participants without a certificate: what "issue to all" would issue."""
        return sum(1 for r in self.participants if r.eligible and r.certificate is None)


@dataclass(frozen=True, slots=True)
class Verification:
    """What the public verification page may say: nothing else about the person."""

    status: str  # valid | revoked
    name: str
    event: str
    dates: str
    revoked_at: datetime | None


def verify_url(base_url: str, code: str) -> str:
    return f"{base_url}/verify/{code}"


# --- issuing ---------------------------------------------------------------------------


def issue_certificates(
    db: Session,
    event: Event,
    *,
    people: Sequence[str] | None,
    actor: str,
    now: datetime,
    base_url: str,
) -> IssueOutcome:
    """Issue to every eligible participant (`people` None) or to the people chosen.

    All or nothing: a chosen person who is unknown or not eligible is a problem, and with
    any problem nothing is written. Already issued and unchanged people are skipped; a
    name or country changed since issue is issued again under the same code.
    """
    event_store.lock_event(db, event)
    report = attendance_report(db, event, now=now)
    rows = {row.key: row for row in report.people}
    people_by_key = {p.key: p for p in event_store.list_people(db, event)}
    if people is None:
        targets = [r for r in report.people if r.eligible and r.role == Role.PARTICIPANT.value]
    else:
        targets = _chosen(db, people, rows)
    sessions = event_store.list_sessions(db, event)
    existing = store.by_person(db, event)
    new_people = [row for row in targets if people_by_key[row.key].id not in existing]
    codes = iter(_new_codes(db, len(new_people)))
    issued, reissued, unchanged, revoked = [], [], [], []
    links: dict[str, str] = {}
    for row in targets:
        person = people_by_key[row.key]
        certificate = existing.get(person.id or 0)
        if certificate is None:
            certificate = _new_certificate(event, person, row, sessions, next(codes), actor, now)
            db.add(certificate)
            issued.append(row.key)
            links[row.key] = verify_url(base_url, certificate.code)
            _audit(db, event, actor, now, "certificate.issue", certificate, row)
        elif certificate.revoked_at is not None:
            revoked.append(row.key)
        elif reason := changes_since_issue(
            printed_name=certificate.name,
            printed_country=certificate.country,
            name=person.name,
            country=person.country,
        ):
            _reissue(db, certificate, person, row, sessions, event.timezone, reason, actor, now)
            reissued.append(row.key)
            links[row.key] = verify_url(base_url, certificate.code)
            _audit(db, event, actor, now, "certificate.reissue", certificate, row, reason)
        else:
            unchanged.append(row.key)
    db.commit()
    return IssueOutcome(tuple(issued), tuple(reissued), tuple(unchanged), tuple(revoked), links)


def _chosen(
    db: Session, people: Sequence[str], rows: dict[str, PersonAttendance]
) -> list[PersonAttendance]:
    """The chosen people's report rows; every unknown or ineligible one is a problem."""
    problems = []
    if not people:
        problems.append(Problem("people", "", "choose at least one person"))
    chosen: dict[str, PersonAttendance] = {}
    for index, key in enumerate(people):
        row = rows.get(key)
        if row is None:
            problems.append(Problem(f"people[{index}]", key, "no such person in this event"))
        elif not row.eligible:
            attended = sum(1 for s in row.sessions if s.attended)
            reason = (
                f"{row.name} is not eligible: {attended} of {len(row.sessions)} sessions "
                "attended; only a secretariat override (with its reason) can make them eligible"
            )
            problems.append(Problem(f"people[{index}]", key, reason))
        else:
            chosen[key] = row
    if problems:
        db.rollback()
        raise InvalidInputError("no certificate was issued", problems)
    return list(chosen.values())


def _new_codes(db: Session, count: int) -> list[str]:
    """`count` fresh codes that no certificate carries (a clash is astronomically rare)."""
    codes: set[str] = set()
    while len(codes) < count:
        while len(codes) < count:
            codes.add("".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)))
        codes -= store.codes_taken(db, codes)
    return sorted(codes)


def _printed_sessions(
    row: PersonAttendance, sessions: Sequence[EventSession], tz: str
) -> tuple[float, list[dict[str, object]]]:
    """Hours attended (present minutes / 60, all sessions) and each session attended."""
    by_key = {s.key: s for s in sessions}
    printed: list[dict[str, object]] = []
    for attendance in row.sessions:
        session = by_key.get(attendance.key)
        if session is None or attendance.present_minutes == 0:
            continue
        printed.append(
            {
                "key": session.key,
                "title": session.title,
                "date": session.start.astimezone(ZoneInfo(tz)).date().isoformat(),
                "hours": round(attendance.present_minutes / 60, 2),
            }
        )
    hours = round(sum(s.present_minutes for s in row.sessions) / 60, 2)
    return hours, printed


def _new_certificate(
    event: Event,
    person: Person,
    row: PersonAttendance,
    sessions: Sequence[EventSession],
    code: str,
    actor: str,
    now: datetime,
) -> Certificate:
    hours, printed = _printed_sessions(row, sessions, event.timezone)
    return Certificate(
        event_id=event.id or 0,
        person_id=person.id or 0,
        code=code,
        name=person.name,
        country=person.country,
        hours=hours,
        sessions=printed,
        by_override=not row.eligibility.by_attendance,
        issued_at=now,
        issued_by=actor,
    )


def _reissue(
    db: Session,
    certificate: Certificate,
    person: Person,
    row: PersonAttendance,
    sessions: Sequence[EventSession],
    tz: str,
    reason: str,
    actor: str,
    now: datetime,
) -> None:
    """Keep what the certificate said as a revision, then print it anew under its code."""
    db.add(
        CertificateRevision(
            certificate_id=certificate.id or 0,
            revision=certificate.revision,
            name=certificate.name,
            country=certificate.country,
            hours=certificate.hours,
            issued_at=certificate.issued_at,
            issued_by=certificate.issued_by,
            reason=reason[:MAX_REASON],
        )
    )
    hours, printed = _printed_sessions(row, sessions, tz)
    certificate.revision += 1
    certificate.name = person.name
    certificate.country = person.country
    certificate.hours = hours
    certificate.sessions = printed
    certificate.by_override = not row.eligibility.by_attendance
    certificate.issued_at = now
    certificate.issued_by = actor
    db.add(certificate)


def _audit(
    db: Session,
    event: Event,
    actor: str,
    now: datetime,
    action: str,
    certificate: Certificate,
    row: PersonAttendance,
    reason: str | None = None,
) -> None:
    detail: dict[str, object] = {
        "person": row.key,
        "code": certificate.code,
        "revision": certificate.revision,
        "by_override": certificate.by_override,
    }
    override = row.eligibility.override
    if certificate.by_override and override is not None:
        detail["override_reason"] = override.reason
    if reason is not None:
        detail["reason"] = reason
    db.add(AuditEntry(event_id=event.id or 0, at=now, actor=actor, action=action, detail=detail))


# --- revoking --------------------------------------------------------------------------


def revoke(
    db: Session, event: Event, person_or_code: str, *, reason: str, actor: str, now: datetime
) -> Certificate:
    """Revoke the certificate of a person (by key) or with a code; the reason is required."""
    certificate = find_certificate(db, event, person_or_code)
    reason = reason.strip()
    problems = []
    if not reason:
        problems.append(Problem("reason", "", "say why: the reason is kept with the revocation"))
    elif len(reason) > MAX_REASON:
        problems.append(Problem("reason", f"{len(reason)} characters", f"at most {MAX_REASON}"))
    if certificate.revoked_at is not None:
        when = certificate.revoked_at.strftime("%Y-%m-%d %H:%M UTC")
        problems.append(Problem("certificate", certificate.code, f"already revoked on {when}"))
    if problems:
        raise InvalidInputError("the certificate was not revoked", problems)
    event_store.lock_event(db, event)
    certificate.revoked_at = now
    certificate.revoked_by = actor
    certificate.revoke_reason = reason
    db.add(certificate)
    person = db.get(Person, certificate.person_id)
    detail = {"person": person.key if person else None, "code": certificate.code, "reason": reason}
    db.add(
        AuditEntry(
            event_id=event.id or 0, at=now, actor=actor, action="certificate.revoke", detail=detail
        )
    )
    db.commit()
    return certificate


def find_certificate(db: Session, event: Event, person_or_code: str) -> Certificate:
    """The event's certificate of a person (by key) or with a code; 404 when there is none."""
    person = event_store.get_person(db, event, person_or_code)
    found = store.of_person(db, event, person) if person is not None else None
    if found is None:
        found = store.by_code(db, normalise_code(person_or_code))
    if found is None or found.event_id != event.id:
        raise NotFoundError(f"no certificate of or with {person_or_code!r} in {event.code}")
    return found


# --- reading ---------------------------------------------------------------------------


def certificates_in_force(db: Session, event: Event) -> list[tuple[Certificate, Person]]:
    """Each certificate in force with its holder, withdrawn people left out (they are
    mailed nothing)."""
    return [(c, p) for c, p in store.with_people(db, event) if p.withdrawn_at is None]


def issued_with_keys(db: Session, event: Event) -> list[tuple[str, Certificate]]:
    """(person key, certificate) of every certificate in force."""
    return [(person.key, certificate) for certificate, person in store.with_people(db, event)]


def own_certificate(db: Session, event: Event, person: Person) -> Certificate | None:
    """The person's certificate in force, or None (none issued, or revoked)."""
    certificate = store.of_person(db, event, person)
    if certificate is None or certificate.revoked_at is not None:
        return None
    return certificate


def certificate_overview(db: Session, event: Event, *, now: datetime) -> CertificateOverview:
    """Everyone's eligibility beside their certificate, for the secretariat."""
    report = attendance_report(db, event, now=now)
    ids = {p.key: p.id or 0 for p in event_store.list_people(db, event)}
    existing = store.by_person(db, event)
    rows = []
    for row in report.people:
        override = row.eligibility.override
        rows.append(
            CertificateRow(
                key=row.key,
                name=row.name,
                role=row.role,
                country=row.country,
                eligible=row.eligible,
                by_override=override is not None
                and row.eligible
                and not row.eligibility.by_attendance,
                override_reason=override.reason if override is not None else None,
                certificate=existing.get(ids[row.key]),
            )
        )
    return CertificateOverview(tuple(rows))


def revisions(db: Session, certificate: Certificate) -> list[CertificateRevision]:
    return list(store.revisions(db, certificate))


def verify(db: Session, code: str) -> Verification | None:
    """What the public may learn from a code: valid or revoked, name, event and dates."""
    code = normalise_code(code)
    if not is_code_shaped(code):
        return None
    certificate = store.by_code(db, code)
    event = db.get(Event, certificate.event_id) if certificate is not None else None
    if certificate is None or event is None:
        return None
    return Verification(
        status="revoked" if certificate.revoked_at is not None else "valid",
        name=certificate.name,
        event=event.title,
        dates=event_dates(event, event_store.list_sessions(db, event)),
        revoked_at=certificate.revoked_at,
    )


def event_dates(event: Event, sessions: Sequence[EventSession]) -> str:
    """The days of the event's sessions in its time zone, as printed."""
    tz = ZoneInfo(event.timezone)
    days = sorted(s.start.astimezone(tz).date() for s in sessions)
    if not days:
        return ""
    return dates_text(days[0], days[-1])


# --- rendering -------------------------------------------------------------------------


def content_for(
    certificate: Certificate,
    *,
    event: Event,
    sessions: Sequence[EventSession],
    base_url: str,
) -> CertificateContent:
    """What the certificate prints, from its stored text, the event and its programme."""
    tz = ZoneInfo(event.timezone)
    return CertificateContent(
        code=certificate.code,
        revision=certificate.revision,
        name=certificate.name,
        country=country_name(certificate.country),
        hours=certificate.hours,
        sessions=tuple(
            (
                str(s["title"]),
                date_text(datetime.fromisoformat(str(s["date"])).date()),
                float(s["hours"]),
            )
            for s in certificate.sessions
        ),
        event_title=event.title,
        project_code=event.code,
        dates=event_dates(event, sessions),
        modality=event.modality,
        organisations=tuple(event.implementing_organizations),
        verify_url=verify_url(base_url, certificate.code),
        issued_on=date_text(certificate.issued_at.astimezone(tz).date()),
    )


def certificate_pdf(db: Session, event: Event, certificate: Certificate, *, base_url: str) -> bytes:
    """One certificate as PDF, in the event's design."""
    sessions = event_store.list_sessions(db, event)
    content = content_for(certificate, event=event, sessions=sessions, base_url=base_url)
    return render_certificate(content, load_design(db, event))


def contents_for(
    db: Session, event: Event, *, base_url: str
) -> list[tuple[str, CertificateContent]]:
    """(person key, content) of every certificate in force, the programme read once."""
    sessions = event_store.list_sessions(db, event)
    return [
        (key, content_for(certificate, event=event, sessions=sessions, base_url=base_url))
        for key, certificate in issued_with_keys(db, event)
    ]


def merged_pdf(db: Session, event: Event, *, base_url: str) -> bytes | None:
    """Every certificate in force, one per page, as one PDF; None when there is none."""
    contents = [content for _key, content in contents_for(db, event, base_url=base_url)]
    if not contents:
        return None
    return render_merged(contents, load_design(db, event))


def certificates_zip(db: Session, event: Event, *, base_url: str) -> bytes:
    """A ZIP of ``<person key>.pdf`` for every certificate in force."""
    design = load_design(db, event)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, content in contents_for(db, event, base_url=base_url):
            archive.writestr(f"{key}.pdf", render_certificate(content, design))
    return buffer.getvalue()

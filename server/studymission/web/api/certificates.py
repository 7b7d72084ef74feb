"""JSON API of certificates (secretariat): the list with status, issue, revoke, downloads."""

from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel

from studymission.db.tables import Event
from studymission.domain.errors import NotFoundError
from studymission.domain.values import Role
from studymission.services import certificates as service
from studymission.services.access import Identity, require_event, require_role
from studymission.web.deps import ClockDep, CurrentIdentity, SessionDep, SettingsDep

router = APIRouter(prefix="/api/events/{code}", tags=["certificates"])

SECRETARIAT = {Role.SECRETARIAT}


def _event(identity: Identity, code: str, action: str) -> Event:
    event = require_event(identity, code)
    require_role(identity, SECRETARIAT, action=action)
    return event


class CertificateOut(BaseModel):
    key: str
    name: str
    role: str
    eligible: bool
    by_override: bool
    override_reason: str | None
    status: str
    code: str | None
    revision: int | None
    issued_at: datetime | None
    revoked_at: datetime | None
    revoke_reason: str | None
    verify_url: str | None


class ListOut(BaseModel):
    event: str
    eligible: int
    ineligible: int
    by_override: int
    issued: int
    revoked: int
    people: list[CertificateOut]


@router.get("/certificates")
def list_certificates(
    code: str, identity: CurrentIdentity, db: SessionDep, clock: ClockDep, settings: SettingsDep
) -> ListOut:
    """Everyone's eligibility and certificate: issued, revoked or not issued."""
    event = _event(identity, code, "listing certificates")
    overview = service.certificate_overview(db, event, now=clock.now())
    people = []
    for row in overview.rows:
        c = row.certificate
        people.append(
            CertificateOut(
                key=row.key,
                name=row.name,
                role=row.role,
                eligible=row.eligible,
                by_override=row.by_override,
                override_reason=row.override_reason,
                status=row.status,
                code=c.code if c else None,
                revision=c.revision if c else None,
                issued_at=c.issued_at if c else None,
                revoked_at=c.revoked_at if c else None,
                revoke_reason=c.revoke_reason if c else None,
                verify_url=service.verify_url(settings.base_url, c.code) if c else None,
            )
        )
    return ListOut(
        event=event.code,
        eligible=overview.eligible,
        ineligible=overview.ineligible,
        by_override=overview.by_override,
        issued=overview.issued,
        revoked=overview.revoked,
        people=people,
    )


class IssueIn(BaseModel):
    #: None: every eligible participant; else these people (each must be eligible).
    people: list[str] | None = None


class IssueOut(BaseModel):
    issued: list[str]
    reissued: list[str]
    unchanged: list[str]
    revoked: list[str]
    links: dict[str, str]


@router.post("/certificates")
def issue(
    code: str,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    body: IssueIn | None = None,
) -> IssueOut:
    """Issue to every eligible participant, or to the people chosen (all or nothing)."""
    event = _event(identity, code, "issuing certificates")
    outcome = service.issue_certificates(
        db,
        event,
        people=body.people if body else None,
        actor=identity.person.name,
        now=clock.now(),
        base_url=settings.base_url,
    )
    return IssueOut(
        issued=list(outcome.issued),
        reissued=list(outcome.reissued),
        unchanged=list(outcome.unchanged),
        revoked=list(outcome.revoked),
        links=outcome.links,
    )


class RevokeIn(BaseModel):
    reason: str = ""


class RevokeOut(BaseModel):
    code: str
    revoked_at: datetime
    revoked_by: str
    reason: str


@router.post("/certificates/{key}/revoke")
def revoke(
    code: str, key: str, body: RevokeIn, identity: CurrentIdentity, db: SessionDep, clock: ClockDep
) -> RevokeOut:
    """Revoke a person's certificate (by person key or certificate code), with a reason."""
    event = _event(identity, code, "revoking certificates")
    certificate = service.revoke(
        db, event, key, reason=body.reason, actor=identity.person.name, now=clock.now()
    )
    return RevokeOut(
        code=certificate.code,
        revoked_at=certificate.revoked_at or clock.now(),
        revoked_by=certificate.revoked_by or "",
        reason=certificate.revoke_reason or "",
    )


@router.get("/certificates.zip", responses={200: {"content": {"application/zip": {}}}})
def download_zip(
    code: str, identity: CurrentIdentity, db: SessionDep, settings: SettingsDep
) -> Response:
    """Every certificate in force as ``<person key>.pdf`` in one ZIP."""
    event = _event(identity, code, "downloading certificates")
    data = service.certificates_zip(db, event, base_url=settings.base_url)
    return _download(data, "application/zip", f"{event.code}-certificates.zip")


@router.get("/certificates.pdf", responses={200: {"content": {"application/pdf": {}}}})
def download_merged(
    code: str, identity: CurrentIdentity, db: SessionDep, settings: SettingsDep
) -> Response:
    """Every certificate in force, one after another, in one PDF."""
    event = _event(identity, code, "downloading certificates")
    data = service.merged_pdf(db, event, base_url=settings.base_url)
    if data is None:
        raise NotFoundError("no certificate is issued yet")
    return _download(data, "application/pdf", f"{event.code}-certificates.pdf")


def _download(data: bytes, media_type: str, filename: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(data, media_type=media_type, headers=headers)

"""Certificates by e-mail: one delivery per certificate revision in force, PDF attached.

The delivery key is ``CODE/rN``: the same revision is never mailed twice, a re-issued
certificate (a corrected name) is a new mail, a revoked one is not sent. The PDF is
rendered when the mail is sent, not stored with the delivery.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from studymission.db.tables import Certificate, Delivery, Event, Person
from studymission.domain.errors import InvalidInputError
from studymission.domain.values import Problem
from studymission.services.certificates import (
    certificate_pdf,
    certificates_in_force,
    own_certificate,
    verify_url,
)
from studymission.services.deliveries import mail_domain, queue_delivery
from studymission.services.mail import Attachment

KIND = "certificate"


@dataclass(frozen=True)
class CertificateMailOutcome:
    queued: tuple[str, ...]
    already: tuple[str, ...]


def delivery_key(certificate: Certificate) -> str:
    return f"{certificate.code}/r{certificate.revision}"


def send_certificates(
    db: Session,
    event: Event,
    *,
    people: Sequence[str] | None,
    actor: str,
    now: datetime,
    base_url: str,
) -> CertificateMailOutcome:
    """Queue the mail of every certificate in force (or of `people`'s); commits.

    `actor` is who asked; the delivery rows themselves say what was sent and when.
    """
    del actor
    held = certificates_in_force(db, event)
    if people is not None:
        keys = {p.key for _c, p in held}
        problems = [
            Problem(f"people[{n}]", key, "has no certificate in force")
            for n, key in enumerate(people)
            if key not in keys
        ]
        if problems:
            raise InvalidInputError("some chosen people have no certificate to mail", problems)
        held = [(c, p) for c, p in held if p.key in set(people)]
    queued: list[str] = []
    already: list[str] = []
    for certificate, person in held:
        _delivery, created = queue_delivery(
            db,
            event=event,
            person=person,
            kind=KIND,
            key=delivery_key(certificate),
            subject=f"Certificate of attendance: {event.title}",
            body=_body(event, person, certificate, base_url=base_url),
            now=now,
            domain=mail_domain(base_url),
        )
        (queued if created else already).append(person.key)
    db.commit()
    return CertificateMailOutcome(tuple(queued), tuple(already))


def _body(event: Event, person: Person, certificate: Certificate, *, base_url: str) -> str:
    return (
        f"Dear {certificate.name},\n\n"
        f"Thank you for taking part in {event.title}. Your certificate of attendance is"
        " attached as a PDF.\n\n"
        f"Anyone can check it at {verify_url(base_url, certificate.code)}\n"
        f"(code {certificate.code}).\n"
    )


def certificate_attachment(db: Session, delivery: Delivery, *, base_url: str) -> Attachment:
    """The PDF of a certificate delivery, made when it is sent; refused once out of force."""
    event = db.get(Event, delivery.event_id)
    assert event is not None, "a delivery outlived its event"
    wanted = delivery.key
    person = db.get(Person, delivery.person_id)
    certificate = own_certificate(db, event, person) if person is not None else None
    if certificate is None:
        raise LookupError(f"certificate {wanted} is revoked or gone: not sent")
    if delivery_key(certificate) != wanted:
        raise LookupError(f"{wanted} was re-issued as {delivery_key(certificate)}")
    data = certificate_pdf(db, event, certificate, base_url=base_url)
    return Attachment(f"certificate-{certificate.code}.pdf", "application/pdf", data)

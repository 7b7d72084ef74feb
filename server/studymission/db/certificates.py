"""Reading certificates: an event's, one person's, one by its public code."""

from collections.abc import Collection, Sequence

from sqlmodel import Session, col, select

from studymission.db.tables import Certificate, CertificateRevision, Event, Person


def by_person(db: Session, event: Event) -> dict[int, Certificate]:
    """Every certificate of the event (revoked ones too), by person id."""
    query = select(Certificate).where(Certificate.event_id == event.id)
    return {c.person_id: c for c in db.exec(query)}


def with_people(
    db: Session, event: Event, *, include_revoked: bool = False
) -> Sequence[tuple[Certificate, Person]]:
    """The event's certificates with their people, in the order of the people's keys."""
    query = (
        select(Certificate, Person)
        .join(Person, col(Person.id) == col(Certificate.person_id))
        .where(Certificate.event_id == event.id)
    )
    if not include_revoked:
        query = query.where(col(Certificate.revoked_at).is_(None))
    rows = db.exec(query.order_by(col(Person.key))).all()
    return [(certificate, person) for certificate, person in rows]


def of_person(db: Session, event: Event, person: Person) -> Certificate | None:
    query = select(Certificate).where(
        Certificate.event_id == event.id, Certificate.person_id == person.id
    )
    return db.exec(query).first()


def by_code(db: Session, code: str) -> Certificate | None:
    return db.exec(select(Certificate).where(Certificate.code == code)).first()


def codes_taken(db: Session, codes: Collection[str]) -> set[str]:
    """Which of `codes` some certificate already carries."""
    if not codes:
        return set()
    query = select(Certificate.code).where(col(Certificate.code).in_(list(codes)))
    return set(db.exec(query).all())


def revisions(db: Session, certificate: Certificate) -> Sequence[CertificateRevision]:
    """The certificate's earlier revisions, oldest first."""
    query = select(CertificateRevision).where(CertificateRevision.certificate_id == certificate.id)
    return db.exec(query.order_by(col(CertificateRevision.revision))).all()

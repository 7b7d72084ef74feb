"""Join links and bearer tokens, stored only as SHA-256 hashes of the token."""

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from studymission.db.tables import Credential, Person


def find_by_hash(db: Session, token_hash: str) -> tuple[Credential, Person] | None:
    query = (
        select(Credential, Person)
        .join(Person, col(Person.id) == col(Credential.person_id))
        .where(Credential.token_hash == token_hash)
    )
    row = db.exec(query).first()
    return (row[0], row[1]) if row else None


def get_credential(db: Session, credential_id: int) -> tuple[Credential, Person] | None:
    query = (
        select(Credential, Person)
        .join(Person, col(Person.id) == col(Credential.person_id))
        .where(Credential.id == credential_id)
    )
    row = db.exec(query).first()
    return (row[0], row[1]) if row else None


def active_join_links(db: Session, event_id: int) -> Sequence[tuple[Credential, Person]]:
    """Every person's current join link credential (at most one each)."""
    query = (
        select(Credential, Person)
        .join(Person, col(Person.id) == col(Credential.person_id))
        .where(
            Person.event_id == event_id,
            Credential.kind == "join",
            col(Credential.revoked_at).is_(None),
        )
    )
    return [(c, p) for c, p in db.exec(query).all()]


def revoke(db: Session, credentials: Sequence[Credential], *, now: datetime) -> None:
    for credential in credentials:
        credential.revoked_at = now
        db.add(credential)

"""An event's certificate design and its uploaded images."""

from sqlmodel import Session

from studymission.db.tables import CertificateAsset, CertificateDesign, Event


def get_design(db: Session, event: Event) -> CertificateDesign | None:
    return db.get(CertificateDesign, event.id)


def get_asset(db: Session, event: Event, name: str) -> CertificateAsset | None:
    return db.get(CertificateAsset, (event.id, name))

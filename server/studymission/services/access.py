"""Personal join links, script tokens and who may do what (CONTRACT §3, §4b).

A join link's token is ``HMAC(secret, salt)`` over a random 128-bit salt: the database
keeps the salt and the token's SHA-256 only, so a leaked database opens no link, while
the server can print the same link again on every ``event load``. Script tokens are
plain random values shown once. Both last until revoked or 30 days after the event.
"""

import base64
import hashlib
import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from studymission.db import credentials as store
from studymission.db.events import list_people, list_sessions
from studymission.db.tables import Credential, Event, Person
from studymission.domain.errors import ForbiddenError, NotFoundError
from studymission.domain.values import Role

#: How long after the event's last session links and tokens keep working.
GRACE_AFTER_EVENT = timedelta(days=30)


@dataclass(frozen=True)
class Identity:
    """Who is acting: the person, their event, and the credential that proved it."""

    person: Person
    event: Event
    credential: Credential

    @property
    def role(self) -> Role:
        return Role(self.person.role)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def derive_join_token(secret: str, salt: str) -> str:
    digest = hmac.new(secret.encode(), f"join:{salt}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def join_url(base_url: str, token: str) -> str:
    return f"{base_url}/join/{token}"


def ensure_join_links(db: Session, event: Event, *, secret: str, now: datetime) -> dict[str, str]:
    """Every active person's join token, creating links for those who have none; no commit."""
    current = {p.key: c for c, p in store.active_join_links(db, event.id or 0)}
    tokens: dict[str, str] = {}
    for person in list_people(db, event):
        credential = current.get(person.key)
        if credential is None or credential.salt is None:
            salt = secrets.token_hex(16)
            credential = Credential(
                person_id=person.id or 0,
                kind="join",
                salt=salt,
                token_hash=hash_token(derive_join_token(secret, salt)),
                created_at=now,
            )
            db.add(credential)
        tokens[person.key] = derive_join_token(secret, credential.salt or "")
    db.flush()
    return tokens


def revoke_join_link(db: Session, person: Person, *, now: datetime) -> None:
    """Stop the person's current join link; the next export gives them a new one."""
    links = [c for c, p in store.active_join_links(db, person.event_id) if p.id == person.id]
    store.revoke(db, links, now=now)


def create_api_token(db: Session, person: Person, *, now: datetime) -> str:
    """A new bearer token acting as `person`; only its hash is kept."""
    token = secrets.token_urlsafe(32)
    db.add(
        Credential(
            person_id=person.id or 0, kind="api", token_hash=hash_token(token), created_at=now
        )
    )
    db.flush()
    return token


def authenticate(db: Session, token: str, *, kind: str, now: datetime) -> Identity | None:
    """The identity a token proves, or None when it is unknown, revoked or expired."""
    found = store.find_by_hash(db, hash_token(token))
    if found is None or found[0].kind != kind:
        return None
    return _usable(db, *found, now=now)


def identity_from_credential(db: Session, credential_id: int, *, now: datetime) -> Identity | None:
    """The identity behind a session cookie's credential, if it still holds."""
    found = store.get_credential(db, credential_id)
    return _usable(db, *found, now=now) if found else None


def _usable(
    db: Session, credential: Credential, person: Person, *, now: datetime
) -> Identity | None:
    if credential.revoked_at is not None or person.withdrawn_at is not None:
        return None
    event = db.get(Event, person.event_id)
    if event is None or now >= access_ends(db, event):
        return None
    return Identity(person=person, event=event, credential=credential)


def access_ends(db: Session, event: Event) -> datetime:
    """When links and tokens of the event stop working."""
    sessions = list_sessions(db, event)
    last = max((s.end for s in sessions), default=event.created_at)
    return last + GRACE_AFTER_EVENT


def require_role(identity: Identity, roles: Collection[Role], *, action: str) -> None:
    """Refuse `action` unless the person's role is one of `roles`."""
    if identity.role not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        raise ForbiddenError(f"{action} needs the role {allowed}; you are {identity.role.value}")


def require_event(identity: Identity, code: str) -> Event:
    """The identity's event when it is `code`; other events look like they do not exist."""
    if identity.event.code != code:
        raise NotFoundError(f"no event with the code {code!r} for you")
    return identity.event

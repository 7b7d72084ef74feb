"""What every secretariat page needs: the request, who makes it, and their event.

Routes take a `Desk` and call `desk.event(code, action=...)` first: it checks that the
event is the person's own and that they are of its secretariat (services/access.py).
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from studymission.config import Settings
from studymission.db.tables import Event
from studymission.domain.values import Role
from studymission.services.access import Identity, require_event, require_role
from studymission.services.clock import Clock
from studymission.web.deps import ClockDep, CurrentIdentity, SessionDep, SettingsDep

SECRETARIAT = {Role.SECRETARIAT}


@dataclass(frozen=True)
class Desk:
    """Everything a secretariat route needs about the request and who makes it."""

    request: Request
    identity: Identity
    db: Session
    clock: Clock
    settings: Settings

    def event(self, code: str, *, action: str) -> Event:
        """The event `code`, if it is the identity's and they are of its secretariat."""
        event = require_event(self.identity, code)
        require_role(self.identity, SECRETARIAT, action=action)
        return event

    def context(self, event: Event, nav: str, **extra: object) -> dict[str, object]:
        return {"event": event, "identity": self.identity, "nav": nav, **extra}


def get_desk(
    request: Request,
    identity: CurrentIdentity,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> Desk:
    return Desk(request, identity, db, clock, settings)


DeskDep = Annotated[Desk, Depends(get_desk)]

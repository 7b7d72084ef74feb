"""Sending what is queued: the attachments of each kind, and the loop that runs it.

Every process runs the loop; the claim in services/deliveries.py makes sure that each
delivery is sent by one of them. The secretariat's "send now" calls `dispatch` directly.
"""

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from studymission.config import Settings
from studymission.db.tables import Delivery
from studymission.services import certificate_mail, invitations
from studymission.services.clock import Clock
from studymission.services.deliveries import Attach, SendReport, send_pending
from studymission.services.mail import Attachment, Mailer, mailer_from_settings

log = logging.getLogger(__name__)

#: Real seconds between two looks at the queue.
SEND_EVERY = 5.0


def attachments(settings: Settings, *, now: datetime) -> Attach:
    """What each kind of delivery carries: an invitation its .ics, a certificate its PDF."""
    secret = settings.signing_key()

    def attach(db: Session, delivery: Delivery) -> Sequence[Attachment]:
        if delivery.kind == invitations.KIND:
            ics = invitations.invitation_attachment(
                db,
                delivery,
                base_url=settings.base_url,
                secret=secret,
                sender=settings.mail_from,
                now=now,
            )
            return (ics,)
        if delivery.kind == certificate_mail.KIND:
            pdf = certificate_mail.certificate_attachment(db, delivery, base_url=settings.base_url)
            return (pdf,)
        raise ValueError(f"unknown delivery kind {delivery.kind!r}")

    return attach


def dispatch(
    db: Session,
    settings: Settings,
    *,
    now: datetime,
    mailer: Mailer | None = None,
    event_id: int | None = None,
) -> SendReport:
    """Send what is due now with the settings' mailer (or `mailer`)."""
    return send_pending(
        db,
        mailer or mailer_from_settings(settings),
        now=now,
        attach=attachments(settings, now=now),
        event_id=event_id,
    )


class DeliveryLoop:
    """Every `every` real seconds, send what is due, in a worker thread."""

    def __init__(
        self, engine: Engine, clock: Clock, settings: Settings, *, every: float = SEND_EVERY
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.settings = settings
        self.every = every
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="mail-deliveries")

    async def stop(self) -> None:
        """Let a send in progress finish (its row is recorded), then stop."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self.every)
                return
            except TimeoutError:
                pass
            try:
                await asyncio.to_thread(self._tick)
            except OperationalError as error:
                # The database is away (operations.md, "Faults"): said once, not every few
                # seconds; the rows stay queued and go out when it answers again.
                if not failing:
                    log.warning("mail: database unreachable (%s); deliveries wait", error.orig)
                failing = True
                continue
            except Exception:
                log.exception("mail: sending the queued deliveries failed")
            if failing:
                log.warning("mail: deliveries resume, the database answers")
            failing = False

    def _tick(self) -> None:
        with Session(self.engine, expire_on_commit=False) as db:
            report = dispatch(db, self.settings, now=self.clock.real_now())
        if report.sent or report.failed:
            log.info("mail: %d sent, %d failed", report.sent, report.failed)

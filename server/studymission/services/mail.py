"""Sending one e-mail: over SMTP when ``SMTP_URL`` is set, else into the dev outbox.

``SMTP_URL`` is ``smtp://user:pass@host:port`` (plain, port 25 by default),
``smtp+starttls://…`` (STARTTLS, port 587) or ``smtps://…`` (TLS from the start, port
465); user and password are URL-decoded. Without it nothing leaves the machine: the
delivery is marked as sent to the outbox, and ``/events/{code}/outbox`` shows it.
"""

import hashlib
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol
from urllib.parse import unquote, urlsplit

from studymission.config import Settings

#: Real seconds a connection or a command may take before the attempt fails.
SMTP_TIMEOUT = 20.0
#: Shown beside an outbox delivery: it was marked sent but never left the machine.
OUTBOX_NOTE = "in the dev outbox: not mailed (STUDYMISSION_SMTP_URL is unset)"

_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "text/calendar; method=REQUEST", "application/pdf"
    data: bytes


@dataclass(frozen=True)
class Mail:
    """One message as the services compose it; the mailer turns it into MIME."""

    to: str
    subject: str
    body: str
    message_id: str
    attachments: Sequence[Attachment] = field(default_factory=tuple)


class Mailer(Protocol):
    @property
    def is_outbox(self) -> bool:
        """True when messages never leave the machine (the dev outbox)."""

    def send(self, mail: Mail) -> None:
        """Hand `mail` over, or raise; an exception means it may or may not have arrived."""


def message_id(delivery_id: int, key: str, *, domain: str) -> str:
    """The same ``Message-ID`` for every attempt of one delivery, so receivers dedupe."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"<delivery-{delivery_id}.{digest}@{domain}>"


def build_message(mail: Mail, *, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = mail.message_id
    message.set_content(mail.body)
    for attachment in mail.attachments:
        kind, *params = (piece.strip() for piece in attachment.content_type.split(";"))
        maintype, _, subtype = kind.partition("/")
        extra = dict(param.partition("=")[::2] for param in params if param)
        message.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype,
            filename=attachment.filename,
            params=extra,
        )
    return message


class OutboxMailer:
    """Sends nothing: the delivery row (to, subject, body) is what the outbox page shows."""

    is_outbox = True

    def send(self, mail: Mail) -> None:
        return None


@dataclass(frozen=True)
class SmtpMailer:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None
    sender: str
    timeout: float = SMTP_TIMEOUT
    is_outbox: bool = False

    def send(self, mail: Mail) -> None:
        message = build_message(mail, sender=self.sender)
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.scheme == "smtps":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.scheme == "smtp+starttls":
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self.password or "")
            client.send_message(message)


def parse_smtp_url(url: str, *, sender: str, timeout: float = SMTP_TIMEOUT) -> SmtpMailer:
    """A mailer for `url`; a malformed URL is refused with what was expected."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(
            "STUDYMISSION_SMTP_URL must look like smtp://user:pass@host:port "
            f"(or smtp+starttls://, smtps://), got scheme {parts.scheme!r}"
        )
    return SmtpMailer(
        scheme=parts.scheme,
        host=parts.hostname,
        port=parts.port or _DEFAULT_PORTS[parts.scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        sender=sender,
        timeout=timeout,
    )


def mailer_from_settings(settings: Settings) -> Mailer:
    if not settings.smtp_url:
        return OutboxMailer()
    return parse_smtp_url(settings.smtp_url, sender=settings.mail_from)

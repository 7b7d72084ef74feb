"""A real SMTP server for mail tests: aiosmtpd on 127.0.0.1, collecting what it accepts."""

import email
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

from studymission.services.mail import SmtpMailer, parse_smtp_url


class Collector:
    """Accepts every message, except that the first `refuse` get a 451."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse
        self.messages: list[EmailMessage] = []
        self.refused = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refused < self.refuse:
            self.refused += 1
            return "451 4.3.0 try again later"
        message = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def to(self) -> list[str]:
        return sorted(str(m["To"]) for m in self.messages)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_server(collector: Collector) -> Iterator[SmtpMailer]:
    """Run the server; yields a mailer pointed at it."""
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield parse_smtp_url(f"smtp://127.0.0.1:{port}", sender="Secretariat <sec@example.org>")
    finally:
        controller.stop()


def attachment(message: EmailMessage, suffix: str) -> bytes:
    """The bytes of the one attachment whose file name ends with `suffix`."""
    found = [
        part.get_payload(decode=True)
        for part in message.iter_attachments()
        if (part.get_filename() or "").endswith(suffix)
    ]
    assert len(found) == 1, f"expected one {suffix} attachment, got {len(found)}"
    data = found[0]
    assert isinstance(data, bytes)
    return data

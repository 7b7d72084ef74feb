"""Refuse request bodies over the size limit before anything reads them (413)."""

import html
import json
import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLargeError(Exception):
    pass


class BodySizeLimit:
    """Pure ASGI middleware: checks Content-Length up front and counts streamed bodies.

    Paths matching one of `exempt` pass unchecked: their routes stream large bodies to disk
    and enforce limits of their own (the site-visit recording upload).
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, exempt: Sequence[re.Pattern[str]] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = tuple(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(p.fullmatch(scope["path"]) for p in self.exempt):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        """413 in the shape the caller reads: JSON for the API, a short page for people."""
        detail = f"the upload is over {self.max_bytes:,} bytes; split the file and try again"
        if scope["path"].startswith("/api/"):
            body, content_type = (
                json.dumps({"error": "too_large", "detail": detail}),
                b"application/json",
            )
        else:
            body = _PAGE.format(detail=html.escape(detail))
            content_type = b"text/html; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", content_type), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})


# Answered before the app runs, so without templates; the page still links the stylesheet.
_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Too large</title>
<link rel="stylesheet" href="/static/css/app.css"></head><body><main id="main">
<section class="card card--error" role="alert"><h1>Too large</h1><p>{detail}</p>
<p><a href="/">Back to the start</a></p></section></main></body></html>"""

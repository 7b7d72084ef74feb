"""Each request and socket gets a request id, and each request an access-log line and a
latency observation.

A pure ASGI middleware (``BaseHTTPMiddleware`` would run every request through an extra
task and memory stream, and wraps WebSockets badly). The request id is the caller's
``X-Request-ID`` when it looks like one (nginx sends its ``$request_id``: then nginx's log
and ours name a request alike), or a fresh one; it is bound to every log line written while
the request is served and sent back in the ``X-Request-ID`` response header.
"""

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from studymission.observability.logs import FIELDS, bind
from studymission.observability.metrics import UNMATCHED, Metrics

HEADER = "x-request-id"
_HEADER_BYTES = HEADER.encode()
#: What an incoming id may look like: nginx's is 32 hex digits; UUIDs and similar pass;
#: anything longer or with other characters (log injection, a flood of junk) is replaced.
VALID_ID = re.compile(r"[A-Za-z0-9._-]{8,128}")

#: Path parameters that are credentials (``/join/{token}``), and what replaces them.
SECRET_PARAMS = ("token",)
REDACTED = "[redacted]"

access_log = logging.getLogger("studymission.access")
log = logging.getLogger(__name__)


def request_id_of(scope: Scope) -> str:
    """The caller's request id if it is sane, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == _HEADER_BYTES:
            candidate = bytes(value).decode("latin-1")
            if VALID_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The route that served the request, as declared (``/api/events/{code}``): raw
    paths would give Prometheus a series per event code and per scanner's guess."""
    route = scope.get("route")
    declared = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(declared, str):
        return declared
    # A mounted app (the static files) leaves only the prefix it matched.
    mounted = str(scope.get("root_path", ""))[len(str(scope.get("app_root_path", ""))) :]
    return f"{mounted}/{{path}}" if mounted else UNMATCHED


def logged_path(scope: Scope) -> str:
    """The path, without the secret a join link carries in it: whoever reads the logs
    must not be able to sign in as the people in them."""
    path = str(scope["path"])
    for name in SECRET_PARAMS:
        value = scope.get("path_params", {}).get(name)
        if isinstance(value, str) and value:
            path = path.replace(value, REDACTED)
    return path


class RequestContext:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # The socket's own connection id is bound by the endpoint; this one names the
            # upgrade request as nginx logged it.
            with bind(request_id=request_id_of(scope)):
                await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        started = time.perf_counter()
        status = 500  # what the client gets if the application fails before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(HEADER, request_id)
            await send(message)

        with bind(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                # Logged here too so that the traceback carries the request id.
                log.exception("request failed: %s %s", scope["method"], logged_path(scope))
                raise
            finally:
                self._done(scope, status, time.perf_counter() - started)

    def _done(self, scope: Scope, status: int, seconds: float) -> None:
        route = route_template(scope)
        self.metrics.observe_request(scope["method"], route, status, seconds)
        client = scope.get("client")
        path = logged_path(scope)
        fields = {
            "method": scope["method"],
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "client": client[0] if client else None,
        }
        access_log.info(
            "%s %s %d %.1f ms",
            scope["method"],
            path,
            status,
            seconds * 1000,
            extra={FIELDS: fields},
        )

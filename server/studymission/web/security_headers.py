"""Security headers on every HTTP answer: a pure ASGI middleware (streams stay streams).

The Content-Security-Policy lets pages run only the project's own files and Jitsi's IFrame
API, frame only the Jitsi server, and fetch only from this site (its WebSocket included) and
the live-stream origins the settings allow. Nothing inline runs: the templates carry no
``<script>`` code, no ``style=`` and no event-handler attributes, and htmx is configured not
to evaluate strings (``allowEval: false``); the one inline ``<style>`` (the heat map's) is
allowed by its hash. A route that sets one of these headers itself
(the join link's ``Referrer-Policy: no-referrer``) keeps its own value.
"""

import base64
import hashlib
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from studymission.config import Settings
from studymission.exporters.heatmap import inline_stylesheet

#: FastAPI's interactive API pages load Swagger UI / ReDoc from a CDN with an inline script;
#: they show no event data, and get a policy of their own that allows exactly that.
API_DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
API_DOC_CDN = "https://cdn.jsdelivr.net"

#: Browser features the pages use (the Jitsi frame's camera and microphone, screen sharing,
#: full screen video); each is granted to this site and the Jitsi origin only.
DELEGATED_FEATURES = ("camera", "microphone", "display-capture", "fullscreen", "autoplay")
#: Features nobody here needs, refused to every frame.
REFUSED_FEATURES = ("geolocation", "payment", "usb")


def jitsi_origin(domain: str | None) -> str | None:
    """The origin pages load ``external_api.js`` and the conference frame from."""
    return f"https://{domain}" if domain else None


def style_hash(text: str) -> str:
    """The CSP source that allows an inline ``<style>`` holding exactly `text`."""
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def websocket_origin(base_url: str) -> str:
    """``ws(s)://host`` of the public address: the live socket's origin."""
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}"


def content_security_policy(settings: Settings, jitsi_domain: str | None) -> str:
    """The policy of every page: see docs/security.md for why each source is there."""
    jitsi = [origin] if (origin := jitsi_origin(jitsi_domain)) else []
    live = list(settings.live_stream_origins)
    directives: dict[str, list[str]] = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *jitsi],
        "frame-src": ["'self'", *jitsi],
        # The live socket; the recordings (same origin) and the allowed live streams, which
        # hls.js fetches with XHR.
        "connect-src": ["'self'", websocket_origin(settings.base_url), *live],
        # hls.js hands the video element a blob: (Media Source Extensions); Safari's own HLS
        # plays the stream's URL directly.
        "media-src": ["'self'", "blob:", *live],
        # The heartbeat worker is a file of ours; hls.js runs its transmuxer from a blob:.
        "worker-src": ["'self'", "blob:"],
        "img-src": ["'self'", "data:", "blob:"],
        # The attendance page's heat map is inline SVG with a fixed <style>: allowed by hash.
        "style-src": ["'self'", style_hash(inline_stylesheet())],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def api_docs_policy() -> str:
    """The interactive API pages' policy: Swagger UI / ReDoc from their CDN, nothing else."""
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'unsafe-inline' {API_DOC_CDN}",
            f"style-src 'self' 'unsafe-inline' {API_DOC_CDN}",
            "img-src 'self' data: https://fastapi.tiangolo.com",
            f"worker-src 'self' blob: {API_DOC_CDN}",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def permissions_policy(jitsi_domain: str | None) -> str:
    jitsi = f' "{origin}"' if (origin := jitsi_origin(jitsi_domain)) else ""
    granted = [f"{feature}=(self{jitsi})" for feature in DELEGATED_FEATURES]
    refused = [f"{feature}=()" for feature in REFUSED_FEATURES]
    return ", ".join(granted + refused)


def security_headers(settings: Settings, jitsi_domain: str | None) -> dict[str, str]:
    """Every header the middleware adds, by name (lower case)."""
    headers = {
        "content-security-policy": content_security_policy(settings, jitsi_domain),
        "x-content-type-options": "nosniff",
        # Join links carry their token in the path: no address of ours goes to another site.
        "referrer-policy": "same-origin",
        # frame-ancestors says the same to current browsers; this is for older ones.
        "x-frame-options": "DENY",
        "permissions-policy": permissions_policy(jitsi_domain),
        "cross-origin-opener-policy": "same-origin",
    }
    if settings.is_https:
        # Only over TLS: browsers ignore it on http, and a test install must stay reachable.
        headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"
    return headers


class SecurityHeaders:
    """Adds `headers` to every HTTP response that does not set them itself."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        headers: Mapping[str, str],
        overrides: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.app = app
        self.headers = _encoded(headers.items())
        # Per exact path: the headers that replace the defaults there (the API doc pages).
        self.overrides = {
            path: _encoded({**headers, **extra}.items())
            for path, extra in (overrides or {}).items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = self.overrides.get(scope["path"], self.headers)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                present = {name.lower() for name in headers.keys()}
                for name, value in added:
                    if name not in present:
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _encoded(items: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((name.lower(), value) for name, value in items)

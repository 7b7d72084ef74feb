"""Settings, read once from the environment (prefix ``STUDYMISSION_``) or a ``.env`` file.

CONTRACT §5 names them. ``Settings`` is built in ``create_app`` / the CLI, never at import.
"""

import hashlib
import hmac
import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: The repository root in a source checkout (``server/studymission/config.py`` → top).
PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Secrets that appear in examples and must never run a real event.
_PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "changethis"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="STUDYMISSION_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = ""
    redis_url: str | None = None
    secret_key: SecretStr | None = None
    base_url: str = "http://127.0.0.1:8000"
    time_scale: float = 1.0
    clock_start: datetime | None = None
    #: The real instant at which event time is `clock_start` (default: the process's start).
    #: Several processes given the same anchor agree on event time at any scale.
    clock_anchor: datetime | None = None
    jitsi_mode: Literal["none", "self_hosted", "jaas"] = "none"
    jitsi_domain: str = "meet.jit.si"
    jitsi_app_id: str = ""
    jitsi_app_secret: SecretStr | None = None
    jitsi_kid: str = ""
    jitsi_private_key_file: Path | None = None
    #: JaaS: the secret of the webhook the JaaS console is given (checks ``X-Jaas-Signature``).
    jitsi_webhook_secret: SecretStr | None = None
    #: Self-hosted: the bearer token Prosody's ``event_sync`` module sends with its callbacks.
    jitsi_events_token: SecretStr | None = None
    media_dir: Path = PROJECT_ROOT / "media"
    #: An ffmpeg executable to package recordings with (default: the imageio-ffmpeg wheel's).
    ffmpeg_binary: str | None = None
    #: The secret of the signed media cookies that nginx's ``secure_link`` checks too
    #: (default: derived from ``SECRET_KEY``; ``studymission media secret`` prints it).
    media_secret: SecretStr | None = None
    #: Real seconds a media access grant lasts; pages renew it well before then.
    media_access_seconds: int = 900
    #: Largest recording accepted by the upload page, in bytes.
    max_media_upload_bytes: int = 8 * 1024**3
    smtp_url: str | None = None
    #: The sender of invitations and certificates.
    mail_from: str = "studymission <noreply@localhost>"
    var_dir: Path = PROJECT_ROOT / "var"
    frontend_dir: Path = PROJECT_ROOT / "frontend"
    #: Real seconds between transport pings; a peer that does not answer one within as many
    #: seconds is closed (a laptop that slept, a dropped network).
    ws_ping_seconds: float = 20.0
    #: Largest upload accepted (a people CSV), in bytes.
    max_upload_bytes: int = 1_000_000
    #: Log lines as JSON objects or plain text (default: json for ``serve``, text for the
    #: ``demo``, whose terminal a person reads).
    log_format: Literal["json", "text"] | None = None
    #: When set, ``/metrics`` also asks for ``Authorization: Bearer <token>``.
    metrics_token: SecretStr | None = None
    #: Origins (``https://host[:port]``, comma-separated) the site visit may play a live HLS
    #: stream from: the Content-Security-Policy lets pages fetch from them, and the console
    #: refuses a live URL from anywhere else. Empty: no live streams, recordings only.
    live_stream_origins: Annotated[tuple[str, ...], NoDecode] = ()
    #: Join-link attempts (valid or not) per client IP per minute, and certificate lookups.
    join_rate_limit: int = 30
    verify_rate_limit: int = 30

    @field_validator("time_scale")
    @classmethod
    def _positive_scale(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"time scale must be positive, got {value}")
        return value

    @field_validator("media_secret")
    @classmethod
    def _real_media_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Anyone knowing it can sign media cookies nginx accepts: no example value.
        if value is not None:
            secret = value.get_secret_value()
            if secret.lower() in _PLACEHOLDER_SECRETS or len(secret) < 16:
                raise ValueError("MEDIA_SECRET is a placeholder or shorter than 16 characters")
        return value

    @field_validator("live_stream_origins", mode="before")
    @classmethod
    def _live_stream_origins(cls, value: object) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"live stream origins must be a comma-separated list, got {value!r}")
        return tuple(_origin(str(item)) for item in items if str(item).strip())

    @field_validator("join_rate_limit", "verify_rate_limit")
    @classmethod
    def _positive_limit(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"a rate limit must be at least 1 a minute, got {value}")
        return value

    @field_validator("base_url")
    @classmethod
    def _absolute_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base URL must be an absolute http(s) URL, got {value!r}")
        return value.rstrip("/")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'studymission.db'}"

    @property
    def is_https(self) -> bool:
        return self.base_url.startswith("https://")

    def media_signing_key(self) -> str:
        """The secret shared with nginx for signed media access (``secure_link_md5``)."""
        if self.media_secret is not None:
            return self.media_secret.get_secret_value()
        derived = hmac.new(self.signing_key().encode(), b"studymission media", hashlib.sha256)
        return derived.hexdigest()[:40]

    def signing_key(self) -> str:
        """The secret that signs cookies and derives join links.

        Without ``SECRET_KEY`` a local installation keeps one in ``var/secret_key`` so that
        join links survive restarts; a placeholder value is refused outright.
        """
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            if value.lower() in _PLACEHOLDER_SECRETS or len(value) < 16:
                raise ValueError(
                    "STUDYMISSION_SECRET_KEY is a placeholder or shorter than 16 characters"
                )
            return value
        path = self.var_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text().strip()


def _origin(value: str) -> str:
    """``value`` as a bare origin (scheme, host, port); anything else is refused."""
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        raise ValueError(f"a live stream origin must look like https://host[:port], got {value!r}")
    return f"{parts.scheme}://{parts.netloc.lower()}"

"""Jitsi Meet: room names, and the tokens that let a person into a room (CONTRACT §6).

Three modes: ``none`` (public meet.jit.si, no token), ``self_hosted`` (a Prosody with token
auth, HS256 with the shared secret) and ``jaas`` (8x8's Jitsi as a Service, RS256 with the
console's API key). Tokens carry real Unix times; callers pass the real instant in.
"""

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from studymission.config import Settings


def room_name(secret: str, event_code: str, session_key: str, room: str) -> str:
    """The Jitsi room of one platform room (main, breakout-N) of one session.

    A keyed hash: nobody can guess a room from the event code, and the name shows
    neither. Lowercase letters and digits only, which every Jitsi deployment accepts.
    """
    message = "\x00".join(("jitsi-room", event_code, session_key, room)).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "sm" + base64.b32encode(digest).decode().lower().rstrip("=")[:24]


#: How long a token stays valid (CONTRACT §6: 10 min to 24 h). The video service checks it
#: when a page connects, and a reconnecting page gets a fresh one, so a study day fits and
#: a leaked token dies the same day.
TOKEN_LIFETIME = timedelta(hours=6)

#: ``nbf`` sits this far before the issue time: the video server's clock may run a little
#: behind ours, and a token it thinks is from the future is refused.
CLOCK_SKEW = timedelta(seconds=30)

PUBLIC_DOMAIN = "meet.jit.si"
JAAS_DOMAIN = "8x8.vc"
JAAS_APP_PREFIX = "vpaas-magic-cookie-"
AUDIENCE = "jitsi"
JAAS_ISSUER = "chat"

# Below these sizes PyJWT warns and the JWT RFCs call the key insecure (RFC 7518 §3.2, §3.3).
MIN_HMAC_SECRET_BYTES = 32
MIN_RSA_KEY_BITS = 2048

_PLACEHOLDERS = frozenset({"changeme", "change-me", "secret", "changethis", "my_jitsi_app_secret"})

# JaaS grants nothing we do not use; the documented keys take "true"/"false" strings.
_JAAS_FEATURES = {
    "livestreaming": "false",
    "recording": "false",
    "transcription": "false",
    "outbound-call": "false",
    "sip-outbound-call": "false",
}

Mode = Literal["none", "self_hosted", "jaas"]
#: Turns a claim set into a compact JWT; the seam that lets tests or another signer stand in.
Signer = Callable[[dict[str, Any]], str]


@dataclass(frozen=True, slots=True)
class VideoUser:
    """Who joins a room. ``moderator`` is the caller's decision (moderators, resource persons)."""

    key: str
    name: str
    email: str
    moderator: bool


class JitsiConfigError(ValueError):
    """The Jitsi settings cannot work; ``problems`` lists every one, not just the first."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("Jitsi configuration: " + "; ".join(self.problems))


def hs256_signer(secret: str) -> Signer:
    """A signer for a self-hosted Prosody that shares ``secret`` (``JWT_APP_SECRET``)."""

    def sign(claims: dict[str, Any]) -> str:
        return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"})

    return sign


def rs256_signer(private_key: RSAPrivateKey, kid: str) -> Signer:
    """A signer for JaaS: the header ``kid`` names the public key uploaded to the console."""

    def sign(claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, private_key, algorithm="RS256", headers={"kid": kid, "typ": "JWT"}
        )

    return sign


class JitsiAdapter:
    """Join information for one deployment: the room names, the tokens, the browser frame."""

    def __init__(
        self,
        *,
        secret: str,
        mode: Mode = "none",
        domain: str = PUBLIC_DOMAIN,
        app_id: str = "",
        signer: Signer | None = None,
    ) -> None:
        if mode != "none" and signer is None:
            raise ValueError(f"Jitsi mode {mode!r} needs a signer, got none")
        self.mode: Mode = mode
        self.domain = domain
        self.tenant: str | None = app_id if mode == "jaas" else None
        self.script_url = f"https://{domain}/external_api.js"
        self._secret = secret
        self._app_id = app_id
        self._signer = signer

    def __repr__(self) -> str:
        return f"JitsiAdapter(mode={self.mode!r}, domain={self.domain!r}, tenant={self.tenant!r})"

    def room(self, event_code: str, session_key: str, room: str) -> str:
        """The Jitsi room name of one platform room; JaaS pages prefix ``tenant + "/"``."""
        return room_name(self._secret, event_code, session_key, room)

    def claims(self, user: VideoUser, room: str, now: datetime) -> dict[str, Any]:
        """The token body for ``user`` in ``room`` issued at real instant ``now`` (CONTRACT §6)."""
        if now.tzinfo is None:
            raise ValueError(
                f"token times are real Unix times: expected an aware datetime, got {now!r}"
            )
        issued = int(now.timestamp())
        body: dict[str, Any] = {
            "aud": AUDIENCE,
            "room": room,
            "iat": issued,
            "nbf": issued - int(CLOCK_SKEW.total_seconds()),
            "exp": issued + int(TOKEN_LIFETIME.total_seconds()),
        }
        # Strings, not booleans: JaaS documents "true"/"false", token_affiliation accepts
        # "true", and Prosody's presence_identity can only copy strings into presence.
        person: dict[str, Any] = {
            "id": user.key,
            "name": user.name,
            "email": user.email,
            "moderator": "true" if user.moderator else "false",
        }
        if self.mode == "jaas":
            # A real boolean: lib-jitsi-meet reads it with Boolean(), so "false" would hide.
            person["hidden-from-recorder"] = False
            body |= {"iss": JAAS_ISSUER, "sub": self._app_id}
            body["context"] = {"user": person, "features": dict(_JAAS_FEATURES)}
        else:
            body |= {"iss": self._app_id, "sub": self.domain}
            body["context"] = {"user": person}
        return body

    def mint(self, user: VideoUser, room: str, now: datetime) -> tuple[str | None, datetime | None]:
        """A token for ``user`` in ``room`` and its expiry; ``(None, None)`` for the public server.

        ``now`` is real wall-clock time, whatever the event's time scale: the video service
        checks the token against its own clock.
        """
        if self._signer is None:
            return None, None
        body = self.claims(user, room, now)
        return self._signer(body), datetime.fromtimestamp(body["exp"], tz=UTC)

    def frame(self, user: VideoUser, room: str, now: datetime) -> dict[str, Any]:
        """The ``room.jitsi`` object of a state frame: where the page joins, and with what."""
        token, _ = self.mint(user, room, now)
        return {"domain": self.domain, "room": room, "jwt": token, "tenant": self.tenant}


def jitsi_from_settings(settings: Settings, secret: str) -> JitsiAdapter:
    """The adapter the settings describe; `JitsiConfigError` lists every problem at once.

    ``secret`` keys the room names (the installation's signing key). The JaaS private key is
    read here, once, so a bad file stops start-up instead of the first join.
    """
    problems: list[str] = []
    if not secret:
        problems.append("the secret that keys room names is empty")
    mode = settings.jitsi_mode
    domain_problem = _domain_problem(settings.jitsi_domain)
    if mode == "none":
        if problems:
            raise JitsiConfigError(problems)
        return JitsiAdapter(secret=secret)
    if domain_problem:
        problems.append(domain_problem)
    app_id = settings.jitsi_app_id.strip()
    if mode == "self_hosted":
        problems += _self_hosted_problems(settings, app_id)
        if problems:
            raise JitsiConfigError(problems)
        assert settings.jitsi_app_secret is not None  # checked above; narrows for mypy
        signer = hs256_signer(settings.jitsi_app_secret.get_secret_value())
        return JitsiAdapter(
            secret=secret, mode=mode, domain=settings.jitsi_domain, app_id=app_id, signer=signer
        )
    problems += _jaas_id_problems(app_id, settings.jitsi_kid)
    key, key_problem = _load_rsa_key(settings.jitsi_private_key_file)
    if key_problem:
        problems.append(key_problem)
    if problems or key is None:
        raise JitsiConfigError(problems)
    domain = JAAS_DOMAIN if settings.jitsi_domain == PUBLIC_DOMAIN else settings.jitsi_domain
    return JitsiAdapter(
        secret=secret,
        mode=mode,
        domain=domain,
        app_id=app_id,
        signer=rs256_signer(key, settings.jitsi_kid),
    )


def _domain_problem(domain: str) -> str | None:
    # The page builds https://{domain}/external_api.js, so only a bare host name works.
    if not domain or "/" in domain or ":" in domain or domain != domain.strip():
        return f"JITSI_DOMAIN must be a bare host name like meet.example.org, got {domain!r}"
    return None


def _self_hosted_problems(settings: Settings, app_id: str) -> list[str]:
    problems: list[str] = []
    if settings.jitsi_domain == PUBLIC_DOMAIN:
        problems.append(
            "JITSI_MODE=self_hosted needs JITSI_DOMAIN set to your own server, not meet.jit.si"
        )
    if not app_id:
        problems.append("JITSI_MODE=self_hosted needs JITSI_APP_ID (Prosody's JWT_APP_ID)")
    if settings.jitsi_app_secret is None:
        problems.append("JITSI_MODE=self_hosted needs JITSI_APP_SECRET (Prosody's JWT_APP_SECRET)")
    else:
        value = settings.jitsi_app_secret.get_secret_value()
        if value.lower() in _PLACEHOLDERS or len(value.encode()) < MIN_HMAC_SECRET_BYTES:
            problems.append(
                f"JITSI_APP_SECRET is a placeholder or shorter than {MIN_HMAC_SECRET_BYTES} bytes"
                f" ({len(value.encode())} given)"
            )
    return problems


def _jaas_id_problems(app_id: str, kid: str) -> list[str]:
    problems: list[str] = []
    if not app_id.startswith(JAAS_APP_PREFIX) or len(app_id) == len(JAAS_APP_PREFIX):
        problems.append(
            f"JITSI_MODE=jaas needs JITSI_APP_ID, the AppID starting {JAAS_APP_PREFIX!r},"
            f" got {app_id!r}"
        )
    if not kid.startswith(f"{app_id}/") or kid == f"{app_id}/" or not app_id:
        problems.append(
            f"JITSI_KID must be the API key id '<JITSI_APP_ID>/<key>' from the JaaS console,"
            f" got {kid!r}"
        )
    return problems


def _load_rsa_key(path: Path | None) -> tuple[RSAPrivateKey | None, str | None]:
    if path is None:
        return None, "JITSI_MODE=jaas needs JITSI_PRIVATE_KEY_FILE (the key of the JaaS API key)"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"JITSI_PRIVATE_KEY_FILE {str(path)!r} cannot be read: {exc.strerror}"
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        return None, f"JITSI_PRIVATE_KEY_FILE {str(path)!r} is encrypted; give an unencrypted key"
    except (ValueError, UnsupportedAlgorithm):
        return None, f"JITSI_PRIVATE_KEY_FILE {str(path)!r} is not a PEM private key"
    if not isinstance(key, RSAPrivateKey):
        return None, (
            f"JITSI_PRIVATE_KEY_FILE {str(path)!r} is not an RSA key;"
            " JaaS signs with RS256 and needs one"
        )
    if key.key_size < MIN_RSA_KEY_BITS:
        return None, (
            f"JITSI_PRIVATE_KEY_FILE {str(path)!r} is a {key.key_size}-bit RSA key,"
            f" at least {MIN_RSA_KEY_BITS} bits are needed"
        )
    return key, None

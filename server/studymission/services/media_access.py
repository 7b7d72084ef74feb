"""Signed access to one packaged recording version, checked alike by the app and by nginx.

A grant is two cookies scoped to the version's URL prefix (``Path=/media/NAME/VERSION/``):
``sm_media_exp``, the expiry in real Unix seconds, and ``sm_media_sig``, the value nginx's
``secure_link_md5 "$secure_link_expires/media/$name/$version/ $media_secret"`` computes:
base64url without padding of the binary MD5 of ``f"{expires}{prefix} {secret}"``. So the app
(in development) and nginx or a CDN (in production, deploy/nginx/media.conf) accept the very
same cookies, and a cookie for one version is worthless for another.

MD5 is not our choice: it is the one digest ``ngx_http_secure_link_module`` offers. The
secret is long and random and the string carries the expiry, which is what that scheme relies
on. `allowed` mirrors the module's checks, so an answer here is the answer nginx gives.
"""

import base64
import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from typing import Literal

from starlette.responses import Response

EXPIRES_COOKIE = "sm_media_exp"
SIGNATURE_COOKIE = "sm_media_sig"

Access = Literal["ok", "missing", "expired", "forged"]

# nginx reads the expiry with ngx_atotm (digits only) and refuses zero; Python's int() would
# also take "+5", " 5" or "1_000", which nginx refuses, so the form is checked first.
_EXPIRES = re.compile(r"[0-9]{1,12}")


def media_signature(prefix: str, expires: int, secret: str) -> str:
    """nginx ``secure_link_md5`` of ``"{expires}{prefix} {secret}"``: base64url, no padding."""
    # MD5 because nginx's secure_link module only speaks MD5; see the module docstring.
    digest = hashlib.md5(f"{expires}{prefix} {secret}".encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def grant(
    response: Response, prefix: str, *, secret: str, now: float, lifetime: int, secure: bool
) -> int:
    """Set both cookies on `response` for `prefix` until `now` + `lifetime` real seconds."""
    expires = math.floor(now) + lifetime
    signature = media_signature(prefix, expires, secret)
    for name, value in ((EXPIRES_COOKIE, str(expires)), (SIGNATURE_COOKIE, signature)):
        response.set_cookie(
            name,
            value,
            max_age=lifetime,
            path=prefix,
            httponly=True,
            samesite="lax",
            secure=secure,
        )
    return expires


def allowed(
    request_path_prefix: str, cookies: Mapping[str, str], *, secret: str, now: float
) -> Access:
    """Whether the cookies grant `request_path_prefix` at real time `now` (Unix seconds).

    The signature is checked before the expiry, as nginx does: a forged cookie is
    ``forged`` whatever its expiry, and only a genuine one can be ``expired``.
    """
    signature = cookies.get(SIGNATURE_COOKIE)
    expires_text = cookies.get(EXPIRES_COOKIE)
    if not signature or not expires_text:
        return "missing"
    if not _EXPIRES.fullmatch(expires_text) or int(expires_text) == 0:
        return "forged"
    expires = int(expires_text)
    expected = media_signature(request_path_prefix, expires, secret)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return "forged"
    # nginx compares with its whole-second clock: still valid during the second `expires`.
    if expires < math.floor(now):
        return "expired"
    return "ok"

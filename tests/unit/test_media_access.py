"""Signed media cookies: nginx's secure_link_md5 value, expiry, prefix and forgery."""

from http.cookies import SimpleCookie

import pytest
from starlette.responses import Response

from studymission.services.media_access import (
    EXPIRES_COOKIE,
    SIGNATURE_COOKIE,
    allowed,
    grant,
    media_signature,
)

pytestmark = pytest.mark.unit

PREFIX = "/media/sejong-dc/v1/"
SECRET = "s3cret-for-tests"
NOW = 1_700_000_000.0


def cookies(expires: int, prefix: str = PREFIX, secret: str = SECRET) -> dict[str, str]:
    return {
        EXPIRES_COOKIE: str(expires),
        SIGNATURE_COOKIE: media_signature(prefix, expires, secret),
    }


# Computed outside Python: printf '%s' "$exp$prefix $secret" | openssl md5 -binary |
#   openssl base64 | tr +/ -_ | tr -d =
@pytest.mark.parametrize(
    ("prefix", "expires", "secret", "expected"),
    [
        (PREFIX, 1_700_000_000, SECRET, "XnBq1EtJY4JmHNVxkL-dIg"),
        ("/media/a/b/", 2_000_000_000, "x", "hiug4d_W4kXblA4AfIgpKw"),
    ],
)
def test_signature_matches_openssl_vector(
    prefix: str, expires: int, secret: str, expected: str
) -> None:
    assert media_signature(prefix, expires, secret) == expected


def test_grant_sets_both_cookies_scoped_to_the_prefix() -> None:
    response = Response()
    expires = grant(response, PREFIX, secret=SECRET, now=NOW + 0.7, lifetime=900, secure=True)
    assert expires == 1_700_000_900
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getlist("set-cookie"):
        jar.load(header)
    assert jar[EXPIRES_COOKIE].value == "1700000900"
    assert jar[SIGNATURE_COOKIE].value == media_signature(PREFIX, 1_700_000_900, SECRET)
    for name in (EXPIRES_COOKIE, SIGNATURE_COOKIE):
        morsel = jar[name]
        assert (morsel["path"], morsel["max-age"], morsel["samesite"]) == (PREFIX, "900", "lax")
        assert morsel["httponly"] is True
        assert morsel["secure"] is True


def test_grant_over_plain_http_is_not_secure() -> None:
    response = Response()
    grant(response, PREFIX, secret=SECRET, now=NOW, lifetime=60, secure=False)
    headers = response.headers.getlist("set-cookie")
    assert len(headers) == 2
    assert all("secure" not in header.lower() for header in headers)


def test_granted_cookies_are_allowed() -> None:
    response = Response()
    expires = grant(response, PREFIX, secret=SECRET, now=NOW, lifetime=900, secure=False)
    assert allowed(PREFIX, cookies(expires), secret=SECRET, now=NOW) == "ok"


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (NOW + 899, "ok"),
        (NOW + 900, "ok"),
        (NOW + 900.9, "ok"),  # nginx's clock has whole seconds: valid through that second
        (NOW + 901, "expired"),
    ],
)
def test_expiry_follows_nginx(now: float, expected: str) -> None:
    assert allowed(PREFIX, cookies(int(NOW) + 900), secret=SECRET, now=now) == expected


def test_other_version_prefix_is_forged() -> None:
    other = cookies(int(NOW) + 900, prefix="/media/sejong-dc/v2/")
    assert allowed(PREFIX, other, secret=SECRET, now=NOW) == "forged"


def test_other_secret_is_forged() -> None:
    assert allowed(PREFIX, cookies(int(NOW) + 900, secret="x"), secret=SECRET, now=NOW) == "forged"


def test_moved_expiry_is_forged() -> None:
    genuine = cookies(int(NOW) + 900)
    extended = {**genuine, EXPIRES_COOKIE: str(int(NOW) + 9000)}
    assert allowed(PREFIX, extended, secret=SECRET, now=NOW) == "forged"


def test_forged_and_expired_is_forged() -> None:
    stale = {**cookies(int(NOW) - 10), SIGNATURE_COOKIE: "AAAAAAAAAAAAAAAAAAAAAA"}
    assert allowed(PREFIX, stale, secret=SECRET, now=NOW) == "forged"


@pytest.mark.parametrize("expires", ["+1700000900", " 1700000900", "1_700_000_900", "0", "-5"])
def test_expiry_not_in_nginx_form_is_forged(expires: str) -> None:
    # Signed over what Python's int() would make of it: only the form check refuses these.
    signed = {
        EXPIRES_COOKIE: expires,
        SIGNATURE_COOKIE: media_signature(PREFIX, int(expires), SECRET),
    }
    assert allowed(PREFIX, signed, secret=SECRET, now=0.0) == "forged"


@pytest.mark.parametrize(
    "jar",
    [{}, {EXPIRES_COOKIE: "1700000900"}, {SIGNATURE_COOKIE: "abc"}, {SIGNATURE_COOKIE: ""}],
)
def test_missing_cookie_is_missing(jar: dict[str, str]) -> None:
    assert allowed(PREFIX, jar, secret=SECRET, now=NOW) == "missing"

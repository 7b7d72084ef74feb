"""The Jitsi adapter: room names, and the tokens each mode signs (CONTRACT §6).

Tokens are decoded with PyJWT against the key, audience and issuer the video service holds,
as Prosody's token_verification and JaaS do; the room check mirrors Prosody's `verify_room`.
"""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import SecretStr

from studymission.config import Settings
from studymission.integrations.jitsi import (
    CLOCK_SKEW,
    TOKEN_LIFETIME,
    JitsiAdapter,
    JitsiConfigError,
    VideoUser,
    jitsi_from_settings,
    room_name,
)

pytestmark = pytest.mark.unit

ROOM_SECRET = "room-secret-for-tests-0123456789"
APP_ID = "studymission-test"
APP_SECRET = "s3lf-hosted-shared-secret-0123456789abcdef"
DOMAIN = "meet.example.org"
JAAS_APP_ID = "vpaas-magic-cookie-1fc542a3e4414a44b2611668195e2bfe"
JAAS_KID = f"{JAAS_APP_ID}/4f4910"
REQUIRED = ["exp", "iat", "nbf", "aud", "iss", "sub", "room", "context"]

AMINA = VideoUser(key="p-amina", name="Amina Odhiambo", email="amina@example.org", moderator=True)
BEN = VideoUser(key="p-ben", name="Ben Kiprop", email="ben@example.org", moderator=False)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def key_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    return write_pem(tmp_path / "jaas.pk", rsa_key)


def write_pem(
    path: Path,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    encryption: serialization.KeySerializationEncryption | None = None,
) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            encryption or serialization.NoEncryption(),
        )
    )
    return path


def jitsi_settings(**values: Any) -> Settings:
    """Settings with every Jitsi field given, so the environment cannot leak in."""
    fields: dict[str, Any] = {
        "jitsi_mode": "none",
        "jitsi_domain": "meet.jit.si",
        "jitsi_app_id": "",
        "jitsi_app_secret": None,
        "jitsi_kid": "",
        "jitsi_private_key_file": None,
    }
    fields.update(values)
    return Settings(_env_file=None, **fields)


def self_hosted(secret: str = APP_SECRET) -> JitsiAdapter:
    settings = jitsi_settings(
        jitsi_mode="self_hosted",
        jitsi_domain=DOMAIN,
        jitsi_app_id=APP_ID,
        jitsi_app_secret=SecretStr(secret),
    )
    return jitsi_from_settings(settings, ROOM_SECRET)


def jaas(key_file: Path, domain: str = "meet.jit.si") -> JitsiAdapter:
    settings = jitsi_settings(
        jitsi_mode="jaas",
        jitsi_domain=domain,
        jitsi_app_id=JAAS_APP_ID,
        jitsi_kid=JAAS_KID,
        jitsi_private_key_file=key_file,
    )
    return jitsi_from_settings(settings, ROOM_SECRET)


def decode_self_hosted(token: str, secret: str = APP_SECRET) -> dict[str, Any]:
    return jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        audience="jitsi",
        issuer=APP_ID,
        options={"require": REQUIRED},
    )


def decode_jaas(token: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    return jwt.decode(
        token,
        key.public_key(),
        algorithms=["RS256"],
        audience="jitsi",
        issuer="chat",
        options={"require": REQUIRED},
    )


def check_room(claims: dict[str, Any], joined_room: str) -> None:
    """Prosody's rule: the room joined must equal the token's room claim (lowercased)."""
    if claims["room"] != "*" and claims["room"].lower() != joined_room:
        raise PermissionError(f"token is for room {claims['room']!r}, not {joined_room!r}")


def real_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --- mode none -------------------------------------------------------------------------------


def test_mode_none_is_the_public_server_without_tokens() -> None:
    adapter = jitsi_from_settings(jitsi_settings(), ROOM_SECRET)
    room = adapter.room("KEN-2026", "s1", "main")

    assert (adapter.mode, adapter.domain, adapter.tenant) == ("none", "meet.jit.si", None)
    assert adapter.script_url == "https://meet.jit.si/external_api.js"
    assert adapter.mint(AMINA, room, real_now()) == (None, None)
    assert adapter.frame(AMINA, room, real_now()) == {
        "domain": "meet.jit.si",
        "room": room,
        "jwt": None,
        "tenant": None,
    }


def test_mode_none_ignores_the_other_jitsi_settings() -> None:
    settings = jitsi_settings(jitsi_app_id="anything", jitsi_kid="not/checked")

    adapter = jitsi_from_settings(settings, ROOM_SECRET)

    assert (adapter.mode, adapter.tenant) == ("none", None)


# --- self_hosted -----------------------------------------------------------------------------


def test_self_hosted_token_carries_every_claim() -> None:
    adapter = self_hosted()
    room = adapter.room("KEN-2026", "s1", "main")
    now = real_now()
    issued = int(now.timestamp())

    token, expires = adapter.mint(AMINA, room, now)
    assert token is not None
    claims = decode_self_hosted(token)

    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    assert claims == {
        "aud": "jitsi",
        "iss": APP_ID,
        "sub": DOMAIN,
        "room": room,
        "iat": issued,
        "nbf": issued - int(CLOCK_SKEW.total_seconds()),
        "exp": issued + int(TOKEN_LIFETIME.total_seconds()),
        "context": {
            "user": {
                "id": "p-amina",
                "name": "Amina Odhiambo",
                "email": "amina@example.org",
                "moderator": "true",
            }
        },
    }
    assert expires == now + TOKEN_LIFETIME


def test_self_hosted_adapter_names_its_own_server() -> None:
    adapter = self_hosted()

    assert (adapter.mode, adapter.domain, adapter.tenant) == ("self_hosted", DOMAIN, None)
    assert adapter.script_url == f"https://{DOMAIN}/external_api.js"


def test_self_hosted_participant_is_not_moderator() -> None:
    adapter = self_hosted()
    token, _ = adapter.mint(BEN, adapter.room("KEN-2026", "s1", "main"), real_now())
    assert token is not None

    user = decode_self_hosted(token)["context"]["user"]

    assert user == {
        "id": "p-ben",
        "name": "Ben Kiprop",
        "email": "ben@example.org",
        "moderator": "false",
    }


def test_self_hosted_token_signed_with_another_secret_is_refused() -> None:
    intruder = self_hosted(secret="another-secret-of-enough-length-0123456789")
    token, _ = intruder.mint(AMINA, intruder.room("KEN-2026", "s1", "main"), real_now())
    assert token is not None

    with pytest.raises(jwt.InvalidSignatureError):
        decode_self_hosted(token)


def test_self_hosted_frame_holds_a_token_for_the_frame_room() -> None:
    adapter = self_hosted()
    room = adapter.room("KEN-2026", "s1", "breakout-2")

    frame = adapter.frame(BEN, room, real_now())

    assert (frame["domain"], frame["room"], frame["tenant"]) == (DOMAIN, room, None)
    assert decode_self_hosted(frame["jwt"])["room"] == room


# --- jaas ------------------------------------------------------------------------------------


def test_jaas_token_carries_every_claim_and_the_kid(
    key_file: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    adapter = jaas(key_file)
    room = adapter.room("KEN-2026", "s1", "main")
    now = real_now()
    issued = int(now.timestamp())

    token, expires = adapter.mint(AMINA, room, now)
    assert token is not None
    claims = decode_jaas(token, rsa_key)

    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": JAAS_KID, "typ": "JWT"}
    assert claims == {
        "aud": "jitsi",
        "iss": "chat",
        "sub": JAAS_APP_ID,
        "room": room,
        "iat": issued,
        "nbf": issued - int(CLOCK_SKEW.total_seconds()),
        "exp": issued + int(TOKEN_LIFETIME.total_seconds()),
        "context": {
            "user": {
                "id": "p-amina",
                "name": "Amina Odhiambo",
                "email": "amina@example.org",
                "moderator": "true",
                "hidden-from-recorder": False,
            },
            "features": {
                "livestreaming": "false",
                "recording": "false",
                "transcription": "false",
                "outbound-call": "false",
                "sip-outbound-call": "false",
            },
        },
    }
    assert expires == now + TOKEN_LIFETIME


def test_jaas_participant_is_not_moderator(key_file: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    adapter = jaas(key_file)
    token, _ = adapter.mint(BEN, adapter.room("KEN-2026", "s1", "main"), real_now())
    assert token is not None

    user = decode_jaas(token, rsa_key)["context"]["user"]

    assert (user["id"], user["moderator"]) == ("p-ben", "false")


def test_jaas_defaults_to_8x8_and_the_page_prefixes_the_app_id(
    key_file: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    adapter = jaas(key_file)
    room = adapter.room("KEN-2026", "s1", "main")

    frame = adapter.frame(AMINA, room, real_now())

    assert (adapter.mode, adapter.domain, adapter.tenant) == ("jaas", "8x8.vc", JAAS_APP_ID)
    assert adapter.script_url == "https://8x8.vc/external_api.js"
    assert (frame["domain"], frame["room"], frame["tenant"]) == ("8x8.vc", room, JAAS_APP_ID)
    # The token's room is the bare name; the page joins f"{tenant}/{room}".
    assert decode_jaas(frame["jwt"], rsa_key)["room"] == room
    assert "/" not in room


def test_jaas_keeps_a_domain_other_than_the_public_default(key_file: Path) -> None:
    adapter = jaas(key_file, domain="video.example.org")

    assert adapter.domain == "video.example.org"
    assert adapter.script_url == "https://video.example.org/external_api.js"


def test_jaas_token_signed_with_another_key_is_refused(
    key_file: Path, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    intruder = jaas(write_pem(tmp_path / "other.pk", other))
    token, _ = intruder.mint(AMINA, intruder.room("KEN-2026", "s1", "main"), real_now())
    assert token is not None

    with pytest.raises(jwt.InvalidSignatureError):
        decode_jaas(token, rsa_key)


# --- both signing modes ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["self_hosted", "jaas"])
def test_token_for_another_room_is_refused(
    mode: str, key_file: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    adapter = self_hosted() if mode == "self_hosted" else jaas(key_file)
    main = adapter.room("KEN-2026", "s1", "main")
    breakout = adapter.room("KEN-2026", "s1", "breakout-1")
    token, _ = adapter.mint(BEN, breakout, real_now())
    assert token is not None
    claims = decode_self_hosted(token) if mode == "self_hosted" else decode_jaas(token, rsa_key)

    check_room(claims, breakout)
    with pytest.raises(PermissionError, match="not 'sm"):
        check_room(claims, main)


@pytest.mark.parametrize("mode", ["self_hosted", "jaas"])
def test_token_minted_in_the_past_has_expired(
    mode: str, key_file: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    adapter = self_hosted() if mode == "self_hosted" else jaas(key_file)
    long_ago = real_now() - TOKEN_LIFETIME - timedelta(minutes=1)
    token, expires = adapter.mint(AMINA, adapter.room("KEN-2026", "s1", "main"), long_ago)
    assert token is not None

    assert expires == long_ago + TOKEN_LIFETIME
    with pytest.raises(jwt.ExpiredSignatureError):
        if mode == "self_hosted":
            decode_self_hosted(token)
        else:
            decode_jaas(token, rsa_key)


@pytest.mark.parametrize("mode", ["self_hosted", "jaas"])
def test_mint_refuses_a_naive_datetime(mode: str, key_file: Path) -> None:
    adapter = self_hosted() if mode == "self_hosted" else jaas(key_file)

    with pytest.raises(ValueError, match="aware datetime"):
        adapter.mint(AMINA, "smroom", datetime(2026, 5, 4, 9, 0))


def test_token_lifetime_is_within_the_contract() -> None:
    assert timedelta(minutes=10) <= TOKEN_LIFETIME <= timedelta(hours=24)
    assert timedelta(0) <= CLOCK_SKEW < timedelta(minutes=5)


# --- configuration errors --------------------------------------------------------------------


def test_self_hosted_without_settings_lists_every_problem() -> None:
    settings = jitsi_settings(jitsi_mode="self_hosted")

    with pytest.raises(JitsiConfigError) as caught:
        jitsi_from_settings(settings, ROOM_SECRET)

    assert caught.value.problems == (
        "JITSI_MODE=self_hosted needs JITSI_DOMAIN set to your own server, not meet.jit.si",
        "JITSI_MODE=self_hosted needs JITSI_APP_ID (Prosody's JWT_APP_ID)",
        "JITSI_MODE=self_hosted needs JITSI_APP_SECRET (Prosody's JWT_APP_SECRET)",
    )
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == "Jitsi configuration: " + "; ".join(caught.value.problems)


@pytest.mark.parametrize("secret", ["changeme", "short-secret-0123456789"])
def test_self_hosted_refuses_a_weak_secret(secret: str) -> None:
    settings = jitsi_settings(
        jitsi_mode="self_hosted",
        jitsi_domain=DOMAIN,
        jitsi_app_id=APP_ID,
        jitsi_app_secret=SecretStr(secret),
    )

    with pytest.raises(JitsiConfigError) as caught:
        jitsi_from_settings(settings, ROOM_SECRET)

    assert caught.value.problems == (
        f"JITSI_APP_SECRET is a placeholder or shorter than 32 bytes ({len(secret)} given)",
    )


def test_self_hosted_refuses_a_url_as_domain_and_an_empty_room_secret() -> None:
    settings = jitsi_settings(
        jitsi_mode="self_hosted",
        jitsi_domain="https://meet.example.org/",
        jitsi_app_id=APP_ID,
        jitsi_app_secret=SecretStr(APP_SECRET),
    )

    with pytest.raises(JitsiConfigError) as caught:
        jitsi_from_settings(settings, "")

    assert caught.value.problems == (
        "the secret that keys room names is empty",
        "JITSI_DOMAIN must be a bare host name like meet.example.org,"
        " got 'https://meet.example.org/'",
    )


def test_jaas_without_settings_lists_every_problem() -> None:
    settings = jitsi_settings(jitsi_mode="jaas")

    with pytest.raises(JitsiConfigError) as caught:
        jitsi_from_settings(settings, ROOM_SECRET)

    assert caught.value.problems == (
        "JITSI_MODE=jaas needs JITSI_APP_ID, the AppID starting 'vpaas-magic-cookie-', got ''",
        "JITSI_KID must be the API key id '<JITSI_APP_ID>/<key>' from the JaaS console, got ''",
        "JITSI_MODE=jaas needs JITSI_PRIVATE_KEY_FILE (the key of the JaaS API key)",
    )


def test_jaas_lists_a_wrong_app_id_a_foreign_kid_and_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pk"
    settings = jitsi_settings(
        jitsi_mode="jaas",
        jitsi_app_id="my-app",
        jitsi_kid="vpaas-magic-cookie-other/4f4910",
        jitsi_private_key_file=missing,
    )

    with pytest.raises(JitsiConfigError) as caught:
        jitsi_from_settings(settings, ROOM_SECRET)

    assert caught.value.problems == (
        "JITSI_MODE=jaas needs JITSI_APP_ID, the AppID starting 'vpaas-magic-cookie-',"
        " got 'my-app'",
        "JITSI_KID must be the API key id '<JITSI_APP_ID>/<key>' from the JaaS console,"
        " got 'vpaas-magic-cookie-other/4f4910'",
        f"JITSI_PRIVATE_KEY_FILE {str(missing)!r} cannot be read: No such file or directory",
    )


def test_jaas_refuses_a_kid_of_another_app(key_file: Path) -> None:
    settings = jitsi_settings(
        jitsi_mode="jaas",
        jitsi_app_id=JAAS_APP_ID,
        jitsi_kid="vpaas-magic-cookie-0000/4f4910",
        jitsi_private_key_file=key_file,
    )

    with pytest.raises(JitsiConfigError) as caught:
        jitsi_from_settings(settings, ROOM_SECRET)

    assert caught.value.problems == (
        "JITSI_KID must be the API key id '<JITSI_APP_ID>/<key>' from the JaaS console,"
        " got 'vpaas-magic-cookie-0000/4f4910'",
    )


def _not_pem(path: Path) -> Path:
    path.write_text("-----BEGIN NOTHING-----\nabc\n-----END NOTHING-----\n")
    return path


def _ec_key(path: Path) -> Path:
    return write_pem(path, ec.generate_private_key(ec.SECP256R1()))


def _small_rsa(path: Path) -> Path:
    return write_pem(path, rsa.generate_private_key(public_exponent=65537, key_size=1024))


def _encrypted(path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return write_pem(path, key, serialization.BestAvailableEncryption(b"pass-phrase"))


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_not_pem, "is not a PEM private key"),
        (_ec_key, "is not an RSA key; JaaS signs with RS256 and needs one"),
        (_small_rsa, "is a 1024-bit RSA key, at least 2048 bits are needed"),
        (_encrypted, "is encrypted; give an unencrypted key"),
    ],
)
def test_jaas_refuses_a_key_file_that_cannot_sign(make: Any, reason: str, tmp_path: Path) -> None:
    path = make(tmp_path / "jaas.pk")
    settings = jitsi_settings(
        jitsi_mode="jaas",
        jitsi_app_id=JAAS_APP_ID,
        jitsi_kid=JAAS_KID,
        jitsi_private_key_file=path,
    )

    with pytest.raises(JitsiConfigError) as caught:
        jitsi_from_settings(settings, ROOM_SECRET)

    assert caught.value.problems == (f"JITSI_PRIVATE_KEY_FILE {str(path)!r} {reason}",)


def test_jaas_reads_the_key_once_at_construction(
    key_file: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    adapter = jaas(key_file)
    key_file.unlink()

    token, _ = adapter.mint(AMINA, adapter.room("KEN-2026", "s1", "main"), real_now())

    assert token is not None
    assert decode_jaas(token, rsa_key)["sub"] == JAAS_APP_ID


# --- room names ------------------------------------------------------------------------------


def test_room_name_is_stable_and_pinned() -> None:
    # Pinned: rooms already open must keep their names across releases and restarts.
    first = room_name(ROOM_SECRET, "KEN-2026", "s1", "main")

    assert first == room_name(ROOM_SECRET, "KEN-2026", "s1", "main")
    assert first == "smq4mx746oe3hratsszierfydt"
    assert re.fullmatch(r"sm[a-z2-7]{24}", first)


def test_room_name_differs_per_event_session_room_and_secret() -> None:
    names = {
        room_name(ROOM_SECRET, "KEN-2026", "s1", "main"),
        room_name(ROOM_SECRET, "TZA-2026", "s1", "main"),
        room_name(ROOM_SECRET, "KEN-2026", "s2", "main"),
        room_name(ROOM_SECRET, "KEN-2026", "s1", "breakout-1"),
        room_name("another-secret-0123456789abcdef", "KEN-2026", "s1", "main"),
    }

    assert len(names) == 5


@pytest.mark.parametrize("event_code", ["KEN-2026", "ken2026", "kenya"])
def test_room_name_does_not_show_the_event_code(event_code: str) -> None:
    name = room_name(ROOM_SECRET, event_code, "s1", "main")
    bare = event_code.lower().replace("-", "")

    assert name.find(bare) == -1
    assert name.find(event_code.lower()) == -1


def test_adapter_room_uses_the_secret_given_at_construction(key_file: Path) -> None:
    expected = room_name(ROOM_SECRET, "KEN-2026", "s1", "breakout-3")

    rooms = [
        jitsi_from_settings(jitsi_settings(), ROOM_SECRET).room("KEN-2026", "s1", "breakout-3"),
        self_hosted().room("KEN-2026", "s1", "breakout-3"),
        jaas(key_file).room("KEN-2026", "s1", "breakout-3"),
    ]

    assert rooms == [expected, expected, expected]


def test_adapter_without_signer_cannot_claim_a_signing_mode() -> None:
    with pytest.raises(ValueError, match="needs a signer"):
        JitsiAdapter(secret=ROOM_SECRET, mode="jaas", domain="8x8.vc", app_id=JAAS_APP_ID)

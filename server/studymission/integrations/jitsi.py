"""Jitsi Meet: room names, and the tokens that let a person into a room (CONTRACT §6)."""

import base64
import hashlib
import hmac


def room_name(secret: str, event_code: str, session_key: str, room: str) -> str:
    """The Jitsi room of one platform room (main, breakout-N) of one session.

    A keyed hash: nobody can guess a room from the event code, and the name shows
    neither. Lowercase letters and digits only, which every Jitsi deployment accepts.
    """
    message = "\x00".join(("jitsi-room", event_code, session_key, room)).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "sm" + base64.b32encode(digest).decode().lower().rstrip("=")[:24]

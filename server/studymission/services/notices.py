"""Notices from the moderators (CONTRACT §4b ``notices``): the console and the JSON API send
them here, and every process delivers them to its own sockets over the bus."""

from typing import Any

from studymission.realtime.runtime import Realtime


async def send_notice(
    realtime: Realtime, code: str, text: str, room: str | None, sender: str
) -> str:
    """Announce `text` to everyone of the event, or to one room; returns the text sent."""
    text = text.strip()
    message: dict[str, Any] = {
        "kind": "notice",
        "event": code,
        "text": text,
        "room": room,
        "from": sender,
    }
    await realtime.publish(message)
    return text

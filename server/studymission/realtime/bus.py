"""The bus: how a change made through one process reaches the sockets of every process.

A message is a small JSON object with at least ``kind`` and ``event`` (the event code).
The in-process bus hands it straight to this process's hub; the Redis bus publishes it
on one pub/sub channel that every process listens to, the sender included, so each
process delivers exactly once to the sockets it holds.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Message = dict[str, Any]
Deliver = Callable[[Message], Awaitable[None]]

CHANNEL = "studymission:bus"


class Bus(Protocol):
    async def start(self, deliver: Deliver) -> None:
        """Begin delivering messages; returns once messages published from now on arrive."""

    async def publish(self, message: Message) -> None: ...

    async def stop(self) -> None: ...


class InProcessBus:
    """One process: publishing is delivering."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def publish(self, message: Message) -> None:
        if self._deliver is not None:
            await self._deliver(message)

    async def stop(self) -> None:
        self._deliver = None


class RedisBus:
    """Several processes or hosts: Redis pub/sub on one channel.

    Pub/sub delivers to whoever listens at the moment; state that must survive a missed
    message (mode, breakout rounds, playback) lives in the database, and a process that
    reconnects to Redis re-reads it, so the bus only ever carries news, not truth.
    """

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.url = url
        self.channel = channel
        self._client: redis.Redis = redis.from_url(url)
        self._listener: asyncio.Task[None] | None = None
        self._deliver: Deliver | None = None
        #: Called after the listener re-subscribes, so that the hub can resync its sockets.
        self.on_reconnect: Callable[[], Awaitable[None]] | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.channel)
        self._listener = asyncio.create_task(self._listen(pubsub), name="redis-bus")

    async def publish(self, message: Message) -> None:
        await self._client.publish(self.channel, json.dumps(message, separators=(",", ":")))

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except asyncio.CancelledError:
                pass
            self._listener = None
        await self._client.aclose()

    async def _listen(self, pubsub: Any) -> None:
        backoff = 0.5
        while True:
            try:
                async for raw in pubsub.listen():
                    backoff = 0.5
                    if raw.get("type") != "message":
                        continue
                    await self._handle(raw["data"])
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except (RedisError, OSError) as exc:
                log.warning("bus: lost Redis (%s); retrying in %.1f s", exc, backoff)
                await pubsub.aclose()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                try:
                    await pubsub.subscribe(self.channel)
                except (RedisError, OSError):
                    continue
                if self.on_reconnect is not None:
                    await self.on_reconnect()

    async def _handle(self, data: bytes) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("bus: dropped a message that is not JSON")
            return
        if not isinstance(message, dict) or self._deliver is None:
            return
        try:
            await self._deliver(message)
        except Exception:
            # One bad delivery must not stop the listener for every other message.
            log.exception("bus: delivering %s failed", message.get("kind"))


def make_bus(redis_url: str | None) -> Bus:
    return RedisBus(redis_url) if redis_url else InProcessBus()

"""The bus: how a change made through one process reaches the sockets of every process.

A message is a small JSON object with at least ``kind`` and ``event`` (the event code).
The in-process bus hands it straight to this process's hub; the Redis bus publishes it
on one pub/sub channel that every process listens to, the sender included, so each
process delivers exactly once to the sockets it holds.
"""

import asyncio
import contextlib
import contextvars
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Message = dict[str, Any]
Deliver = Callable[[Message], Awaitable[None]]

CHANNEL = "studymission:bus"
#: Seconds to connect to Redis or to have a command answered (publishing, subscribing).
REDIS_TIMEOUT = 2.0
#: Seconds between attempts to subscribe again after losing Redis: doubling up to the max.
RECONNECT_FIRST = 0.5
RECONNECT_MAX = 5.0
#: Seconds a subscription must have been back before held messages are published: by then
#: every process, retrying at most every RECONNECT_MAX seconds, listens again.
RESUBSCRIBE_GRACE = RECONNECT_MAX + 1.0
#: Seconds between passes over the held messages.
HELD_RETRY = 1.0
#: Held messages: at most this many (the oldest go first), none older than this (seconds).
HOLD_MAX = 1000
HOLD_SECONDS = 120.0
#: Key naming the process that held a message (and delivered it to its own sockets).
HELD_BY = "held_by"
#: Kinds that only say "fetch again": held once however often they are published.
SIGNALS = frozenset({"state", "questions", "notes"})


class Bus(Protocol):
    #: Called when messages may have been missed (Redis came back): re-read the live state.
    on_reconnect: Callable[[], Awaitable[None]] | None

    async def start(self, deliver: Deliver) -> None:
        """Begin delivering messages; returns once messages published from now on arrive."""

    async def publish(self, message: Message) -> None: ...

    async def stop(self) -> None: ...


class InProcessBus:
    """One process: publishing is delivering."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None
        self.on_reconnect: Callable[[], Awaitable[None]] | None = None  # never missed

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

    While Redis is away nothing fails for the caller: a message that cannot be published is
    delivered to this process's own sockets at once and *held*. Once Redis answers again and
    every process has had time to subscribe again (`RESUBSCRIBE_GRACE`), the held messages
    are published, in order, for the other processes (at most `HOLD_MAX`, none older than
    `HOLD_SECONDS`); and each process re-reads the state of its events (`on_reconnect`).
    """

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.url = url
        self.channel = channel
        # Timeouts: a Redis that does not answer must not hang the API call that publishes
        # (the subscription's blocking read is exempt: redis-py waits for it unbounded).
        self._client: redis.Redis = redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
        )
        self._listener: asyncio.Task[None] | None = None
        self._deliver: Deliver | None = None
        #: Names this process's held messages, which its own listener then skips.
        self._origin = uuid.uuid4().hex[:12]
        #: (time.monotonic() when held, message) for messages Redis refused, oldest first.
        self._held: deque[tuple[float, Message]] = deque()
        self._held_task: asyncio.Task[None] | None = None
        #: time.monotonic() of the latest subscription; None while Redis is away.
        self._subscribed_since: float | None = None
        #: Called after the listener re-subscribes, so that the hub can resync its sockets.
        self.on_reconnect: Callable[[], Awaitable[None]] | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            self._subscribed_since = time.monotonic()
        except (RedisError, OSError) as exc:
            # Serve anyway, as without the database: the listener subscribes once it can.
            log.warning("bus: cannot reach Redis at start (%s); subscribing when it is up", exc)
        listening = self._listen(pubsub, subscribed=self._subscribed_since is not None)
        self._listener = asyncio.create_task(listening, name="redis-bus")

    async def publish(self, message: Message) -> None:
        if self._held:
            await self._hold(message)  # behind the others, in order
            return
        try:
            await self._send(message)
        except (RedisError, OSError) as exc:
            log.warning("bus: cannot publish a %s (%s); holding it", message.get("kind"), exc)
            await self._hold(message)

    async def _send(self, message: Message) -> None:
        try:
            await self._client.publish(self.channel, _encode(message))
        except (RedisError, OSError):
            # A pooled connection that a restarted Redis closed fails once; a fresh one
            # then goes through (or fails as fast: refused).
            await self._client.publish(self.channel, _encode(message))

    async def stop(self) -> None:
        for task in (self._listener, self._held_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._listener = self._held_task = None
        if self._held:
            log.warning("bus: %d held messages never reached Redis", len(self._held))
        await self._client.aclose()

    # -- while Redis is away --------------------------------------------------------------

    async def _hold(self, message: Message) -> None:
        """Deliver `message` here now; publish it for the other processes once Redis is back."""
        key = _signal(message)
        if key is None or all(_signal(held) != key for _, held in self._held):
            self._held.append((time.monotonic(), {**message, HELD_BY: self._origin}))
        # (else: "fetch again" twice is once)
        while len(self._held) > HOLD_MAX:
            _, dropped = self._held.popleft()
            log.warning("bus: over %d messages held; dropped a %s", HOLD_MAX, dropped.get("kind"))
        if self._held_task is None or self._held_task.done():
            # (In a context of its own: not logged as part of the request that held the first.)
            self._held_task = asyncio.create_task(
                self._publish_held(), name="redis-bus-held", context=contextvars.Context()
            )
        await self._safe_deliver(message)

    async def _publish_held(self) -> None:
        """Publish the held messages, in order, once the subscription has been back a while
        (pub/sub reaches only the processes listening at that moment)."""
        sent = 0
        while self._held:
            await asyncio.sleep(HELD_RETRY)
            since = self._subscribed_since
            if since is None or time.monotonic() - since < RESUBSCRIBE_GRACE:
                continue
            expiry = time.monotonic() - HOLD_SECONDS
            while self._held:
                held_at, message = self._held[0]
                if held_at < expiry:
                    # Stale news (the state it announced is re-read on reconnect anyway).
                    log.warning("bus: dropped a %s held too long", message.get("kind"))
                else:
                    try:
                        await self._send(message)
                    except (RedisError, OSError):
                        break  # away again: the next pass tries again
                    sent += 1
                self._held.popleft()
        log.warning("bus: published %d messages held while Redis was away", sent)

    # -- listening ------------------------------------------------------------------------

    async def _listen(self, pubsub: Any, *, subscribed: bool) -> None:
        """Deliver what arrives; when Redis goes away, subscribe again until it is back.

        Each pass of the loop waits (backoff) before subscribing again: after a failed
        subscription `listen()` has nothing to listen to and ends at once, without ever
        yielding to the event loop: looping on it would freeze every socket of the process.
        """
        backoff = RECONNECT_FIRST
        # (Not subscribed at start: the first confirmation already follows an absence.)
        confirmations = 0 if subscribed else 1
        lost_at: float | None = None if subscribed else time.monotonic()
        while True:
            try:
                async for raw in pubsub.listen():
                    kind = raw.get("type")
                    if kind == "subscribe":
                        # The first confirmation comes at start; a later one, whether we
                        # subscribed again or redis-py reconnected by itself, means that
                        # messages may have been missed meanwhile.
                        confirmations += 1
                        backoff = RECONNECT_FIRST
                        self._subscribed_since = time.monotonic()
                        if confirmations > 1:
                            await self._reconnected(lost_at)
                        lost_at = None
                    elif kind == "message":
                        await self._handle(raw["data"])
            except asyncio.CancelledError:
                await _close(pubsub)
                raise
            except (RedisError, OSError) as exc:
                self._subscribed_since = None
                if lost_at is None:
                    lost_at = time.monotonic()
                    log.warning("bus: lost Redis (%s); subscribing again until it is back", exc)
            await _close(pubsub)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RECONNECT_MAX)
            pubsub = self._client.pubsub()
            with contextlib.suppress(RedisError, OSError):
                # On failure listen() ends at once; the loop waits, then tries again.
                await pubsub.subscribe(self.channel)

    async def _reconnected(self, lost_at: float | None) -> None:
        away = f" after {time.monotonic() - lost_at:.1f} s" if lost_at is not None else ""
        log.warning("bus: Redis is back%s; re-reading the live state", away)
        if self.on_reconnect is not None:
            try:
                await self.on_reconnect()
            except Exception:
                # (The database may be away too: the minute timer re-reads the state later.)
                log.exception("bus: re-reading the live state after reconnecting failed")

    async def _handle(self, data: bytes) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("bus: dropped a message that is not JSON")
            return
        if not isinstance(message, dict):
            return
        if message.pop(HELD_BY, None) == self._origin:
            return  # held here while Redis was away: delivered here already
        await self._safe_deliver(message)

    async def _safe_deliver(self, message: Message) -> None:
        if self._deliver is None:
            return
        try:
            await self._deliver(message)
        except Exception:
            # One bad delivery must not stop the listener for every other message.
            log.exception("bus: delivering %s failed", message.get("kind"))


def _encode(message: Message) -> str:
    return json.dumps(message, separators=(",", ":"))


def _signal(message: Message) -> tuple[Any, ...] | None:
    """What makes a "fetch again" message the same as another; None for news (a notice)."""
    if message.get("kind") not in SIGNALS:
        return None
    return (message.get("kind"), message.get("event"), message.get("session"), message.get("room"))


async def _close(pubsub: Any) -> None:
    with contextlib.suppress(RedisError, OSError):
        await pubsub.aclose()


def make_bus(redis_url: str | None) -> Bus:
    return RedisBus(redis_url) if redis_url else InProcessBus()

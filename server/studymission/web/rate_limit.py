"""Per-client request limits: join links and certificate lookups, against guessing and floods.

Fixed windows per key (the client's IP): the first hit opens a window of `window` seconds,
and at most `limit` hits fit in it. With ``REDIS_URL`` set every process counts in Redis, so
the limit holds for the whole installation; without it each process counts on its own.

If Redis cannot be reached the limiter lets the request through and logs it: a Redis outage
must not lock every participant out of joining their session.
"""

import logging
import math
import threading
from typing import Protocol

import redis
from fastapi import Request

from studymission.services.clock import Clock

log = logging.getLogger(__name__)

#: Redis keys of the limits start with this (one Redis may serve other things too).
KEY_PREFIX = "studymission:ratelimit:"

# One round trip, atomic: count the hit, open the window on the first one, and say how
# long the window still runs. A key found without an expiry (PTTL -1, e.g. after a failover
# lost it) gets one again rather than limiting its client for ever.
_HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class Limiter(Protocol):
    limit: int
    window: float

    def hit(self, key: str, now: float) -> float | None:
        """Count one hit (`now`: monotonic seconds); None if allowed, else seconds to wait."""


class RateLimiter:
    """At most `limit` hits per fixed window of `window` real seconds, per key, in the process."""

    def __init__(self, limit: int, window: float, *, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float) -> float | None:
        """Count one hit (`now`: monotonic seconds); None if allowed, else seconds to wait."""
        with self._lock:
            started, count = self._windows.get(key, (now, 0))
            if now - started >= self.window:
                started, count = now, 0
            if count >= self.limit:
                return self.window - (now - started)
            if len(self._windows) >= self.max_keys and key not in self._windows:
                self._forget_expired(now)
            self._windows[key] = (started, count + 1)
            return None

    def _forget_expired(self, now: float) -> None:
        expired = [k for k, (started, _) in self._windows.items() if now - started >= self.window]
        for key in expired:
            del self._windows[key]
        if len(self._windows) >= self.max_keys:
            # Every window is still open: drop the oldest rather than grow without bound.
            del self._windows[min(self._windows, key=lambda k: self._windows[k][0])]


class RedisRateLimiter:
    """The same fixed windows, counted in Redis (its clock, not `now`): shared by processes.

    Fails open: when Redis does not answer, the hit is allowed and the outage logged (at
    most once per `log_every` seconds, so a long outage does not flood the log).
    """

    def __init__(
        self,
        client: "redis.Redis",
        name: str,
        limit: int,
        window: float,
        *,
        log_every: float = 60.0,
    ) -> None:
        self.limit = limit
        self.window = window
        self.name = name
        self._client = client
        self._script = client.register_script(_HIT_SCRIPT)
        self._log_every = log_every
        self._logged_at: float | None = None

    def hit(self, key: str, now: float) -> float | None:
        window_ms = max(1, int(self.window * 1000))
        try:
            count, ttl_ms = self._script(keys=[f"{KEY_PREFIX}{self.name}:{key}"], args=[window_ms])
        except redis.RedisError as error:
            self._log_outage(error, now)
            return None
        if int(count) <= self.limit:
            return None
        return max(int(ttl_ms), 1) / 1000

    def _log_outage(self, error: Exception, now: float) -> None:
        if self._logged_at is None or now - self._logged_at >= self._log_every:
            self._logged_at = now
            log.warning(
                "rate limit %r not applied: Redis is unreachable (%s); letting requests through",
                self.name,
                error,
            )


_CREATE = threading.Lock()


def app_limiter(request: Request, name: str, *, limit: int, window: float) -> Limiter:
    """The application's limiter called `name`, made on first use (one per app, so per test):
    in Redis when the settings name one, else in the process."""
    state = request.app.state
    existing: Limiter | None = getattr(state, name, None)
    if existing is not None:
        return existing
    with _CREATE:
        limiter: Limiter | None = getattr(state, name, None)
        if limiter is None:
            redis_url = state.settings.redis_url
            if redis_url:
                client = redis.Redis.from_url(
                    redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
                )
                limiter = RedisRateLimiter(client, name, limit, window)
            else:
                limiter = RateLimiter(limit, window)
            setattr(state, name, limiter)
        return limiter


def retry_after(request: Request, name: str, *, limit: int, window: float) -> int | None:
    """Count this request against the limiter `name`: None when it may go ahead, else the
    whole seconds to wait (for ``Retry-After``)."""
    clock: Clock = request.app.state.clock
    limiter = app_limiter(request, name, limit=limit, window=window)
    wait = limiter.hit(client_address(request), clock.monotonic())
    return None if wait is None else max(1, math.ceil(wait))


def client_address(request: Request) -> str:
    """The client's IP (uvicorn's proxy_headers put the forwarded one here behind nginx)."""
    return request.client.host if request.client is not None else "unknown"

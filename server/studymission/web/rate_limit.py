"""Per-client request limits held in the process (the verification page's, against guessing).

Each process counts on its own: behind N processes a client gets at most N times the limit,
still far too few tries to find one of 32^16 certificate codes.
"""

import threading

from fastapi import Request


class RateLimiter:
    """At most `limit` hits per fixed window of `window` real seconds, per key."""

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


_CREATE = threading.Lock()


def app_limiter(request: Request, name: str, *, limit: int, window: float) -> RateLimiter:
    """The application's limiter called `name`, made on first use (one per app, so per test)."""
    limiter = getattr(request.app.state, name, None)
    if isinstance(limiter, RateLimiter):
        return limiter
    with _CREATE:
        limiter = getattr(request.app.state, name, None)
        if not isinstance(limiter, RateLimiter):
            limiter = RateLimiter(limit, window)
            setattr(request.app.state, name, limiter)
        return limiter


def client_address(request: Request) -> str:
    """The client's IP (uvicorn's proxy_headers put the forwarded one here behind nginx)."""
    return request.client.host if request.client is not None else "unknown"

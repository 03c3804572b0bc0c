"""Rate budgets: one limiter per HubSpot policy, shared by every thread of a run.

HubSpot's limits are a budget to spend fully, not an error to recover from. Each limiter is
a sliding log of request start times; a request waits until the log has room. Response
headers (`X-HubSpot-RateLimit-*`) correct the local view when other apps share the portal.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Mapping

TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
SECONDLY = "SECONDLY"
DAILY = "DAILY"

# Requests reach HubSpot slightly after we count them; keeping each one in our log a
# little longer than the window stops a request landing just inside the server's window.
WINDOW_MARGIN_S = 0.15


@dataclass
class Limiter:
    """At most `capacity` requests started in any `interval` seconds."""

    capacity: int
    interval: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _log: deque = field(default_factory=deque, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    waited: float = 0.0

    def acquire(self) -> None:
        """Block until a request may start, then count it."""
        while True:
            with self._lock:
                now = self.clock()
                self._expire(now)
                if len(self._log) < self.capacity:
                    self._log.append(now)
                    return
                wait = self._log[0] + self.interval + WINDOW_MARGIN_S - now
            self.waited += max(wait, 0.0)
            self.sleep(max(wait, 0.001))

    def observe(self, limit: int | None, remaining: int | None) -> None:
        """Align with the server's view: adopt its limit, and count requests we did not make."""
        with self._lock:
            now = self.clock()
            if limit:
                self.capacity = limit
            if remaining is None:
                return
            self._expire(now)
            unseen = (self.capacity - remaining) - len(self._log)
            for _ in range(max(unseen, 0)):
                self._log.append(now)

    def exhausted(self) -> None:
        """The server said this window is spent (a 429): fill the log so everyone waits."""
        self.observe(None, 0)

    def remaining(self) -> int:
        with self._lock:
            self._expire(self.clock())
            return max(self.capacity - len(self._log), 0)

    def _expire(self, now: float) -> None:
        horizon = now - self.interval - WINDOW_MARGIN_S
        while self._log and self._log[0] <= horizon:
            self._log.popleft()


@dataclass
class Budget:
    """The limiters of one portal: the 10-second rolling window, search per-second, daily count."""

    ten_secondly: Limiter
    secondly: Limiter
    daily_limit: int | None = None
    daily_remaining: int | None = None

    @classmethod
    def for_tier(cls, per_ten_seconds: int, *, search_per_second: int = 5,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> "Budget":
        return cls(Limiter(per_ten_seconds, 10.0, clock, sleep),
                   Limiter(search_per_second, 1.0, clock, sleep))

    def limiter(self, policy: str) -> Limiter:
        return self.secondly if policy == SECONDLY else self.ten_secondly

    def observe(self, policy: str, headers: Mapping[str, str] | None) -> None:
        """Feed one response's rate-limit headers (search responses carry none)."""
        if not headers or policy == SECONDLY:
            return
        limit = _int(headers.get("X-HubSpot-RateLimit-Max"))
        remaining = _int(headers.get("X-HubSpot-RateLimit-Remaining"))
        self.ten_secondly.observe(limit, remaining)
        daily = _int(headers.get("X-HubSpot-RateLimit-Daily"))
        daily_left = _int(headers.get("X-HubSpot-RateLimit-Daily-Remaining"))
        if daily is not None:
            self.daily_limit = daily
        if daily_left is not None:
            self.daily_remaining = daily_left


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None

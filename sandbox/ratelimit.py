"""HubSpot's request budgets: a rolling 10-second window and a daily count per token, and a
separate per-second budget for search.

Sandbox choice: a request answered 429 does not consume budget (only admitted requests are
counted), so a client that backs off correctly is never punished for having been refused.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from .clock import DAY_MS, system_clock
from .settings import Settings

INTERVAL_MS = 10_000


@dataclass(frozen=True)
class Admission:
    """The limiter's verdict: admitted or the policy that refused, plus headers to send."""

    allowed: bool
    policy: str | None = None          # TEN_SECONDLY_ROLLING | DAILY | SECONDLY
    headers: dict[str, str] = field(default_factory=dict)


class _Budget:
    def __init__(self) -> None:
        self.window: deque[float] = deque()
        self.search_window: deque[float] = deque()
        self.day = -1
        self.day_count = 0


class RateLimiter:
    """Thread-safe; reads the limits from `settings` on every call so tests can change them."""

    def __init__(self, settings: Settings, monotonic: Callable[[], float] = time.monotonic,
                 wall_ms: Callable[[], int] = system_clock) -> None:
        self.settings = settings
        self._monotonic = monotonic
        self._wall_ms = wall_ms
        self._budgets: dict[str, _Budget] = {}
        self._lock = threading.Lock()

    def admit(self, token: str, search: bool = False) -> Admission:
        with self._lock:
            budget = self._budgets.setdefault(token, _Budget())
            now = self._monotonic()
            self._roll_day(budget)
            daily = self.settings.effective_daily_limit
            if daily is not None and budget.day_count >= daily:
                return Admission(False, "DAILY", {} if search else self._headers(budget, now))
            if search:
                return self._admit_search(budget, now)
            limit = self.settings.rate_limit
            _expire(budget.window, now - INTERVAL_MS / 1000)
            if limit > 0 and len(budget.window) >= limit:
                return Admission(False, "TEN_SECONDLY_ROLLING", self._headers(budget, now))
            budget.window.append(now)
            budget.day_count += 1
            return Admission(True, None, self._headers(budget, now))

    def _admit_search(self, budget: _Budget, now: float) -> Admission:
        limit = self.settings.search_rate_limit
        _expire(budget.search_window, now - 1.0)
        if limit > 0 and len(budget.search_window) >= limit:
            return Admission(False, "SECONDLY")
        budget.search_window.append(now)
        budget.day_count += 1  # search counts toward the daily budget, not the 10 s one
        return Admission(True)

    def _roll_day(self, budget: _Budget) -> None:
        day = self._wall_ms() // DAY_MS  # HubSpot resets at midnight (portal time zone: UTC)
        if day != budget.day:
            budget.day, budget.day_count = day, 0

    def _headers(self, budget: _Budget, now: float) -> dict[str, str]:
        headers: dict[str, str] = {}
        limit = self.settings.rate_limit
        if limit > 0:
            _expire(budget.window, now - INTERVAL_MS / 1000)
            headers.update({
                "X-HubSpot-RateLimit-Max": str(limit),
                "X-HubSpot-RateLimit-Remaining": str(max(0, limit - len(budget.window))),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(INTERVAL_MS),
            })
        daily = self.settings.effective_daily_limit
        if daily is not None:
            headers.update({
                "X-HubSpot-RateLimit-Daily": str(daily),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, daily - budget.day_count)),
            })
        return headers

    def reset(self) -> None:
        with self._lock:
            self._budgets.clear()


def _expire(window: deque[float], horizon: float) -> None:
    while window and window[0] <= horizon:
        window.popleft()

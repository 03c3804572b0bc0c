"""Rate budgets: one limiter per HubSpot policy, shared by every thread of a run.

HubSpot's limits are a budget to spend fully, not an error to recover from. Each limiter is
a sliding log of request start times; a request waits until the log has room. Response
headers (`X-HubSpot-RateLimit-*`) correct the local view when other apps share the portal.
"""
from __future__ import annotations

import math
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
class Lane:
    """A chain of requests that run one after another, such as the pages of one listing."""

    left: int  # requests still to make
    per_window: float  # the most this chain can make in one window, one after another
    log: deque = field(default_factory=deque)


@dataclass
class Limiter:
    """At most `capacity` requests started in any `interval` seconds.

    Requests may name a lane (a chain such as a listing's pages). Each window goes first to
    the lanes with the longest chains left, measured in windows at their own pace, until
    they are level: a chain cannot catch up later, so any other split leaves the longest one
    running alone at the end while the budget idles. Slots no lane is entitled to are free
    to all.
    """

    capacity: int
    interval: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _log: deque = field(default_factory=deque, repr=False)
    _lanes: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _solved: tuple = field(default=(None, {}), repr=False)  # (state, shares) last solved
    _held: int = field(default=0, repr=False)  # threads sleeping on a spent window

    def plan(self, lane: str, left: int, step: float) -> None:
        """Declare a lane: `left` requests to go, at best one every `step` seconds."""
        with self._lock:
            entry = self._lanes.setdefault(lane, Lane(0, 1.0))
            entry.left = max(left, 0)
            entry.per_window = self.interval / max(step, 1e-3)

    def clear_lanes(self) -> None:
        """Forget every lane (their work is done or abandoned)."""
        with self._lock:
            self._lanes.clear()

    def acquire(self, lane: str | None = None) -> None:
        """Block until a request may start, then count it."""
        while True:
            with self._lock:
                now = self.clock()
                self._expire(now)
                wait = self._wait_for(lane, now)
                if wait is None:
                    self._log.append(now)
                    if lane in self._lanes:
                        self._lanes[lane].log.append(now)
                    return
                held = len(self._log) >= self.capacity  # not a wait for a lane's turn
                self._held += held
            try:
                self.sleep(wait)
            finally:
                with self._lock:
                    self._held -= held

    def _wait_for(self, lane: str | None, now: float) -> float | None:
        """None if a request of `lane` may start now, else how long to wait before asking again."""
        free = self.capacity - len(self._log)
        if free <= 0:
            return max(self._log[0] + self.interval + WINDOW_MARGIN_S - now, 0.001)
        # Waiting threads ask every 20 ms: solve the shares again only when something moved.
        state = (self.capacity, len(self._log),
                 tuple((name, lane.left, lane.per_window, len(lane.log))
                       for name, lane in self._lanes.items()))
        if state != self._solved[0]:
            self._solved = (state, self._shares())
        shares = self._solved[1]
        # A lane is owed what is left of its share, never more than the work it has left.
        entitled = {name: max(min(math.ceil(share) - len(self._lanes[name].log),
                                  self._lanes[name].left), 0)
                    for name, share in shares.items()}
        own = entitled.get(lane, 0)
        if own > 0 or free > sum(entitled.values()) - own:
            return None
        return 0.02  # others are entitled to the rest of this window: ask again shortly

    def _shares(self) -> dict[str, float]:
        """What each lane with work left should start in the current trailing window.

        A lane's work counts the requests it already started in this window, so a share does
        not shrink as it is spent; the room is what lane-less requests and finished lanes
        have not taken. Each lane is owed the top of its chain above a common level `h`:
        `clamp(work - h * per_window, 0, per_window)`, with `h` (windows still to go after
        this one) the lowest that fits the room. The longest chains are served first (what
        they leave unused is free to all) until the lanes are level, so they end together.
        """
        pending = {name: lane for name, lane in self._lanes.items() if lane.left > 0}
        taken = sum(len(lane.log) for lane in pending.values())
        room = max(self.capacity - (len(self._log) - taken), 0)
        work = {name: lane.left + len(lane.log) for name, lane in pending.items()}

        def tops(h: float) -> dict[str, float]:
            return {name: min(max(work[name] - h * lane.per_window, 0.0), lane.per_window)
                    for name, lane in pending.items()}

        # The sum of tops falls linearly in `h` between the points where a lane leaves its
        # cap or reaches zero: find the segment where it crosses the room, then solve.
        low = 0.0
        if sum(tops(low).values()) <= room:
            return tops(low)
        bends = sorted({max(work[n] / lane.per_window - k, 0.0)
                        for n, lane in pending.items() for k in (0, 1)} - {0.0})
        for high in bends:
            above, below = sum(tops(low).values()), sum(tops(high).values())
            if below <= room:
                return tops(low + (high - low) * (above - room) / (above - below))
            low = high
        return tops(low)  # unreachable: the last bend leaves nothing, which always fits

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

    def holding(self) -> bool:
        """Whether a request is waiting now because the window's budget is spent."""
        return self._held > 0

    def remaining(self) -> int:
        with self._lock:
            self._expire(self.clock())
            return max(self.capacity - len(self._log), 0)

    def _expire(self, now: float) -> None:
        horizon = now - self.interval - WINDOW_MARGIN_S
        for log in (self._log, *(lane.log for lane in self._lanes.values())):
            while log and log[0] <= horizon:
                log.popleft()


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

    def waiting(self) -> bool:
        """Whether the rate limit is holding a request back right now (for progress displays)."""
        return self.ten_secondly.holding() or self.secondly.holding()

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

"""Request counting, so tests and benchmarks can assert how many calls a client made."""
from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class RequestStats:
    """Counts per route (`"POST /crm/v3/objects/contacts/batch/read"`), per status, 429s,
    injected faults and the total. Admin (`/_sandbox`) calls are not counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._routes: Counter[str] = Counter()
            self._statuses: Counter[int] = Counter()
            self._faults = 0
            self._total = 0

    def record(self, route: str, status: int, *, fault: bool = False) -> None:
        with self._lock:
            self._routes[route] += 1
            self._statuses[status] += 1
            self._total += 1
            self._faults += fault

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"total": self._total, "rate_limited": self._statuses.get(429, 0),
                    "faults": self._faults, "by_route": dict(self._routes),
                    "by_status": {str(k): v for k, v in sorted(self._statuses.items())}}

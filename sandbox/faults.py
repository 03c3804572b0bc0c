"""Injected failures: a queue of rules matched against requests, and per-record write
failures for exercising 207 handling."""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any, Iterable


@dataclass
class FaultRule:
    """Fail matching requests `times` times (None = until cleared).

    `status` replies with that status (429 gets HubSpot's rate-limit body); `drop=True`
    closes the socket without replying, `drop="mid"` sends headers and part of the body
    and then closes; `delay_ms` stalls before answering (use it to provoke client timeouts).
    """

    status: int | None = None
    times: int | None = 1
    path_prefix: str = ""
    method: str | None = None
    drop: bool | str = False
    delay_ms: int = 0
    retry_after: int | None = None
    body: Any = None
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.method and self.method.upper() != method:
            return False
        return path.startswith(self.path_prefix)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RecordFailure:
    """Writes to this record fail with this error until cleared."""

    category: str
    message: str
    status: int = 400


class Faults:
    """Thread-safe fault plan shared by the gateway and the object handlers."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._records: dict[tuple[str, int], RecordFailure] = {}
        self._lock = threading.Lock()

    def add(self, *, status: int | None = None, times: int | None = 1, path_prefix: str = "",
            method: str | None = None, drop: bool | str = False, delay_ms: int = 0,
            retry_after: int | None = None, body: Any = None) -> FaultRule:
        """Queue a rule; rules fire in the order added."""
        if status is None and not drop and not delay_ms:
            raise ValueError("a fault needs a status, drop=True/'mid' or delay_ms")
        if drop not in (False, True, "before", "mid"):
            raise ValueError("drop must be False, True, 'before' or 'mid'")
        rule = FaultRule(status, times, path_prefix, method, drop, delay_ms, retry_after, body)
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first live rule matching this request, counted as fired."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.fired += 1
                    return rule
        return None

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def fail_records(self, object_type: str, ids: Iterable[int | str], *,
                     category: str = "VALIDATION_ERROR",
                     message: str = "Injected write failure", status: int = 400) -> None:
        """Make writes to these records fail (207 per input in batches) until cleared."""
        with self._lock:
            for record_id in ids:
                self._records[(object_type, int(record_id))] = RecordFailure(
                    category, message, status)

    def record_failure(self, object_type: str, record_id: int) -> RecordFailure | None:
        with self._lock:
            return self._records.get((object_type, record_id))

    def clear_records(self) -> None:
        with self._lock:
            self._records.clear()

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {"rules": [r.to_json() for r in self._rules],
                    "records": [{"objectType": t, "id": str(i), **asdict(f)}
                                for (t, i), f in self._records.items()]}

"""Refresh associations of queued records, 1,000 ids per v4 batch read, in parallel.

Records whose associations must be read are queued (`association_queue`) in the same
transaction as the records themselves, so a crash never loses the need to read them.
"""
from __future__ import annotations

import math
import threading
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Sequence

from connector.cache import Cache
from connector.client import ASSOCIATION_BATCH_LIMIT, HubSpot
from connector.records import save_associations

LANE = "associations"


class AssociationRefresher:
    """Drains the association queue as it fills, overlapping with the record streams."""

    def __init__(self, cache: Cache, client: HubSpot, executor: Executor,
                 targets: dict[str, Sequence[str]], batch: int = ASSOCIATION_BATCH_LIMIT):
        self.cache = cache
        self.client = client
        self.executor = executor
        self.targets = {k: tuple(v) for k, v in targets.items() if v}  # from type → to types
        self.batch = batch
        self.batches = 0
        self.expected = 0  # batch calls this run will make, once the contact count is known
        self._in_flight: set[tuple[str, str]] = set()
        self._futures: list[Future] = []
        self._lock = threading.Lock()

    def drain(self, *, finished: set[str] | frozenset[str] = frozenset(), final: bool = False) -> None:
        """Submit full batches of queued ids, and the remainder for record types whose stream
        is `finished` (no more ids will come) or when `final`."""
        for from_type in self.targets:
            while True:
                ids = self._claim(from_type, final or from_type in finished)
                if not ids:
                    break
                # Each target type is its own call: read them side by side, so a batch
                # costs one call's latency, not six one after another.
                claim = _Claim(from_type, ids, len(self.targets[from_type]))
                self._futures.extend(self.executor.submit(self._refresh, claim, to_type)
                                     for to_type in self.targets[from_type])

    def wait(self) -> None:
        """Block until every submitted batch is saved; re-raise the first failure."""
        while self._futures:
            future = self._futures.pop(0)
            future.result()

    def expect(self, records: int) -> None:
        """Plan the lane for `records` queued contacts' worth of batch reads."""
        with self._lock:
            per_batch = len(self.targets.get("contacts", ()))
            self.expected = math.ceil(records / self.batch) * per_batch
            self._plan()

    def _plan(self) -> None:
        # Batches are independent: many run at once, so their lane's pace is not a chain's.
        step = self.client.counters.latency / max(self.executor._max_workers, 1)
        self.client.budget.ten_secondly.plan(LANE, self.expected - self.batches, step)

    def _claim(self, from_type: str, final: bool) -> list[str]:
        with self._lock, self.cache.lock:
            rows = self.cache.conn.execute(
                "SELECT id FROM association_queue WHERE object_type = ? ORDER BY id",
                (from_type,)).fetchall()
            ids = [r[0] for r in rows if (from_type, r[0]) not in self._in_flight][: self.batch]
            if len(ids) < self.batch and not final:
                return []
            self._in_flight.update((from_type, i) for i in ids)
            return ids

    def _refresh(self, claim: _Claim, to_type: str) -> None:
        found = self._read_all(claim.from_type, to_type, claim.ids)
        with self.cache.transaction() as conn:
            save_associations(conn, claim.from_type, to_type, found)
        with self._lock:
            claim.targets_left -= 1
            if claim.targets_left:
                return
        # Every target is saved: only now may the ids leave the queue.
        with self.cache.transaction() as conn:
            conn.executemany("DELETE FROM association_queue WHERE object_type = ? AND id = ?",
                             [(claim.from_type, i) for i in claim.ids])
        with self._lock:
            self._in_flight.difference_update((claim.from_type, i) for i in claim.ids)

    def _read_all(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[dict]]:
        """Every association of `ids`, following each input's own paging cursor."""
        found: dict[str, list[dict]] = {i: [] for i in ids}
        inputs = [{"id": i} for i in ids]
        while inputs:
            result = self.client.associations(from_type, to_type, inputs, lane=LANE)
            with self._lock:
                self.batches += 1
                self._plan()
            inputs = []
            for item in result.results:
                from_id = str(item["from"]["id"])
                found.setdefault(from_id, []).extend(item.get("to") or [])
                after = ((item.get("paging") or {}).get("next") or {}).get("after")
                if after:
                    inputs.append({"id": from_id, "after": after})
        return found


@dataclass
class _Claim:
    """Queued ids taken for one batch, and how many of their target types are still unread."""

    from_type: str
    ids: list[str]
    targets_left: int

"""Refresh associations of queued records, 1,000 ids per v4 batch read, in parallel.

Records whose associations must be read are queued (`association_queue`) in the same
transaction as the records themselves, so a crash never loses the need to read them.

HubSpot does not move a record's modified date when a link is added or removed, so an
incremental pull also audits: it queues the contacts whose links were verified longest ago
(`contacts.links_verified_at`), a slice per run sized by `audit_size`, and the same batch reads
verify them (docs/pull.md, "The association audit").
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from concurrent.futures import Executor, Future
from typing import Sequence

from cache.database import Cache, utcnow
from cache.records import save_associations
from connector.client import ASSOCIATION_BATCH_LIMIT, HubSpot

LANE = "associations"


def audit_size(share: float, tier: int, targets: int, batch: int = ASSOCIATION_BATCH_LIMIT) -> int:
    """Contacts the association audit verifies per incremental pull, before filling.

    The audit may spend `share` of one 10-second window of the rate budget (`tier` requests)
    per run. Reading 1,000 contacts' links costs one call per target type, so it reads
    ⌊share × tier / targets⌋ batches of `batch` contacts, at least one; share 0 turns it off."""
    if share <= 0 or targets <= 0:
        return 0
    return batch * max(1, math.floor(share * tier / targets))


def audit_bound(contacts: int, per_run: int, batch: int = ASSOCIATION_BATCH_LIMIT) -> int | None:
    """Incremental pulls within which every contact's links are re-read, at worst.

    Each run verifies at least `per_run - batch // 2` of the contacts verified longest ago (the
    slice shrinks by at most half a batch to fill the changed contacts' last batch), so a
    contact with k contacts verified before it is reached within ⌈k / that⌉ runs."""
    if per_run <= 0:
        return None
    return max(1, math.ceil(contacts / (per_run - batch // 2)))


@dataclass(frozen=True)
class AuditSlice:
    """What one run's audit queued: `queued` contacts, the longest-unverified of them last
    verified at `oldest` (None: some had never been verified)."""

    queued: int = 0
    oldest: str | None = None


class AssociationRefresher:
    """Drains the association queue as it fills, overlapping with the record streams."""

    def __init__(self, cache: Cache, client: HubSpot, executor: Executor,
                 targets: dict[str, Sequence[str]], batch: int = ASSOCIATION_BATCH_LIMIT,
                 at_once: int | None = None, verifies: bool = False):
        self.cache = cache
        self.client = client
        self.executor = executor
        self.targets = {k: tuple(v) for k, v in targets.items() if v}  # from type → to types
        self.batch = batch
        # True when `targets` are every type pulled: reading a contact's links then verifies it
        # (`links_verified_at`). The webhook worker reads some types only and passes False.
        self.verifies = verifies
        self.batches = 0
        self.expected = 0  # batch calls this run will make, once the contact count is known
        self._in_flight: set[tuple[str, str]] = set()
        # A batch being read holds a 1,000-id answer (~2 MB parsed), and the rate budget may
        # hold batches back until the end of a pull. Ids wait in the queue table, not in
        # memory: only as many batches are claimed at once as can spend the budget (its rate
        # times a call's latency, plus one), which keeps the heap flat in the portal's size.
        limiter = client.budget.ten_secondly
        self._at_once = at_once or math.ceil(
            limiter.capacity / limiter.interval * client.counters.latency) + 1
        self._futures: list[Future] = []
        self._lock = threading.Lock()

    def drain(self, *, finished: set[str] | frozenset[str] = frozenset(), final: bool = False) -> None:
        """Submit full batches of queued ids, and the remainder for record types whose stream
        is `finished` (no more ids will come) or when `final`, while fewer than `_at_once`
        batches are being read."""
        self._futures = [f for f in self._futures if not f.done() or f.exception()]
        for from_type in self.targets:
            while sum(not f.done() for f in self._futures) < self._at_once:
                ids = self._claim(from_type, final or from_type in finished)
                if not ids:
                    break
                self._futures.append(self.executor.submit(self._refresh, from_type, ids))

    def wait(self) -> None:
        """Read and save every queued id, a few batches at a time; re-raise the first failure."""
        while True:
            self.drain(final=True)
            if not self._futures:
                return
            self._futures.pop(0).result()

    def audit(self, contacts: int) -> AuditSlice:
        """Queue about `contacts` live contacts whose links were verified longest ago (never
        verified first), to be read with the contacts this run queued for changes.

        The slice fills the changed contacts' last, partial batch: it is `contacts` minus what
        that batch holds when it is at most half full, else plus the room left in it. So the
        audit costs at most `contacts / batch` batches more than the changes alone, and never
        verifies fewer than `contacts - batch // 2` of the oldest."""
        if contacts <= 0 or "contacts" not in self.targets:
            return AuditSlice()
        with self._lock, self.cache.transaction() as conn:
            queued = conn.execute("SELECT count(*) FROM association_queue "
                                  "WHERE object_type = 'contacts'").fetchone()[0]
            waiting = queued - sum(1 for kind, _ in self._in_flight if kind == "contacts")
            partial = waiting % self.batch
            size = contacts - partial if partial <= self.batch // 2 else contacts + self.batch - partial
            rows = conn.execute(
                "SELECT id, links_verified_at FROM contacts "
                "WHERE archived = 0 AND merged_into IS NULL AND NOT EXISTS ("
                "  SELECT 1 FROM association_queue q WHERE q.object_type = 'contacts' "
                "  AND q.id = contacts.id) "
                "ORDER BY links_verified_at, id LIMIT ?", (size,)).fetchall()
            conn.executemany("INSERT OR IGNORE INTO association_queue (object_type, id) "
                             "VALUES ('contacts', ?)", [(r[0],) for r in rows])
        never = any(r[1] is None for r in rows)
        return AuditSlice(len(rows), None if never or not rows else min(r[1] for r in rows))

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
            # Claimed ids stay queued until saved: read past them, never the whole queue.
            rows = self.cache.conn.execute(
                "SELECT id FROM association_queue WHERE object_type = ? ORDER BY id LIMIT ?",
                (from_type, self.batch + len(self._in_flight))).fetchall()
            ids = [r[0] for r in rows if (from_type, r[0]) not in self._in_flight][: self.batch]
            if len(ids) < self.batch and not final:
                return []
            self._in_flight.update((from_type, i) for i in ids)
            return ids

    def _refresh(self, from_type: str, ids: list[str]) -> None:
        for to_type in self.targets[from_type]:
            found = self._read_all(from_type, to_type, ids)
            with self.cache.transaction() as conn:
                save_associations(conn, from_type, to_type, found)
        with self.cache.transaction() as conn:
            conn.executemany("DELETE FROM association_queue WHERE object_type = ? AND id = ?",
                             [(from_type, i) for i in ids])
            if self.verifies and from_type == "contacts":
                verified = utcnow()
                conn.executemany("UPDATE contacts SET links_verified_at = ? WHERE id = ?",
                                 [(verified, i) for i in ids])
        with self._lock:
            self._in_flight.difference_update((from_type, i) for i in ids)

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

"""Sending an outbox: rows → batch updates of ≤ 100 records → the pushed ledger. Both
write-backs (contacts: connector/push.py, companies: connector/company_push.py) send here;
`Outbox` (cache/outboxes.py) names the tables and the HubSpot object type.

An outbox row is one write to one record: pending → sent → done | failed | skipped. Rows
are marked `sent`, with their batch id, in a committed transaction before the HTTP call, and
`done` (ledger upserted, history stamped) in the transaction that records the answer. A
crash therefore leaves `pending`/`sent` rows, which the next push resends before planning
anything else: only the batch that was in flight can reach HubSpot twice, and writing the
same values twice is harmless. A record may have several rows (a contact's demotion: clear,
then set); they go out strictly in id order, one batch round at a time.

The answer is read per record: a 207's per-input errors fail those inputs (retriable
categories go back to `pending` for the next round, up to MAX_SENDS sends per run), a 400
that names its bad inputs fails them and resends the rest in one call, one that names none
is split in halves; 429 and auth failures stop the push with the rows left for the next one.
"""
from __future__ import annotations

import itertools
import json
import os
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from cache.database import Cache, utcnow
from cache.outboxes import Backlog, Outbox
from connector.client import BATCH_LIMIT, BatchResult, HubSpot
from connector.rejections import named_inputs
from foundation.errors import (AuthError, HubSpotError, MissingScopes, TooManyChanges,
                               ValidationFailed)
from foundation.shutdown import thread_pool

MAX_SENDS = 3  # sends of one row per run before a retriable failure is left `failed`
# Per-input error categories worth another try (the rest are the record's own problem).
RETRIABLE_CATEGORIES = frozenset({"RATE_LIMIT", "RATE_LIMITS", "LOCKED", "INTERNAL_ERROR",
                                  "SERVICE_UNAVAILABLE", "TIMEOUT", "CONCURRENT_MODIFICATION"})
_CHUNK = 500
AfterSend = Callable[[str, list[str]], None]


@dataclass(frozen=True)
class Entry:
    """One record's planned change: its ordered writes, and the history rows it covers (the
    newest id; with several models, the names of the models whose values it writes)."""

    record_id: str
    writes: tuple[dict[str, str], ...]
    history_upto: int | None = None
    history_models: tuple[str, ...] | None = None


# Runs in the transaction that files a batch's rows (the contact push clears dirty marks).
Enqueued = Callable[[sqlite3.Connection, Sequence[Entry]], None]


@dataclass(kw_only=True)
class Sent:
    """What sending an outbox did, counted alike for contacts and companies."""

    write_calls: int = 0
    written: int = 0         # outbox rows HubSpot confirmed
    failed: list[dict] = field(default_factory=list)  # {<id column>, error, retriable}
    skipped: int = 0         # records archived or merged before their row went out
    unaccounted: int = 0     # inputs HubSpot's answer named neither as result nor as error
    rejected_named: int = 0  # whole-batch 400s whose answer named the bad inputs
    splits: int = 0          # whole-batch 400s that named none: split in halves

    def outcome_lines(self, outbox: Outbox, sample: int = 10) -> list[str]:
        """What went wrong or was left alone, one line each (both pushes print these)."""
        noun, plural = outbox.noun, outbox.object_type
        lines = []
        if self.skipped:
            lines.append(f"{self.skipped:,} {plural} skipped: archived or merged before the write")
        if self.rejected_named:
            lines.append(f"{self.rejected_named:,} batches rejected whole named their bad records: "
                         f"those failed, the rest were resent in one call each")
        if self.splits:
            lines.append(f"{self.splits:,} batches rejected whole were split to isolate bad records")
        if self.unaccounted:
            lines.append(f"WARNING: HubSpot's answers did not account for {self.unaccounted:,} "
                         f"{plural}; they are marked failed (retriable) and resent next push")
        if self.failed:
            lines.append(f"{len(self.failed):,} {plural} failed:")
            # in id order: batches answer in any order when several are in flight
            shown = sorted(self.failed, key=lambda f: _id_order(f[outbox.key]))[:sample]
            lines += [f"  {noun} {f[outbox.key]}: {f['error']}"
                      + (" (will be retried)" if f["retriable"] else "") for f in shown]
            if len(self.failed) > sample:
                lines.append(f"  … and {len(self.failed) - sample:,} more (--json lists all)")
        return lines


def _id_order(record_id: str) -> tuple:
    return (0, int(record_id), "") if record_id.isdigit() else (1, 0, record_id)


def backlog_lines(backlog: Backlog, outbox: Outbox, *, dry_run: bool) -> list[str]:
    """What an earlier push left: rows resent first, records held back by failures."""
    lines = []
    if backlog.resend:
        verb = "will be resent" if dry_run else "resent"
        lines.append(f"{len(backlog.resend):,} {outbox.noun} outbox rows left by an earlier "
                     f"push {verb} first")
    if backlog.held:
        lines.append(f"{len(backlog.held):,} {outbox.object_type} held back by earlier failures; "
                     f"fix the cause, then run `leadsync push --retry-failed`")
    return lines


@dataclass(frozen=True)
class Overflow:
    """A tripped guardrail: a push would write `moving` records of `outbox`, more than `limit`;
    `flag` is the option that raises the limit."""

    outbox: Outbox
    moving: int
    limit: int
    flag: str


def guardrail(outbox: Outbox, backlog: Backlog, changing: Iterable[str], limit: int | None,
              flag: str) -> Overflow | None:
    """The records a push would write (the backlog's resends and the plan's changes, each
    record once) against `limit` (None: no limit); the Overflow when they are more."""
    if limit is None:
        return None
    moving = len(backlog.records | set(changing))
    return Overflow(outbox, moving, limit, flag) if moving > limit else None


def too_many_changes(over: Sequence[Overflow]) -> TooManyChanges:
    """The one-line error of the tripped guardrails: each count with its limit, and the flags
    that would let exactly this plan through."""
    counts = ", and ".join(f"{o.moving:,} {o.outbox.object_type}, more than {o.flag} {o.limit:,}"
                           for o in over)
    flags = " ".join(f"{o.flag} {o.moving}" for o in over)
    return TooManyChanges(f"push would update {counts}; nothing was sent. Check `leadsync push "
                          f"--dry-run`, then rerun with {flags}")


@dataclass(frozen=True)
class _Row:
    id: int
    record_id: str
    properties: dict[str, str]
    history_upto: int | None
    history_models: str | None  # JSON list of model names, or None: every model's rows


class Sender:
    """Sends one push's outbox rows in rounds of overlapping ≤ 100-record batches, and
    counts what happened in `tally`."""

    def __init__(self, cache: Cache, client: HubSpot, outbox: Outbox, tally: Sent, *,
                 run_id: int | None, concurrency: int, after_send: AfterSend | None = None,
                 enqueued: Enqueued | None = None) -> None:
        self.cache, self.client, self.outbox, self.tally = cache, client, outbox, tally
        self.run_id, self.concurrency, self.after_send = run_id, max(concurrency, 1), after_send
        self.enqueued = enqueued
        self.mine: set[int] = set()
        self.sends: Counter[int] = Counter()
        self._batch_numbers = itertools.count(1)
        self._prefix = outbox.batch_prefix + (
            f"r{run_id}" if run_id is not None else f"p{os.getpid()}.{int(time.time())}")
        self._lock = threading.Lock()  # the tally, bumped from the batch threads
        self.progress: Callable[[int, int | None], None] | None = None
        self.planned: int | None = None
        self.settled = 0  # rows done or failed for good

    def planned_more(self, writes: int) -> None:
        """The progress total grows as the plan streams in."""
        if self.progress is not None:
            with self._lock:
                self.planned = (self.planned or 0) + writes

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self.tally, name, getattr(self.tally, name) + delta)

    # -- the rows this push owns ----------------------------------------------------------

    def claim_backlog(self, row_ids: Sequence[int]) -> None:
        """Take over rows an earlier push left: back to pending, sent first."""
        now = utcnow()
        with self.cache.transaction() as conn:
            conn.executemany(f"UPDATE {self.outbox.outbox} SET status = 'pending', run_id = ?, "
                             f"updated_at = ? WHERE id = ?", [(self.run_id, now, i) for i in row_ids])
        self.mine.update(row_ids)

    def enqueue(self, entries: Sequence[Entry]) -> None:
        """One row per write of each entry, in one transaction (all pending)."""
        with self.cache.transaction() as conn:
            now = utcnow()
            for entry in entries:
                self._insert(conn, entry, now)
            if self.enqueued is not None:
                self.enqueued(conn, entries)

    def send(self, chunks: Iterable[Sequence[Entry]]) -> None:
        """Send the entries of `chunks` as they come (a plan may still be planning), in
        batches of 100 records, each filed (as `sent`) by the thread that posts it; then
        rounds for retries and second writes.

        Records whose batch was not filed yet when a push dies have no outbox rows: the next
        push plans them again, which is the same as resending them."""
        waiting: list[Entry] = []
        with thread_pool(self.concurrency, "push") as pool:
            futures = []
            for chunk in chunks:
                waiting += chunk
                while len(waiting) >= BATCH_LIMIT:
                    futures.append(pool.submit(self._enqueue_and_send, waiting[:BATCH_LIMIT]))
                    waiting = waiting[BATCH_LIMIT:]
            if waiting:
                futures.append(pool.submit(self._enqueue_and_send, waiting))
            for future in futures:
                future.result()
        self.drain()

    def _enqueue_and_send(self, entries: list[Entry]) -> None:
        batch, now, rows = self._next_batch(), utcnow(), []
        with self.cache.transaction() as conn:
            for entry in entries:
                first = self._insert(conn, entry, now, batch)
                last = len(entry.writes) == 1
                rows.append(_Row(first, entry.record_id, entry.writes[0],
                                 entry.history_upto if last else None,
                                 _models_json(entry) if last else None))
            if self.enqueued is not None:  # the rows carry the plan now
                self.enqueued(conn, entries)
        self._post(rows, batch)

    def _insert(self, conn: sqlite3.Connection, entry: Entry, now: str,
                batch: str | None = None) -> int:
        """Rows for one entry's writes, the first one `sent` in `batch` if given (else all
        pending); the last carries the history bookkeeping. Returns the first row's id."""
        per_model = self.outbox.per_model
        sql = (f"INSERT INTO {self.outbox.outbox} ({self.outbox.key}, properties, status, "
               f"attempts, batch, run_id, created_at, updated_at, history_upto"
               + (", history_models) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" if per_model else
                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"))
        first = None
        last = len(entry.writes) - 1
        for index, write in enumerate(entry.writes):
            sent = batch is not None and index == 0
            values = (entry.record_id, json.dumps(write, sort_keys=True),
                      "sent" if sent else "pending", 1 if sent else 0, batch if sent else None,
                      self.run_id, now, now, entry.history_upto if index == last else None)
            if per_model:
                values += (_models_json(entry) if index == last else None,)
            cur = conn.execute(sql, values)
            self.mine.add(cur.lastrowid)
            first = cur.lastrowid if first is None else first
        return first

    def _next_batch(self) -> str:
        with self._lock:
            return f"{self._prefix}.{next(self._batch_numbers)}"

    def unfinished_records(self) -> set[str]:
        return {row[1] for row in self._unfinished()}

    def _unfinished(self) -> list[tuple]:
        o = self.outbox
        models = "o.history_models" if o.per_model else "NULL"
        rows = self.cache.conn.execute(
            f"SELECT o.id, o.{o.key}, o.status, o.properties, o.history_upto, {models}, "
            f"c.id IS NOT NULL, c.archived, c.merged_into FROM {o.outbox} o "
            f"LEFT JOIN {o.object_type} c ON c.id = o.{o.key} "
            f"WHERE o.status IN ('pending', 'sent', 'failed') ORDER BY o.id").fetchall()
        return [r for r in rows if r[0] in self.mine]

    # -- rounds ---------------------------------------------------------------------------

    def drain(self) -> None:
        """Send until no row of this push is ready (done, failed or skipped)."""
        while True:
            ready = self._ready()
            if not ready:
                return
            batches = [ready[i:i + BATCH_LIMIT] for i in range(0, len(ready), BATCH_LIMIT)]
            with thread_pool(min(self.concurrency, len(batches)), "push") as pool:
                futures = [pool.submit(self._send, batch) for batch in batches]
                for future in futures:
                    future.result()

    def _ready(self) -> list[_Row]:
        """Per record, its earliest unfinished row, if that row is pending and the record is
        still live (else the row is skipped)."""
        first: dict[str, tuple] = {}
        for row in self._unfinished():
            first.setdefault(row[1], row)
        ready, dead = [], []
        for (row_id, record_id, status, properties, upto, models, known, archived,
             merged) in first.values():
            if status != "pending":
                continue
            if not known or archived or merged:
                dead.append((row_id, "merged" if merged else "archived" if known else "unknown"))
                continue
            ready.append(_Row(row_id, record_id, json.loads(properties), upto, models))
        if dead:
            now = utcnow()
            with self.cache.transaction() as conn:
                conn.executemany(f"UPDATE {self.outbox.outbox} SET status = 'skipped', error = ?, "
                                 f"updated_at = ? WHERE id = ?",
                                 [(f"{self.outbox.noun} {why} in HubSpot before the write", now, i)
                                  for i, why in dead])
            self._count(skipped=len(dead))
        return ready

    def _send(self, rows: list[_Row]) -> None:
        """Mark `rows` sent in a new batch (committed), then post them."""
        batch = self._next_batch()
        now = utcnow()
        with self.cache.transaction() as conn:
            conn.executemany(f"UPDATE {self.outbox.outbox} SET status = 'sent', batch = ?, "
                             f"attempts = attempts + 1, run_id = ?, updated_at = ? WHERE id = ?",
                             [(batch, self.run_id, now, r.id) for r in rows])
        self._post(rows, batch)

    def _post(self, rows: list[_Row], batch: str) -> None:
        """One batch update for rows already marked sent; record the answer per record."""
        with self._lock:
            self.sends.update(r.id for r in rows)
            self.tally.write_calls += 1
        inputs = [{"id": r.record_id, "properties": r.properties} for r in rows]
        try:
            result = self.client.batch_update(self.outbox.object_type, inputs)
        except ValidationFailed as exc:
            self._rejected(rows, inputs, exc)
            return
        except HubSpotError as exc:
            fatal = isinstance(exc, (AuthError, MissingScopes)) or exc.status == 429
            if fatal:  # nothing can succeed now: leave the rows for the next push
                self._release(rows)
                raise
            self._settle(rows, set(), {r.record_id: (str(exc), exc.retriable) for r in rows})
            return
        if self.after_send is not None:
            self.after_send(batch, [r.record_id for r in rows])
        self._record(rows, result)

    def _rejected(self, rows: list[_Row], inputs: list[dict], exc: ValidationFailed) -> None:
        """A batch rejected whole (400): fail the inputs HubSpot's answer names, with its
        reason, and resend the rest in one call; split in halves only when it names none."""
        named = named_inputs(exc.body, inputs)
        if named:
            self._count(rejected_named=1)
            self._settle(rows, set(), {r: (reason, False) for r, reason in named.items()})
            rest = [r for r in rows if r.record_id not in named]
            if rest:
                self._send(rest)
            return
        if len(rows) == 1:
            self._settle(rows, set(), {rows[0].record_id: (str(exc), False)})
            return
        self._count(splits=1)
        middle = len(rows) // 2
        self._send(rows[:middle])
        self._send(rows[middle:])

    def _record(self, rows: list[_Row], result: BatchResult) -> None:
        """Match HubSpot's answer back per record: results, per-input errors, the rest."""
        by_record = {r.record_id: r for r in rows}
        done = {str(r.get("id")) for r in result.results} & by_record.keys()
        failed: dict[str, tuple[str, bool]] = {}
        for error in result.errors:
            context = error.get("context") or {}
            message = error.get("message") or error.get("category") or "no message"
            retriable = str(error.get("category") or "").upper() in RETRIABLE_CATEGORIES
            for record_id in context.get("ids") or []:
                record_id = str(record_id)
                if record_id in by_record and record_id not in done:
                    failed[record_id] = (f"{error.get('category') or 'ERROR'}: {message}", retriable)
        missing = by_record.keys() - done - failed.keys()
        if missing:
            self._count(unaccounted=len(missing))
            for record_id in missing:
                failed[record_id] = (f"HubSpot's answer named this {self.outbox.noun} neither "
                                     f"as a result nor as an error", True)
        self._settle(rows, done, failed)

    def _settle(self, rows: list[_Row], done: set[str], failed: dict[str, tuple[str, bool]]) -> None:
        """Record written rows (ledger, outbox, history) and failed ones, in one transaction.

        A retriable failure goes back to pending (sent again next round) until MAX_SENDS."""
        o, now = self.outbox, utcnow()
        by_record = {r.record_id: r for r in rows}
        done_rows = [r for r in rows if r.record_id in done]
        with self._lock:
            again = {c for c, (_, retriable) in failed.items()
                     if retriable and self.sends[by_record[c].id] < MAX_SENDS}
        retry = [(msg, now, by_record[c].id) for c, (msg, _) in failed.items() if c in again]
        final = [(msg, 1 if retriable else 0, now, by_record[c].id)
                 for c, (msg, retriable) in failed.items() if c not in again]
        with self.cache.transaction() as conn:
            conn.executemany(
                f"INSERT INTO {o.ledger} ({o.key}, property, value, pushed_at, run_id) "
                f"VALUES (?, ?, ?, ?, ?) ON CONFLICT({o.key}, property) DO UPDATE SET "
                f"value = excluded.value, pushed_at = excluded.pushed_at, run_id = excluded.run_id",
                [(r.record_id, name, value, now, self.run_id)
                 for r in done_rows for name, value in r.properties.items()])
            conn.executemany(f"UPDATE {o.outbox} SET status = 'done', error = NULL, "
                             f"retriable = NULL, updated_at = ? WHERE id = ?",
                             [(now, r.id) for r in done_rows])
            self._stamp_history(conn, now, [r for r in done_rows if r.history_upto is not None])
            conn.executemany(f"UPDATE {o.outbox} SET status = 'pending', error = ?, "
                             f"retriable = 1, updated_at = ? WHERE id = ?", retry)
            conn.executemany(f"UPDATE {o.outbox} SET status = 'failed', error = ?, "
                             f"retriable = ?, updated_at = ? WHERE id = ?", final)
        self._count(written=len(done_rows))
        if self.progress is not None:
            with self._lock:
                self.settled += len(done_rows) + len(final)
                settled = self.settled
            self.progress(min(settled, self.planned or settled), self.planned)

    def _stamp_history(self, conn: sqlite3.Connection, now: str, rows: list[_Row]) -> None:
        """`pushed_at` on the record's history rows up to the planned one: with several models,
        only those of the models whose values the row's change wrote."""
        o = self.outbox
        sql = (f"UPDATE {o.history} SET pushed_at = ? WHERE {o.key} = ? AND pushed_at IS NULL "
               f"AND id <= ?")
        if not o.per_model:
            conn.executemany(sql, [(now, r.record_id, r.history_upto) for r in rows])
            return
        conn.executemany(sql + " AND (? IS NULL OR model IN (SELECT value FROM json_each(?)))",
                         [(now, r.record_id, r.history_upto, r.history_models, r.history_models)
                          for r in rows])

    def _release(self, rows: list[_Row]) -> None:
        now = utcnow()
        with self.cache.transaction() as conn:
            conn.executemany(f"UPDATE {self.outbox.outbox} SET status = 'pending', updated_at = ? "
                             f"WHERE id = ?", [(now, r.id) for r in rows])

    def finish(self) -> int:
        """Fill the tally's failures from the outbox; return how many records were written."""
        if not self.mine:
            return 0
        rows = []
        ids = sorted(self.mine)
        for start in range(0, len(ids), _CHUNK):
            part = ids[start:start + _CHUNK]
            rows += self.cache.conn.execute(
                f"SELECT id, {self.outbox.key}, status, error, retriable FROM {self.outbox.outbox} "
                f"WHERE id IN ({','.join('?' * len(part))})", part).fetchall()
        self.tally.failed = [{self.outbox.key: c, "error": e, "retriable": bool(r)}
                             for _, c, s, e, r in sorted(rows) if s == "failed"]
        return len({c for _, c, s, _, _ in rows if s == "done"})


def _models_json(entry: Entry) -> str | None:
    return None if entry.history_models is None else json.dumps(list(entry.history_models))

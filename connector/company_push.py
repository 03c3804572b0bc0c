"""Company push: company scores → `company_outbox` → batch updates of ≤ 100 → `company_pushed`.

The contact push's protocol (connector/push.py), for records that take one write each: an
outbox row is pending → sent → done | failed. Rows are marked `sent` with their batch id in a
committed transaction before the HTTP call, and `done` (ledger upserted, history stamped) in
the transaction that records HubSpot's answer. A crash leaves `pending`/`sent` rows, which the
next push resends before planning anything else. A retriable per-input failure is sent again
in the next round, up to MAX_SENDS; a whole-batch 400 is split in halves to find the record.

The tables are the company twins of `outbox` and `pushed`: company ids and contact ids come
from different id spaces, and the contact push is planned from the contact tables alone. The
plan is read in cache/company_write_plan.py, where `simulate --company-model` reads it too.
"""
from __future__ import annotations

import itertools
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from cache.company_write_plan import CompanyPlan, plan_companies
from cache.database import Cache, utcnow
from connector.client import BATCH_LIMIT, BatchResult, HubSpot
from connector.push import MAX_SENDS, RETRIABLE_CATEGORIES
from foundation.errors import AuthError, HubSpotError, MissingScopes, NotSetUp, ValidationFailed
from mappings.company_writeback import company_property_definitions
from mappings.writeback import definition_mismatch

_CHUNK = 500


@dataclass
class CompanyPushSummary:
    """What a company push planned and did."""

    plan: CompanyPlan
    resent: int = 0
    write_calls: int = 0
    companies_written: int = 0
    failed: list[dict] = field(default_factory=list)
    splits: int = 0

    @property
    def minimum_calls(self) -> int:
        """ceil(companies to write / 100): the fewest batch calls that can write them."""
        return -(-(len(self.plan.changes) + self.resent) // BATCH_LIMIT)

    def as_dict(self, sample: int | None = None) -> dict:
        return {"plan": self.plan.as_dict(sample), "resent": self.resent,
                "write_calls": self.write_calls, "minimum_calls": self.minimum_calls,
                "companies_written": self.companies_written, "failed": self.failed,
                "splits": self.splits}

    def render(self) -> str:
        lines = [f"companies: {self.companies_written:,} written in {self.write_calls:,} batch "
                 f"calls, {self.plan.unchanged:,} already up to date"]
        lines += [f"  company {f['company_id']}: {f['error']}" for f in self.failed[:10]]
        return "\n".join(lines)


def require_company_setup(conn: sqlite3.Connection, names: Mapping[str, str], group: str) -> None:
    """Raise NotSetUp when the company write-back properties are not in the stored catalog."""
    rows = {r[0]: r for r in conn.execute(
        "SELECT name, type, field_type, options FROM property_catalog "
        "WHERE object_type = 'companies'")}
    for definition in company_property_definitions(names, group):
        found = rows.get(definition["name"])
        if found is None:
            raise NotSetUp(f"HubSpot lacks the company property {definition['name']}; run "
                           f"`leadsync setup` (it creates the company score properties)")
        why = definition_mismatch(definition, {"type": found[1], "fieldType": found[2],
                                               "options": json.loads(found[3] or "[]")})
        if why:
            raise NotSetUp(f"HubSpot company property {definition['name']} {why}; run "
                           f"`leadsync setup` to see what to fix")


def push_companies(cache: Cache, client: HubSpot, names: Mapping[str, str], *,
                   company_ids: Sequence[str] | None = None,
                   run_id: int | None = None) -> CompanyPushSummary:
    """Resend what an earlier push left, then write every company whose values changed."""
    sender = _CompanySender(cache, client, run_id)
    backlog = sender.claim_backlog(company_ids)
    plan = plan_companies(cache.conn, names, company_ids=company_ids,
                          exclude=sender.held | set(backlog))
    summary = sender.summary = CompanyPushSummary(plan, resent=len(backlog))
    sender.enqueue(plan)
    sender.drain()
    sender.finish()
    return summary


class _CompanySender:
    def __init__(self, cache: Cache, client: HubSpot, run_id: int | None) -> None:
        self.cache, self.client, self.run_id = cache, client, run_id
        self.summary = CompanyPushSummary(CompanyPlan())
        self.mine: set[int] = set()
        self.held: set[str] = set()
        self.sends: dict[int, int] = {}
        self._numbers = itertools.count(1)
        self._prefix = f"cr{run_id}" if run_id is not None else f"cp{os.getpid()}.{int(time.time())}"

    def claim_backlog(self, company_ids: Sequence[str] | None) -> list[str]:
        """Take over unfinished rows (pending, sent, retriable failures); non-retriable
        failures hold their company back."""
        wanted = None if company_ids is None else set(company_ids)
        rows = self.cache.conn.execute(
            "SELECT id, company_id, status, retriable FROM company_outbox "
            "WHERE status IN ('pending', 'sent', 'failed') ORDER BY id").fetchall()
        claimed, companies = [], []
        for row_id, company_id, status, retriable in rows:
            if wanted is not None and company_id not in wanted:
                continue
            if status == "failed" and not retriable:
                self.held.add(company_id)
                continue
            claimed.append(row_id)
            companies.append(company_id)
        if claimed:
            now = utcnow()
            with self.cache.transaction() as conn:
                conn.executemany("UPDATE company_outbox SET status = 'pending', run_id = ?, "
                                 "updated_at = ? WHERE id = ?",
                                 [(self.run_id, now, i) for i in claimed])
            self.mine.update(claimed)
        return companies

    def enqueue(self, plan: CompanyPlan) -> None:
        now = utcnow()
        with self.cache.transaction() as conn:
            for change in plan.changes:
                cursor = conn.execute(
                    "INSERT INTO company_outbox (company_id, properties, status, run_id, "
                    "history_upto, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?, ?, ?)",
                    (change.company_id, json.dumps(change.write, sort_keys=True), self.run_id,
                     plan.history_upto.get(change.company_id), now, now))
                self.mine.add(cursor.lastrowid)

    def drain(self) -> None:
        """Send pending rows of this push in batches of ≤ 100 until none is ready."""
        while True:
            ready = self._pending()
            if not ready:
                return
            for start in range(0, len(ready), BATCH_LIMIT):
                self._send(ready[start:start + BATCH_LIMIT])

    def _pending(self) -> list[tuple]:
        rows = self.cache.conn.execute(
            "SELECT o.id, o.company_id, o.properties, o.history_upto, c.archived, c.merged_into, "
            "c.id IS NOT NULL FROM company_outbox o LEFT JOIN companies c ON c.id = o.company_id "
            "WHERE o.status = 'pending' ORDER BY o.id").fetchall()
        rows = [r for r in rows if r[0] in self.mine]
        dead = [r[0] for r in rows if r[4] or r[5] or not r[6]]
        if dead:
            now = utcnow()
            with self.cache.transaction() as conn:
                conn.executemany("UPDATE company_outbox SET status = 'skipped', error = "
                                 "'company archived or merged before the write', updated_at = ? "
                                 "WHERE id = ?", [(now, i) for i in dead])
        return [r[:4] for r in rows if r[0] not in dead]

    def _send(self, rows: list[tuple]) -> None:
        batch = f"{self._prefix}.{next(self._numbers)}"
        now = utcnow()
        with self.cache.transaction() as conn:
            conn.executemany("UPDATE company_outbox SET status = 'sent', batch = ?, attempts = "
                             "attempts + 1, updated_at = ? WHERE id = ?",
                             [(batch, now, r[0]) for r in rows])
        for row in rows:
            self.sends[row[0]] = self.sends.get(row[0], 0) + 1
        self.summary.write_calls += 1
        inputs = [{"id": r[1], "properties": json.loads(r[2])} for r in rows]
        try:
            result = self.client.batch_update("companies", inputs)
        except ValidationFailed as exc:
            if len(rows) == 1:
                self._settle(rows, set(), {rows[0][1]: (str(exc), False)})
                return
            self.summary.splits += 1
            self._send(rows[:len(rows) // 2])
            self._send(rows[len(rows) // 2:])
            return
        except HubSpotError as exc:
            if isinstance(exc, (AuthError, MissingScopes)) or exc.status == 429:
                self._release(rows)
                raise
            self._settle(rows, set(), {r[1]: (str(exc), exc.retriable) for r in rows})
            return
        self._record(rows, result)

    def _record(self, rows: list[tuple], result: BatchResult) -> None:
        ids = {r[1] for r in rows}
        done = {str(r.get("id")) for r in result.results} & ids
        failed: dict[str, tuple[str, bool]] = {}
        for error in result.errors:
            message = error.get("message") or error.get("category") or "no message"
            retriable = str(error.get("category") or "").upper() in RETRIABLE_CATEGORIES
            for company_id in (error.get("context") or {}).get("ids") or []:
                if str(company_id) in ids and str(company_id) not in done:
                    failed[str(company_id)] = (f"{error.get('category') or 'ERROR'}: {message}",
                                               retriable)
        for company_id in ids - done - failed.keys():
            failed[company_id] = ("HubSpot's answer named this company neither as a result "
                                  "nor as an error", True)
        self._settle(rows, done, failed)

    def _settle(self, rows: list[tuple], done: set[str],
                failed: dict[str, tuple[str, bool]]) -> None:
        now = utcnow()
        done_rows = [r for r in rows if r[1] in done]
        by_company = {r[1]: r for r in rows}
        again = [(msg, now, by_company[c][0]) for c, (msg, retriable) in failed.items()
                 if retriable and self.sends[by_company[c][0]] < MAX_SENDS]
        final = [(msg, 1 if retriable else 0, now, by_company[c][0])
                 for c, (msg, retriable) in failed.items()
                 if not (retriable and self.sends[by_company[c][0]] < MAX_SENDS)]
        with self.cache.transaction() as conn:
            conn.executemany(
                "INSERT INTO company_pushed (company_id, property, value, pushed_at, run_id) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (company_id, property) DO UPDATE SET "
                "value = excluded.value, pushed_at = excluded.pushed_at, run_id = excluded.run_id",
                [(r[1], name, value, now, self.run_id)
                 for r in done_rows for name, value in json.loads(r[2]).items()])
            conn.executemany("UPDATE company_outbox SET status = 'done', error = NULL, "
                             "retriable = NULL, updated_at = ? WHERE id = ?",
                             [(now, r[0]) for r in done_rows])
            conn.executemany("UPDATE company_score_history SET pushed_at = ? WHERE company_id = ? "
                             "AND pushed_at IS NULL AND id <= ?",
                             [(now, r[1], r[3]) for r in done_rows if r[3] is not None])
            conn.executemany("UPDATE company_outbox SET status = 'pending', error = ?, "
                             "retriable = 1, updated_at = ? WHERE id = ?", again)
            conn.executemany("UPDATE company_outbox SET status = 'failed', error = ?, "
                             "retriable = ?, updated_at = ? WHERE id = ?", final)

    def _release(self, rows: list[tuple]) -> None:
        now = utcnow()
        with self.cache.transaction() as conn:
            conn.executemany("UPDATE company_outbox SET status = 'pending', updated_at = ? "
                             "WHERE id = ?", [(now, r[0]) for r in rows])

    def finish(self) -> None:
        if not self.mine:
            return
        ids = sorted(self.mine)
        rows = []
        for start in range(0, len(ids), _CHUNK):
            part = ids[start:start + _CHUNK]
            rows += self.cache.conn.execute(
                f"SELECT id, company_id, status, error, retriable FROM company_outbox "
                f"WHERE id IN ({','.join('?' * len(part))})", part).fetchall()
        self.summary.failed = [{"company_id": c, "error": e, "retriable": bool(r)}
                               for _, c, s, e, r in sorted(rows) if s == "failed"]
        self.summary.companies_written = len({c for _, c, s, _, _ in rows if s == "done"})

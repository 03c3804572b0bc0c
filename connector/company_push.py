"""Company push: company scores → `company_outbox` → batch updates of ≤ 100 → `company_pushed`.

The outbox protocol is connector/outbox.py's, the contact push's own: rows marked `sent`
before each call, recorded per company after it (207s, rejections, retries), resent first
after a crash; non-retriable failures wait for `leadsync push --retry-failed`. A company takes
one write. This module is the company side: the plan (desired values diffed against the last
pull or the ledger) and the summary.

The tables are the company twins of `outbox` and `pushed` (cache/outboxes.py `COMPANIES`):
company ids and contact ids come from different id spaces, and the contact push is planned
from the contact tables alone.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from cache.database import Cache
from cache.outboxes import COMPANIES, Backlog, read_backlog
from connector.client import BATCH_LIMIT, HubSpot
from connector.outbox import AfterSend, Entry, Sender, Sent, backlog_lines
from foundation.errors import NotSetUp
from mappings.company_writeback import (CompanyChange, company_property_definitions,
                                        plan_company)
from mappings.writeback import current_values, definition_mismatch

_CHUNK = 500


@dataclass
class CompanyPlan:
    """Every company write a push would make, and what it left alone."""

    changes: list[CompanyChange] = field(default_factory=list)
    unchanged: int = 0
    skipped: int = 0  # archived, merged or not cached
    history_upto: dict[str, int] = field(default_factory=dict, repr=False)

    def as_dict(self, sample: int | None = None) -> dict:
        shown = self.changes if sample is None else self.changes[:sample]
        return {"companies": len(self.changes), "unchanged": self.unchanged,
                "skipped": self.skipped, "changes": [c.as_dict() for c in shown]}

    def absorb(self, other: "CompanyPlan") -> None:
        """Add another plan (the companies a resent backlog settled, planned again)."""
        self.changes += other.changes
        self.unchanged += other.unchanged
        self.skipped += other.skipped
        self.history_upto.update(other.history_upto)

    def entries(self) -> list[Entry]:
        """The changes as outbox entries, each with the history row it covers."""
        return [Entry(c.company_id, (c.write,), self.history_upto.get(c.company_id))
                for c in self.changes]


@dataclass
class CompanyPushSummary(Sent):
    """What a company push planned and did (the counters are the contact push's)."""

    plan: CompanyPlan
    backlog: Backlog = field(default_factory=Backlog)
    companies_written: int = 0

    @property
    def resent(self) -> int:
        return len(self.backlog.resend)

    @property
    def minimum_calls(self) -> int:
        """The fewest batch calls that can write it: ceil(rows resent / 100) for the backlog
        (it goes out first), then ceil(companies to write / 100)."""
        return -(-self.resent // BATCH_LIMIT) - (-len(self.plan.changes) // BATCH_LIMIT)

    def as_dict(self, sample: int | None = None) -> dict:
        return {"plan": self.plan.as_dict(sample), "resent": self.resent,
                "held_by_failures": len(self.backlog.held),
                "in_flight_elsewhere": len(self.backlog.in_flight),
                "write_calls": self.write_calls, "minimum_calls": self.minimum_calls,
                "written": self.written, "companies_written": self.companies_written,
                "failed": self.failed, "skipped": self.skipped,
                "unaccounted": self.unaccounted, "rejected_named": self.rejected_named,
                "splits": self.splits}

    def render_plan(self) -> str:
        """The plan line of `push --dry-run`."""
        lines = [f"companies: {len(self.plan.changes):,} to write, "
                 f"{self.plan.unchanged:,} already up to date"]
        return "\n".join(lines + backlog_lines(self.backlog, COMPANIES, dry_run=True))

    def render(self, sample: int = 10) -> str:
        lines = [f"companies: {self.companies_written:,} written in {self.write_calls:,} "
                 f"batch calls, {self.plan.unchanged:,} already up to date"]
        lines += backlog_lines(self.backlog, COMPANIES, dry_run=False)
        return "\n".join(lines + self.outcome_lines(COMPANIES, sample))

    def problems(self, sample: int = 5) -> list[str]:
        """What `sync` prints under its company line when not everything was written."""
        held = backlog_lines(Backlog(held=self.backlog.held), COMPANIES, dry_run=False)
        return held + self.outcome_lines(COMPANIES, sample)


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


def plan_companies(conn: sqlite3.Connection, names: Mapping[str, str], *,
                   company_ids: Sequence[str] | None = None,
                   exclude: Iterable[str] = ()) -> CompanyPlan:
    """Desired values of scored companies diffed against what HubSpot has (pull or ledger)."""
    plan, skip = CompanyPlan(), set(exclude)
    watched = list(names.values())
    extract = "json_extract(c.properties, " + ", ".join(f"'$.\"{n}\"'" for n in watched) + ")"
    sql = f"""
        SELECT s.company_id, s.total, s.grade, s.reasons, c.id IS NOT NULL, c.archived,
               c.merged_into, c.pulled_at, {extract},
               (SELECT json_group_object(p.property, json_array(p.value, p.pushed_at))
                FROM company_pushed p WHERE p.company_id = s.company_id
                  AND (c.pulled_at IS NULL OR p.pushed_at > c.pulled_at)),
               (SELECT max(h.id) FROM company_score_history h WHERE h.company_id = s.company_id)
        FROM company_scores s LEFT JOIN companies c ON c.id = s.company_id"""
    for rows in _chunks(conn, sql, company_ids):
        for (company_id, total, grade, reasons, known, archived, merged, pulled_at, values,
             ledger, history_id) in rows:
            if company_id in skip:
                continue
            if not known or archived or merged:
                plan.skipped += 1
                continue
            pulled = dict(zip(watched, json.loads(values)))
            newer = {k: tuple(v) for k, v in json.loads(ledger).items()} if ledger else {}
            change = plan_company(company_id, total, grade, reasons,
                                  current_values(pulled, pulled_at, newer), names)
            if change is None:
                plan.unchanged += 1
            else:
                plan.changes.append(change)
                plan.history_upto[company_id] = history_id
    return plan


def _chunks(conn: sqlite3.Connection, sql: str, ids: Sequence[str] | None):
    if ids is None:
        yield conn.execute(f"{sql} ORDER BY s.company_id").fetchall()
        return
    ids = sorted(set(ids))
    for start in range(0, len(ids), _CHUNK):
        part = ids[start:start + _CHUNK]
        yield conn.execute(f"{sql} WHERE s.company_id IN ({','.join('?' * len(part))}) "
                           f"ORDER BY s.company_id", part).fetchall()


def plan_company_push(conn: sqlite3.Connection, names: Mapping[str, str], *,
                      retry_failed: bool = False,
                      company_ids: Sequence[str] | None = None) -> CompanyPushSummary:
    """What `push_companies` would send, for `push --dry-run`: the backlog, then the plan."""
    ids = None if company_ids is None else sorted({str(i) for i in company_ids})
    backlog = read_backlog(conn, COMPANIES, retry_failed=retry_failed, ids=ids)
    plan = plan_companies(conn, names, company_ids=ids, exclude=backlog.waiting)
    return CompanyPushSummary(plan, backlog)


def push_companies(cache: Cache, client: HubSpot, names: Mapping[str, str], *,
                   company_ids: Sequence[str] | None = None, run_id: int | None = None,
                   retry_failed: bool = False, concurrency: int = 8,
                   after_send: AfterSend | None = None) -> CompanyPushSummary:
    """Resend what an earlier push left, then write every company whose values changed.
    `after_send(batch_id, company_ids)` runs after each batch's HTTP call, before its answer
    is recorded (a seam for crash tests)."""
    summary = plan_company_push(cache.conn, names, retry_failed=retry_failed,
                                company_ids=company_ids)
    sender = Sender(cache, client, COMPANIES, summary, run_id=run_id, concurrency=concurrency,
                    after_send=after_send)
    backlog = summary.backlog
    if backlog.resend:
        sender.claim_backlog(backlog.resend)
        sender.drain()
        settled = sorted(backlog.records - sender.unfinished_records())
        if settled:  # their scores may have moved since: plan them again
            summary.plan.absorb(plan_companies(cache.conn, names, company_ids=settled))
    sender.send([summary.plan.entries()])
    summary.companies_written = sender.finish()
    return summary

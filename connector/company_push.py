"""Company push: company scores → `company_outbox` → batch updates of ≤ 100 → `company_pushed`.

The outbox protocol is connector/outbox.py's, the contact push's own: rows marked `sent`
before each call, recorded per company after it (207s, rejections, retries), resent first
after a crash; non-retriable failures wait for `leadsync push --retry-failed`. A company takes
one write. This module is the company side: the plan (desired values diffed against the last
pull or the ledger) and the summary.

The tables are the company twins of `outbox` and `pushed` (cache/outboxes.py `COMPANIES`):
company ids and contact ids come from different id spaces, and the contact push is planned
from the contact tables alone. The plan is read in cache/company_write_plan.py, where
`simulate --company-model` reads it too.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from cache.company_write_plan import CompanyPlan, plan_companies
from cache.database import Cache
from cache.outboxes import COMPANIES, Backlog, read_backlog
from connector.client import BATCH_LIMIT, HubSpot
from connector.outbox import (AfterSend, Entry, Overflow, Sender, Sent, backlog_lines, guardrail,
                              too_many_changes)
from foundation.errors import NotSetUp
from mappings.company_writeback import company_property_definitions
from mappings.writeback import definition_mismatch


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


def plan_company_push(conn: sqlite3.Connection, names: Mapping[str, str], *,
                      retry_failed: bool = False,
                      company_ids: Sequence[str] | None = None) -> CompanyPushSummary:
    """What `push_companies` would send, for `push --dry-run`: the backlog, then the plan."""
    ids = None if company_ids is None else sorted({str(i) for i in company_ids})
    backlog = read_backlog(conn, COMPANIES, retry_failed=retry_failed, ids=ids)
    plan = plan_companies(conn, names, company_ids=ids, exclude=backlog.waiting)
    return CompanyPushSummary(plan, backlog)


def company_guardrail(summary: CompanyPushSummary, max_changes: int | None) -> Overflow | None:
    """The company push's guardrail over a plan (`plan_company_push`): the companies it would
    write, backlog resends included, against `max_changes` (None: no limit)."""
    return guardrail(COMPANIES, summary.backlog, (c.company_id for c in summary.plan.changes),
                     max_changes, "--max-company-changes")


def push_companies(cache: Cache, client: HubSpot, names: Mapping[str, str], *,
                   company_ids: Sequence[str] | None = None, run_id: int | None = None,
                   retry_failed: bool = False, max_changes: int | None = None,
                   concurrency: int = 8, after_send: AfterSend | None = None
                   ) -> CompanyPushSummary:
    """Resend what an earlier push left, then write every company whose values changed.
    Raises TooManyChanges, having sent nothing, when more than `max_changes` companies would
    be written. `after_send(batch_id, company_ids)` runs after each batch's HTTP call, before
    its answer is recorded (a seam for crash tests)."""
    summary = plan_company_push(cache.conn, names, retry_failed=retry_failed,
                                company_ids=company_ids)
    over = company_guardrail(summary, max_changes)
    if over is not None:
        raise too_many_changes([over])
    return send_companies(cache, client, names, summary, run_id=run_id,
                          concurrency=concurrency, after_send=after_send)


def send_companies(cache: Cache, client: HubSpot, names: Mapping[str, str],
                   summary: CompanyPushSummary, *, run_id: int | None = None,
                   concurrency: int = 8, after_send: AfterSend | None = None
                   ) -> CompanyPushSummary:
    """Send a plan (`plan_company_push`, its guardrail checked by the caller): the backlog
    first, then the changes; fills in and returns `summary`."""
    sender = Sender(cache, client, COMPANIES, summary, run_id=run_id, concurrency=concurrency,
                    after_send=after_send)
    backlog = summary.backlog
    if backlog.resend:
        sender.claim_backlog(backlog.resend)
        sender.drain()
        settled = sorted(backlog.records - sender.unfinished_records())
        if settled:  # their scores may have moved since: plan them again
            summary.plan.absorb(plan_companies(cache.conn, names, company_ids=settled))
    sender.send([entries(summary.plan)])
    summary.companies_written = sender.finish()
    return summary


def entries(plan: CompanyPlan) -> list[Entry]:
    """A plan's changes as outbox entries, each with the history row it covers."""
    return [Entry(c.company_id, (c.write,), plan.history_upto.get(c.company_id))
            for c in plan.changes]

"""The company push plan, read from the cache only (zero API calls): what a company push sends.

`push` (connector/company_push.py), `push --dry-run` and `simulate --company-model` read it
here, so the plan a user is shown is the plan that is sent: each company's desired values
(mappings/company_writeback.py) diffed against what HubSpot has (the last pull, or the
company pushed ledger where newer).
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping, Sequence

from mappings.company_writeback import CompanyChange, plan_company
from mappings.writeback import current_values

_CHUNK = 500
BATCH_LIMIT = 100  # companies per batch update (HubSpot's limit; connector/client.py agrees)
OPEN = ('pending', 'sent', 'failed')  # company_outbox rows a push resends or holds back


@dataclass
class CompanyPlan:
    """Every company write a push would make, and what it left alone."""

    changes: list[CompanyChange] = field(default_factory=list)
    unchanged: int = 0
    skipped: int = 0  # archived, merged or not cached
    history_upto: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def write_calls(self) -> int:
        """ceil(companies to write / 100): the batch calls that write them."""
        return -(-len(self.changes) // BATCH_LIMIT)

    def by_property(self) -> dict[str, int]:
        """How many companies each property would be written to."""
        counts: dict[str, int] = {}
        for change in self.changes:
            for name in change.write:
                counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items()))

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


def _current_sql(names: Mapping[str, str], key: str) -> str:
    """Columns: c.pulled_at, the watched properties (a JSON array), the newer ledger rows."""
    extract = ("json_extract(c.properties, " + ", ".join(f"'$.\"{n}\"'" for n in
                                                         _watched(names)) + ")")
    return f"""c.pulled_at, {extract},
               (SELECT json_group_object(p.property, json_array(p.value, p.pushed_at))
                FROM company_pushed p WHERE p.company_id = {key}
                  AND (c.pulled_at IS NULL OR p.pushed_at > c.pulled_at))"""


def _watched(names: Mapping[str, str]) -> list[str]:
    watched = list(names.values())
    return watched if len(watched) != 1 else watched * 2


def _current(names: Mapping[str, str], pulled_at: str | None, values: str,
             ledger: str | None) -> dict[str, str]:
    pulled = dict(zip(_watched(names), json.loads(values)))
    newer = {k: tuple(v) for k, v in json.loads(ledger).items()} if ledger else {}
    return current_values(pulled, pulled_at, newer)


def plan_companies(conn: sqlite3.Connection, names: Mapping[str, str], *,
                   company_ids: Sequence[str] | None = None,
                   exclude: Iterable[str] = ()) -> CompanyPlan:
    """Desired values of scored companies diffed against what HubSpot has (pull or ledger)."""
    plan, skip = CompanyPlan(), set(exclude)
    sql = f"""
        SELECT s.company_id, s.total, s.grade, s.reasons, c.id IS NOT NULL, c.archived,
               c.merged_into, {_current_sql(names, 's.company_id')},
               (SELECT max(h.id) FROM company_score_history h WHERE h.company_id = s.company_id)
        FROM company_scores s LEFT JOIN companies c ON c.id = s.company_id"""
    for rows in _chunks(conn, sql, "s.company_id", company_ids):
        for (company_id, total, grade, reasons, known, archived, merged, pulled_at, values,
             ledger, history_id) in rows:
            if company_id in skip:
                continue
            if not known or archived or merged:
                plan.skipped += 1
                continue
            change = plan_company(company_id, total, grade, reasons,
                                  _current(names, pulled_at, values, ledger), names)
            if change is None:
                plan.unchanged += 1
            else:
                plan.changes.append(change)
                plan.history_upto[company_id] = history_id
    return plan


def company_current_values(conn: sqlite3.Connection, names: Mapping[str, str],
                           company_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """What HubSpot holds in the company write-back properties of these cached companies
    (the last pull, or the pushed ledger where newer), as plan_companies reads it."""
    sql = f"SELECT c.id, {_current_sql(names, 'c.id')} FROM companies c"
    found = {}
    for rows in _chunks(conn, sql, "c.id", company_ids):
        for company_id, pulled_at, values, ledger in rows:
            found[company_id] = _current(names, pulled_at, values, ledger)
    return found


def open_companies(conn: sqlite3.Connection) -> set[str]:
    """Companies with unfinished company_outbox rows: a push resends (or holds) them first."""
    return {r[0] for r in conn.execute(
        f"SELECT DISTINCT company_id FROM company_outbox WHERE status IN {OPEN}")}


def _chunks(conn: sqlite3.Connection, sql: str, key: str,
            ids: Sequence[str] | None) -> Iterator[list[tuple]]:
    if ids is None:
        yield conn.execute(f"{sql} ORDER BY {key}").fetchall()
        return
    ids = sorted(set(ids))
    for start in range(0, len(ids), _CHUNK):
        part = ids[start:start + _CHUNK]
        yield conn.execute(f"{sql} WHERE {key} IN ({','.join('?' * len(part))}) "
                           f"ORDER BY {key}", part).fetchall()

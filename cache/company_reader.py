"""Cached companies as the company model reads them: properties, contacts, stored score.

A company's members are its associated live contacts (any association label, each once),
with the properties the model's buying-group conditions read, the contact's stored engagement
score (`scores.engagement` of one contact model, the one in charge: contacts are scored first) and, when a condition reads
`days_since_last_engagement`, the time of its latest activity at or before as-of (events of
the model's activity kinds in `contact_events`, and its activity date properties).
A full rescore gathers the members during the contacts' pass instead (scoring/members.py)
and reads only the companies here.
"""
from __future__ import annotations

import json
from itertools import groupby
from typing import Any, Iterator, Sequence

from cache.database import Cache
from foundation.errors import ConfigError
from scoring.company import Member
from scoring.company_model import CompanyModel
from scoring.members import activity_dates, activity_kinds, days_since, member_names
from scoring.models import DEFAULT

ID_BATCH = 500
# (id, properties, members, stored score or None)
Row = tuple[str, dict, list[Member], "tuple | None"]


class CompanyReader:
    """Reads live companies with their members and stored score, in id order."""

    def __init__(self, cache: Cache, model: CompanyModel, now: float, *,
                 engagement_model: str = DEFAULT, contacts: Sequence[str] = (),
                 companies: Sequence[str] = ()) -> None:
        """`contacts`, `companies`: properties to read beyond the model's (a backtest's dates)."""
        self.conn, self.now = cache.conn, now
        # whose stored engagement is rolled up: scores hold a row per (contact, model)
        self.engagement_model = engagement_model
        self.company_names = tuple(sorted({*model.properties_used.get("companies", ()),
                                           "name", "domain", *companies}))
        self.kinds = activity_kinds(model)
        self.dates = activity_dates(model)
        self.recency = model.reads_recency
        self.contact_names = tuple(sorted({*member_names(model), *contacts}))
        self.with_members = True

    def companies(self, company_ids: Sequence[str] | None = None, *,
                  members: bool = True) -> Iterator[list[Row]]:
        """Lists of companies: all live ones, or the chosen ones, ID_BATCH at a time; without
        `members`, each with an empty member list (a full rescore gathered them already)."""
        self.with_members = members
        if company_ids is None:
            ids = [r[0] for r in self.conn.execute(
                "SELECT id FROM companies WHERE archived = 0 AND merged_into IS NULL ORDER BY id")]
        else:
            ids = sorted(set(company_ids))
        for start in range(0, len(ids), ID_BATCH):
            yield self._batch(ids[start:start + ID_BATCH])

    def _batch(self, ids: list[str]) -> list[Row]:
        marks = ",".join("?" * len(ids))
        companies = self.conn.execute(f"""
            SELECT c.id, json_extract(c.properties, {_marks(self.company_names)}),
                   s.model_name, s.model_version, s.fit, s.engagement, s.total, s.grade,
                   s.reasons, s.contacts
            FROM companies c LEFT JOIN company_scores s ON s.company_id = c.id
            WHERE c.archived = 0 AND c.merged_into IS NULL AND c.id IN ({marks})
            ORDER BY c.id""", [*_paths(self.company_names), *ids]).fetchall()
        members = {company: list(rows) for company, rows in groupby(
            self._members(ids, marks), key=lambda m: m[0])} if self.with_members else {}
        rows = []
        for company_id, values, *stored in companies:
            properties = dict(zip(self.company_names, json.loads(values)))
            rows.append((company_id, properties, [m[1] for m in members.get(company_id, [])],
                         tuple(stored) if stored[0] is not None else None))
        return rows

    def _members(self, ids: list[str], marks: str) -> Iterator[tuple[str, Member]]:
        latest, params = "NULL", []
        if self.recency and self.kinds:
            latest = f"""(SELECT max(e.occurred_at) FROM contact_events e
                WHERE e.contact_id = ct.id AND e.kind IN ({_quoted(self.kinds)})
                  AND e.occurred_at <= ?)"""
            params.append(self.now)
        # One row per (company, contact) before anything per contact is computed: a pair
        # usually has two association rows (the primary label and the plain one).
        rows = self.conn.execute(f"""
            SELECT m.company, ct.id, s.engagement,
                   json_extract(ct.properties, {_marks(self.contact_names)}), {latest}
            FROM (SELECT DISTINCT a.to_id AS company, a.from_id AS contact FROM associations a
                  WHERE a.to_type = 'companies' AND a.to_id IN ({marks})
                    AND a.from_type = 'contacts') m
            JOIN contacts ct ON ct.id = m.contact AND ct.archived = 0 AND ct.merged_into IS NULL
            LEFT JOIN scores s ON s.contact_id = ct.id AND s.model = ?
            ORDER BY m.company, ct.id""",
            [*_paths(self.contact_names), *params, *ids, self.engagement_model]).fetchall()
        for company_id, contact_id, engagement, values, last in rows:
            properties = dict(zip(self.contact_names, json.loads(values)))
            properties["id"] = contact_id
            days = days_since(properties, self.dates, last, self.now) if self.recency else None
            yield company_id, Member(contact_id, properties, engagement, days)


def companies_of(cache: Cache, contact_ids: Sequence[str]) -> list[str]:
    """The live companies associated with these contacts (not archived, not merged away: a
    contact's cached link to a merged company lasts until its links are read again)."""
    found: set[str] = set()
    ids = sorted(set(contact_ids))
    for start in range(0, len(ids), ID_BATCH):
        part = ids[start:start + ID_BATCH]
        found.update(r[0] for r in cache.conn.execute(
            f"SELECT DISTINCT a.to_id FROM associations a JOIN companies c ON c.id = a.to_id "
            f"WHERE a.from_type = 'contacts' AND a.to_type = 'companies' AND c.archived = 0 "
            f"AND c.merged_into IS NULL AND a.from_id IN ({','.join('?' * len(part))})", part))
    return sorted(found)


def contacts_of(cache: Cache, company_ids: Sequence[str]) -> list[str]:
    """The live contacts whose primary company (as the contact reader picks it) is one of
    these companies: those a contact rule reading `company.*` sees."""
    found: set[str] = set()
    ids = sorted(set(company_ids))
    for start in range(0, len(ids), ID_BATCH):
        part = ids[start:start + ID_BATCH]
        found.update(r[0] for r in cache.conn.execute(
            f"SELECT DISTINCT a.from_id FROM associations a JOIN contacts ct ON ct.id = a.from_id "
            f"WHERE a.from_type = 'contacts' AND a.to_type = 'companies' AND ct.archived = 0 "
            f"AND ct.merged_into IS NULL AND a.to_id IN ({','.join('?' * len(part))})", part))
    return sorted(found)


def find_company(cache: Cache, reference: str) -> str:
    """The id of the cached company `reference` names (an id or a domain)."""
    reference = reference.strip()
    if reference.isdigit():
        row = cache.conn.execute("SELECT id FROM companies WHERE id = ?", (reference,)).fetchone()
    else:
        domain = reference.lower().removeprefix("https://").removeprefix("http://")
        domain = domain.removeprefix("www.").rstrip("/")
        row = cache.conn.execute(
            "SELECT id FROM companies WHERE lower(domain) = ? ORDER BY archived, id LIMIT 1",
            (domain,)).fetchone()
    if row is None:
        raise ConfigError(f"no company {reference!r} in the cache; check the id or domain, "
                          f"or run `leadsync pull` first")
    return row[0]


def read_company(cache: Cache, model: CompanyModel, now: float, company_id: str, *,
                 engagement_model: str = DEFAULT) -> Row:
    """One live company as the company scorer sees it (for `explain --company`)."""
    for rows in CompanyReader(cache, model, now,
                              engagement_model=engagement_model).companies([company_id]):
        for row in rows:
            return row
    raise ConfigError(f"company {company_id} is archived or merged and is not scored")


def _paths(names: Sequence[str]) -> list[Any]:
    paths = [f'$."{n}"' for n in names]
    return paths if len(paths) != 1 else paths * 2


def _marks(names: Sequence[str]) -> str:
    return ", ".join("?" * max(2, len(names)))


def _quoted(names: Sequence[str]) -> str:
    return ",".join("'" + name.replace("'", "''") + "'" for name in names)

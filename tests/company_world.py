"""A sandbox, a cache and a client wired together for company write-back tests (real HTTP)."""
from __future__ import annotations

from dataclasses import dataclass

from writeback_world import SETTINGS

from cache.database import Cache, utcnow
from connector.client import HubSpot
from connector.company_push import CompanyPushSummary, push_companies
from connector.pull import pull
from connector.setup import setup
from mappings.company_writeback import desired_company_values
from mappings.streams import select
from sandbox import Sandbox

COMPANY_NAMES = {"score": "leadsync_company_score", "grade": "leadsync_company_grade",
                 "reasons": "leadsync_company_reasons"}
COMPANY_ROUTE = "POST /crm/v3/objects/companies/batch/update"
REASONS = '[["Contacts\' engagement (sum)","engagement",20.0,3]]'


@dataclass
class CompanyWorld:
    sb: Sandbox
    cache: Cache
    client: HubSpot

    def setup(self) -> None:
        setup(self.cache, self.client, SETTINGS.write_back, company_names=COMPANY_NAMES)

    def pull(self) -> None:
        pull(self.cache, self.client, select(("companies",),
                                             {"companies": tuple(COMPANY_NAMES.values())}))

    def live_ids(self) -> list[str]:
        return [r[0] for r in self.cache.conn.execute(
            "SELECT id FROM companies WHERE archived = 0 AND merged_into IS NULL "
            "ORDER BY CAST(id AS INTEGER)")]

    def score(self, ids: list[str], bump: float = 0.0) -> None:
        """A score row per company and a history row each, as the company rescore stores
        them; `bump` moves every total (a rescore that changed them all)."""
        now = utcnow()
        rows = [(company_id, now, 10.0, 20.0 + index % 50, 30.0 + index % 50 + bump,
                 ("A1", "B2", "C3")[index % 3], REASONS, now)
                for index, company_id in enumerate(ids)]
        with self.cache.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO company_scores (company_id, model_name, model_version, "
                "as_of, fit, engagement, total, grade, reasons, contacts, scored_at) "
                "VALUES (?, 'test', '1', ?, ?, ?, ?, ?, ?, 3, ?)", rows)
            conn.executemany(
                "INSERT INTO company_score_history (company_id, changed_at, as_of, model_name, "
                "model_version, trigger, new_total, new_grade) "
                "VALUES (?, ?, ?, 'test', '1', 'score', ?, ?)",
                [(r[0], now, now, r[4], r[5]) for r in rows])

    def push(self, **options) -> CompanyPushSummary:
        options.setdefault("concurrency", 1)
        return push_companies(self.cache, self.client, COMPANY_NAMES, **options)

    def desired(self) -> dict[str, dict[str, str]]:
        return {r[0]: desired_company_values(r[1], r[2], r[3], COMPANY_NAMES)
                for r in self.cache.conn.execute(
                    "SELECT company_id, total, grade, reasons FROM company_scores")}

    def hubspot(self, company_id: str) -> dict[str, str]:
        return self.sb.portal.get("companies", company_id).properties

    def assert_hubspot_has_desired_values(self, skip: frozenset[str] = frozenset()) -> None:
        for company_id, want in self.desired().items():
            if company_id in skip:
                continue
            have = self.hubspot(company_id)
            assert {k: have.get(k, "") for k in want} == want, company_id

    def write_calls(self) -> int:
        return self.sb.stats()["by_route"].get(COMPANY_ROUTE, 0)

    def outbox(self) -> list[tuple]:
        return self.cache.conn.execute(
            "SELECT company_id, status, attempts, error, retriable FROM company_outbox "
            "ORDER BY id").fetchall()

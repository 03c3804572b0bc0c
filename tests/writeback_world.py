"""A sandbox, a cache and a client wired together for write-back tests (real HTTP)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_none

from cache.catalog import lifecycle_policy
from cache.database import Cache, utcnow
from connector import failures
from connector.client import HubSpot
from connector.pull import pull
from connector.push import PushSummary, push
from connector.ratelimit import Budget, Limiter
from connector.setup import setup
from flows.sync import write_back_extra
from foundation.settings import Settings
from mappings.streams import select
from mappings.writeback import DesiredScore, LifecyclePolicy, desired_values, names_of
from sandbox import Sandbox

SETTINGS = Settings()
NAMES = names_of(SETTINGS.write_back)
BATCH_ROUTE = "POST /crm/v3/objects/contacts/batch/update"


def make_client(sb: Sandbox, *, concurrency: int = 8, window: float = 10.0) -> HubSpot:
    """`window`: the rolling window's seconds (a 429 waits it out; tests of 429s shorten it)."""
    retrying = Retrying(retry=retry_if_exception(failures.is_retriable), wait=wait_none(),
                        stop=stop_after_attempt(4), reraise=True)
    return HubSpot(base_url=sb.base_url, token=sb.token,
                   budget=Budget(Limiter(190, window), Limiter(5, 1.0)),
                   concurrency=concurrency, retrying=retrying)


@dataclass
class World:
    sb: Sandbox
    cache: Cache
    client: HubSpot
    managed: tuple[str, ...] = ("subscriber", "lead", "marketingqualifiedlead")
    demotable: tuple[str, ...] = ()
    scores: dict[str, DesiredScore] = field(default_factory=dict)

    def setup(self) -> None:
        setup(self.cache, self.client, SETTINGS.write_back, model_stages=self.managed)

    def pull(self) -> None:
        pull(self.cache, self.client, select(("contacts",), write_back_extra(SETTINGS)))

    def live_ids(self) -> list[str]:
        return [r[0] for r in self.cache.conn.execute(
            "SELECT id FROM contacts WHERE archived = 0 AND merged_into IS NULL ORDER BY CAST(id AS INTEGER)")]

    def stage(self, contact_id: str) -> str | None:
        return self.sb.portal.get("contacts", contact_id).properties.get("lifecyclestage")

    def score(self, contact_id: str, *, total: float = 50.0, fit: float = 20.0,
              engagement: float = 30.0, grade: str | None = "B2", stage: str | None = None,
              inactive: bool = False, reasons: list | None = None,
              changed_at: str = "2026-11-01T09:00:00.000Z") -> DesiredScore:
        """Write a score row and its history row, as rescoring would."""
        reasons = reasons if reasons is not None else [{"rule": "Meeting booked", "points": 25.0}]
        previous = self.cache.conn.execute("SELECT total, grade, stage FROM scores WHERE contact_id = ?",
                                           (contact_id,)).fetchone()
        with self.cache.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO scores (contact_id, model_name, model_version, as_of, fit, "
                "engagement, total, grade, stage, inactive, reasons, scored_at) "
                "VALUES (?, 'test', '1', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (contact_id, changed_at, fit, engagement, total, grade, stage, int(inactive),
                 json.dumps(reasons), utcnow()))
            conn.execute(
                "INSERT INTO score_history (contact_id, changed_at, as_of, model_name, model_version, "
                "trigger, old_total, new_total, old_grade, new_grade, old_stage, new_stage, reasons) "
                "VALUES (?, ?, ?, 'test', '1', 'score', ?, ?, ?, ?, ?, ?, ?)",
                (contact_id, changed_at, changed_at, *(previous[0:1] if previous else (None,)), total,
                 previous[1] if previous else None, grade, previous[2] if previous else None, stage,
                 json.dumps(reasons)))
        score = DesiredScore(contact_id, total, fit, engagement, grade, stage, inactive,
                             tuple(reasons), changed_at)
        self.scores[contact_id] = score
        return score

    def policy(self) -> LifecyclePolicy:
        return lifecycle_policy(self.cache.conn, self.managed, self.demotable)

    def push(self, **options) -> PushSummary:
        options.setdefault("policy", self.policy())
        policy = options.pop("policy")
        return push(self.cache, self.client, SETTINGS.write_back, policy, **options)

    def hubspot(self, contact_id: str) -> dict[str, str]:
        return self.sb.portal.get("contacts", contact_id).properties

    def assert_hubspot_has_desired_values(self) -> None:
        for contact_id, score in self.scores.items():
            want = desired_values(score, NAMES)
            have = self.hubspot(contact_id)
            assert {k: have.get(k, "") for k in want} == want, contact_id

    def write_calls(self) -> int:
        return self.sb.stats()["by_route"].get(BATCH_ROUTE, 0)

    def outbox(self) -> list[tuple]:
        return self.cache.conn.execute(
            "SELECT contact_id, properties, status, attempts, error, retriable FROM outbox ORDER BY id").fetchall()

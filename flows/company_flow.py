"""Company scores inside a run: after the contacts, before contacts that read the company score.

`CompanyStep` is built once per run from the model set (None without a company model: it is
`ModelSet.company`). Its `rescore` runs the order docs/model.md describes: the contacts'
rescore (every contact model) has already stored their engagement; companies are scored from
the engagement of the model in charge (`ModelSet.engagement_source`); contacts whose rules
(or segments) read `company.<score property>` are rescored again, by every model, for the
companies whose score changed. Its `push` writes the company properties after the contacts'
push.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from analysis.company_rescore import (CompanyRescoreSummary, check_no_cycle,
                                      check_segment_no_cycle, rescore_companies)
from analysis.rescore import RescoreSummary, rescore
from cache.company_reader import companies_of, contacts_of
from cache.database import Cache
from connector.client import HubSpot
from connector.company_push import (CompanyPushSummary, company_guardrail, plan_company_push,
                                    require_company_setup, send_companies)
from connector.outbox import Overflow
from foundation.settings import Settings
from mappings.company_writeback import company_names
from scoring.company_model import CompanyModel
from scoring.members import MemberMarks
from scoring.models import ModelSet


@dataclass
class CompanyRun:
    """What the company step of one run did."""

    score: CompanyRescoreSummary
    contacts_again: RescoreSummary | None = None
    push: CompanyPushSummary | None = None

    def as_dict(self) -> dict:
        return {"score": self.score.as_dict(),
                "contacts_rescored_for_company_scores":
                    None if self.contacts_again is None else self.contacts_again.as_dict(),
                "push": None if self.push is None else self.push.as_dict(sample=20)}

    def render(self) -> str:
        line = (f"companies: {self.score.scored:,} scored, {self.score.changed:,} changed")
        if self.contacts_again is not None and self.contacts_again.scored:
            line += (f"; {self.contacts_again.scored:,} contacts rescored for their company's "
                     f"score ({self.contacts_again.changed:,} changed)")
        if self.push is not None:
            line += (f"; {self.push.companies_written:,} written in {self.push.write_calls:,} "
                     f"batch calls, {len(self.push.failed):,} failed")
            return "\n".join([line] + self.push.problems())
        return line


@dataclass(frozen=True)
class CompanyStep:
    """The company model of a run and the names it writes and reads."""

    model: CompanyModel
    names: dict[str, str]
    group: str
    reads_score: bool  # some contact rule reads company.<score or grade property>

    @classmethod
    def of(cls, settings: Settings, models: ModelSet) -> "CompanyStep | None":
        """The run's company step: the model set's company model (`load_models` loads it from
        `[scoring] company_model`), or None without one. ConfigError on a cycle."""
        if models.company is None:
            return None
        names = company_names(settings.company_write_back)
        score_names = (names["score"], names["grade"])
        read: set[str] = set()
        for contact in models.contacts:
            check_no_cycle(contact.model, score_names)
            read.update(contact.model.properties_used.get("companies", ()))
            if contact.segment is not None:
                read.update(contact.segment.company_names)
        check_segment_no_cycle(models.engagement_source, score_names)
        return cls(models.company, names, settings.write_back.group,
                   bool(read & set(score_names)))

    @property
    def overlay(self) -> dict[str, str]:
        """Company properties contact rules read from `company_scores` (the run's own score)."""
        return {self.names["score"]: "total", self.names["grade"]: "grade"}

    def require_setup(self, cache: Cache) -> None:
        require_company_setup(cache.conn, self.names, self.group)

    def marks(self, as_of: datetime) -> MemberMarks:
        """Where a full contacts' pass files the company model's members (pass it to
        `rescore(..., members=)` and then to `rescore` here)."""
        return MemberMarks(self.model, as_of)

    def rescore(self, cache: Cache, models: ModelSet, as_of: datetime, *, trigger: str,
                run_id: int | None, contact_ids: Sequence[str] | None = None,
                company_ids: Sequence[str] = (), marks: MemberMarks | None = None) -> CompanyRun:
        """Companies (all, or those of `contact_ids` plus `company_ids`), then the contacts
        that read a changed company's score. `marks`: the members the contacts' pass
        gathered (a full one), else the companies read their members."""
        wanted = None
        if contact_ids is not None:
            wanted = sorted(set(companies_of(cache, contact_ids)) | set(company_ids))
        scored = rescore_companies(cache, self.model, as_of, company_ids=wanted,
                                   trigger=trigger, run_id=run_id,
                                   engagement_model=models.engagement_source.name, marks=marks)
        again = None
        if self.reads_score and scored.changed_ids:
            again = rescore(cache, models, as_of, trigger=trigger, run_id=run_id,
                            contact_ids=contacts_of(cache, scored.changed_ids),
                            company_scores=self.overlay)
        return CompanyRun(scored, again)

    def push(self, cache: Cache, client: HubSpot, run: CompanyRun, *,
             run_id: int | None, company_ids: Sequence[str] | None = None,
             concurrency: int = 8, planned: CompanyPushSummary | None = None) -> None:
        run.push = self.write(cache, client, run_id=run_id, company_ids=company_ids,
                              concurrency=concurrency, planned=planned)

    def write(self, cache: Cache, client: HubSpot, *, run_id: int | None,
              company_ids: Sequence[str] | None = None, retry_failed: bool = False,
              concurrency: int = 8,
              planned: CompanyPushSummary | None = None) -> CompanyPushSummary:
        """Push the stored company scores that differ from HubSpot's (`leadsync push`), after
        what an earlier push left (`retry_failed`: non-retriable failures too). `planned`:
        the plan `guarded_plan` checked, sent as it is (else it is planned here, unchecked)."""
        if planned is None:
            planned = self.plan(cache, retry_failed=retry_failed, company_ids=company_ids)
        return send_companies(cache, client, self.names, planned, run_id=run_id,
                              concurrency=concurrency)

    def plan(self, cache: Cache, *, retry_failed: bool = False,
             company_ids: Sequence[str] | None = None) -> CompanyPushSummary:
        """What `write` would send (`push --dry-run`): no API call."""
        return plan_company_push(cache.conn, self.names, retry_failed=retry_failed,
                                 company_ids=company_ids)

    def guarded_plan(self, cache: Cache, max_changes: int | None, *, retry_failed: bool = False
                     ) -> tuple[CompanyPushSummary, tuple[Overflow, ...]]:
        """The plan, and the guardrail it trips (none or one). `push` and `sync` plan the
        companies before the contacts' push and hand it the tripped guardrail: the contacts'
        push raises it (with its own, if that trips too) before anything is sent."""
        planned = self.plan(cache, retry_failed=retry_failed)
        over = company_guardrail(planned, max_changes)
        return planned, () if over is None else (over,)

"""`leadsync score`: one locked, recorded rescore of the cache, in the order of a sync.

Contacts first (every model, analysis/rescore.py); then, with a company model, the companies
(all of them, or those of the named contacts) and the contacts whose rules read a changed
company's score (flows/company_flow.py). Nothing is pushed: `leadsync push` writes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from analysis.rescore import Progress, RescoreSummary, load_models, rescore
from cache.contact_reader import find_contact
from cache.database import open_cache
from cache.lock import run_lock
from flows.company_flow import CompanyRun, CompanyStep
from foundation.settings import Settings


@dataclass(frozen=True)
class ScoreRun:
    """What `leadsync score` did: the contacts' rescore, and the company step (None without a
    company model)."""

    contacts: RescoreSummary
    companies: CompanyRun | None = None

    def as_dict(self) -> dict[str, Any]:
        """The contacts' summary as before, plus `companies` when a company model is set."""
        data = self.contacts.as_dict()
        if self.companies is not None:
            again = self.companies.contacts_again
            data["companies"] = {
                **self.companies.score.as_dict(),
                "contacts_rescored_for_company_scores": None if again is None else {
                    "scored": again.scored, "changed": again.changed, "updated": again.updated,
                    "promoted": again.promoted, "demoted": again.demoted}}
        return data

    def render(self) -> str:
        text = self.contacts.render()
        if self.companies is None:
            return text
        lines = [text, self.companies.score.render()]
        again = self.companies.contacts_again
        if again is not None and again.scored:
            lines.append(f"  contacts rescored for their company's score: {again.scored:,} "
                         f"({again.changed:,} changed)")
        return "\n".join(lines)


def run_score(db_path: str, settings: Settings, as_of: datetime, *,
              contacts: Sequence[str] = (), wait: float = 0.0,
              progress: Progress | None = None) -> ScoreRun:
    """`leadsync score`: rescore all (or the named) contacts with every model of `settings`
    and, with a company model, their companies after them, under one lock and one run."""
    with run_lock(db_path, "score", wait=wait):
        cache = open_cache(db_path)
        try:
            models = load_models(settings, cache)
            company = CompanyStep.of(settings, models)
            ids = [find_contact(cache, reference) for reference in contacts] or None
            with cache.run("score") as run:
                marks = company.marks(as_of) if company is not None else None
                scored = rescore(cache, models, as_of, contact_ids=ids, run_id=run.id,
                                 progress=progress,
                                 company_scores=company.overlay if company else None,
                                 members=marks)
                companies = None
                if company is not None:
                    live = None if ids is None else sorted(set(ids) - set(scored.missing))
                    companies = company.rescore(cache, models, as_of, trigger="score",
                                                run_id=run.id, contact_ids=live, marks=marks)
                summary = ScoreRun(scored, companies)
                run.records = scored.scored
                run.details = summary.as_dict()
            return summary
        finally:
            cache.close()

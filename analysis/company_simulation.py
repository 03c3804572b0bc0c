"""`leadsync simulate --company-model`: a candidate company model against the stored company
scores on the cache, writing nothing.

"Before" is what a company rescore compares against: the stored `company_scores` rows. Only
when none is stored is the configured company model (if any) scored as of the same instant
instead. "After" is the candidate scored exactly as `leadsync score` scores companies: the same
reader (cache/company_reader.py), the same scorer (scoring/company.py) and the same rolled-up
engagement (the stored engagement of the contact model in charge), so the changes reported
are the history rows a rescore would write. What a push would then send comes from the
company push plan (cache/company_write_plan.py) against HubSpot's last known values.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from analysis.company_rescore import load_company
from cache.company_reader import CompanyReader
from cache.company_write_plan import (CompanyPlan, company_current_values, open_companies,
                                      plan_companies)
from cache.database import Cache, open_cache
from foundation.errors import ConfigError
from foundation.moments import iso
from foundation.settings import Settings
from mappings.company_writeback import company_names, plan_company
from scoring.company import company_scorer
from scoring.company_model import CompanyModel
from scoring.company_simulate import (CompanyComparison, CompanySide, CompanySimulation,
                                      render_companies)
from scoring.engine import epoch
from scoring.models import primary_of
from scoring.reasons import dumps as reasons_json


@dataclass
class CompanySimulationReport:
    """The company comparison, and what a push would send now and after the candidate."""

    simulation: CompanySimulation
    plan: CompanyPlan       # after a rescore with the candidate
    plan_now: CompanyPlan   # with the company scores stored now: push's own plan

    def as_dict(self) -> dict[str, Any]:
        data = self.simulation.as_dict()
        data["push"] = _plan_dict(self.plan)
        data["push_now"] = _plan_dict(self.plan_now)
        return data

    def render(self) -> str:
        now, after = self.plan_now, self.plan
        lines = [f"  {'':<44}{'now':>10}{'candidate':>12}",
                 f"  {'companies to update':<44}{len(now.changes):>10,}{len(after.changes):>12,}",
                 f"  {'batch write calls (100 companies each)':<44}{now.write_calls:>10,}"
                 f"{after.write_calls:>12,}"]
        old, new = now.by_property(), after.by_property()
        for name in sorted(old.keys() | new.keys()):
            lines.append(f"    {name:<42}{old.get(name, 0):>10,}{new.get(name, 0):>12,}")
        return render_companies(self.simulation, lines)


def _plan_dict(plan: CompanyPlan) -> dict[str, Any]:
    return {"companies": len(plan.changes), "unchanged": plan.unchanged,
            "skipped": plan.skipped, "write_calls": plan.write_calls,
            "by_property": plan.by_property()}


def run_company_simulate(db_path: str, settings: Settings, model_path: str, as_of: datetime, *,
                         movers: int = 10) -> CompanySimulationReport:
    """`leadsync simulate --company-model`: the candidate against the stored company scores on
    the cache at `db_path`, rolling up the engagement of the config's model in charge."""
    if db_path != ":memory:" and not Path(db_path).is_file():
        raise ConfigError(f"no cache at {db_path}; run `leadsync pull` first (or pass --db)")
    cache = open_cache(db_path)
    try:
        candidate = load_company(model_path, cache)
        current = (load_company(settings.company_model_path, cache)
                   if settings.company_model_path else None)
        return simulate_companies(cache, candidate, current, as_of,
                                  names=company_names(settings.company_write_back),
                                  engagement_model=primary_of(settings.models).name,
                                  movers=movers)
    finally:
        cache.close()


def simulate_companies(cache: Cache, candidate: CompanyModel, current: CompanyModel | None,
                       as_of: datetime, *, names: dict[str, str], engagement_model: str,
                       movers: int = 10) -> CompanySimulationReport:
    """Compare `candidate` with the stored company scores (or `current` scored now, if none
    is stored; without either, every company is new). `engagement_model`: the contact model
    whose stored engagement is rolled up (`ModelSet.engagement_source`)."""
    stored = _stored_labels(cache)
    when = iso(as_of)
    now = epoch(as_of)
    before_now = None
    if not stored and current is not None:
        before_now = _scored(cache, current, as_of, engagement_model)
        baseline = f"company model {current.label} (scored now: no company score is stored yet)"
    else:
        baseline = (" + ".join(f"stored company scores ({label})" for label in stored)
                    or "nothing (no company score is stored and no company model configured)")
    comparison = CompanyComparison(baseline, candidate.label, when, movers=movers)
    score = company_scorer(candidate, as_of)
    busy = open_companies(cache.conn)
    plan = CompanyPlan()
    reader = CompanyReader(cache, candidate, now, engagement_model=engagement_model)
    for rows in reader.companies():
        current_values = company_current_values(
            cache.conn, names, [r[0] for r in rows if r[0] not in busy])
        for company_id, properties, members, row in rows:
            result = score(properties, members)
            before = (before_now.get(company_id) if before_now is not None
                      else CompanySide.stored(row) if row is not None else None)
            comparison.add(company_id, before, CompanySide.of(result),
                           name=properties.get("name"), domain=properties.get("domain"))
            if company_id in busy:
                continue
            change = plan_company(company_id, result.total, result.grade,
                                  reasons_json(result.reasons), current_values[company_id], names)
            if change is None:
                plan.unchanged += 1
            else:
                plan.changes.append(change)
    plan_now = plan_companies(cache.conn, names, exclude=busy)
    plan.skipped = plan_now.skipped  # stored scores of archived or merged companies stay
    result = comparison.result()
    result.notes += _notes(cache, stored, when, engagement_model, len(busy))
    return CompanySimulationReport(result, plan, plan_now)


def _scored(cache: Cache, model: CompanyModel, as_of: datetime,
            engagement_model: str) -> dict[str, CompanySide]:
    score = company_scorer(model, as_of)
    reader = CompanyReader(cache, model, epoch(as_of), engagement_model=engagement_model)
    return {company_id: CompanySide.of(score(properties, members))
            for rows in reader.companies() for company_id, properties, members, _ in rows}


def _stored_labels(cache: Cache) -> list[str]:
    rows = cache.conn.execute(
        "SELECT model_name, model_version, as_of, COUNT(*) FROM company_scores "
        "GROUP BY model_name, model_version, as_of ORDER BY COUNT(*) DESC, as_of DESC").fetchall()
    shown = [f"{name} {version} as of {as_of}: {count:,}"
             for name, version, as_of, count in rows[:3]]
    if len(rows) > 3:
        shown.append(f"{len(rows) - 3} more model/as-of combinations")
    return shown


def _notes(cache: Cache, stored: list[str], when: str, engagement_model: str,
           busy: int) -> list[str]:
    notes = [f"contacts' engagement rolled up: the stored scores of contact model "
             f"{engagement_model!r} (the model in charge)"]
    if stored:
        other = cache.conn.execute("SELECT COUNT(*) FROM company_scores WHERE as_of != ?",
                                   (when,)).fetchone()[0]
        if other:
            notes.append(f"{other:,} stored company scores are from another as-of date, so the "
                         f"changes include the passage of time, not only the model; run "
                         f"`leadsync score` first to isolate the model change")
    if busy:
        notes.append(f"{busy:,} companies have unfinished company outbox rows from an earlier "
                     f"push; both push plans below leave them out (`leadsync push` resends "
                     f"them first)")
    return notes

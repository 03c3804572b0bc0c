"""Company backtests: companies scored as they were known at a past instant, then checked
for a conversion among their contacts. Pure.

The contact backtest's as-of rule (scoring/backtest.py `known_at`), applied to a company and
its members:

- a company created after `as_of` does not exist yet; its date properties later than
  `as_of` are unknown (removed); other properties keep today's values, as for contacts;
- its members then are its associated contacts that existed then, each as `known_at` sees
  it (later dates dropped, the lifecycle stage of then), with the engagement the contact
  backtest scored for it as of then (the model in charge) and the days since its last
  activity at or before `as_of` (the caller's reader computes them as of then);
- the company converts when one of its associated contacts converts in (as_of, as_of +
  horizon] by the contact backtest's definition (`Outcome`), including a contact created
  after `as_of` (the account converted); a company with a contact already converted at
  `as_of` is left out, as such a contact is.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Mapping, Sequence

from scoring.backtest import (Evaluation, known_before, bucket_text, group_text, number_or_dash,
                              evaluate, known_at, time_properties)
from scoring.company import Member, company_scorer
from scoring.company_model import CompanyModel
from scoring.engine import epoch
from scoring.outcomes import Outcome
from scoring.properties import to_epoch

LIMITATIONS = (
    "Associations are today's: the cache keeps no history of which contacts belonged to a "
    "company, so a contact that joined later (but existed then) counts as a member then.",
    "Company properties other than dates (industry, employee count) keep today's values, as "
    "contacts' do.",
)


@dataclass(frozen=True)
class CompanyBacktest:
    """How the company model's scores at `as_of` ranked the companies that then converted."""

    model: str
    engagement_model: str  # whose engagement as of then was rolled up
    population: Mapping[str, int]
    evaluation: Evaluation
    limitations: tuple[str, ...] = LIMITATIONS

    def as_dict(self) -> dict:
        return {"model": self.model, "engagement_model": self.engagement_model,
                "population": dict(self.population), "evaluation": self.evaluation.as_dict(),
                "limitations": list(self.limitations)}

    def render_lines(self) -> list[str]:
        """The company figures of the backtest text: AUC, lift, deciles, grades (the caller
        lists `limitations` with the contacts')."""
        pop, e = self.population, self.evaluation
        rate = "-" if e.base_rate is None else f"{e.base_rate:.1%}"
        lines = [f"Companies (company model {self.model}; contacts' engagement as of then "
                 f"from {self.engagement_model})",
                 f"  {pop['evaluated']:,} companies evaluated, {pop['converted']:,} converted "
                 f"(a contact converted; {rate}); left out: {pop['created_later']:,} created "
                 f"later, {pop['already_converted']:,} with a contact already converted; "
                 f"{pop['without_contacts']:,} evaluated had no contact then",
                 f"{'ROC AUC':<20}{number_or_dash(e.auc, '{:.3f}'):>24}",
                 f"{'top-decile lift':<20}{number_or_dash(e.top_decile_lift, '{:.2f}x'):>24}",
                 "Conversion by score decile (1 = highest): companies / converted / rate"]
        lines += [f"{f'  decile {b.index}':<20}{bucket_text(b):>24}" for b in e.deciles]
        if e.by_grade:
            lines.append("Conversion by grade: companies / converted / rate")
            lines += [f"{f'  {g.name}':<20}{group_text(e.by_grade, g.name):>24}"
                      for g in e.by_grade]
        return lines


def company_backtest(companies: Iterable[tuple[str, Mapping, Sequence[Member]]],
                     model: CompanyModel, as_of: datetime, horizon_days: int, *,
                     engagement: Mapping[str, float], engagement_model: str,
                     conversion: Outcome) -> CompanyBacktest:
    """Score every company (id, properties, members with today's properties) as known at
    `as_of` and evaluate against its contacts' conversions in (as_of, as_of + horizon_days].
    `engagement`: contact id -> its engagement score as of then (the contact backtest's)."""
    if horizon_days < 1:
        raise ValueError("the horizon must be at least one day")
    now = epoch(as_of)
    end = now + horizon_days * 86400.0
    times = time_properties(model)  # a company model types properties as a contact model does
    score = company_scorer(model, as_of)
    population = {"companies": 0, "created_later": 0, "already_converted": 0, "evaluated": 0,
                  "converted": 0, "without_contacts": 0}
    totals: list[float] = []
    grades: list[str | None] = []
    labels: list[bool] = []
    for _company_id, properties, members in companies:
        population["companies"] += 1
        created = to_epoch(properties.get("createdate"))
        if created is not None and created > now:
            population["created_later"] += 1
            continue
        then, already, converted = [], False, False
        for member in members:
            snap = known_at(member.properties, (), None, now, times)
            converted = converted or conversion.within(member.properties, now, end)
            if snap is None:
                continue
            already = already or conversion.already(member.properties, now,
                                                    snap.contact.get("lifecyclestage"))
            then.append(Member(member.contact_id, snap.contact,
                               engagement.get(member.contact_id), member.days_since))
        if already:
            population["already_converted"] += 1
            continue
        result = score(known_before(properties, now, times["companies"]), then)
        population["without_contacts"] += not then
        totals.append(result.total)
        grades.append(result.grade)
        labels.append(converted)
    population["evaluated"] = len(labels)
    population["converted"] = sum(labels)
    evaluation = evaluate(model.label, totals, labels,
                          grades=grades if model.grades is not None else None)
    return CompanyBacktest(model.label, engagement_model, population, evaluation)



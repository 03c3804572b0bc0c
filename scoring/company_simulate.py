"""Company simulation: what a candidate company model would change, company by company. Pure.

The company twin of scoring/simulate.py. A `CompanyComparison` is fed one company at a time
(its score before and after) and keeps what the report needs: the grade transition matrix,
both score distributions, the companies whose total moves most (with both sides' reasons),
and how many history rows a company rescore would write (total or grade moved, or no score
before).
"""
from __future__ import annotations

import heapq
from array import array
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from scoring.company import CompanyScore
from scoring.reasons import parse as parse_reasons
from scoring.simulate import (NONE, UNSCORED, Distribution, id_order, transition_matrix,
                              render_distributions, render_matrix, distribution,
                              side_dict)


@dataclass(frozen=True)
class CompanySide:
    """One company's score on one side of the comparison."""

    total: float
    fit: float
    engagement: float
    grade: str | None
    contacts: int
    reasons: tuple[tuple[str, str, float], ...] = ()  # (rule, section, points)

    @classmethod
    def of(cls, score: CompanyScore) -> CompanySide:
        return cls(score.total, score.fit, score.engagement, score.grade, score.contacts,
                   tuple((r.rule, r.section, r.points) for r in score.reasons))

    @classmethod
    def stored(cls, row: Sequence[Any]) -> CompanySide:
        """From a `company_scores` row: (model_name, model_version, fit, engagement, total,
        grade, reasons JSON, contacts)."""
        return cls(row[4], row[2], row[3], row[5], row[7],
                   tuple((r.rule, r.section, r.points) for r in parse_reasons(row[6])))

    def as_dict(self) -> dict:
        return side_dict(self)


@dataclass(frozen=True)
class CompanyMover:
    """A company whose total moves a lot, with both sides' rules."""

    company_id: str
    name: str | None
    domain: str | None
    before: CompanySide
    after: CompanySide

    @property
    def delta(self) -> float:
        return round(self.after.total - self.before.total, 1)

    def as_dict(self) -> dict:
        return {"company_id": self.company_id, "name": self.name, "domain": self.domain,
                "delta": self.delta, "before": self.before.as_dict(),
                "after": self.after.as_dict()}


@dataclass
class CompanySimulation:
    """Everything the company part of `leadsync simulate` reports (push plans: the caller's)."""

    baseline: str
    candidate: str
    as_of: str
    companies: int
    changed: int
    grades: dict[str, dict[str, int]]
    before: Distribution
    after: Distribution
    movers: list[CompanyMover]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"baseline": self.baseline, "candidate": self.candidate, "as_of": self.as_of,
                "companies": self.companies, "changed": self.changed, "grades": self.grades,
                "distribution": {"before": _distribution_dict(self.before),
                                 "after": _distribution_dict(self.after)},
                "movers": [m.as_dict() for m in self.movers], "notes": list(self.notes)}


def _distribution_dict(dist: Distribution) -> dict:
    """The distribution with its histogram counting companies (scoring/simulate.py's counts
    contacts)."""
    data = asdict(dist)
    data["histogram"] = [{"from": b["from"], "to": b["to"], "companies": b["contacts"]}
                         for b in dist.histogram]
    return data


class CompanyComparison:
    """Accumulates companies; `result()` summarises them."""

    def __init__(self, baseline: str, candidate: str, as_of: str, *, movers: int = 10) -> None:
        self.baseline, self.candidate, self.as_of = baseline, candidate, as_of
        self.top = movers
        self.grades: Counter = Counter()
        self.before_totals, self.after_totals = array("d"), array("d")
        self.heap: list[tuple] = []
        self.companies = self.changed = 0

    def add(self, company_id: str, before: CompanySide | None, after: CompanySide, *,
            name: str | None = None, domain: str | None = None) -> bool:
        """One company; True when a rescore would write it a history row."""
        self.companies += 1
        self.after_totals.append(after.total)
        if before is None:
            self.grades[(UNSCORED, after.grade or NONE)] += 1
        else:
            self.before_totals.append(before.total)
            self.grades[(before.grade or NONE, after.grade or NONE)] += 1
        changed = before is None or (before.total, before.grade) != (after.total, after.grade)
        self.changed += changed
        if before is not None and self.top > 0:
            mover = CompanyMover(company_id, name, domain, before, after)
            # Biggest |delta| first; ties go to the higher company id, so output is stable.
            item = ((abs(mover.delta), id_order(company_id)), company_id, mover)
            if len(self.heap) < self.top:
                heapq.heappush(self.heap, item)
            elif item[0] > self.heap[0][0]:
                heapq.heapreplace(self.heap, item)
        return changed

    def result(self) -> CompanySimulation:
        movers = [m for _, _, m in sorted(self.heap, key=lambda item: item[0], reverse=True)
                  if m.delta != 0]
        return CompanySimulation(
            baseline=self.baseline, candidate=self.candidate, as_of=self.as_of,
            companies=self.companies, changed=self.changed, grades=transition_matrix(self.grades),
            before=distribution(self.before_totals), after=distribution(self.after_totals),
            movers=movers)


# ---- text ---------------------------------------------------------------------------------------

def render_companies(sim: CompanySimulation, push_lines: Sequence[str] = ()) -> str:
    """The human report of the company comparison."""
    lines = [f"Candidate company model: {sim.candidate}", f"Before:    {sim.baseline}",
             f"As of {sim.as_of}: {sim.companies:,} companies, {sim.changed:,} would change "
             f"total or grade (the history rows a company rescore would write)"]
    lines += [f"note: {note}" for note in sim.notes]
    lines += ["", "Company grades (rows: before, columns: after)",
              *[line.replace("(no contacts)", "(no companies)")
                for line in render_matrix(sim.grades)]]
    lines += ["", "Company score distribution", *render_distributions(sim.before, sim.after)]
    if sim.movers:
        lines += ["", f"Companies that move most (top {len(sim.movers)})"]
        for mover in sim.movers:
            lines += _render_mover(mover)
    if push_lines:
        lines += ["", "What a push would send to companies: now, and after scoring with the "
                      "candidate", *push_lines]
    return "\n".join(lines)


def _render_mover(mover: CompanyMover) -> list[str]:
    before, after = mover.before, mover.after
    label = mover.name or mover.domain
    if mover.name and mover.domain:
        label = f"{mover.name}, {mover.domain}"
    who = f"company {mover.company_id}" + (f" ({label})" if label else "")
    lines = [f"  {who}: {before.total:g} -> {after.total:g} ({mover.delta:+g})",
             f"    {'':<44}{'before':>22}{'after':>22}"]

    def row(text: str, left: str, right: str) -> str:
        text = text if len(text) <= 44 else text[:43] + "…"
        return f"    {text:<44}{left:>22}{right:>22}"

    lines.append(row("total = fit + engagement",
                     f"{before.total:g} = {before.fit:g} + {before.engagement:g}",
                     f"{after.total:g} = {after.fit:g} + {after.engagement:g}"))
    lines.append(row("grade", before.grade or "-", after.grade or "-"))
    left = {(r, s): p for r, s, p in before.reasons}
    right = {(r, s): p for r, s, p in after.reasons}
    for rule, section in dict.fromkeys([*left, *right]):
        old, new = left.get((rule, section)), right.get((rule, section))
        lines.append(row(f"{section}: {rule}", "" if old is None else f"{old:+g}",
                         "" if new is None else f"{new:+g}"))
    return lines

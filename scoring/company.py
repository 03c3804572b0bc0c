"""Company scores: a company model compiled once per as-of, then applied per company. Pure.

`company_scorer(model, as_of)(company, members)` scores one company from its properties and
its associated contacts (`Member`: properties, engagement score, days since last activity).
It is two steps, `company_marks`: each member reduced to its `Mark` (engagement, and which
buying-group rules it matches), then the company scored from its marks. A full rescore marks
contacts a chunk at a time as the contacts' pass reads them (`mark_chunk`, the conditions as
masks, as the batch scorer tests rules); a per-company one (webhooks, `explain --company`)
marks the members it reads one by one (`mark`); both score with `score_marks`, and
tests/analysis/test_company_members.py checks the two markings agree. The order:

    fit rules (the contact engine's conditions and tables, on company properties) → fit
    min/max; contacts' engagement (each up to contact_cap) → sum | max | top N → cap →
    buying-group rules (matching contacts × points, capped; or the band of their count) →
    engagement min/max → total = fit + engagement → model min/max → grade.
"""
from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from scoring.batch import Chunk, Frame, compile_mask
from scoring.conditions import (Context, Field, compile_condition, email_domain,
                                placeholders_as_missing)
from scoring.company_model import CompanyModel, Rollup, company_resolver, member_resolver
from scoring.engine import Reason, _bounded, _capped, epoch, rule_context
from scoring.inputs import Facts
from scoring.model import FREE_EMAIL, Rule
from scoring.properties import NUMBER, to_number
from scoring.tables import Table, compile_table, number_text


class Member(NamedTuple):
    """One contact of a company as the company model sees it."""

    contact_id: str
    properties: Mapping[str, Any]
    engagement: float | None  # its engagement score (None: not scored)
    days_since: float | None = None  # since its last activity (None: none, or not read)


class CompanyScore(NamedTuple):
    """What a company scores as of one instant. Numbers are rounded to 0.1."""

    fit: float
    engagement: float
    total: float
    grade: str | None
    reasons: tuple[Reason, ...]
    contacts: int

    def to_dict(self) -> dict[str, Any]:
        data = self._asdict()
        data["reasons"] = [r._asdict() for r in self.reasons]
        return data


def score_company(company: Mapping[str, Any], members: Sequence[Member], model: CompanyModel,
                  as_of: datetime) -> CompanyScore:
    """Score one company (HubSpot property name -> string) as of `as_of`."""
    return company_scorer(model, as_of)(company, members)


# What a company's score needs of one member: its engagement (None: not scored) and, per
# buying-group rule in model order, whether the member matches it.
Mark = tuple["float | None", tuple[bool, ...]]


def company_scorer(model: CompanyModel, as_of: datetime) -> Callable[..., CompanyScore]:
    """The model compiled for `as_of`: f(company, members) -> CompanyScore."""
    return _compiled(model, as_of).score


def company_marks(model: CompanyModel, as_of: datetime) -> "_Compiled":
    """The model compiled for `as_of`, in two steps: `.mark(member)` or, for a chunk of
    contacts, `.mark_chunk(chunk, engagement, days)` -> Marks; `.score_marks(company,
    marks)` -> CompanyScore. A full rescore marks each contact once as it passes
    (scoring/members.py) and scores companies from the marks; `company_scorer` is the same
    two steps over a company's members."""
    return _compiled(model, as_of)


@lru_cache(maxsize=8)
def _compiled(model: CompanyModel, as_of: datetime) -> "_Compiled":
    return _Compiled(model, epoch(as_of))


class _Compiled:
    def __init__(self, model: CompanyModel, now: float) -> None:
        self.model = model
        types = model.types()
        company_ctx = Context(company_resolver(types), model.lists, now)
        self.fit_rules = [_fit_rule(rule, rule_context(company_ctx, rule), now)
                          for rule in model.fit.rules]
        member_ctx = Context(member_resolver(types, model.lists.get("free_email", FREE_EMAIL)),
                             model.lists, now)
        self.groups = []
        self.masks: list[Callable[[Frame], Any]] = []  # the groups' tests, on a chunk
        self.free = model.lists.get("free_email", FREE_EMAIL)
        for group in model.groups:
            ctx = member_ctx._replace(case_sensitive=True) if group.case_sensitive else member_ctx
            test = compile_condition(group.when, ctx, "when")
            self.masks.append(compile_mask(group.when, ctx, "when"))
            bands = None
            if group.bands:
                bands = compile_table(group.name, Table("contacts", bands=group.bands),
                                      _COUNT, now)
            self.groups.append((group, test, bands))

    def mark(self, member: Member) -> Mark:
        if not self.groups:
            return member.engagement, ()
        facts = _facts(member)
        return member.engagement, tuple(bool(test(facts)) for _, test, _ in self.groups)

    def mark_chunk(self, chunk: Chunk, engagement: Sequence[float | None],
                   days: Sequence[float | None]) -> list[Mark]:
        """Every contact of a chunk as its Mark (`mark`'s batch twin: the groups' conditions
        as masks over the chunk's columns, as the batch scorer tests rules)."""
        if not self.masks:
            return [(engaged, ()) for engaged in engagement]
        emails = chunk.contacts.get("email") or [None] * chunk.size
        domains: list = []

        def domain_list() -> list:
            if not domains:
                domains.extend(email_domain(e) for e in emails)
            return domains

        frame = Frame(chunk, {
            "days_since_last_engagement": lambda: list(days),
            "engagement": lambda: list(engagement),
            "email_domain": domain_list,
            "is_free_email": lambda: [None if d is None else d in self.free
                                      for d in domain_list()]})
        matches = zip(*[mask(frame).tolist() for mask in self.masks])
        return list(zip(engagement, matches))

    def score(self, company: Mapping[str, Any], members: Sequence[Member]) -> CompanyScore:
        return self.score_marks(company, [self.mark(member) for member in members])

    def score_marks(self, company: Mapping[str, Any], marks: Sequence[Mark]) -> CompanyScore:
        model, reasons = self.model, []
        fit = 0.0
        for run in self.fit_rules:
            found = run(company)
            if found is not None:
                points, occurrences, name = found
                reason = Reason(name, "fit", round(points, 1), occurrences)
                fit += reason.points
                reasons.append(reason)
        fit = _bounded(round(fit, 1), "fit", model.fit.min, model.fit.max, reasons)
        engagement = 0.0
        if model.rollup is not None:
            found = _rollup(model.rollup, [engaged for engaged, _ in marks])
            if found is not None:
                reasons.append(Reason(model.rollup.reason, "engagement", found[0], found[1]))
                engagement += found[0]
        if self.groups:
            for i, (group, _, bands) in enumerate(self.groups):
                count = sum(1 for _, matches in marks if matches[i])
                found = _group_points(group, count, bands)
                if found is not None:
                    reasons.append(Reason(found[0], "engagement", found[1], count))
                    engagement += found[1]
        engagement = _bounded(round(engagement, 1), "engagement", model.engagement_min,
                              model.engagement_max, reasons)
        total = _bounded(round(fit + engagement, 1), "total", model.min, model.max, reasons)
        grade = None
        grades = model.grades
        if grades is not None:
            grade = ("A" if fit >= grades.a else "B" if fit >= grades.b else "C") + (
                "1" if engagement >= grades.one else "2" if engagement >= grades.two else "3")
        return CompanyScore(fit, engagement, total, grade, tuple(reasons), len(marks))


_COUNT = Field("contacts", NUMBER, lambda count: count)


def _fit_rule(rule: Rule, ctx: Context, now: float) -> Callable:
    """run(company) -> (points, occurrences, reason name) | None: the engine's fit semantics."""
    guard = compile_condition(rule.when, ctx, "when") if rule.when is not None else None
    if rule.table is not None:
        field = ctx.resolve(rule.table.input, rule.table.reads)
        lookup, get = compile_table(rule.name, rule.table, field, now), field.get

        def table_rule(company: Mapping[str, Any]) -> tuple[float, int, str] | None:
            if guard is not None and not guard(company):
                return None
            row = lookup(get(company))
            return None if row is None else (row[1], 1, row[0])
        return table_rule
    points, cap, unit, name = rule.points, rule.cap, rule.unit, rule.name
    per = clean = None
    if rule.per is not None:
        field = ctx.resolve(rule.per, "per")
        per, clean = field.get, placeholders_as_missing(field)

    def plain(company: Mapping[str, Any]) -> tuple[float, int, str] | None:
        if not guard(company):
            return None
        value, occurrences = points, 1
        if per is not None:
            units = to_number(clean(per(company)))
            if units is None or units / unit < 1:
                return None
            occurrences = int(units / unit)
            value = points * occurrences
        return _capped(value, points, cap), occurrences, name
    return plain


def _rollup(rollup: Rollup, engagements: Sequence[float | None]) -> tuple[float, int] | None:
    """(points, contacts counted) of the contacts' engagement, or None when none engaged."""
    values = [e for e in engagements if e is not None and e > 0]
    if not values:
        return None
    if rollup.contact_cap is not None:
        values = [min(v, rollup.contact_cap) for v in values]
    if rollup.how == "max":
        values = [max(values)]
    elif rollup.how == "top":
        values = sorted(values, reverse=True)[:rollup.top]
    total = math.fsum(values)
    if rollup.cap is not None:
        total = min(total, rollup.cap)
    return round(total, 1), len(values)


def _group_points(group: Any, count: int, bands: Callable | None) -> tuple[str, float] | None:
    """(reason name, points) of a buying-group rule for `count` matching contacts."""
    if bands is not None:
        row = bands(count)
        return None if row is None else (f"{row[0]} contacts", round(row[1], 1))
    if count == 0:
        return None
    return group.name, round(_capped(group.points * count, group.points, group.cap), 1)


def _facts(member: Member) -> Facts:
    facts = Facts(member.properties, {}, member.days_since)
    facts.engagement = member.engagement
    return facts


# ---- explanations ---------------------------------------------------------------------------

def explain_company(result: CompanyScore, model: CompanyModel, company_id: str,
                    company: Mapping[str, Any]) -> str:
    """Why a company scores what it does, in lines a RevOps person reads."""
    name = company.get("name") or company.get("domain") or ""
    title = f"Company {company_id}" + (f" ({name})" if name else "")
    grade = f", grade {result.grade}" if result.grade else ""
    lines = [f"{title}: {number_text(result.total)} = fit {number_text(result.fit)} + "
             f"engagement {number_text(result.engagement)}{grade} "
             f"(company model {model.label}, {result.contacts} contacts)"]
    for section in ("fit", "engagement", "total"):
        mine = [r for r in result.reasons if r.section == section]
        if not mine:
            continue
        lines.append(f"{section}:")
        for reason in mine:
            points = ("+" if reason.points >= 0 else "") + number_text(reason.points)
            lines.append(f"  {points:>7}  {reason.rule}{_count_text(reason)}")
    if len(lines) == 1:
        lines.append("  no rule fired")
    return "\n".join(lines)


def _count_text(reason: Reason) -> str:
    if reason.section != "engagement" or reason.occurrences == 0:
        return ""
    noun = "contact" if reason.occurrences == 1 else "contacts"
    return f" ({reason.occurrences} {noun})"

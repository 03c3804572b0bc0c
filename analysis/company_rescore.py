"""Company rescoring: cached companies and their contacts' engagement, into `company_scores`.

Runs after the contacts' rescore (it reads `scores.engagement`). Companies are scored in
batches by the per-company scorer (scoring/company.py); a batch's writes are one transaction:
`company_scores` rows that changed, and `company_score_history` rows where total or grade
changed. Same data, same model, same as-of: nothing is written.

The order of a run (docs/model.md, "Company models"): contacts → companies → contacts whose
rules read their company's score (`company.<score property>`), again, for the companies whose
score changed. The company score reads only contacts' engagement, and model validation keeps
contact engagement rules from reading the company score, so the second pass cannot change
what the companies read: no cycle.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Sequence

from cache.catalog import cached_catalog
from cache.company_reader import CompanyReader, find_company, read_company
from cache.database import Cache, utcnow
from foundation.errors import ConfigError
from foundation.moments import iso
from foundation.settings import Settings
from scoring import Model, ScoringError
from scoring.company import CompanyScore, company_marks, company_scorer, explain_company
from scoring.company_model import CompanyModel, load_company_model
from scoring.conditions import COMBINATORS, OPERATORS, is_namespace
from scoring.engine import epoch
from scoring.members import MemberMarks
from scoring.models import DEFAULT, ContactModel, primary_of
from scoring.reasons import dumps as reasons_json

_UPSERT = """
    INSERT INTO company_scores (company_id, model_name, model_version, as_of, fit, engagement,
                                total, grade, reasons, contacts, scored_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (company_id) DO UPDATE SET
        model_name = excluded.model_name, model_version = excluded.model_version,
        as_of = excluded.as_of, fit = excluded.fit, engagement = excluded.engagement,
        total = excluded.total, grade = excluded.grade, reasons = excluded.reasons,
        contacts = excluded.contacts, scored_at = excluded.scored_at"""
_HISTORY = """
    INSERT INTO company_score_history (company_id, changed_at, as_of, model_name, model_version,
                                       trigger, old_total, new_total, old_grade, new_grade,
                                       reasons, run_id)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


@dataclass(frozen=True)
class CompanyRescoreSummary:
    """What one company rescore did; `changed_ids`: companies whose total or grade moved."""

    model: str
    as_of: str
    trigger: str
    scored: int
    changed: int
    updated: int
    grades: dict[str, int] = field(default_factory=dict)
    changed_ids: tuple[str, ...] = ()
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["changed_ids"] = list(self.changed_ids)
        return data

    def render(self) -> str:
        grades = ", ".join(f"{g} {n:,}" for g, n in self.grades.items()) or "none"
        return (f"Scored {self.scored:,} companies with company model {self.model} as of "
                f"{self.as_of} in {self.seconds:.1f} s\n"
                f"  changed (total or grade; history rows): {self.changed:,}\n"
                f"  grades: {grades}")


def load_company(path: str, cache: Cache | None = None) -> CompanyModel:
    """The company model at `path`, checked against the cached catalog if any."""
    try:
        return load_company_model(path, catalog=cached_catalog(cache) if cache else None)
    except ScoringError as exc:
        raise ConfigError(str(exc)) from None


def check_no_cycle(contact_model: Model, score_properties: Sequence[str]) -> None:
    """Refuse a contact model whose engagement rules read the company score: the company
    score rolls up contacts' engagement, so that would be a cycle."""
    watched = {f"company.{name}" for name in score_properties}
    for rule in contact_model.engagement.rules:
        names = set(condition_names(rule.when)) | set(condition_names(rule.where))
        if rule.table is not None:
            names.add(rule.table.input)
        names.update(n for n in (rule.per,) if n)
        bad = sorted(names & watched)
        if bad:
            raise ConfigError(
                f"{contact_model.source}: engagement rule {rule.name!r} reads {bad[0]}, but the "
                f"company score is rolled up from contacts' engagement (a cycle); read the "
                f"company score in a fit rule or in [stages] instead")


def check_segment_no_cycle(contact_model: ContactModel, score_properties: Sequence[str]) -> None:
    """Refuse a segment (`applies_to`) reading the company score on the model whose engagement
    the company score rolls up: who that model scores would follow the company score (a cycle)."""
    if contact_model.segment is None:
        return
    watched = {f"company.{name}" for name in score_properties}
    bad = sorted(set(condition_names(dict(contact_model.segment.spec))) & watched)
    if bad:
        raise ConfigError(
            f"model {contact_model.name!r}: applies_to reads {bad[0]}, but the company score "
            f"is rolled up from this model's engagement (a cycle); read the company score in "
            f"a fit rule or in [stages] instead")


def condition_names(spec: Any, prefix: str = "") -> list[str]:
    """The property and input names a condition table reads (`company.x` as written)."""
    if not isinstance(spec, dict):
        return []
    names = []
    for key, value in spec.items():
        if key in COMBINATORS:
            for item in value if isinstance(value, list) else [value]:
                names += condition_names(item, prefix)
        elif is_namespace(key, value):
            names += condition_names(value, f"{prefix}{key}.")
        elif key not in OPERATORS:
            names.append(prefix + key)
    return names


def rescore_companies(cache: Cache, model: CompanyModel, as_of: datetime, *,
                      company_ids: Sequence[str] | None = None, trigger: str = "score",
                      run_id: int | None = None, engagement_model: str = DEFAULT,
                      marks: MemberMarks | None = None) -> CompanyRescoreSummary:
    """Score every live cached company (or just `company_ids`) and store what changed.
    Contacts' engagement is `engagement_model`'s stored score (the model set's model in
    charge, `ModelSet.engagement_source`). `marks`: the members a full contacts' pass just
    gathered (scoring/members.py; used when complete and every company is scored), instead
    of reading them again."""
    started = time.perf_counter()
    compiled = company_marks(model, as_of)
    mark, score_marks = compiled.mark, compiled.score_marks
    reader = CompanyReader(cache, model, epoch(as_of), engagement_model=engagement_model)
    gathered = marks if marks is not None and marks.complete and company_ids is None else None
    stamp = iso(as_of)
    scored = updated = 0
    grades: Counter = Counter()
    changed: list[str] = []
    for rows in reader.companies(company_ids, members=gathered is None):
        writes, history = [], []
        for company_id, properties, members, stored in rows:
            result = score_marks(properties, gathered.of(company_id) if gathered is not None
                                 else [mark(member) for member in members])
            scored += 1
            grades[result.grade or "none"] += 1
            new = (model.name, model.version, result.fit, result.engagement, result.total,
                   result.grade, reasons_json(result.reasons), result.contacts)
            if stored == new:
                continue
            writes.append((company_id, *new[:2], stamp, *new[2:]))
            old_total, old_grade = (stored[4], stored[5]) if stored else (None, None)
            if stored is None or (old_total, old_grade) != (result.total, result.grade):
                changed.append(company_id)
                history.append((company_id, stamp, model.name, model.version, trigger,
                                old_total, result.total, old_grade, result.grade, new[6], run_id))
        if writes:
            now = utcnow()
            with cache.transaction() as conn:
                conn.executemany(_UPSERT, [(*w, now) for w in writes])
                conn.executemany(_HISTORY, [(h[0], now, *h[1:]) for h in history])
            updated += len(writes)
    return CompanyRescoreSummary(model.label, stamp, trigger, scored, len(changed), updated,
                                 dict(sorted(grades.items())), tuple(changed),
                                 round(time.perf_counter() - started, 3))


@dataclass(frozen=True)
class CompanyExplanation:
    """`leadsync explain --company`: a company's score computed now from the cache."""

    company_id: str
    model: str
    as_of: str
    score: CompanyScore
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"company_id": self.company_id, "model": self.model, "as_of": self.as_of,
                **self.score.to_dict()}


def explain_company_ref(cache: Cache, settings: Settings, reference: str,
                        as_of: datetime) -> CompanyExplanation:
    """Score one cached company (an id or domain) as of `as_of` and explain it; writes nothing.
    Its contacts' engagement is the stored score of the model in charge, as in a rescore."""
    if not settings.company_model_path:
        raise ConfigError("no company model configured; add company_model = \"<file>\" under "
                          "[scoring] in leadsync.toml (docs/model.md, \"Company models\")")
    model = load_company(settings.company_model_path, cache)
    company_id = find_company(cache, reference)
    company_id, properties, members, _ = read_company(
        cache, model, epoch(as_of), company_id, engagement_model=primary_of(settings.models).name)
    result = company_scorer(model, as_of)(properties, members)
    return CompanyExplanation(company_id, model.label, iso(as_of), result,
                              explain_company(result, model, company_id, properties))

"""Backtests: score contacts as they were at a past instant, then check who converted. Pure.

`known_at` is the as-of rule, one function so a test can plant future data and see it ignored:

- a contact created after `as_of` does not exist yet;
- engagements that occurred after `as_of` are dropped;
- date and datetime properties later than `as_of` are unknown (removed);
- the lifecycle stage is the latest stage whose `hs_v2_date_entered_<stage>` is ≤ `as_of`
  (a current stage with no entry date is taken to hold since the contact was created);
- the primary company is unknown if it was created after `as_of`; its later dates are dropped.

What cannot be rolled back (counters such as `hs_email_click`, `num_conversion_events`, page
views, and every non-date property such as a job title) keeps today's value: see LIMITATIONS.

A contact converts when it enters `opportunity` or `customer` in (as_of, as_of + horizon];
contacts already at opportunity or later at `as_of` are not evaluated. Another definition
(any stage, a dated condition, a static label) comes as an `Outcome` (scoring/outcomes.py).

One module at about the usual size on purpose: the as-of rule, the evaluation and its text
are read together when a figure looks wrong (the company backtest reuses all three).
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from scoring.engine import epoch, scorer
from scoring.metrics import (Bucket, CapacityCut, Confusion, Group, auc, auc_standard_error,
                             aucs_separated, capacity_cut, confusion, conversions_to_separate,
                             deciles, rates_by, top_decile_lift)
from scoring.model import STAGE_ORDER, Model
from scoring.outcomes import DEFAULT as DEFAULT_OUTCOME, Outcome
from scoring.properties import KNOWN_PROPERTIES, TIME_TYPES, to_epoch

CONVERSION_STAGES = ("opportunity", "customer")
MQL = "marketingqualifiedlead"
GRADE_ORDER = tuple(f"{letter}{number}" for letter in "ABC" for number in "123")
ENTERED = "hs_v2_date_entered_"
LIMITATIONS = (
    "Counters (e.g. hs_email_click, hs_analytics_num_page_views, num_conversion_events) and "
    "other non-date properties (job title, company size) keep today's values: HubSpot keeps no "
    "history of them, so rules on them see data from after the as-of date.",
    "Dates later than the as-of date are treated as unknown, not as their earlier value: "
    "a rule dated by recent_conversion_date misses a conversion that was recent then but "
    "was followed by a newer one.",
    "Archived and merged-away contacts are left out; a merge survivor carries the merged "
    "record's engagements.",
)
STATIC_LIMITATION = (
    "Conversion is a static label without a date: no as-of replay is possible, so the label "
    "is today's, whatever the horizon, and contacts that had converted by the as-of date "
    "are not left out.")


@dataclass(frozen=True)
class Snapshot:
    """A contact as it was known at `as_of`: what the engine may read."""

    contact: Mapping[str, Any]
    events: tuple
    company: Mapping[str, Any] | None


def time_properties(model: Model) -> dict[str, frozenset[str]]:
    """Contact and company properties holding a date or datetime (catalog, model, known)."""
    found: dict[str, frozenset[str]] = {}
    for object_type in ("contacts", "companies"):
        types: dict[str, str] = dict(KNOWN_PROPERTIES[object_type])
        types.update((model.catalog or {}).get(object_type, {}))
        types.update(model.declared.get(object_type, {}))
        found[object_type] = frozenset(n for n, t in types.items() if t in TIME_TYPES)
    return found


def merged_time_properties(models: Sequence[Model]) -> dict[str, frozenset[str]]:
    """Time properties by object type, as any of `models` types them (one snapshot serves all)."""
    merged: dict[str, frozenset[str]] = {"contacts": frozenset(), "companies": frozenset()}
    for model in models:
        for object_type, names in time_properties(model).items():
            merged[object_type] = merged[object_type] | names
    return merged


def known_at(contact: Mapping[str, Any], events: Iterable, company: Mapping[str, Any] | None,
             as_of: float, times: Mapping[str, frozenset[str]],
             order: Sequence[str] = STAGE_ORDER) -> Snapshot | None:
    """The contact as known at `as_of` (POSIX seconds), or None if it did not exist yet."""
    created = to_epoch(contact.get("createdate"))
    if created is not None and created > as_of:
        return None
    past = known_before(contact, as_of, times.get("contacts", frozenset()))
    stage = stage_at(contact, as_of, order)
    if stage is None:
        past.pop("lifecyclestage", None)
    else:
        past["lifecyclestage"] = stage
    if company is not None:
        company_created = to_epoch(company.get("createdate"))
        company = (None if company_created is not None and company_created > as_of
                   else known_before(company, as_of, times.get("companies", frozenset())))
    return Snapshot(past, tuple(e for e in events if e[1] <= as_of), company)


def known_before(record: Mapping[str, Any], as_of: float, times: frozenset[str]) -> dict[str, Any]:
    kept = {}
    for name, value in record.items():
        if name in times or name.startswith(ENTERED) or name.startswith("hs_v2_date_exited_"):
            at = to_epoch(value) if isinstance(value, str) else None
            if at is not None and at > as_of:
                continue
        kept[name] = value
    return kept


def stage_at(contact: Mapping[str, Any], as_of: float,
             order: Sequence[str] = STAGE_ORDER,
             entered: Sequence[float | None] | None = None) -> str | None:
    """The lifecycle stage at `as_of`, from the date-entered properties (`entered`: their
    instants in `order`, from `stage_entries`, when the caller asks for several dates)."""
    reached = None
    for rank, at in enumerate(entered if entered is not None else stage_entries(contact, order)):
        if at is not None and at <= as_of:
            reached = rank
    current = contact.get("lifecyclestage") or None
    if current is not None and to_epoch(contact.get(ENTERED + current)) is None:
        # Undated: HubSpot dates every stage it sees entered, so it predates the record's
        # tracking (an import) and has held since creation.
        if current not in order:
            return current if reached is None else order[reached]
        reached = max(reached if reached is not None else -1, order.index(current))
    return None if reached is None else order[reached]


def stage_entries(contact: Mapping[str, Any], order: Sequence[str] = STAGE_ORDER
                  ) -> list[float | None]:
    """When the contact entered each stage of `order` (None: never, or undated)."""
    return [to_epoch(contact.get(ENTERED + stage)) for stage in order]


def converted_at(contact: Mapping[str, Any]) -> float | None:
    """When the contact first became an opportunity or a customer (POSIX seconds), if ever."""
    dates = [to_epoch(contact.get(ENTERED + s)) for s in CONVERSION_STAGES]
    known = [d for d in dates if d is not None]
    return min(known) if known else None


def already_converted(contact: Mapping[str, Any], as_of: float,
                      order: Sequence[str] = STAGE_ORDER) -> bool:
    """Opportunity or later at `as_of`: nothing left to predict."""
    at = converted_at(contact)
    if at is not None and at <= as_of:
        return True
    stage = stage_at(contact, as_of, order)
    first = order.index(CONVERSION_STAGES[0]) if CONVERSION_STAGES[0] in order else len(order)
    return stage in order and order.index(stage) >= first


# ---- results ---------------------------------------------------------------------------------

class _Kept(NamedTuple):
    total: float
    grade: str | None
    matched_stage: str | None
    engagement: float


@dataclass(frozen=True)
class Evaluation:
    """How one model's scores at `as_of` ranked the contacts that then converted."""

    model: str
    contacts: int
    converted: int
    base_rate: float | None
    auc: float | None
    top_decile_lift: float | None
    deciles: tuple[Bucket, ...]
    by_grade: tuple[Group, ...]
    mql_rule: str | None        # what counted as "MQL" (None: the model defines no MQL)
    mql: Confusion | None
    capacity: CapacityCut | None
    auc_se: float | None = None  # Hanley-McNeil standard error of `auc`

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Backtest:
    """One backtest run: the window, who was evaluated, and one Evaluation per model."""

    as_of: str
    horizon_days: int
    window_end: str
    capacity_per_month: int | None
    population: Mapping[str, int]
    evaluations: tuple[Evaluation, ...]
    limitations: tuple[str, ...] = LIMITATIONS
    scores: Mapping[str, Any] = field(default_factory=dict, repr=False)
    conversion: str = DEFAULT_OUTCOME.description
    # contact id -> engagement as of then, of the model `backtest(engagement_of=)` names
    # (what a company backtest rolls up); not saved
    engagement: Mapping[str, float] = field(default_factory=dict, repr=False)
    company: Any = None  # a CompanyBacktest (scoring/company_backtest.py), with a company model

    def as_dict(self, *, with_scores: bool = False) -> dict:
        data = {"as_of": self.as_of, "horizon_days": self.horizon_days,
                "window_end": self.window_end, "capacity_per_month": self.capacity_per_month,
                "conversion": self.conversion, "population": dict(self.population),
                "evaluations": [e.as_dict() for e in self.evaluations],
                "warnings": separation_warnings(self.evaluations),
                "limitations": list(self.limitations)}
        if self.company is not None:
            data["company"] = self.company.as_dict()
        if with_scores:
            data["scores"] = dict(self.scores)
        return data


# ---- running one --------------------------------------------------------------------------------

def backtest(contacts: Iterable[tuple], models: Sequence[Model], as_of: datetime,
             horizon_days: int, *, capacity: int | None = None,
             mql_score: float | None = None, random_baseline: bool = False,
             conversion: Outcome = DEFAULT_OUTCOME,
             progress: Callable[[int], None] | None = None,
             engagement_of: int | None = None) -> Backtest:
    """Score every contact (id, properties, events, company, …) as known at `as_of` with each
    model and evaluate against conversions in (as_of, as_of + horizon_days].

    `mql_score`: count "MQL" as score ≥ this, instead of the model's MQL stage condition.
    `random_baseline`: add a model scoring each contact by a hash of its id (AUC ≈ 0.5).
    `conversion`: what counts as converting (a static label ignores the horizon).
    `progress(contacts read)`: called every 1,000 contacts and at the end.
    `engagement_of`: keep the engagement of the evaluated contacts by `models[engagement_of]`
    (`Backtest.engagement`: what a company backtest rolls up).
    """
    if horizon_days < 1:
        raise ValueError("the horizon must be at least one day")
    now = epoch(as_of)
    end = now + horizon_days * 86400.0
    times = merged_time_properties(models)
    scorers = [scorer(m, as_of) for m in models]
    population = {"contacts": 0, "created_later": 0, "already_converted": 0, "evaluated": 0,
                  "converted": 0}
    ids: list[str] = []
    labels: list[bool] = []
    results: list[list] = [[] for _ in models]
    for row in contacts:
        contact_id, contact, events, company = row[0], row[1], row[2], row[3]
        population["contacts"] += 1
        if progress is not None and population["contacts"] % 1000 == 0:
            progress(population["contacts"])
        snap = known_at(contact, events, company, now, times)
        if snap is None:
            population["created_later"] += 1
            continue
        if conversion.already(contact, now, snap.contact.get("lifecyclestage")):
            population["already_converted"] += 1
            continue
        ids.append(contact_id)
        labels.append(conversion.within(contact, now, end))
        for i, score in enumerate(scorers):
            result = score(snap.contact, snap.events, snap.company)
            # Only what the metrics read: a million full Scores with reasons would not fit.
            results[i].append(_Kept(result.total, result.grade, result.matched_stage,
                                    result.engagement))
    if progress is not None:
        progress(population["contacts"])
    population["evaluated"] = len(ids)
    population["converted"] = sum(labels)
    wanted = max(1, round(capacity * horizon_days / 30)) if capacity else None
    names = _distinct([m.label for m in models])
    evaluations = [_evaluate_model(name, m, r, labels, wanted, mql_score)
                   for name, m, r in zip(names, models, results)]
    scores = {name: [s.total for s in r] for name, r in zip(names, results)}
    if random_baseline:
        noise = random_scores(ids)
        evaluations.append(evaluate("random baseline", noise, labels, wanted=wanted))
        scores["random baseline"] = noise
    limits = LIMITATIONS + ((STATIC_LIMITATION,) if conversion.static else ())
    kept = ({} if engagement_of is None else
            {i: r.engagement for i, r in zip(ids, results[engagement_of])})
    return Backtest(as_of=_iso(now), horizon_days=horizon_days, window_end=_iso(end),
                    capacity_per_month=capacity, population=population,
                    evaluations=tuple(evaluations), limitations=limits,
                    scores={"contact_ids": ids, "converted": labels, **scores},
                    conversion=conversion.description, engagement=kept)


def _distinct(labels: list[str]) -> list[str]:
    """Labels made unique ("x", "x (2)") so two runs of one model stay apart."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


def _evaluate_model(name: str, model: Model, results: list, labels: list[bool],
                    wanted: int | None, mql_score: float | None) -> Evaluation:
    rule, predicted = mql_selection(model, results, mql_score)
    return evaluate(name, [s.total for s in results], labels,
                    grades=[s.grade for s in results], mql_rule=rule, mql=predicted,
                    wanted=wanted)


def mql_selection(model: Model, results: Sequence, mql_score: float | None
                  ) -> tuple[str | None, list[bool] | None]:
    """Who the model calls MQL: score ≥ mql_score if given, else its MQL stage condition held
    (or that of a later stage it manages)."""
    if mql_score is not None:
        return f"score >= {mql_score:g}", [s.total >= mql_score for s in results]
    order = model.stages.order
    if MQL not in {r.name for r in model.stages.rules} or MQL not in order:
        return None, None
    floor = order.index(MQL)
    return (f"{MQL} condition",
            [s.matched_stage in order and order.index(s.matched_stage) >= floor for s in results])


def evaluate(label: str, scores: Sequence[float], labels: Sequence[bool], *,
             grades: Sequence[str | None] | None = None, mql_rule: str | None = None,
             mql: Sequence[bool] | None = None, wanted: int | None = None) -> Evaluation:
    """Every metric for one list of scores against outcomes (see scoring/metrics.py)."""
    converted = sum(1 for y in labels if y)
    buckets = tuple(deciles(scores, labels))
    value = auc(scores, labels)
    return Evaluation(
        model=label, contacts=len(labels), converted=converted,
        base_rate=round(converted / len(labels), 10) if labels else None,
        auc=None if value is None else round(value, 10),
        top_decile_lift=top_decile_lift(buckets), deciles=buckets,
        by_grade=tuple(rates_by(grades, labels, GRADE_ORDER)) if grades is not None else (),
        mql_rule=mql_rule, mql=confusion(mql, labels) if mql is not None else None,
        capacity=capacity_cut(scores, labels, wanted) if wanted else None,
        auc_se=None if value is None else round(
            auc_standard_error(value, converted, len(labels) - converted), 10))


def separation_warnings(evaluations: Sequence[Evaluation]) -> list[str]:
    """Where the first model's AUC and another's are too close for the conversions behind
    them to tell apart (95%, Hanley-McNeil), and about how many conversions would."""
    warnings = []
    first = evaluations[0] if evaluations else None
    for other in evaluations[1:]:
        if first.auc is None or other.auc is None:
            continue
        positives, negatives = first.converted, first.contacts - first.converted
        if aucs_separated(first.auc, other.auc, positives, negatives):
            continue
        needed = conversions_to_separate(first.auc, other.auc, positives, negatives)
        more = ("they are equal, so no number of conversions would separate them"
                if first.auc == other.auc else
                "separating them would take more conversions than any portal has"
                if needed is None else
                f"about {needed:,} conversions at this rate would (a longer --horizon or an "
                f"earlier --as-of adds some)")
        warnings.append(
            f"AUC {first.auc:.3f} ({first.model}) and {other.auc:.3f} ({other.model}) are too "
            f"close to call with {positives:,} conversions (standard error about "
            f"{max(first.auc_se or 0, other.auc_se or 0):.3f} each): {more}")
    return warnings


def random_scores(contact_ids: Sequence[str], seed: str = "leadsync") -> list[float]:
    """A model that knows nothing: a stable pseudo-random score in [0, 100] per contact id,
    rounded to 0.1 like the engine's."""
    return [round(int.from_bytes(hashlib.sha256(f"{seed}:{i}".encode()).digest()[:8], "big")
                  / 2 ** 64 * 100, 1) for i in contact_ids]


def default_as_of(now: datetime, horizon_days: int) -> datetime:
    """The latest as-of whose whole horizon has already happened: midnight, horizon days ago."""
    day = (now.astimezone(timezone.utc) - timedelta(days=horizon_days)).date()
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def _iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---- text ---------------------------------------------------------------------------------------

def render(result: Backtest) -> str:
    """The backtest as a text report; several models side by side."""
    pop, evals = result.population, result.evaluations
    rate = (pop["converted"] / pop["evaluated"]) if pop["evaluated"] else 0.0
    head = [f"Backtest as of {result.as_of[:10]}, horizon {result.horizon_days} days "
            f"(conversions up to {result.window_end[:10]})",
            f"  {pop['evaluated']:,} contacts evaluated, {pop['converted']:,} converted "
            f"({result.conversion}; {rate:.1%}); left out: {pop['created_later']:,} created "
            f"later, {pop['already_converted']:,} already converted"]
    rows: list[tuple[str, list[str]] | str] = [
        ("", [e.model for e in evals]),
        ("ROC AUC", [number_or_dash(e.auc, "{:.3f}") for e in evals]),
        ("top-decile lift", [number_or_dash(e.top_decile_lift, "{:.2f}x") for e in evals])]
    if any(e.mql is not None for e in evals):
        rows.append("MQL: precision = converted among the selected / selected; "
                    "recall = converted among the selected / all converted")
        rows.append(("  rule", [e.mql_rule or "none in the model" for e in evals]))
        rows += _confusion_rows([e.mql for e in evals])
    if result.capacity_per_month and evals and evals[0].capacity is not None:
        rows.append(f"Sales capacity {result.capacity_per_month:,}/month over "
                    f"{result.horizon_days} days: the top {evals[0].capacity.wanted:,} contacts")
        rows.append(("  score threshold", [number_or_dash(e.capacity and e.capacity.threshold, "{:g}")
                                           for e in evals]))
        rows += _confusion_rows([e.capacity and e.capacity.selected for e in evals])
    rows.append("Conversion by score decile (1 = highest): contacts / converted / rate")
    if any(b.converted != int(b.converted) for e in evals for b in e.deciles):
        rows.append("  (a fractional count: contacts with equal scores straddle two deciles, "
                    "and their conversions are shared between them in proportion)")
    for i in range(len(evals[0].deciles) if evals else 0):
        rows.append((f"  decile {i + 1}", [bucket_text(e.deciles[i]) for e in evals]))
    names = list(dict.fromkeys(g.name for e in evals for g in e.by_grade))
    if names:
        rows.append("Conversion by grade: contacts / converted / rate")
        rows += [(f"  {name}", [group_text(e.by_grade, name) for e in evals]) for name in names]
    width = 2 + max(len(c) for row in rows if isinstance(row, tuple) for c in row[1])
    lines = head + [row if isinstance(row, str) else
                    f"{row[0]:<20}" + "".join(f"{c:>{width}}" for c in row[1]) for row in rows]
    if result.company is not None:  # the company model's figures, beside the contacts'
        lines += result.company.render_lines()
    lines += [f"Warning: {text}" for text in separation_warnings(evals)]
    lines.append("Limitations:")
    lines += [f"  - {text}" for text in result.limitations]
    if result.company is not None:
        lines += [f"  - Companies: {text}" for text in result.company.limitations]
    return "\n".join(lines)


def _confusion_rows(results: Sequence[Confusion | None]) -> list[tuple[str, list[str]]]:
    return [("  selected", [number_or_dash(r and r.selected, "{:,}") for r in results]),
            ("  precision", [number_or_dash(r and r.precision, "{:.1%}") for r in results]),
            ("  recall", [number_or_dash(r and r.recall, "{:.1%}") for r in results])]


def number_or_dash(value: Any, form: str) -> str:
    return "-" if value is None else form.format(value)


def bucket_text(bucket: Bucket) -> str:
    rate = "-" if bucket.rate is None else f"{bucket.rate:.1%}"
    return f"{bucket.contacts:,} / {round(bucket.converted, 1):g} / {rate}"


def group_text(groups: Sequence[Group], name: str) -> str:
    for group in groups:
        if group.name == name:
            return f"{group.contacts:,} / {group.converted:,} / {number_or_dash(group.rate, '{:.1%}')}"
    return "-"

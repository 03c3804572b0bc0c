"""`leadsync learn`: fit the points of a rule model to who really converted. Writes a model
file; never calls HubSpot, never writes to the cache.

1. Dates. Validation at `as_of` (default: the latest date whose horizon has passed);
   training at `dates` earlier dates, the latest of them a whole horizon before `as_of`
   (so every training outcome was known at `as_of`), then every `every_days` before that.
   With a static conversion label there is no date to replay: one snapshot, and a held-out
   fifth of the contacts (by a hash of the id) validates.
2. Rows. Each contact as `scoring.backtest.known_at` saw it at each date (the backtest's
   as-of view: nothing later is visible), unless it did not exist yet or had already
   converted; its outcome is conversion within the horizon. Every converter is kept;
   non-converters beyond `max_rows` per date are sampled by a hash of (id, date), and the
   figures are weighted back (the regression's intercept moves by log(sampling rate)).
3. Features (scoring/features.py): a profile of a sample of these rows proposes candidate
   rules; a feature model (1 point per row) scores every row with the batch scorer, and
   its reasons are the features.
4. Fit: L2-regularised logistic regression (scikit-learn), the regularisation chosen by the
   validation AUC. Points: scoring/scorecard.py. The written file is scored again on
   validation rows and must give exactly the fitted totals.

Over the usual module size on purpose: it is one pipeline (dates → rows → features → fit →
file) whose steps share the rows; the pure parts live in scoring/ (features, scorecard,
calibration) and the printed text in analysis/learn_report.py.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from analysis.backtests import CONTACT_EXTRA, COMPANY_EXTRA, conversion_of
from analysis.rescore import load_model
from cache.database import Cache, open_cache
from cache.model_inputs import reader_for
from foundation.errors import ConfigError, LeadsyncError
from foundation.settings import Settings
from scoring import Model, loads
from scoring.backtest import (ENTERED, known_at, merged_time_properties, stage_at,
                              stage_entries)
from scoring.batch import batch_scorer, chunk_of
from scoring.engine import epoch
from scoring.features import Candidate, Choice, candidates, profile
from scoring.calibration import Fitted, evaluate, fast_auc, offset
from scoring.outcomes import Outcome
from scoring.properties import ENGAGEMENT_KINDS, to_epoch
from scoring.scorecard import (Scale, feature_model_text, learned_model_text, points_from,
                               suggest, with_declared)

CHUNK = 5_000
PROFILE_ROWS = 20_000
CHECK_ROWS = 2_000
C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
MIN_VALIDATION = 100  # conversions for a validation AUC worth reading
PER_RULE = 10         # training conversions per kept rule (the usual events-per-variable rule)


@dataclass(frozen=True)
class Options:
    """What `leadsync learn` was asked for."""

    as_of: datetime
    horizon_days: int = 90
    dates: int = 3
    every_days: int = 30
    capacity: int | None = None  # leads sales can take per week
    double_every: float = 20.0
    allow_current_counters: bool = False
    max_rows: int = 100_000  # non-converters kept per date, at most (about)
    name: str = "learned"


@dataclass(frozen=True)
class Learned:
    """The outcome of one `learn`: what was fitted, on what, and how well it validates."""

    path: str
    model: str
    conversion: str
    validation: str
    training: tuple[str, ...]
    horizon_days: int | None
    rows: Mapping[str, Mapping[str, int]]
    sampling_rate: float
    candidates: int
    rules: int
    regularisation: float
    double_every: float
    fifty_fifty: float | None  # the total at which the odds are even
    evaluations: tuple[Fitted, ...]
    rounding_loss: float | None
    top_rules: tuple[tuple[str, str], ...]
    left_out: tuple[tuple[str, str], ...]
    thresholds: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    points: Mapping[str, int] = field(default_factory=dict)  # per feature (rule or row), 0s out
    text: str = field(default="", repr=False)

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("text")
        data["top_rules"] = [{"rule": r, "points": p} for r, p in self.top_rules]
        data["left_out"] = [{"rule": r, "why": w} for r, w in self.left_out]
        return data


# ---- the command ------------------------------------------------------------------------

def run_learn(db_path: str, settings: Settings, *, model_path: str | None, out: str,
              options: Options, force: bool = False) -> Learned:
    """`leadsync learn`: read the cache, fit, write the model file at `out`."""
    if db_path != ":memory:" and not Path(db_path).is_file():
        raise ConfigError(f"no cache at {db_path}; run `leadsync pull` first (or pass --db)")
    target = Path(out)
    if target.exists() and not force:
        raise ConfigError(f"{out} exists; pass --force to replace it, or choose --out")
    if options.horizon_days < 1 or options.dates < 1 or options.every_days < 1:
        raise ConfigError("--horizon, --dates and --every must be at least 1")
    if options.double_every <= 0:
        raise ConfigError("--double-every must be a positive number of points")
    cache = open_cache(db_path)
    try:
        model = load_model(model_path or settings.model_path, cache)
        conversion = conversion_of(settings, model)
        result = learn(cache, model, conversion, options, path=str(target))
    finally:
        cache.close()
    partial = target.with_name(target.name + ".partial")
    try:
        partial.write_text(result.text, encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {out} ({exc.strerror or exc})") from None
    return result


def sklearn() -> Any:
    """scikit-learn's linear_model and metrics, or a one-line ConfigError saying how to get it."""
    try:
        from sklearn import linear_model
    except ImportError:
        raise ConfigError("leadsync learn needs scikit-learn: pip install 'leadsync[learn]'"
                          ) from None
    return linear_model


# ---- dates and rows ---------------------------------------------------------------------

@dataclass
class _Rows:
    """Training or validation rows: sparse features, outcome, weight, current score."""

    index: dict[str, int]
    rows: list[np.ndarray] = field(default_factory=list)
    cols: list[np.ndarray] = field(default_factory=list)
    vals: list[np.ndarray] = field(default_factory=list)
    count: int = 0
    labels: list[bool] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    current: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    dates: list[float] = field(default_factory=list)

    def matrix(self) -> Any:
        from scipy.sparse import csr_matrix
        rows = np.concatenate(self.rows) if self.rows else np.empty(0, np.intp)
        cols = np.concatenate(self.cols) if self.cols else np.empty(0, np.intp)
        vals = np.concatenate(self.vals) if self.vals else np.empty(0)
        return csr_matrix((vals, (rows, cols)), shape=(self.count, len(self.index)))


def dates_for(options: Options, static: bool) -> tuple[list[float], float]:
    """(training dates, validation date) as POSIX seconds."""
    valid = epoch(options.as_of)
    if static:
        return [], valid
    first = valid - options.horizon_days * 86400.0
    return sorted(first - k * options.every_days * 86400.0 for k in range(options.dates)), valid


def sampled_in(contact_id: str, at: float, rate: float) -> bool:
    """Whether a non-converter is kept at `rate` (a hash of id and date: stable across runs)."""
    if rate >= 1.0:
        return True
    return zlib.crc32(f"{contact_id}@{int(at)}".encode()) / 2 ** 32 < rate


def _held_out(contact_id: str) -> bool:
    return zlib.crc32(f"held-out:{contact_id}".encode()) % 5 == 0


def _evaluated(contact: Mapping, dates: Sequence[float], horizon: float,
               conversion: Outcome, order: Sequence[str]) -> Iterable[tuple[float, bool]]:
    """(date, converted within the horizon) for each date at which the contact is evaluated:
    it existed, and had not converted yet (a static label: every date, today's label)."""
    created = to_epoch(contact.get("createdate"))
    if conversion.static:
        label = conversion.converted(contact)
        yield from ((at, label) for at in dates if created is None or created <= at)
        return
    converted = conversion.converted_at(contact)
    entries = stage_entries(contact, order) if conversion.stages else None
    for at in dates:
        if created is not None and created > at:
            continue
        stage = stage_at(contact, at, order, entries) if conversion.stages else None
        if conversion.already_at(converted, at, stage, order):
            continue
        yield at, converted is not None and at < converted <= at + horizon


# ---- learning -----------------------------------------------------------------------------

@dataclass
class Prepared:
    """Training and validation rows with their features, ready to fit (bench/learn.py fits
    other learners on the same rows)."""

    model: Model
    conversion: Outcome
    options: Options
    proposed: Any  # scoring.features.Candidates
    head: Mapping[str, Any]
    features: Model
    train: _Rows
    valid: _Rows
    check: list
    counts: Mapping[float, Mapping[str, int]]
    dates: Sequence[float]
    valid_date: float
    rate: float
    choice: Choice


def learn(cache: Cache, model: Model, conversion: Outcome, options: Options, *,
          path: str = "learned_model.toml", linear_model: Any = None) -> Learned:
    """Fit a points model to the cache's history; the result's `text` is the model file."""
    linear_model = linear_model or sklearn()
    return fit(prepare(cache, model, conversion, options), linear_model, path)


def prepare(cache: Cache, model: Model, conversion: Outcome, options: Options) -> Prepared:
    """Every row at every date, as the feature model and the current model score it."""
    static = conversion.static
    train_dates, valid_date = dates_for(options, static)
    dates = [*train_dates, valid_date]
    horizon = options.horizon_days * 86400.0
    live = cache.conn.execute("SELECT count(*) FROM contacts WHERE archived = 0 "
                              "AND merged_into IS NULL").fetchone()[0]
    if not live:
        raise ConfigError("the cache holds no contacts; run `leadsync pull` first")
    rate = min(1.0, options.max_rows / live)
    raw = _raw(model)
    choice = Choice(allow_current=options.allow_current_counters,
                    excluded=frozenset(conversion.properties),
                    activity=_activity(model, options.allow_current_counters))
    times = merged_time_properties([model])
    order = model.stages.order

    # 1. Profile a sample of the rows, and propose candidates.
    sample = _profile_rows(cache, model, conversion, dates, horizon, times, live)
    found = profile(sample, choice.activity)
    proposed = candidates(found, model, raw["rules"], choice)
    head = with_declared(raw["head"], proposed.declared)
    features_text = feature_model_text(proposed.rules, head, choice.activity)
    features = loads(features_text, source="<learn: feature model>", catalog=model.catalog)
    index = {k: i for i, k in enumerate(k for r in proposed.rules for k in r.keys())}

    # 2. Score every kept row with the feature model and the current model.
    train, valid = _Rows(index), _Rows(index)
    check: list[tuple] = []
    reader = reader_for(cache, [model, features],
                        contacts=(*CONTACT_EXTRA, *conversion.properties),
                        companies=COMPANY_EXTRA)
    scorers = {at: (batch_scorer(features, _moment(at)), batch_scorer(model, _moment(at)))
               for at in dates}
    buffers: dict[tuple[float, bool], list] = {}
    counts = {at: {"contacts": 0, "converted": 0, "rows": 0} for at in dates}

    def flush(key: tuple[float, bool]) -> None:
        at, held = key
        batch = buffers.pop(key, [])
        if not batch:
            return
        target = valid if (held if static else at == valid_date) else train
        chunk = chunk_of([b[1].contact for b in batch], [b[1].events for b in batch],
                         [b[1].company for b in batch])
        feature_scores = scorers[at][0].score(chunk)
        base = target.count
        for column in feature_scores.reasons:
            target.rows.append(column.who + base)
            target.cols.append(np.full(len(column.who), index[column.rule], np.intp))
            target.vals.append(np.asarray(column.points, np.float64))
        target.count += len(batch)
        target.labels += [b[2] for b in batch]
        target.weights += [1.0 if b[2] else 1.0 / rate for b in batch]
        target.current += list(scorers[at][1].score(chunk).total)
        target.ids += [b[0] for b in batch]
        target.dates += [at] * len(batch)
        if target is valid and len(check) < CHECK_ROWS:
            check.extend((b[1], at) for b in batch[:CHECK_ROWS - len(check)])

    # A light pass over every contact decides the rows (and counts them); only the contacts
    # kept at some date are then read whole, with their engagements.
    light = ("createdate", "lifecyclestage", *(ENTERED + s for s in order),
             *conversion.properties)
    wanted = []
    for contact_id, contact in _light_contacts(cache, light):
        keep = False
        for at, converted in _evaluated(contact, dates, horizon, conversion, order):
            counts[at]["contacts"] += 1
            counts[at]["converted"] += converted
            if converted or sampled_in(contact_id, at, rate):
                counts[at]["rows"] += 1
                keep = True
        if keep:
            wanted.append(contact_id)
    for chunk_rows in reader.chunks(wanted, CHUNK):
        for contact_id, contact, events, company, _ in chunk_rows:
            for at, converted in _evaluated(contact, dates, horizon, conversion, order):
                if not (converted or sampled_in(contact_id, at, rate)):
                    continue
                snap = known_at(contact, events, company, at, times, order)
                key = (at, _held_out(contact_id) if static else False)
                buffers.setdefault(key, []).append((contact_id, snap, converted))
                if len(buffers[key]) >= CHUNK:
                    flush(key)
    for key in list(buffers):
        flush(key)
    return Prepared(model, conversion, options, proposed, head, features, train, valid, check,
                    counts, dates, valid_date, rate, choice)


def fit(prepared: Prepared, linear_model: Any, path: str) -> Learned:
    """Choose the regularisation, fit, turn the coefficients into points, write the file."""
    p = prepared
    model, conversion, options, proposed, head = (p.model, p.conversion, p.options,
                                                  p.proposed, p.head)
    features, train, valid, check, counts = p.features, p.train, p.valid, p.check, p.counts
    dates, valid_date, rate, choice = p.dates, p.valid_date, p.rate, p.choice
    y_train, y_valid = np.array(train.labels, bool), np.array(valid.labels, bool)
    if y_train.sum() < 2 or y_valid.sum() < 1 or (~y_train).sum() < 2 or (~y_valid).sum() < 1:
        raise ConfigError(
            f"too few conversions to learn from: {int(y_train.sum())} in training, "
            f"{int(y_valid.sum())} in validation ({conversion.description}); pull more "
            f"history, or choose an earlier --as-of")
    x_train, x_valid = train.matrix(), valid.matrix()
    best = None
    # Warm-started along the grid: each fit starts from the previous one's coefficients.
    regression_fit = linear_model.LogisticRegression(C=C_GRID[0], max_iter=1000,
                                                     warm_start=True)
    for c in C_GRID:
        regression_fit.set_params(C=c)
        regression_fit.fit(x_train, y_train)
        value = fast_auc(x_valid @ regression_fit.coef_[0], y_valid)
        if best is None or value > best[0] + 1e-9:
            best = (value, c, regression_fit.coef_[0].copy(),
                    float(regression_fit.intercept_[0]))
    _, chosen, coef, intercept_ = best
    keys = list(train.index)
    coefficients = dict(zip(keys, coef))
    scale = Scale(options.double_every)
    in_training = (x_train != 0).sum(axis=0).A1
    touched = dict(zip(keys, (int(v) for v in in_training + (x_valid != 0).sum(axis=0).A1)))
    points = points_from(coefficients, proposed.rules,
                         dict(zip(keys, (int(v) for v in in_training))), scale)
    vector = np.array([points.get(k, 0) for k in keys], np.float64)
    fit_mask = np.array([r.section == "fit" for r in proposed.rules for _ in r.keys()])
    totals_train = x_train @ vector
    totals = x_valid @ vector
    fit_part = x_valid @ (vector * fit_mask)
    engagement_part = totals - fit_part
    log_rate = math.log(rate)

    # Probabilities, for calibration: each model's own score through a logistic curve fitted
    # on the training rows (the points model's slope is the stated scale).
    regression = x_valid @ coef + intercept_ + log_rate
    intercept = offset(totals_train / scale.factor, y_train) + log_rate
    points_logit = totals / scale.factor + intercept
    platt = linear_model.LogisticRegression(C=1e6, max_iter=1000)
    current_train = np.array(train.current).reshape(-1, 1)
    platt.fit(current_train, y_train)
    current = np.array(valid.current)
    current_logit = platt.coef_[0][0] * current + platt.intercept_[0] + log_rate

    weights = np.array(valid.weights)
    label = f"{options.name} (points)"
    evaluations = (
        evaluate(label, totals, points_logit, y_valid, weights),
        evaluate("regression (unrounded)", regression, regression, y_valid, weights),
        evaluate(f"current: {model.label}", current, current_logit, y_valid, weights))
    wanted = None
    if options.capacity:
        # Over the horizon, like backtest --capacity; sampled rows stand for 1/rate each.
        wanted = max(1, round(options.capacity * options.horizon_days / 7 * min(1.0, rate)))
    thresholds = suggest(list(fit_part), list(engagement_part), list(totals), wanted)
    rules_kept = [r for r in proposed.rules if any(points.get(k, 0) for k in r.keys())]
    valid_iso, train_iso = _iso(valid_date), [_iso(d) for d in dates if d != valid_date]
    fifty = None if vector.size == 0 else round(-intercept * scale.factor, 1)
    header = _header(model, conversion, options, valid_iso, train_iso, evaluations, scale,
                     fifty, chosen, rate, len(proposed.rules), len(rules_kept))
    stages_raw = head.get("stages") or {}
    text = learned_model_text(
        name=options.name, version=valid_iso[:10],
        description=(f"Points fitted by leadsync learn to {conversion.description} within "
                     f"{options.horizon_days} days; {options.double_every:g} points double "
                     f"the odds."),
        header=header, head={k: head[k] for k in ("missing_values", "lists", "properties")
                             if k in head},
        rules=proposed.rules, points=points, touched=touched,
        rows=train.count + valid.count, scale=scale, activity=choice.activity,
        thresholds=thresholds, stages=stages_raw, inactive=head.get("inactive"))
    learned = loads(text, source=path, catalog=model.catalog)
    _check_exact(learned, check, features, keys, vector)
    warnings = _warnings(y_train, y_valid, len(rules_kept), options, conversion)
    notes = []
    if rate < 1:
        notes.append(f"non-converters sampled at {rate:.2%} per date (by a hash of id and "
                     f"date), every converter kept; lift and calibration weighted back")
    if conversion.static:
        notes.append("conversion is a static label: no as-of replay is possible, so a "
                     "held-out fifth of the contacts (by id) validated instead of a later date")
    top = sorted(rules_kept, key=lambda r: -max(abs(points.get(k, 0)) for k in r.keys()))[:10]
    return Learned(
        path=path, model=f"{options.name} {valid_iso[:10]}", conversion=conversion.description,
        validation=valid_iso, training=tuple(train_iso),
        horizon_days=None if conversion.static else options.horizon_days,
        rows={_iso(d): counts[d] for d in dates}, sampling_rate=round(rate, 6),
        candidates=len(proposed.rules), rules=len(rules_kept), regularisation=chosen,
        double_every=options.double_every, fifty_fifty=fifty, evaluations=evaluations,
        rounding_loss=_loss(evaluations), top_rules=tuple((r.name, _weight(r, points))
                                                          for r in top),
        left_out=proposed.left_out,
        thresholds={"fit": {"A": thresholds.fit_a, "B": thresholds.fit_b},
                    "engagement": {"1": thresholds.engagement_one,
                                   "2": thresholds.engagement_two},
                    "mql": thresholds.mql, "mql_basis": thresholds.mql_basis},
        warnings=tuple(warnings), notes=tuple(notes),
        points={k: v for k, v in points.items() if v}, text=text)


def _weight(rule: Candidate, points: Mapping[str, int]) -> str:
    values = [points.get(k, 0) for k in rule.keys()]
    if not rule.is_table:
        return f"{values[0]:+d}" + (" per unit" if rule.units else "")
    return f"{min(values):+d} to {max(values):+d}"


def _loss(evaluations: Sequence[Fitted]) -> float | None:
    points, regression = evaluations[0].auc, evaluations[1].auc
    return None if points is None or regression is None else round(regression - points, 4)


def _check_exact(learned: Model, check: Sequence[tuple], features: Model, keys: list[str],
                 vector: np.ndarray) -> None:
    """Score the written file on validation rows: its totals must be the fitted ones."""
    by_date: dict[float, list] = {}
    for snap, at in check:
        by_date.setdefault(at, []).append(snap)
    index = {k: i for i, k in enumerate(keys)}
    for at, snaps in by_date.items():
        chunk = chunk_of([s.contact for s in snaps], [s.events for s in snaps],
                         [s.company for s in snaps])
        expected = np.zeros(len(snaps))
        for column in batch_scorer(features, _moment(at)).score(chunk).reasons:
            expected[column.who] += np.asarray(column.points) * vector[index[column.rule]]
        totals = np.array(batch_scorer(learned, _moment(at)).score(chunk).total)
        if not np.array_equal(totals, expected):
            wrong = int(np.flatnonzero(totals != expected)[0])
            raise LeadsyncError(
                f"the learned model scores {totals[wrong]:g} where the fit computed "
                f"{expected[wrong]:g}: a leadsync bug; please report it")


def _warnings(y_train: np.ndarray, y_valid: np.ndarray, rules: int, options: Options,
              conversion: Outcome) -> list[str]:
    found = []
    needed = PER_RULE * max(rules, 1)
    if y_train.sum() < needed:
        found.append(f"only {int(y_train.sum()):,} conversions in training for {rules} "
                     f"rules: about {needed:,} ({PER_RULE} per rule) are needed to trust the "
                     f"points; add --dates, or keep fewer rules")
    if y_valid.sum() < MIN_VALIDATION:
        found.append(f"only {int(y_valid.sum()):,} conversions in validation: at least "
                     f"{MIN_VALIDATION} are needed for AUC and lift to be worth comparing")
    if options.allow_current_counters:
        found.append("--allow-current-counters: counters and latest-event values are today's,"
                     " not the as-of date's; they include activity after each training date,"
                     " so the validation figures flatter the model")
    return found


def _header(model: Model, conversion: Outcome, options: Options, valid: str,
            train: Sequence[str], evaluations: Sequence[Fitted], scale: Scale,
            fifty: float | None, chosen: float, rate: float, proposed: int,
            kept: int) -> list[str]:
    figures = "; ".join(f"{e.model} {e.auc if e.auc is not None else '-'}" for e in evaluations)
    when = (f"conversion within {options.horizon_days} days after each date"
            if not conversion.static else "a static label (held-out fifth validates)")
    lines = [
        f"Learned by `leadsync learn` from the cache's history. Conversion: "
        f"{conversion.description}; {when}.",
        f"Training dates: {', '.join(t[:10] for t in train) or '(one snapshot)'}; "
        f"validated on {valid[:10]}.",
        f"Scale: {scale.double_every:g} points double the odds of converting"
        + (f"; at a total of {fifty:g} the odds are even" if fifty is not None else "") + ".",
        f"Validation ROC AUC: {figures}.",
        f"{kept} of {proposed} candidate rules kept (L2 regularisation C = {chosen:g}); "
        f"each rule says its weight and how many contacts it touches.",
        "Review before adopting: leadsync simulate --model <this file>; "
        "leadsync backtest --compare <this file>.",
    ]
    if rate < 1:
        lines.append(f"Non-converters were sampled at {rate:.2%} per date.")
    return lines


# ---- reading --------------------------------------------------------------------------------

def _raw(model: Model) -> dict[str, Any]:
    """The current model as written: head tables to carry over, and its rules per section."""
    import tomllib
    raw = tomllib.loads(model.text)
    head: dict[str, Any] = {}
    if raw.get("model", {}).get("missing_values"):
        head["missing_values"] = raw["model"]["missing_values"]
    for key in ("lists", "properties", "stages", "inactive"):
        if raw.get(key):
            head[key] = raw[key]
    rules = {s: list(raw.get(s, {}).get("rules", [])) for s in ("fit", "engagement")}
    return {"head": head, "rules": rules}


def _activity(model: Model, allow_current: bool) -> tuple[str, ...]:
    """What counts as activity in the learned model: the current model's engagement kinds
    (its date properties too with --allow-current-counters: they hold the latest date only)."""
    kinds = tuple(a for a in model.activity if a in ENGAGEMENT_KINDS)
    dated = tuple(a for a in model.activity if a not in ENGAGEMENT_KINDS)
    return (kinds + dated if allow_current else kinds) or ("calls", "emails", "meetings")


def _profile_rows(cache: Cache, model: Model, conversion: Outcome, dates: Sequence[float],
                  horizon: float, times: Mapping, live: int) -> list[tuple]:
    """Snapshots of up to PROFILE_ROWS contacts (by a hash of the id) at every date."""
    names = [r[0] for r in cache.conn.execute(
        "SELECT DISTINCT j.key FROM (SELECT properties FROM contacts WHERE archived = 0 "
        "AND merged_into IS NULL ORDER BY id LIMIT 5000) c, json_each(c.properties) j")]
    company_names = [r[0] for r in cache.conn.execute(
        "SELECT DISTINCT j.key FROM (SELECT properties FROM companies WHERE archived = 0 "
        "ORDER BY id LIMIT 5000) c, json_each(c.properties) j")]
    share = min(1.0, PROFILE_ROWS / live / max(1, len(dates)) * 2)
    ids = [i for (i,) in cache.conn.execute(
        "SELECT id FROM contacts WHERE archived = 0 AND merged_into IS NULL ORDER BY id")
        if zlib.crc32(f"profile:{i}".encode()) / 2 ** 32 < share]
    reader = reader_for(cache, [model], contacts=(*names, *CONTACT_EXTRA),
                        companies=(*company_names, *COMPANY_EXTRA))
    reader.event_names = {k: reader.event_names.get(k, ()) for k in ENGAGEMENT_KINDS}
    reader.memo = {k: {} for k in ENGAGEMENT_KINDS}
    order = model.stages.order
    found = []
    for chunk in reader.chunks(ids, CHUNK):
        for contact_id, contact, events, company, _ in chunk:
            for at, _converted in _evaluated(contact, dates, horizon, conversion, order):
                snap = known_at(contact, events, company, at, times, order)
                found.append((snap.contact, snap.events, snap.company, at))
    return found[:PROFILE_ROWS * 2]


def _light_contacts(cache: Cache, names: Sequence[str]) -> Iterable[tuple[str, dict]]:
    """Every live contact in id order with only the named properties (the dates that decide
    whether and how it is evaluated)."""
    import json
    paths = [f'$."{n}"' for n in names]
    rows = cache.conn.execute(
        f"SELECT id, json_extract(properties, {', '.join('?' * len(paths))}) FROM contacts "
        f"WHERE archived = 0 AND merged_into IS NULL ORDER BY id", paths)
    for contact_id, values in rows:
        yield contact_id, dict(zip(names, json.loads(values)))


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def _iso(seconds: float) -> str:
    return _moment(seconds).isoformat(timespec="seconds").replace("+00:00", "Z")

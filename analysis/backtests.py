"""`leadsync backtest`: read the cache, run the pure backtest, keep the result for the report.

Each run appends its result (JSON, without per-contact scores) to the `backtests` table; the
report draws its lift chart from the newest non-empty one of the scored model (or the one
`report --backtest ID` names). `export_scores` writes the per-contact scores and outcomes
(CSV or JSON) so the figures can be checked in another tool.
"""
from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

from analysis.company_backtests import backtest_companies
from analysis.company_rescore import load_company
from analysis.rescore import load_model, load_models
from cache.database import Cache, open_cache, utcnow
from cache.model_inputs import read_contacts
from foundation.errors import ConfigError
from foundation.settings import Settings
from scoring import Model
from scoring.backtest import ENTERED, Backtest, backtest
from scoring.errors import ModelError
from scoring.model import STAGE_ORDER
from scoring.outcomes import Outcome, outcome

# Beyond what the models read: the stage dates (as-of stage and outcome), creation dates.
CONTACT_EXTRA = ("createdate", "lifecyclestage", *(ENTERED + s for s in STAGE_ORDER))
COMPANY_EXTRA = ("createdate",)


def run_backtest(db_path: str, settings: Settings, *, model_path: str | None,
                 compare_path: str | None, as_of: datetime, horizon_days: int,
                 capacity: int | None = None, mql_score: float | None = None,
                 random_baseline: bool = False, export: str | None = None,
                 progress: Callable[[int, int | None], None] | None = None,
                 company_model_path: str | None = None) -> Backtest:
    """`leadsync backtest`: one recorded run whose result is saved in `backtests`
    (`export`: also write per-contact scores and outcomes to that .csv or .json file).
    With a company model (`company_model_path`, else the config's) the companies are
    backtested too, rolling up the engagement of the config's model in charge (with
    `model_path`: of that model)."""
    if export is not None:
        export_format(export)  # a bad name fails before any work
    if db_path != ":memory:" and not Path(db_path).is_file():
        raise ConfigError(f"no cache at {db_path}; run `leadsync pull` first (or pass --db)")
    cache = open_cache(db_path)
    try:
        source, company = 0, None
        if model_path is None and settings.configured_models:
            model_set = load_models(settings, cache)
            models = model_set.models()  # every model of the config
            source = model_set.contacts.index(model_set.engagement_source)
            company = model_set.company
        else:
            models = [load_model(model_path or settings.model_path, cache)]
            if settings.company_model_path:
                company = load_company(settings.company_model_path, cache)
        if company_model_path:
            company = load_company(company_model_path, cache)
        if compare_path:
            models.append(load_model(compare_path, cache))
        conversion = conversion_of(settings, models[0])
        with cache.run("backtest") as run:
            result = backtest_cache(cache, models, as_of, horizon_days, capacity=capacity,
                                    mql_score=mql_score, random_baseline=random_baseline,
                                    conversion=conversion, progress=progress,
                                    engagement_of=source if company is not None else None)
            if company is not None:
                result = replace(result, company=backtest_companies(
                    cache, company, result, as_of, horizon_days, conversion=conversion,
                    contact_properties=CONTACT_EXTRA, company_properties=COMPANY_EXTRA,
                    engagement_model=result.evaluations[source].model))
            save_backtest(cache, result, run_id=run.id)
            run.records = result.population["evaluated"]
            run.details = {"as_of": result.as_of, "horizon_days": horizon_days,
                           "auc": {e.model: e.auc for e in result.evaluations}}
            if result.company is not None:
                run.details["company_auc"] = result.company.evaluation.auc
        if export is not None:
            export_scores(result, export)
        return result
    finally:
        cache.close()


def backtest_cache(cache: Cache, models: Sequence[Model], as_of: datetime, horizon_days: int,
                   *, progress: Callable[[int, int | None], None] | None = None,
                   **options: Any) -> Backtest:
    """The pure backtest over every live cached contact; `progress(read, of)` as it goes."""
    if horizon_days < 1:
        raise ConfigError("--horizon must be at least 1 day")
    conversion = options.get("conversion")
    extra = CONTACT_EXTRA + (conversion.properties if conversion is not None else ())
    rows = read_contacts(cache, models, contacts=extra, companies=COMPANY_EXTRA)
    read: Callable[[int], None] | None = None
    if progress is not None:
        total = cache.conn.execute("SELECT COUNT(*) FROM contacts WHERE archived = 0 "
                                   "AND merged_into IS NULL").fetchone()[0]
        progress(0, total)
        read = lambda done: progress(done, total)  # noqa: E731
    return backtest(rows, models, as_of, horizon_days, progress=read, **options)


def conversion_of(settings: Settings, model: Model) -> Outcome:
    """The config's `[conversion]`, compiled against `model`'s property types."""
    try:
        return outcome(settings.conversion, model, source=settings.source or "leadsync.toml")
    except ModelError as exc:
        raise ConfigError(str(exc)) from None


def export_format(path: str) -> str:
    """"csv" or "json", from the file name; ConfigError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ConfigError(f"--export {path}: name a .csv or .json file")
    return suffix[1:]


def export_scores(result: Backtest, path: str) -> Path:
    """Write one row per evaluated contact: id, converted (0/1), each model's score.

    CSV columns: contact_id, converted, then one per model (its label); JSON: the backtest's
    summary with `scores` (contact_ids, converted and one list per model). Written to a
    temporary file first, so a failure never leaves half a file."""
    target = Path(path)
    scores = result.scores
    models = [k for k in scores if k not in ("contact_ids", "converted")]
    partial = target.with_name(target.name + ".partial")
    try:
        with open(partial, "w", encoding="utf-8", newline="") as out:
            if export_format(path) == "json":
                json.dump(result.as_dict(with_scores=True), out, indent=1, sort_keys=True)
            else:
                writer = csv.writer(out)
                writer.writerow(["contact_id", "converted", *models])
                for i, contact_id in enumerate(scores["contact_ids"]):
                    writer.writerow([contact_id, int(scores["converted"][i]),
                                     *(f"{scores[m][i]:g}" for m in models)])
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"--export {path}: cannot write it ({exc.strerror or exc})") from None
    return target


def save_backtest(cache: Cache, result: Backtest, *, run_id: int | None = None) -> int:
    """Append `result` to `backtests`; returns its id."""
    with cache.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO backtests (ran_at, as_of, horizon_days, models, result, run_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (utcnow(), result.as_of, result.horizon_days,
             json.dumps([e.model for e in result.evaluations]),
             json.dumps(result.as_dict(), sort_keys=True), run_id))
        return cur.lastrowid


def last_backtest(cache: Cache) -> dict | None:
    """The newest saved backtest result (as saved: Backtest.as_dict()), or None."""
    row = cache.conn.execute("SELECT result FROM backtests ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else json.loads(row[0])


def pick_backtest(cache: Cache, backtest_id: int | None = None, *,
                  model: str | None = None) -> tuple[int, dict] | None:
    """(id, saved result) of backtest `backtest_id`, or by default the newest one that
    evaluated someone and tested `model` (a label, "starter 2026-11-22") first: a candidate's
    or an empty backtest is never shown as the current model's by accident."""
    if backtest_id is not None:
        row = cache.conn.execute("SELECT id, result FROM backtests WHERE id = ?",
                                 (backtest_id,)).fetchone()
        if row is None:
            known = [str(r[0]) for r in cache.conn.execute(
                "SELECT id FROM backtests ORDER BY id DESC LIMIT 10")]
            raise ConfigError(f"no backtest #{backtest_id} in the cache; "
                              + (f"the latest are #{', #'.join(known)}" if known
                                 else "run `leadsync backtest` first"))
        return row[0], json.loads(row[1])
    for backtest_id, models, result in cache.conn.execute(
            "SELECT id, models, result FROM backtests ORDER BY id DESC"):
        if model is not None and (json.loads(models) or [None])[0] != model:
            continue
        saved = json.loads(result)
        if saved["population"]["evaluated"]:
            return backtest_id, saved
    return None

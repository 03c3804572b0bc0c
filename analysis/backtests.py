"""`leadsync backtest`: read the cache, run the pure backtest, keep the result for the report.

Each run appends its result (JSON, without per-contact scores) to the `backtests` table; the
report draws its lift chart from the newest non-empty one of the scored model (or the one
`report --backtest ID` names).
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

from analysis.rescore import load_model
from cache.database import Cache, open_cache, utcnow
from cache.model_inputs import read_contacts
from foundation.errors import ConfigError
from foundation.settings import Settings
from scoring import Model
from scoring.backtest import ENTERED, Backtest, backtest
from scoring.model import STAGE_ORDER

# Beyond what the models read: the stage dates (as-of stage and outcome), creation dates.
CONTACT_EXTRA = ("createdate", "lifecyclestage", *(ENTERED + s for s in STAGE_ORDER))
COMPANY_EXTRA = ("createdate",)


def run_backtest(db_path: str, settings: Settings, *, model_path: str | None,
                 compare_path: str | None, as_of: datetime, horizon_days: int,
                 capacity: int | None = None, mql_score: float | None = None,
                 random_baseline: bool = False,
                 progress: Callable[[int, int | None], None] | None = None) -> Backtest:
    """`leadsync backtest`: one recorded run whose result is saved in `backtests`."""
    if db_path != ":memory:" and not Path(db_path).is_file():
        raise ConfigError(f"no cache at {db_path}; run `leadsync pull` first (or pass --db)")
    cache = open_cache(db_path)
    try:
        models = [load_model(model_path or settings.model_path, cache)]
        if compare_path:
            models.append(load_model(compare_path, cache))
        with cache.run("backtest") as run:
            result = backtest_cache(cache, models, as_of, horizon_days, capacity=capacity,
                                    mql_score=mql_score, random_baseline=random_baseline,
                                    progress=progress)
            save_backtest(cache, result, run_id=run.id)
            run.records = result.population["evaluated"]
            run.details = {"as_of": result.as_of, "horizon_days": horizon_days,
                           "auc": {e.model: e.auc for e in result.evaluations}}
        return result
    finally:
        cache.close()


def backtest_cache(cache: Cache, models: Sequence[Model], as_of: datetime, horizon_days: int,
                   *, progress: Callable[[int, int | None], None] | None = None,
                   **options: Any) -> Backtest:
    """The pure backtest over every live cached contact; `progress(read, of)` as it goes."""
    if horizon_days < 1:
        raise ConfigError("--horizon must be at least 1 day")
    rows = read_contacts(cache, models, contacts=CONTACT_EXTRA, companies=COMPANY_EXTRA)
    read: Callable[[int], None] | None = None
    if progress is not None:
        total = cache.conn.execute("SELECT COUNT(*) FROM contacts WHERE archived = 0 "
                                   "AND merged_into IS NULL").fetchone()[0]
        progress(0, total)
        read = lambda done: progress(done, total)  # noqa: E731
    return backtest(rows, models, as_of, horizon_days, progress=read, **options)


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

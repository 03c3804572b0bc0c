"""`leadsync demo`: the whole loop (setup, pull, score, push, report) against a local portal."""
from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from cache.database import open_cache
from connector.client import connect
from flows.sync import run_setup, run_sync
from foundation.errors import ConfigError
from foundation.settings import Settings
from scoring.reasons import parse as parse_reasons

FUNNEL = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
          "customer", "evangelist", "other")


@dataclass(frozen=True)
class Portal:
    """What the demo needs of a HubSpot portal: where it is, and its contacts' stages."""

    base_url: str
    token: str
    stages: Callable[[], Iterable[str | None]]


def run_demo(portal: Portal, workdir: Path, echo: Callable[[str], None],
             command: str = "leadsync") -> Path:
    """Run the loop against `portal` with a fresh cache in `workdir`; returns the cache path.
    `command` is how the user can run leadsync from their shell (for the closing hints)."""
    if workdir.exists():
        shutil.rmtree(workdir)  # the demo's own folder: every run starts from an empty cache
    workdir.mkdir(parents=True)
    db = str(workdir / "leadsync.db")
    settings = replace(Settings(), base_url=portal.base_url, tier=190, concurrency=8)
    client_factory = lambda: connect(base_url=portal.base_url, token=portal.token,  # noqa: E731
                                     tier=settings.tier, concurrency=settings.concurrency)
    before = Counter(portal.stages())
    echo("1. leadsync setup: creating leadsync's contact properties in the portal")
    for line in run_setup(db, settings, client_factory).render().splitlines():
        echo(f"   {line}")
    # Both syncs score as of one instant: scores are a function of (model, data, as_of), so
    # the second run is deterministic (with "now", decay could move a rounded score).
    as_of = datetime.now(timezone.utc)
    echo("2. leadsync sync: pull everything, score every contact, push what changed")
    first = run_sync(db, settings, client_factory, quiet=True, now=lambda: as_of)
    echo(f"   {_sync_line(first)}")
    echo("3. leadsync sync again, same as-of: HubSpot already holds every value leadsync wants, "
         "so nothing is written")
    second = run_sync(db, settings, client_factory, quiet=True, now=lambda: as_of)
    echo(f"   {_sync_line(second)}")
    echo("")
    echo(_funnel(before, Counter(portal.stages())))
    echo("")
    echo(_top_leads(db))
    echo("")
    echo(_backtest(db, settings))
    echo(_report(db, workdir / "report.html"))
    echo(f"Cache: {db}  (try: {command} --db {db} explain <contact id>, "
         f"{command} --db {db} history, datasette {db})")
    return Path(db)


def _sync_line(summary) -> str:
    doc = summary.as_dict()
    pulled = sum(s["new"] + s["changed"] for s in doc["pull"]["streams"].values())
    push = doc["push"]
    return (f"pulled {pulled:,} records in {doc['pull']['api_calls']:,} API calls; scored "
            f"{doc['score']['scored']:,} contacts ({doc['score']['changed']:,} changed); wrote "
            f"{push['written']:,} contacts in {push['write_calls']} batch calls; {doc['seconds']:.1f} s")


def _funnel(before: Counter, after: Counter) -> str:
    lines = [f"{'Funnel (live contacts)':<26} {'before':>8} {'after':>8}"]
    for stage in (*FUNNEL, None):
        if before[stage] or after[stage]:
            lines.append(f"  {stage or '(no stage)':<24} {before[stage]:>8,} {after[stage]:>8,}")
    return "\n".join(lines)


def _top_leads(db: str, count: int = 5) -> str:
    cache = open_cache(db)
    try:
        rows = cache.conn.execute(
            "SELECT s.contact_id, c.email, s.total, s.grade, s.stage, s.reasons FROM scores s "
            "JOIN contacts c ON c.id = s.contact_id ORDER BY s.total DESC, s.contact_id LIMIT ?",
            (count,)).fetchall()
    finally:
        cache.close()
    lines = ["Top leads, and why:"]
    for contact_id, email, total, grade, stage, reasons in rows:
        fired = sorted(parse_reasons(reasons), key=lambda r: -abs(r.points))[:3]
        why = "; ".join(f"{r.rule} {r.points:+g}" for r in fired)
        lines.append(f"  {total:>5g} {grade or '--':<3} {stage or '':<23} {email or contact_id}")
        lines.append(f"        {why}")
    return "\n".join(lines)


def _backtest(db: str, settings: Settings) -> str:
    """Score the portal as it was 90 days ago and check who converted since (the lift chart)."""
    from analysis.backtests import run_backtest
    from scoring.backtest import default_as_of

    as_of = default_as_of(datetime.now(timezone.utc), 90)
    result = run_backtest(db, settings, model_path=None, compare_path=None, as_of=as_of,
                          horizon_days=90, random_baseline=True)
    aucs = ", ".join(f"{e.model}: {e.auc:.3f}" for e in result.evaluations if e.auc is not None)
    return (f"Backtest as of {as_of:%Y-%m-%d}, 90-day horizon: ROC AUC {aucs} "
            f"(0.5 = chance; run `leadsync backtest` for the full table)")


def _report(db: str, path: Path) -> str:
    from analysis.report import write_report

    cache = open_cache(db)
    try:
        return f"Report: {write_report(cache, path)}  (open it in a browser)"
    except ConfigError as exc:
        return f"Report: skipped ({exc})"
    finally:
        cache.close()

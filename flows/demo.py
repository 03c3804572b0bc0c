"""`leadsync demo`: the whole loop (setup, pull, score, push, report) against a local portal."""
from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from analysis.company_report import top_accounts
from cache.database import Cache, open_cache
from connector.client import connect
from flows.sync import run_setup, run_sync
from foundation.errors import ConfigError
from foundation.settings import DEFAULT_MODEL, Settings
from mappings.writeback import format_reasons
from scoring.models import primary_of
from scoring.reasons import as_dicts as reason_dicts

FUNNEL = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
          "customer", "evangelist", "other")


@dataclass(frozen=True)
class Portal:
    """What the demo needs of a HubSpot portal: where it is, and its contacts' stages."""

    base_url: str
    token: str
    stages: Callable[[], Iterable[str | None]]


def run_demo(portal: Portal, workdir: Path, echo: Callable[[str], None],
             command: str = "leadsync", settings: Settings | None = None) -> Path:
    """Run the loop against `portal` with a fresh cache in `workdir`; returns the cache path.
    `command` is how the user can run leadsync from their shell (for the closing hints);
    `settings` the config whose models (contact models, company model) the demo scores with
    (default: the starter model alone); its portal settings are replaced by `portal`'s."""
    if workdir.exists():
        shutil.rmtree(workdir)  # the demo's own folder: every run starts from an empty cache
    workdir.mkdir(parents=True)
    db = str(workdir / "leadsync.db")
    settings = replace(settings or Settings(), base_url=portal.base_url, tier=190,
                       concurrency=8)
    companies = bool(settings.company_model_path)
    client_factory = lambda: connect(base_url=portal.base_url, token=portal.token,  # noqa: E731
                                     tier=settings.tier, concurrency=settings.concurrency)
    before = Counter(portal.stages())
    if settings.source:
        echo(f"Scoring with the models of {settings.source}")
    echo("1. leadsync setup: creating leadsync's contact "
         + ("and company properties" if companies else "properties") + " in the portal")
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
    echo(_top_leads(db, primary_of(settings.models).name))
    echo("")
    if companies:
        echo(_top_accounts(db))
        echo("")
    echo(_backtest(db, settings))
    echo(_learned(db, settings, workdir / "learned_model.toml", command))
    echo(_report(db, workdir / "report.html", settings))
    company_hint = f"{command} --db {db} explain --company <domain>, " if companies else ""
    echo(f"Cache: {db}  (try: {command} --db {db} explain <contact id>, {company_hint}"
         f"{command} --db {db} history, {command} --db {db} browse)")
    return Path(db)


def _sync_line(summary) -> str:
    doc = summary.as_dict()
    push = doc["push"]
    companies = ""
    if summary.companies is not None:
        run = summary.companies
        companies = (f"; scored {run.score.scored:,} companies ({run.score.changed:,} changed), "
                     f"wrote {run.push.companies_written:,} in {run.push.write_calls} batch calls")
    return (f"pulled {summary.pull.records:,} records in {doc['pull']['api_calls']:,} API calls; scored "
            f"{doc['score']['scored']:,} contacts ({doc['score']['changed']:,} changed); wrote "
            f"{push['written']:,} contacts in {push['write_calls']} batch calls{companies}; "
            f"{doc['seconds']:.1f} s")


def _funnel(before: Counter, after: Counter) -> str:
    lines = [f"{'Funnel (live contacts)':<26} {'before':>8} {'after':>8}"]
    for stage in (*FUNNEL, None):
        if before[stage] or after[stage]:
            lines.append(f"  {stage or '(no stage)':<24} {before[stage]:>8,} {after[stage]:>8,}")
    return "\n".join(lines)


# Stages sales no longer prospects: the lead already became a deal or a customer.
SOLD = ("opportunity", "customer", "evangelist")


@dataclass(frozen=True)
class Lead:
    """A contact sales should call next, and why."""

    contact_id: str
    email: str | None
    total: float
    engagement: float
    grade: str | None
    stage: str | None
    last_engaged: str | None  # the latest engagement's date, if any
    why: str                  # its rules by weight, with how many more ("+4 more")


def top_leads(cache: Cache, count: int = 5, model: str = DEFAULT_MODEL) -> list[Lead]:
    """The best-scored live, active contacts not yet an opportunity or customer (in HubSpot or
    by the model); ties go to the more engaged, then the more recently engaged. Scores are
    `model`'s (the config's model in charge): a contact is listed once."""
    sold = ",".join("?" * len(SOLD))
    rows = cache.conn.execute(
        f"SELECT s.contact_id, c.email, s.total, s.engagement, s.grade, s.stage, s.reasons, "
        f"(SELECT MAX(e.occurred_at) FROM contact_events e WHERE e.contact_id = s.contact_id) "
        f"AS last_seen FROM scores s JOIN contacts c ON c.id = s.contact_id "
        f"WHERE s.model = ? AND c.archived = 0 AND c.merged_into IS NULL AND s.inactive = 0 "
        f"AND COALESCE(json_extract(c.properties, '$.lifecyclestage'), '') NOT IN ({sold}) "
        f"AND COALESCE(s.stage, '') NOT IN ({sold}) "
        f"ORDER BY s.total DESC, s.engagement DESC, last_seen DESC NULLS LAST, "
        f"CAST(s.contact_id AS INTEGER), s.contact_id LIMIT ?",
        (model, *SOLD, *SOLD, count)).fetchall()
    return [Lead(contact_id, email, total, engagement, grade, stage,
                 None if last is None else datetime.fromtimestamp(last, timezone.utc).strftime("%Y-%m-%d"),
                 format_reasons(reason_dicts(reasons), max_chars=None, more=True))
            for contact_id, email, total, engagement, grade, stage, reasons, last in rows]


def _top_leads(db: str, model: str = DEFAULT_MODEL, count: int = 5) -> str:
    cache = open_cache(db)
    try:
        leads = top_leads(cache, count, model)
    finally:
        cache.close()
    lines = ["Top leads to call (not yet opportunity or customer), and why:"]
    for lead in leads:
        seen = f"last engaged {lead.last_engaged}" if lead.last_engaged else "no engagement yet"
        lines.append(f"  {lead.total:>5g} {lead.grade or '--':<3} {lead.stage or '':<23} "
                     f"{lead.email or lead.contact_id}  (engagement {lead.engagement:g}, {seen})")
        lines.append(f"        {lead.why}")
    if not leads:
        lines.append("  none: every scored contact is inactive, an opportunity or a customer")
    return "\n".join(lines)


def _top_accounts(db: str, count: int = 5) -> str:
    """The best-scored accounts (the company model's), mirroring the top leads."""
    cache = open_cache(db)
    try:
        found = top_accounts(cache, count)
    finally:
        cache.close()
    lines = ["Top accounts (the company model's best-scored companies), and why:"]
    for account in found:
        lines.append(f"  {account.total:>5g} {account.grade or '--':<3} {account.label}  "
                     f"(fit {account.fit:g}, engagement {account.engagement:g}, "
                     f"{account.contacts:,} contact{'' if account.contacts == 1 else 's'})")
        lines.append(f"        {account.why}")
    if not found:
        lines.append("  none: no company scored yet")
    return "\n".join(lines)


def _backtest(db: str, settings: Settings) -> str:
    """Score the portal as it was 90 days ago and check who converted since (the lift chart)."""
    from analysis.backtests import run_backtest
    from scoring.backtest import default_as_of

    as_of = default_as_of(datetime.now(timezone.utc), 90)
    result = run_backtest(db, settings, model_path=None, compare_path=None, as_of=as_of,
                          horizon_days=90, random_baseline=True)
    # With [[models]] the evaluations come in the config's order: show its names
    names = [m.name for m in settings.models] if settings.configured_models else []
    aucs = [f"{names[i] if i < len(names) else e.model}: {e.auc:.3f}"
            for i, e in enumerate(result.evaluations) if e.auc is not None]
    if result.company is not None and result.company.evaluation.auc is not None:
        aucs.append(f"companies: {result.company.evaluation.auc:.3f}")
    return (f"Backtest as of {as_of:%Y-%m-%d}, 90-day horizon: ROC AUC {', '.join(aucs)} "
            f"(0.5 = chance; run `leadsync backtest` for the full table)")


def _learned(db: str, settings: Settings, path: Path, command: str = "leadsync") -> str:
    """Fit a points model to the same history, and set its validation AUC beside the starter's."""
    from analysis.learn import Options, run_learn
    from scoring.backtest import default_as_of

    as_of = default_as_of(datetime.now(timezone.utc), 90)
    try:
        result = run_learn(db, settings, model_path=None, out=str(path), force=True,
                           options=Options(as_of=as_of))
    except ConfigError as exc:
        return f"Learned model: skipped ({exc})"
    learned, _, starter = result.evaluations
    return (f"Learned model: {path} ({result.rules} rules, {result.double_every:g} points "
            f"double the odds), fitted on earlier dates and validated as of {as_of:%Y-%m-%d}: "
            f"ROC AUC {learned.auc:.3f} vs the starter's {starter.auc:.3f}\n"
            f"  review it: {command} --db {db} simulate --model {path}; "
            f"{command} --db {db} backtest --compare {path}")


def _report(db: str, path: Path, settings: Settings) -> str:
    from analysis.report import run_report

    try:
        return f"Report: {run_report(db, path, settings=settings)}  (open it in a browser)"
    except ConfigError as exc:
        return f"Report: skipped ({exc})"

"""`leadsync status`: what the cache holds, where each stream stands, how runs went."""
from __future__ import annotations

import json
import math
from dataclasses import asdict
from datetime import datetime, timedelta, timezone

from cache import inbox as inbox_mod
from cache.database import Cache
from connector.associations import audit_bound, audit_size
from cache.lock import alive, holder
from foundation.settings import Settings

RECENT_DAYS = 7  # "verified in the last N days" in the association audit's line

# Runs recorded without the run lock (read-only over the cache): alive while their process is.
UNLOCKED_COMMANDS = frozenset({"backtest"})


def status(cache: Cache, now: datetime | None = None, settings: Settings | None = None) -> dict:
    """A JSON-ready picture of the cache: streams, counts, recent runs, budget, queues, and
    how far the association audit and the archived sweep have got (bounds from `settings`)."""
    conn = cache.conn
    now = now or datetime.now(timezone.utc)
    settings = settings or Settings()
    streams = {row[0]: {"watermark": row[1], "resuming": row[2]}
               for row in conn.execute("SELECT stream, watermark, phase FROM sync_state ORDER BY stream")}
    counts = {}
    for table in ("contacts", "companies"):
        counts[table] = _live_archived(conn, f"SELECT archived, merged_into IS NOT NULL, count(*) "
                                             f"FROM {table} GROUP BY 1, 2")
    for row in conn.execute("SELECT type, archived, count(*) FROM engagements GROUP BY 1, 2"):
        entry = counts.setdefault(row[0], {"live": 0, "archived": 0, "merged": 0})
        entry["live" if row[1] == 0 else "archived"] += row[2]
    runs = [{**_run(*r[:8]), "pid": r[8]} for r in conn.execute(
        "SELECT id, command, started_at, ended_at, outcome, api_calls, records, details, pid "
        "FROM runs ORDER BY id DESC LIMIT 5")]
    lock_holder = holder(cache.path) if cache.path != ":memory:" else None
    for run in runs:
        if run["outcome"] == "running" and not _live(run, lock_holder):
            run["outcome"] = "interrupted"  # killed (SIGKILL, power cut): it never said so
    return {
        "streams": streams,
        "counts": counts,
        "scores": conn.execute("SELECT count(*) FROM scores").fetchone()[0],
        "scores_by_model": dict(conn.execute(
            "SELECT model, count(*) FROM scores GROUP BY model ORDER BY model").fetchall()),
        "history_rows": conn.execute("SELECT count(*) FROM score_history").fetchone()[0],
        "company_scores": _company_scores(conn),
        "outbox": dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()),
        "inbox": dict(conn.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall()),
        "webhooks": asdict(inbox_mod.metrics(cache, now)),
        "association_audit": _audit(conn, now, settings),
        "archive_sweep": _sweep(conn, counts, settings),
        "daily_budget": _daily_budget(conn),
        "last_runs": runs,
    }


def _company_scores(conn) -> dict:
    """Company scores (a company model's): how many, by grade, their history, their outbox."""
    count = conn.execute("SELECT count(*) FROM company_scores").fetchone()[0]
    return {"count": count,
            "grades": {grade or "none": n for grade, n in conn.execute(
                "SELECT grade, count(*) FROM company_scores GROUP BY grade "
                "ORDER BY grade IS NULL, grade")},
            "history_rows": conn.execute(
                "SELECT count(*) FROM company_score_history").fetchone()[0],
            "outbox": dict(conn.execute(
                "SELECT status, count(*) FROM company_outbox GROUP BY status "
                "ORDER BY status").fetchall())}


# What `runs.records` counts, per command (the command's own summary says the same).
RECORD_UNITS = {"pull": "records pulled", "sync": "records pulled", "push": "contacts written",
                "webhook": "contacts written", "score": "contacts scored",
                "backtest": "contacts evaluated"}


def _run(run_id: int, command: str, started_at: str, ended_at: str | None, outcome: str,
         api_calls: int, records: int, details: str | None) -> dict:
    run = {"id": run_id, "command": command, "started_at": started_at, "ended_at": ended_at,
           "outcome": outcome, "api_calls": api_calls, "records": records,
           "records_are": RECORD_UNITS.get(command, "records")}
    if command == "sync":  # a sync also writes: the same count its own summary prints
        written = ((_details(details).get("push") or {}).get("contacts_written"))
        run["contacts_written"] = written
    return run


def _details(text: str | None) -> dict:
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _audit(conn, now: datetime, settings: Settings) -> dict:
    """How much of the cache's contacts have had their links verified, and when."""
    since = (now - timedelta(days=RECENT_DAYS)).isoformat(timespec="milliseconds")
    live, verified, recent, oldest = conn.execute(
        "SELECT count(*), count(links_verified_at), count(*) FILTER (WHERE links_verified_at >= ?), "
        "min(links_verified_at) FROM contacts WHERE archived = 0 AND merged_into IS NULL",
        (since.replace("+00:00", "Z"),)).fetchone()
    targets = [s for s in settings.streams if s != "contacts"] if "contacts" in settings.streams else []
    per_run = audit_size(settings.association_audit_share, settings.tier, len(targets))
    return {"contacts": live, "verified": verified, "never_verified": live - verified,
            "oldest_verified_at": oldest if verified == live else None,
            f"verified_last_{RECENT_DAYS}_days": recent,
            f"share_verified_last_{RECENT_DAYS}_days": round(recent / live, 4) if live else None,
            "contacts_per_run": per_run, "runs_to_verify_all": audit_bound(live, per_run)}


def _sweep(conn, counts: dict, settings: Settings) -> dict:
    """Where each stream's rolling archived sweep stands, and how many runs a cycle takes."""
    rows = {r[0]: r[1:] for r in conn.execute(
        "SELECT stream, after, cycle_started, pages, last_pages, last_completed FROM archive_sweep")}
    report = {}
    for stream in settings.streams:
        after, started, pages, last_pages, completed = rows.get(stream, (None, None, 0, None, None))
        archived = counts.get(stream, {}).get("archived", 0)
        cycle = max(last_pages or 0, math.ceil(archived / 100), 1)
        report[stream] = {"pages_this_cycle": pages if started else 0, "cycle_started": started,
                          "last_cycle_pages": last_pages, "last_completed": completed,
                          "runs_per_cycle": (math.ceil(cycle / settings.archive_sweep_pages)
                                             if settings.archive_sweep_pages else None)}
    return report


def _runs(count: int) -> str:
    return f"{count:,} incremental pull{'' if count == 1 else 's'}"


def _live(run: dict, lock_holder: int | None) -> bool:
    """Is a run recorded as 'running' still going? Its process must exist and, for commands
    that take the run lock, be the one holding it (a killed run's lock is released by the OS)."""
    if run["command"] in UNLOCKED_COMMANDS:
        return alive(run["pid"])
    return lock_holder is not None and (lock_holder == run["pid"] or lock_holder < 0
                                        or run["pid"] is None)


def _live_archived(conn, sql: str) -> dict[str, int]:
    entry = {"live": 0, "archived": 0, "merged": 0}
    for archived, merged, count in conn.execute(sql):
        entry["merged" if merged else ("live" if archived == 0 else "archived")] += count
    return entry


def _daily_budget(conn) -> dict | None:
    """The daily allowance HubSpot reported on the last run that recorded it (a pull's own
    details, or the pull inside a sync's)."""
    for ended_at, details in conn.execute(
            "SELECT ended_at, details FROM runs WHERE details LIKE '%daily_remaining%' "
            "ORDER BY id DESC"):
        found = _details(details)
        remaining = found.get("daily_remaining", (found.get("pull") or {}).get("daily_remaining"))
        if remaining is not None:
            return {"remaining": remaining, "as_of": ended_at}
    return None


def render(report: dict) -> str:
    """The human-readable status text."""
    lines = ["Streams (watermark = everything modified before it is in the cache):"]
    for name, info in report["streams"].items():
        resume = f"  (a {info['resuming']} pull is half done; the next pull resumes it)" if info["resuming"] else ""
        lines.append(f"  {name:<10} {info['watermark'] or 'never pulled'}{resume}")
    lines.append("Records (live / archived / merged away):")
    for name, c in report["counts"].items():
        lines.append(f"  {name:<10} {c['live']:>8,} / {c['archived']:,} / {c['merged']:,}")
    lines.append(f"Scores: {report['scores']:,}  history rows: {report['history_rows']:,}")
    by_model = report.get("scores_by_model") or {}
    if len(by_model) > 1 or set(by_model) - {"default"}:
        lines.append("  by model: " + ", ".join(f"{name} {count:,}"
                                                for name, count in by_model.items()))
    companies = report.get("company_scores") or {}
    if companies.get("count") or companies.get("history_rows"):
        grades = ", ".join(f"{g} {n:,}" for g, n in companies["grades"].items()) or "none"
        lines.append(f"Company scores: {companies['count']:,} (grades: {grades})  history rows: "
                     f"{companies['history_rows']:,}")
        if companies["outbox"]:
            lines.append("  company outbox: " + ", ".join(
                f"{k} {v:,}" for k, v in companies["outbox"].items()))
    if report["outbox"]:
        lines.append("Outbox: " + ", ".join(f"{k} {v:,}" for k, v in sorted(report["outbox"].items())))
    if report["inbox"]:
        lines.append("Inbox: " + ", ".join(f"{k} {v:,}" for k, v in sorted(report["inbox"].items())))
        hooks = report["webhooks"]
        age = hooks["oldest_pending_age_s"]
        lines.append(f"Webhooks: {hooks['depth']:,} waiting"
                     + (f" (oldest received {age:,.1f} s ago)" if age is not None else "")
                     + f", {hooks['processed']:,} processed, {hooks['failed']:,} failed (to retry), "
                     f"{hooks['parked']:,} parked, {hooks['dropped']:,} dropped")
        if hooks["parked"]:
            lines.append("  parked events need a look: SELECT * FROM inbox WHERE status = 'parked'")
    audit = report["association_audit"]
    if audit["contacts"]:
        recent = audit[f"verified_last_{RECENT_DAYS}_days"]
        oldest = (f"oldest verified {audit['oldest_verified_at']}" if audit["oldest_verified_at"]
                  else f"{audit['never_verified']:,} never verified")
        bound = (f"; {audit['contacts_per_run']:,} a pull, all within "
                 f"{_runs(audit['runs_to_verify_all'])}" if audit["contacts_per_run"]
                 else "; the audit is off (pull.association_audit_share = 0)")
        lines.append(f"Association audit: {recent:,} of {audit['contacts']:,} contacts' links "
                     f"verified in the last {RECENT_DAYS} days "
                     f"({recent / audit['contacts']:.0%}), {oldest}{bound}")
    sweeps = [(name, s) for name, s in report["archive_sweep"].items() if s["last_completed"]
              or s["cycle_started"]]
    if sweeps:
        lines.append("Archived sweep (deletions are seen within one cycle):")
        for name, s in sweeps:
            runs = (f"a cycle takes {_runs(s['runs_per_cycle'])}"
                    if s["runs_per_cycle"] else "off (pull.archive_sweep_pages = 0)")
            lines.append(f"  {name:<10} last complete {s['last_completed'] or 'never'}, "
                         f"{s['pages_this_cycle']:,} pages into this cycle; {runs}")
    budget = report["daily_budget"]
    lines.append(f"Daily API budget left: {budget['remaining']:,} (as of {budget['as_of']})" if budget
                 else "Daily API budget left: unknown until a pull talks to HubSpot")
    lines.append("Last runs:")
    for run in report["last_runs"]:
        written = run.get("contacts_written")
        lines.append(f"  #{run['id']} {run['command']:<8} {run['started_at']} {run['outcome']:<11} "
                     f"{run['api_calls']:,} calls, {run['records']:,} {run['records_are']}"
                     + (f", {written:,} contacts written" if written is not None else ""))
    return "\n".join(lines)

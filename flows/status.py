"""`leadsync status`: what the cache holds, where each stream stands, how runs went."""
from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timezone

from cache import inbox as inbox_mod
from cache.database import Cache
from cache.lock import alive, holder

# Runs recorded without the run lock (read-only over the cache): alive while their process is.
UNLOCKED_COMMANDS = frozenset({"backtest"})


def status(cache: Cache, now: datetime | None = None) -> dict:
    """A JSON-ready picture of the cache: streams, counts, recent runs, budget, queues."""
    conn = cache.conn
    streams = {row[0]: {"watermark": row[1], "resuming": row[2]}
               for row in conn.execute("SELECT stream, watermark, phase FROM sync_state ORDER BY stream")}
    counts = {}
    for table in ("contacts", "companies"):
        counts[table] = _live_archived(conn, f"SELECT archived, merged_into IS NOT NULL, count(*) "
                                             f"FROM {table} GROUP BY 1, 2")
    for row in conn.execute("SELECT type, archived, count(*) FROM engagements GROUP BY 1, 2"):
        entry = counts.setdefault(row[0], {"live": 0, "archived": 0, "merged": 0})
        entry["live" if row[1] == 0 else "archived"] += row[2]
    runs = [dict(zip(("id", "command", "started_at", "ended_at", "outcome", "api_calls", "records",
                      "pid"), r))
            for r in conn.execute("SELECT id, command, started_at, ended_at, outcome, api_calls, "
                                  "records, pid FROM runs ORDER BY id DESC LIMIT 5")]
    lock_holder = holder(cache.path) if cache.path != ":memory:" else None
    for run in runs:
        if run["outcome"] == "running" and not _live(run, lock_holder):
            run["outcome"] = "interrupted"  # killed (SIGKILL, power cut): it never said so
    return {
        "streams": streams,
        "counts": counts,
        "scores": conn.execute("SELECT count(*) FROM scores").fetchone()[0],
        "history_rows": conn.execute("SELECT count(*) FROM score_history").fetchone()[0],
        "outbox": dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()),
        "inbox": dict(conn.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall()),
        "webhooks": asdict(inbox_mod.metrics(cache, now or datetime.now(timezone.utc))),
        "daily_budget": _daily_budget(conn),
        "last_runs": runs,
    }


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
    """The daily allowance HubSpot reported on the last run that called it."""
    row = conn.execute("SELECT ended_at, details FROM runs WHERE details LIKE '%daily_remaining%' "
                       "ORDER BY id DESC LIMIT 1").fetchone()
    if not row:
        return None
    remaining = json.loads(row[1]).get("daily_remaining")
    return None if remaining is None else {"remaining": remaining, "as_of": row[0]}


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
    budget = report["daily_budget"]
    lines.append(f"Daily API budget left: {budget['remaining']:,} (as of {budget['as_of']})" if budget
                 else "Daily API budget left: unknown until a pull talks to HubSpot")
    lines.append("Last runs:")
    for run in report["last_runs"]:
        lines.append(f"  #{run['id']} {run['command']:<8} {run['started_at']} {run['outcome']:<11} "
                     f"{run['api_calls']:,} calls, {run['records']:,} records")
    return "\n".join(lines)

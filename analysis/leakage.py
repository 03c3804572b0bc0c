"""`leadsync leakage`: where leads leak after scoring, read from the cache (no API call).

From the last rescore's SLA states (`scores.followup`), stages, inactivity and recycle
reasons, and HubSpot's stage dates and owners:

    MQLs             contacts that entered MQL          leaked: never touched (SLA breached, no touch)
    touched in time  MQLs whose owner met the SLA       leaked: SLA breaches (still open, or met late)
    SQLs             contacts that entered SQL          leaked: SQLs gone inactive
    recycled         sent back to nurturing by a [[recycle]] rule

by owner, team and source, and by month of MQL entry; time to first touch per owner; and
the contacts to act on today (breached, or due before the day ends). docs/leakage.md.
"""
from __future__ import annotations

import csv
import json
import os
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

from cache.database import Cache
from cache.owners import name_of, owner_names
from foundation.errors import ConfigError
from foundation.settings import DEFAULT_MODEL

COUNTS = ("mqls", "never_touched", "breached", "met_late", "sqls", "sqls_inactive", "recycled")
BUCKETS = (("under 1 h", 1), ("1-4 h", 4), ("4-24 h", 24), ("1-3 days", 72),
           ("over 3 days", float("inf")))
CSV_FIELDS = ("contact_id", "email", "owner", "team", "source", "stage", "status", "due_at",
              "hours_overdue")
_ROWS = """
    SELECT c.id, c.email,
           json_extract(c.properties, '$.lifecyclestage', '$.hubspot_owner_id',
                        '$.hs_analytics_source', '$.hs_v2_date_entered_marketingqualifiedlead',
                        '$.hs_v2_date_entered_salesqualifiedlead'),
           s.followup, s.inactive, s.reasons, s.as_of
    FROM contacts c JOIN scores s ON s.contact_id = c.id AND s.model = ?
    WHERE c.archived = 0 AND c.merged_into IS NULL
    ORDER BY CAST(c.id AS INTEGER), c.id"""


@dataclass
class Leakage:
    """The leakage report: every list is JSON-ready (`as_dict`)."""

    as_of: str | None
    with_sla: int = 0  # contacts with an SLA state (0: the model has no [sla], or none applies)
    funnel: list[dict] = field(default_factory=list)
    by_owner: list[dict] = field(default_factory=list)
    by_team: list[dict] = field(default_factory=list)
    by_source: list[dict] = field(default_factory=list)
    by_month: list[dict] = field(default_factory=list)
    first_touch: list[dict] = field(default_factory=list)
    act_today: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def render(self) -> str:
        lines = [f"Lead leakage as of the last score ({self.as_of or 'never scored'})", "",
                 f"{'step':<22} {'contacts':>9} {'leaked':>8}  what leaked"]
        lines += [f"{s['step']:<22} {s['contacts']:>9,} {s['leaked']:>8,}  {s['leak']}"
                  for s in self.funnel]
        for title, rows in (("owner", self.by_owner), ("team", self.by_team),
                            ("source", self.by_source), ("month of MQL", self.by_month)):
            lines += ["", f"{'by ' + title:<28} {'MQLs':>6} {'never':>6} {'breach':>7} "
                          f"{'late':>5} {'SQLs':>5} {'idle':>5} {'recyc':>6}"]
            lines += [f"{r['name'][:28]:<28} {r['mqls']:>6,} {r['never_touched']:>6,} "
                      f"{r['breached']:>7,} {r['met_late']:>5,} {r['sqls']:>5,} "
                      f"{r['sqls_inactive']:>5,} {r['recycled']:>6,}" for r in rows]
        lines += ["", f"{'time to first touch':<28} {'touched':>8} {'median h':>9} {'p90 h':>7} "
                      f"{'in SLA':>7}"]
        lines += [f"{r['owner'][:28]:<28} {r['touched']:>8,} {_h(r['median_hours']):>9} "
                  f"{_h(r['p90_hours']):>7} {_pct(r['within_sla']):>7}" for r in self.first_touch]
        lines += ["", f"{len(self.act_today):,} contacts to act on today (--csv FILE lists them)"]
        return "\n".join(lines)


def leakage(cache: Cache, model: str = DEFAULT_MODEL) -> Leakage:
    """The leakage report of the cache as of its last rescore, from the scores (and SLA
    states) of `model`: the model in charge of stages, so a contact counts once."""
    names = owner_names(cache.conn)
    groups: dict[str, dict[str, dict[str, int]]] = {k: defaultdict(_zero) for k in
                                                    ("owner", "team", "source", "month")}
    touch_hours: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    totals = _zero()
    act: list[dict] = []
    as_of, with_sla = None, 0
    for contact_id, email, props, followup, inactive, reasons, scored_as_of in \
            cache.conn.execute(_ROWS, (model,)):
        stage, owner, source, mql_at, sql_at = json.loads(props)
        state = json.loads(followup) if followup else None
        with_sla += state is not None
        as_of = max(as_of or scored_as_of, scored_as_of)
        owner = (state or {}).get("owner") or owner
        who = name_of(names, owner)
        flags = _flags(stage, mql_at, sql_at, state, inactive, reasons)
        if not any(flags.values()):
            continue
        keys = {"owner": who.name, "team": who.team, "source": source or "(unknown)",
                "month": (mql_at or "")[:7] or "(not an MQL)"}
        for kind, key in keys.items():
            _add(groups[kind][key], flags)
        _add(totals, flags)
        if state and state.get("met_at"):
            hours = (_t(state["met_at"]) - _t(state["started_at"])).total_seconds() / 3600
            touch_hours[who.name].append((hours, state["status"] == "met"))
        if state and state["status"] in ("breached", "pending"):
            act.append({"contact_id": contact_id, "email": email or "", "owner": who.name,
                        "team": who.team, "source": source or "", "stage": stage or "",
                        "status": state["status"], "due_at": state["due_at"]})
    return Leakage(as_of, with_sla, _funnel(totals), *(_table(groups[k]) for k in
                                              ("owner", "team", "source")),
                   _table(groups["month"], by_name=True), _first_touch(touch_hours),
                   _today(act, as_of))


def _flags(stage: str | None, mql_at: str | None, sql_at: str | None, state: dict | None,
           inactive: int, reasons: str) -> dict[str, int]:
    status = (state or {}).get("status")
    return {"mqls": int(bool(mql_at)), "never_touched": int(status == "breached"),
            "breached": int(status in ("breached", "met_late")),
            "met_late": int(status == "met_late"), "sqls": int(bool(sql_at)),
            "sqls_inactive": int(stage == "salesqualifiedlead" and bool(inactive)),
            "recycled": int('"Recycled: ' in (reasons or "") and ',"stage",' in reasons)}


def _zero() -> dict[str, int]:
    return dict.fromkeys(COUNTS, 0)


def _add(into: dict[str, int], flags: dict[str, int]) -> None:
    for key, value in flags.items():
        into[key] += value


def _funnel(t: dict[str, int]) -> list[dict]:
    touched = t["mqls"] - t["never_touched"]
    return [
        {"step": "Became MQL", "contacts": t["mqls"], "leaked": t["never_touched"],
         "leak": "MQLs never touched by their owner (SLA breached, no touch yet)"},
        {"step": "Touched by owner", "contacts": touched, "leaked": t["met_late"],
         "leak": "touched only after the SLA deadline (met late)"},
        {"step": "Became SQL", "contacts": t["sqls"], "leaked": t["sqls_inactive"],
         "leak": "SQLs gone inactive (no activity for [inactive] after_days)"},
        {"step": "Recycled", "contacts": t["recycled"], "leaked": t["recycled"],
         "leak": "sent back to nurturing by a [[recycle]] rule"},
    ]


def _table(groups: dict[str, dict[str, int]], *, by_name: bool = False) -> list[dict]:
    rows = [{"name": name, **counts} for name, counts in groups.items()]
    key = (lambda r: r["name"]) if by_name else (lambda r: (-r["never_touched"], -r["breached"],
                                                            -r["mqls"], r["name"]))
    return sorted(rows, key=key)


def _first_touch(hours: dict[str, list[tuple[float, bool]]]) -> list[dict]:
    rows = []
    for owner, items in sorted(hours.items()):
        values = sorted(h for h, _ in items)
        buckets, low = {}, 0.0
        for label, high in BUCKETS:
            buckets[label] = sum(1 for h in values if low <= h < high)
            low = high
        rows.append({"owner": owner, "touched": len(values),
                     "median_hours": round(statistics.median(values), 2),
                     "p90_hours": round(values[min(len(values) - 1, int(0.9 * len(values)))], 2),
                     "within_sla": round(sum(1 for _, ok in items if ok) / len(items), 3),
                     "buckets": buckets})
    return rows


def _today(act: list[dict], as_of: str | None) -> list[dict]:
    """Breached contacts, and pending ones due before the end of the as-of day (UTC)."""
    if as_of is None:
        return []
    now = _t(as_of)
    end = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = []
    for row in act:
        due = _t(row["due_at"])
        if row["status"] == "breached" or due < end:
            rows.append({**row, "hours_overdue": round(max(0.0, (now - due).total_seconds())
                                                       / 3600, 1)})
    return sorted(rows, key=lambda r: (-r["hours_overdue"], r["due_at"], r["contact_id"]))


def write_csv(rows: Iterable[dict], path: str | os.PathLike) -> Path:
    """The contacts to act on today as CSV (written beside, then moved into place)."""
    target = Path(path).resolve()
    if not target.parent.is_dir():
        raise ConfigError(f"{path}: directory {target.parent} does not exist")
    partial = target.with_name(target.name + ".partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(partial, target)
    return target


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _h(value: Any) -> str:
    return f"{value:.1f}"


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def run_leakage(db_path: str, csv_path: str | None = None, *,
                model: str = DEFAULT_MODEL) -> Leakage:
    """`leadsync leakage`: the report of the cache at `db_path`; `csv_path` gets the contacts
    to act on today."""
    if db_path != ":memory:" and not Path(db_path).is_file():
        raise ConfigError(f"no cache at {db_path}; run `leadsync sync` first (or pass --db)")
    from cache.database import open_cache
    cache = open_cache(db_path)
    try:
        result = leakage(cache, model)
    finally:
        cache.close()
    if csv_path is not None:
        write_csv(result.act_today, csv_path)
    return result

"""A small hand-made cache with every kind of data the report draws (numbers known by hand)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from score_cache import add_contact

from analysis.backtests import save_backtest
from cache.database import Cache, open_cache
from scoring import Reason, loads
from scoring.backtest import backtest
from scoring.reasons import dumps

D = "T00:00:00.000Z"
MODEL = loads("""
[model]
name = "report"
version = "1"
[[fit.rules]]
name = "VP"
when = { jobtitle = { contains = "VP" } }
points = 20
[grades]
fit = { A = 20, B = 10 }
engagement = { 1 = 20, 2 = 5 }
[stages]
managed = ["lead", "marketingqualifiedlead"]
[stages.marketingqualifiedlead]
when = { score = { gte = 20 } }
""")


def reasons(*items: tuple) -> str:
    """Reasons as the cache stores them: (rule, section, points[, occurrences]); a bound
    ("total floored at 0") has 0 occurrences, as the engine stores it."""
    return dumps(Reason(r, s, float(p), *(rest or (1,))) for r, s, p, *rest in items)


def build(path: Path, *, with_backtest: bool = True) -> Cache:
    cache = open_cache(path)
    add_contact(cache, "1", email="a@x.io", jobtitle="VP Sales", lifecyclestage="customer",
                hs_analytics_source="ORGANIC_SEARCH", createdate=f"2026-01-01{D}",
                hs_v2_date_entered_lead=f"2026-01-01{D}",
                hs_v2_date_entered_opportunity=f"2026-03-01{D}",
                hs_v2_date_entered_customer=f"2026-04-01{D}")
    add_contact(cache, "2", email="b@x.io", lifecyclestage="lead", createdate=f"2026-01-01{D}",
                hs_analytics_source="ORGANIC_SEARCH")
    add_contact(cache, "3", email="c@x.io", jobtitle="VP", lifecyclestage="marketingqualifiedlead",
                hs_analytics_source="PAID_SOCIAL", createdate=f"2026-01-01{D}",
                hs_v2_date_entered_marketingqualifiedlead=f"2026-02-01{D}")
    add_contact(cache, "4", email="d@x.io", lifecyclestage="subscriber",
                createdate=f"2026-01-01{D}")
    add_contact(cache, "5", email="e@x.io", lifecyclestage="customer", archived=1,
                hs_analytics_source="ORGANIC_SEARCH")
    # Recycled back to lead after an opportunity: it reached opportunity, so it converted.
    add_contact(cache, "6", email="f@x.io", lifecyclestage="lead", hs_analytics_source="REFERRALS",
                createdate=f"2026-01-01{D}", hs_v2_date_entered_opportunity=f"2026-05-01{D}")
    with cache.transaction() as conn:
        for contact_id, total, grade, stage, why in [
                ("1", 40, "A3", "customer",
                 reasons(("VP", "fit", 20), ("Meetings", "engagement", 20))),
                ("2", 60, "C1", "marketingqualifiedlead", reasons(("Meetings", "engagement", 60))),
                ("3", 20, "A3", "marketingqualifiedlead", reasons(("VP", "fit", 20))),
                ("4", 0, "C3", "subscriber",
                 reasons(("Free email", "fit", -5), ("total floored at 0", "total", 5, 0))),
                ("5", 99, "A1", "customer", reasons(("VP", "fit", 99)))]:
            conn.execute("INSERT INTO scores (contact_id, model_name, model_version, as_of, fit, "
                         "engagement, total, grade, stage, inactive, reasons, scored_at) "
                         "VALUES (?, 'report', '1', ?, 0, 0, ?, ?, ?, 0, ?, ?)",
                         (contact_id, f"2026-11-02{D}", total, grade, stage, why, f"2026-11-02{D}"))
        for contact_id, as_of, total, stage in [("1", "2026-11-01", 40, "customer"),
                                                ("2", "2026-11-01", 10, "lead"),
                                                ("2", "2026-11-02", 60, "marketingqualifiedlead"),
                                                ("3", "2026-11-02", 20, "lead")]:
            conn.execute("INSERT INTO score_history (contact_id, changed_at, as_of, model_name, "
                         "model_version, trigger, new_total, new_stage) "
                         "VALUES (?, ?, ?, 'report', '1', 'score', ?, ?)",
                         (contact_id, f"{as_of}{D}", f"{as_of}{D}", total, stage))
    if with_backtest:
        rows = [(r[0], json.loads(r[1]), [], None) for r in cache.conn.execute(
            "SELECT id, properties FROM contacts WHERE archived = 0 ORDER BY id")]
        save_backtest(cache, backtest(rows, [MODEL], datetime(2026, 2, 15, tzinfo=timezone.utc), 90,
                                      random_baseline=True))
    return cache

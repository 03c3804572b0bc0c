"""`leadsync report`: one self-contained HTML file a marketing lead can open.

Funnel by stage, score and grade distributions, the lift chart of the last backtest,
conversion by source channel, scores over time from the history, and the rules that
contribute most points; with a company model, the top accounts (analysis/company_report.py). Charts are matplotlib SVG inlined in the page with the CSS: no
scripts, no external URLs, nothing to install to read it. matplotlib is an optional extra
(`pip install 'leadsync[report]'`).

One module over the usual size on purpose: it is the page itself, its sections and stylesheet
rendered from one `ReportData` gathered in one pass; the charts live in report_charts.py.
"""
from __future__ import annotations

import contextlib
import html
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from analysis.backtests import pick_backtest
from analysis.company_report import accounts
from analysis.leakage import leakage
from cache.database import Cache, open_cache
from foundation.errors import ConfigError
from foundation.settings import DEFAULT_MODEL, Settings
from scoring.backtest import default_as_of
from scoring.model import STAGE_ORDER
from scoring.reasons import is_bound
from scoring.simulate import Distribution, distribution

CONVERTED_FROM = STAGE_ORDER.index("opportunity")
QUALIFIED_FROM = STAGE_ORDER.index("marketingqualifiedlead")
TOP_RULES = 15
MISSING_EXTRA = "the report needs matplotlib, an optional extra: pip install 'leadsync[report]'"


@dataclass
class ReportData:
    """Everything the report shows, read from the cache."""

    generated_at: str
    portal: str | None = None  # the HubSpot portal (its id, when webhooks named it, and URL)
    created: tuple[str, str] | None = None  # first and last contact creation date
    scored_as_of: tuple[str, str] | None = None  # oldest and newest as-of of the stored scores
    contacts: int = 0
    funnel: list[tuple[str, int]] = field(default_factory=list)
    # name, contacts, converted, reached MQL, mean score (None: none scored), best rate first
    sources: list[tuple[str, int, int, int, float | None]] = field(default_factory=list)
    scored: int = 0
    models: list[str] = field(default_factory=list)
    scores: Distribution | None = None
    grades: dict[str, int] = field(default_factory=dict)
    rules: list[tuple[str, float, int]] = field(default_factory=list)  # rule, points, contacts
    trend: tuple[list[str], list[float], list[int]] = ([], [], [])
    backtest: dict | None = None
    backtest_id: int | None = None
    leakage: Any = None  # analysis.leakage.Leakage: its own section (analysis/leakage_report.py)
    model: str = DEFAULT_MODEL  # the config's model shown (the one in charge)
    comparison: Any = None  # analysis.compare.Comparison: champion vs challenger, if any
    accounts: Any = None  # analysis.company_report.Accounts: with a company model only


def run_report(db_path: str, out: str | os.PathLike, *, backtest_id: int | None = None,
               portal: str | None = None, settings: Settings | None = None) -> Path:
    """`leadsync report`: write the report of the cache at `db_path` to `out`: the scores of
    the config's model in charge, champion vs challenger when the config has a shadow, and the
    top accounts when it has a company model."""
    if db_path != ":memory:" and not Path(db_path).is_file():
        raise ConfigError(f"no cache at {db_path}; run `leadsync pull` first (or pass --db)")
    model, comparison = DEFAULT_MODEL, None
    companies = settings is not None and bool(settings.company_model_path)
    if settings is not None and settings.configured_models:
        from analysis.compare import run_compare
        from analysis.rescore import load_models

        cache = open_cache(db_path)
        try:
            models = load_models(settings, cache)
        finally:
            cache.close()
        model = models.primary.name
        if [m for m in models.shadows if m.name != model]:
            comparison = run_compare(db_path, settings, movers=5, backtest_as_of=default_as_of(
                datetime.now(timezone.utc), 90), horizon_days=90)
    cache = open_cache(db_path)
    try:
        return write_report(cache, out, backtest_id=backtest_id, portal=portal, model=model,
                            comparison=comparison, companies=companies)
    finally:
        cache.close()


def write_report(cache: Cache, path: str | os.PathLike, *,
                 generated_at: datetime | None = None, backtest_id: int | None = None,
                 portal: str | None = None, model: str = DEFAULT_MODEL,
                 comparison: Any = None, companies: bool = False) -> Path:
    """Write the HTML report of `cache` to `path` (replacing it); returns the absolute path.
    `companies`: a company model is configured, so the report has its "Top accounts"."""
    try:
        import analysis.report_charts  # noqa: F401  (matplotlib is an optional extra)
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] == "matplotlib":
            raise ConfigError(MISSING_EXTRA) from None
        raise
    target = Path(path).resolve()
    if not target.parent.is_dir():
        raise ConfigError(f"{path}: directory {target.parent} does not exist")
    partial = target.with_name(target.name + ".partial")
    try:  # opened before the charts are drawn: a path we cannot write fails at once
        handle = open(partial, "w", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the report to {path} ({exc.strerror or exc}); "
                          f"choose another --out") from None
    try:
        with handle:
            data = gather(cache, generated_at or datetime.now(timezone.utc),
                          backtest_id=backtest_id, portal=portal, model=model,
                          companies=companies)
            data.comparison = comparison
            handle.write(render(data))
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise
    return target


# ---- reading the cache ------------------------------------------------------------------------

def gather(cache: Cache, generated_at: datetime, *, backtest_id: int | None = None,
           portal: str | None = None, model: str = DEFAULT_MODEL,
           companies: bool = False) -> ReportData:
    """Read what the report shows (live contacts only; scores of the config's `model`; the
    company scores when `companies`). The backtest is `backtest_id`, else the newest non-empty
    one of the model that scored most contacts."""
    data = ReportData(generated_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                      model=model)
    data.portal = _portal(cache, portal)
    _contacts(cache, data)
    _scores(cache, data)
    data.trend = _trend(cache, model)
    picked = pick_backtest(cache, backtest_id, model=data.models[0] if data.models else None)
    if picked is not None:
        data.backtest_id, data.backtest = picked
    data.leakage = leakage(cache, model)
    if companies:
        data.accounts = accounts(cache)
    return data


def _portal(cache: Cache, base_url: str | None) -> str | None:
    """The portal id HubSpot's webhooks named (if any were received), and the API URL."""
    row = cache.conn.execute("SELECT json_extract(payload, '$.portalId') FROM inbox "
                             "WHERE json_valid(payload) ORDER BY id DESC LIMIT 1").fetchone()
    named = f"portal {row[0]}" if row and row[0] is not None else None
    return " at ".join(p for p in (named, base_url) if p) or None


_LIVE = "c.archived = 0 AND c.merged_into IS NULL"


def _contacts(cache: Cache, data: ReportData) -> None:
    dated = ", ".join(f"json_extract(c.properties, '$.hs_v2_date_entered_{s}')"
                      for s in STAGE_ORDER)
    reached = [0] * len(STAGE_ORDER)
    by_source: dict[str, list] = {}  # contacts, converted, reached MQL, score sum, scored
    for row in cache.conn.execute(
            f"SELECT json_extract(c.properties, '$.lifecyclestage'), "
            f"json_extract(c.properties, '$.hs_analytics_source'), s.total, {dated} "
            f"FROM contacts c LEFT JOIN scores s ON s.contact_id = c.id AND s.model = ? "
            f"WHERE {_LIVE}", (data.model,)):
        data.contacts += 1
        best = max([STAGE_ORDER.index(row[0]) if row[0] in STAGE_ORDER else -1] +
                   [i for i, at in enumerate(row[3:]) if at])
        for i in range(best + 1):
            reached[i] += 1
        tally = by_source.setdefault(_label(row[1]) if row[1] else "(unknown)", [0, 0, 0, 0.0, 0])
        tally[0] += 1
        tally[1] += best >= CONVERTED_FROM
        tally[2] += best >= QUALIFIED_FROM
        if row[2] is not None:
            tally[3] += row[2]
            tally[4] += 1
    last = max((i for i, n in enumerate(reached) if n), default=-1)
    data.funnel = [(_label(s), reached[i]) for i, s in enumerate(STAGE_ORDER[:max(last + 1, 6)])]
    data.sources = sorted(
        ((name, n, c, m, round(total / scored, 1) if scored else None)
         for name, (n, c, m, total, scored) in by_source.items()),
        key=lambda item: (-item[2] / item[1], -item[3] / item[1], -item[1], item[0]))
    first, last_created = cache.conn.execute(
        f"SELECT MIN(d), MAX(d) FROM (SELECT substr(COALESCE(c.created_at, "
        f"json_extract(c.properties, '$.createdate')), 1, 10) AS d FROM contacts c "
        f"WHERE {_LIVE}) WHERE d IS NOT NULL").fetchone()
    data.created = (first, last_created) if first else None


def _scores(cache: Cache, data: ReportData) -> None:
    model = data.model.replace("'", "''")
    live = (f"SELECT s.* FROM scores s JOIN contacts c ON c.id = s.contact_id "
            f"WHERE {_LIVE} AND s.model = '{model}'")
    totals, grades = [], {}
    for total, grade in cache.conn.execute(f"SELECT total, grade FROM ({live})"):
        totals.append(total)
        grades[grade or "(none)"] = grades.get(grade or "(none)", 0) + 1
    data.scored, data.grades = len(totals), grades
    data.scores = distribution(totals) if totals else None
    data.models = [f"{name} {version}" for name, version in cache.conn.execute(
        f"SELECT model_name, model_version FROM ({live}) GROUP BY 1, 2 ORDER BY COUNT(*) DESC")]
    oldest, newest = cache.conn.execute(f"SELECT MIN(as_of), MAX(as_of) FROM ({live})").fetchone()
    data.scored_as_of = (oldest[:10], newest[:10]) if oldest else None
    rows = cache.conn.execute(
        f"SELECT json_extract(r.value, '$[0]'), json_extract(r.value, '$[1]'), "
        f"json_extract(r.value, '$[3]') = 0, SUM(json_extract(r.value, '$[2]')), COUNT(*) "
        f"FROM ({live}) s, json_each(s.reasons) r GROUP BY 1, 2, 3").fetchall()
    # Bounds ("total floored at 0") are not rules: `explain` shows them, the chart does not.
    rows = [(rule, section, points, count) for rule, section, bound, points, count in rows
            if not is_bound((rule, section, points, 0 if bound else 1))]
    rows.sort(key=lambda r: (-abs(r[2] or 0), r[0]))
    data.rules = [(f"{rule} ({section})", round(points or 0, 1), count)
                  for rule, section, points, count in rows[:TOP_RULES]]


def _trend(cache: Cache, model: str = DEFAULT_MODEL) -> tuple[list[str], list[float], list[int]]:
    """Replays score_history in as-of order: per day, the mean of every contact's latest
    total and how many stood at MQL or later."""
    current: dict[str, float] = {}
    qualified: set[str] = set()
    days: list[str] = []
    means: list[float] = []
    counts: list[int] = []
    total = 0.0
    for as_of, contact_id, new_total, new_stage in cache.conn.execute(
            "SELECT as_of, contact_id, new_total, new_stage FROM score_history WHERE model = ? "
            "ORDER BY as_of, id", (model,)):
        day = as_of[:10]
        if days and day != days[-1]:
            means.append(round(total / len(current), 2))
            counts.append(len(qualified))
        if not days or day != days[-1]:
            days.append(day)
        total += (new_total or 0) - current.get(contact_id, 0.0)
        current[contact_id] = new_total or 0
        rank = STAGE_ORDER.index(new_stage) if new_stage in STAGE_ORDER else -1
        if rank >= QUALIFIED_FROM:
            qualified.add(contact_id)
        else:
            qualified.discard(contact_id)
    if days:
        means.append(round(total / len(current), 2))
        counts.append(len(qualified))
    return days, means, counts


def _label(code: str) -> str:
    """HubSpot's codes as words: ORGANIC_SEARCH -> Organic search, marketingqualifiedlead -> MQL."""
    names = {"marketingqualifiedlead": "MQL", "salesqualifiedlead": "SQL"}
    if code in names:
        return names[code]
    return code.replace("_", " ").capitalize()


# ---- the page ---------------------------------------------------------------------------------

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2937;
       margin: 0; background: #f3f4f6; }
header { background: #1e3a8a; color: white; padding: 24px 40px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 0; opacity: 0.85; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 40px 48px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 8px; }
.card { background: white; border-radius: 8px; padding: 12px 18px; min-width: 140px;
        box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.card b { display: block; font-size: 22px; }
.card span { font-size: 12px; color: #6b7280; }
section { background: white; border-radius: 8px; padding: 16px 24px; margin-top: 16px;
          box-shadow: 0 1px 2px rgba(0,0,0,.08); }
section h2 { font-size: 17px; margin: 0 0 4px; }
section p.why { margin: 0 0 10px; color: #4b5563; font-size: 14px; }
figure { margin: 0; }
figure svg { max-width: 100%; height: auto; }
.pair { display: flex; gap: 16px; align-items: flex-start; }
.pair svg { flex: 1 1 auto; min-width: 0; }
.empty { color: #6b7280; font-style: italic; }
table { border-collapse: collapse; font-size: 13px; margin-top: 8px; }
th, td { text-align: right; padding: 3px 10px; border-bottom: 1px solid #e5e7eb; }
th:first-child, td:first-child, .reasons { text-align: left; }
footer { color: #6b7280; font-size: 12px; margin-top: 24px; }
"""


def render(data: ReportData) -> str:
    """The page, every chart drawn now and inlined (needs matplotlib)."""
    from analysis import report_charts as charts
    from analysis.company_report import section as accounts_section
    from analysis.leakage_report import section as leakage_section

    e = html.escape
    sections = [
        _section("funnel", "Funnel by stage",
                 "How many contacts reached each lifecycle stage (now or at some point, from "
                 "HubSpot's date-entered properties), and what share of the previous stage "
                 "that is.",
                 charts.funnel(data.funnel) if data.contacts else None,
                 "No contacts in the cache yet: run `leadsync pull`."),
        _section("scores", "Scores and grades",
                 f"Current scores of {data.scored:,} contacts"
                 + (f" (model {e(', '.join(data.models))})" if data.models else "")
                 + ". Grades cross fit (A best) with engagement (1 most engaged).",
                 (f'<div class="pair">{charts.score_histogram(data.scores.histogram)}'
                  f'{charts.grade_matrix(data.grades)}</div>') if data.scores else None,
                 "Nothing scored yet: run `leadsync score`."),
        _section("lift", "Does the score find the buyers?"
                 + (f" (backtest #{data.backtest_id})" if data.backtest_id else ""),
                 _backtest_why(data),
                 charts.lift(data.backtest["evaluations"]) + _backtest_table(data.backtest)
                 if data.backtest and data.backtest["population"]["evaluated"] else None,
                 "No backtest of this model with anyone to evaluate yet: run `leadsync "
                 "backtest` to add the lift chart (or pick one: `leadsync report --backtest ID`)."),
        _section("sources", "Conversion by source channel",
                 "Which channels bring the leads that convert, best first: the share of each "
                 "channel's contacts that became an opportunity or a customer, the share that "
                 "reached MQL, and their mean score now.",
                 charts.sources(data.sources) + _sources_table(data.sources)
                 if data.sources else None, "No contacts in the cache yet."),
        _section("trend", "Scores over time",
                 "From the score history: each day's mean score over every contact scored so "
                 "far, and how many stood at MQL or a later stage"
                 + (" (one scoring day so far: each later day adds a point)."
                    if len(data.trend[0]) == 1 else "."),
                 charts.trend(*data.trend) if data.trend[0] else None,
                 "No score history yet: run `leadsync score`."),
        _section("rules", "Rules that contribute most points",
                 f"Points each rule adds (or removes) summed over all scored contacts; the top "
                 f"{TOP_RULES} by size.",
                 charts.rules(data.rules) if data.rules else None, "Nothing scored yet."),
    ]
    if data.accounts is not None:
        sections.append(accounts_section(data.accounts))
    if data.comparison is not None:
        sections.append(_comparison_section(data.comparison))
    qualified = sum(n for name, n in data.funnel if name == "MQL")
    customers = sum(n for name, n in data.funnel if name == "Customer")
    best_auc = _auc_card(data.backtest)
    cards = "".join(
        f'<div class="card"><b>{value}</b><span>{e(label)}</span></div>' for value, label in (
            (f"{data.contacts:,}", "contacts"), (f"{data.scored:,}", "scored"),
            (f"{qualified:,}", "reached MQL"), (f"{customers:,}", "became customers"),
            (best_auc, "backtest ROC AUC (0.5 = chance)")))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>leadsync report</title><style>{CSS}</style></head>
<body><header><h1>leadsync lead scoring report</h1>
<p>{e(_header_line(data))}</p></header>
<main><div class="cards">{cards}</div>
{''.join(sections)}{leakage_section(data.leakage)}
<footer>Made by leadsync. Every number comes from the local cache; scores are deterministic
(model, data, as-of date), so this report can be regenerated at any time.</footer>
</main></body></html>
"""


def _comparison_section(comparison: Any) -> str:
    """Champion vs challenger: the grade × grade table, who would move, backtest side by side."""
    e = html.escape
    c = comparison
    why = (f"The challenger {c.challenger} ({c.challenger_label}) runs in shadow beside the "
           f"champion {c.champion} ({c.champion_label}): scored on every run, never moving a "
           f"stage. Same grade for {c.agree:,} of {c.contacts:,} contacts both scored"
           + (f" ({100 * c.agree / c.contacts:.1f}%)." if c.contacts else "."))
    if not c.contacts:
        return _section("challenger", "Champion vs challenger", why, None,
                        "Nothing scored by both yet: run `leadsync sync`.")
    head = "".join(f"<th>{e(g)}</th>" for g in c.grades)
    rows = "".join(f"<tr><th>{e(r)}</th>" + "".join(
        f"<td>{c.table[r].get(col, 0) or ''}</td>" for col in c.grades) + "</tr>"
        for r in c.grades)
    table = (f'<table class="grades"><caption>Grades: rows champion, columns challenger'
             f'</caption><tr><th></th>{head}</tr>{rows}</table>')
    moves = "".join(f"<tr><td>{e(label)}</td><td>{n:,}</td></tr>" for label, n in c.moves.items())
    moving = (f"<table><caption>Who would move: lifecycle stage per the challenger "
              f"({sum(c.moves.values()):,} contacts)</caption>{moves}</table>")
    backtest = ""
    if c.backtest is not None:
        b = c.backtest
        cells = "".join(
            f"<tr><td>{label}</td>" + "".join(
                f"<td>{'n/a' if b[side][key] is None else form.format(b[side][key])}</td>"
                for side in ("champion", "challenger")) + "</tr>"
            for key, label, form in (("auc", "ROC AUC", "{:.3f}"),
                                     ("top_decile_lift", "top-decile lift", "{:.2f}x")))
        backtest = (f"<table><caption>Backtest as of {e(b['as_of'][:10])}, "
                    f"{b['horizon_days']} days</caption><tr><th></th><th>champion</th>"
                    f"<th>challenger</th></tr>{cells}</table>")
    return _section("challenger", "Champion vs challenger", why, table + moving + backtest, "")


def _header_line(data: ReportData) -> str:
    parts = [f"Portal: {data.portal}" if data.portal else "Portal: not recorded in the cache"]
    if data.created:
        parts.append(f"contacts created {data.created[0]} to {data.created[1]}")
    if data.scored_as_of:
        first, last = data.scored_as_of
        parts.append(f"scored as of {first}" + (f" to {last}" if last != first else ""))
    parts.append(f"generated {data.generated_at} from the leadsync cache")
    return " · ".join(parts)


def _section(name: str, title: str, why: str, body: str | None, empty: str) -> str:
    content = (f'<figure id="chart-{name}">{body}</figure>' if body is not None
               else f'<p class="empty">{html.escape(empty)}</p>')
    return (f'<section id="{name}"><h2>{html.escape(title)}</h2>'
            f'<p class="why">{html.escape(why)}</p>{content}</section>\n')


def _backtest_why(data: ReportData) -> str:
    if not data.backtest:
        return "A backtest scores contacts as of a past date and checks who converted later."
    bt = data.backtest
    pop = bt["population"]
    return (f"Scored as of {bt['as_of'][:10]} with only what was known then; "
            f"{pop['converted']:,} of {pop['evaluated']:,} contacts became an opportunity or "
            f"customer within {bt['horizon_days']} days. {backtest_sentence(bt)} Bars above 1 "
            f"mean a decile converts better than average; the dotted line is a random ranking.")


def backtest_sentence(backtest: dict) -> str:
    """The backtest in one plain sentence: how many of the buyers the top tenth held."""
    evaluations = backtest.get("evaluations") or []
    if not evaluations or not evaluations[0]["deciles"]:
        return ""
    first = evaluations[0]
    top = first["deciles"][0]
    if top["captured"] is None:
        return "Nobody converted in the window, so the ranking cannot be judged yet."
    return (f"The top 10% of {first['model']}'s scores ({top['contacts']:,} contacts) held "
            f"{top['captured']:.0%} of the buyers; a random ranking would hold 10%.")


def _backtest_table(backtest: dict) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(ev['model'])}</td><td>{_fmt(ev['auc'], '{:.3f}')}</td>"
        f"<td>{_fmt(ev['top_decile_lift'], '{:.2f}x')}</td>"
        f"<td>{_fmt(ev['mql'] and ev['mql']['precision'], '{:.1%}')}</td>"
        f"<td>{_fmt(ev['mql'] and ev['mql']['recall'], '{:.1%}')}</td></tr>"
        for ev in backtest["evaluations"])
    return ("<table><tr><th>model</th><th>ROC AUC</th><th>top-decile lift</th>"
            f"<th>MQL precision</th><th>MQL recall</th></tr>{rows}</table>")


def _sources_table(sources: list[tuple[str, int, int, int, float | None]]) -> str:
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{n:,}</td><td>{c:,}</td>"
                   f"<td>{c / n:.1%}</td><td>{m / n:.1%}</td><td>{_fmt(mean, '{:.1f}')}</td></tr>"
                   for name, n, c, m, mean in sources if n)
    return ("<table><tr><th>source</th><th>contacts</th><th>converted</th>"
            "<th>conversion rate</th><th>MQL rate</th><th>mean score</th></tr>"
            f"{rows}</table>")


def _auc_card(backtest: dict | None) -> str:
    if not backtest or not backtest["evaluations"]:
        return "-"
    return _fmt(backtest["evaluations"][0]["auc"], "{:.2f}")


def _fmt(value: Any, form: str) -> str:
    return "-" if value is None else form.format(value)

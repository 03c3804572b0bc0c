"""The best-scored accounts: what `leadsync demo` lists and the report's "Top accounts" section.

Reads `company_scores` of live companies (analysis/company_rescore.py stores them). One
function, `top_accounts`, picks and orders them for both, so the demo and the report cannot
disagree; `section` returns the report's HTML (charts inlined as SVG, matplotlib imported only
there).
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

from cache.database import Cache
from mappings.writeback import format_reasons
from scoring.reasons import as_dicts as reason_dicts
from scoring.simulate import Distribution, distribution

TOP_ACCOUNTS = 10
_LIVE = "c.archived = 0 AND c.merged_into IS NULL"


@dataclass(frozen=True)
class Account:
    """A scored company and why it scores so."""

    company_id: str
    name: str | None
    domain: str | None
    total: float
    fit: float
    engagement: float
    grade: str | None
    contacts: int  # associated live contacts the roll-up counted
    why: str       # its rules by weight, with how many more ("+2 more")

    @property
    def label(self) -> str:
        """`Acme (acme.com)`, or whichever of name, domain and id the cache holds."""
        if self.name and self.domain:
            return f"{self.name} ({self.domain})"
        return self.name or self.domain or f"company {self.company_id}"


@dataclass
class Accounts:
    """The company scores the report shows."""

    model: str | None = None  # name and version of the company model that scored most
    scores: Distribution | None = None
    grades: dict[str, int] = field(default_factory=dict)
    top: list[Account] = field(default_factory=list)


def top_accounts(cache: Cache, count: int = TOP_ACCOUNTS) -> list[Account]:
    """The best-scored live companies; ties go to the more engaged, then to the one with more
    contacts, then to the lower id."""
    rows = cache.conn.execute(
        f"SELECT s.company_id, json_extract(c.properties, '$.name'), "
        f"COALESCE(c.domain, json_extract(c.properties, '$.domain')), s.total, s.fit, "
        f"s.engagement, s.grade, s.contacts, s.reasons FROM company_scores s "
        f"JOIN companies c ON c.id = s.company_id WHERE {_LIVE} "
        f"ORDER BY s.total DESC, s.engagement DESC, s.contacts DESC, "
        f"CAST(s.company_id AS INTEGER), s.company_id LIMIT ?", (count,)).fetchall()
    return [Account(company_id, name or None, domain or None, total, fit, engagement, grade,
                    contacts, format_reasons(reason_dicts(reasons), max_chars=None, more=True))
            for company_id, name, domain, total, fit, engagement, grade, contacts, reasons
            in rows]


def accounts(cache: Cache, count: int = TOP_ACCOUNTS) -> Accounts:
    """Every live company's stored score: the distribution, the grades and the top `count`."""
    found = Accounts(top=top_accounts(cache, count))
    totals = []
    for total, grade in cache.conn.execute(
            f"SELECT s.total, s.grade FROM company_scores s JOIN companies c "
            f"ON c.id = s.company_id WHERE {_LIVE}"):
        totals.append(total)
        found.grades[grade or "(none)"] = found.grades.get(grade or "(none)", 0) + 1
    found.scores = distribution(totals) if totals else None
    row = cache.conn.execute(
        f"SELECT s.model_name, s.model_version FROM company_scores s JOIN companies c "
        f"ON c.id = s.company_id WHERE {_LIVE} GROUP BY 1, 2 ORDER BY COUNT(*) DESC, 1, 2 "
        f"LIMIT 1").fetchone()
    found.model = f"{row[0]} {row[1]}" if row else None
    return found


def section(found: Accounts) -> str:
    """`<section id="accounts">`: score distribution and grades of the companies, and the top
    accounts' table."""
    from analysis import report_charts as charts

    e = html.escape
    scored = found.scores.count if found.scores else 0
    why = (f"Company scores of {scored:,} companies"
           + (f" (company model {found.model})" if found.model else "")
           + ": fit from the company's own properties, engagement rolled up from its contacts. "
             "Grades cross fit (A best) with engagement (1 most engaged).")
    head = (f'<section id="accounts"><h2>Top accounts</h2>'
            f'<p class="why">{e(why)}</p>')
    if found.scores is None:
        return head + ('<p class="empty">No company scored yet: run `leadsync score` or '
                       '`leadsync sync`.</p></section>\n')
    charts_html = (f'<div class="pair">'
                   f'{charts.score_histogram(found.scores.histogram, "companies", "company-scores")}'
                   f'{charts.grade_matrix(found.grades, "companies", "company-grades")}</div>')
    rows = "".join(
        f"<tr><td>{e(a.label)}</td><td>{a.total:g}</td><td>{e(a.grade or '-')}</td>"
        f"<td>{a.fit:g}</td><td>{a.engagement:g}</td><td>{a.contacts:,}</td>"
        f'<td class="reasons">{e(a.why)}</td></tr>' for a in found.top)
    table = (f"<table><caption>The {len(found.top)} best-scored accounts</caption>"
             f"<tr><th>company</th><th>score</th><th>grade</th><th>fit</th><th>engagement</th>"
             f'<th>contacts</th><th class="reasons">top reasons</th></tr>{rows}</table>')
    return head + f'<figure id="chart-accounts">{charts_html}{table}</figure></section>\n'

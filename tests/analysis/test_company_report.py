"""The top accounts: one reader for the demo and the report, and the report's "Top accounts"
section, present only with a company model; every report section reads the model in charge."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from report_world import build, reasons

from analysis.company_report import Account, accounts, top_accounts
from analysis.report import gather, run_report, write_report
from cache.database import Cache

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=timezone.utc)
COMPANY_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "company_model.toml"


def add_scored_company(cache: Cache, company_id: str, total: float, fit: float,
                       engagement: float, grade: str | None, contacts: int, why: str, *,
                       name: str | None = None, domain: str | None = None, archived: int = 0,
                       merged_into: str | None = None, model: str = "accounts") -> None:
    properties = '{"name": "%s"}' % name if name else "{}"
    cache.conn.execute("INSERT INTO companies (id, domain, properties, archived, merged_into) "
                       "VALUES (?, ?, ?, ?, ?)",
                       (company_id, domain, properties, archived, merged_into))
    cache.conn.execute(
        "INSERT INTO company_scores (company_id, model_name, model_version, as_of, fit, "
        "engagement, total, grade, reasons, contacts, scored_at) "
        "VALUES (?, ?, '2026-11-01', '2026-11-22T00:00:00.000Z', ?, ?, ?, ?, ?, ?, "
        "'2026-11-22T00:00:00.000Z')",
        (company_id, model, fit, engagement, total, grade, why, contacts))


@pytest.fixture
def cache(tmp_path: Path):
    built = build(tmp_path / "l.db")
    size = ("Company size", "fit", 25)
    software = ("Software company", "fit", 20)
    rollup = ("Contacts' engagement (top 3)", "engagement", 18, 3)
    for row in [
            ("10", 63, 45, 18, "A2", 3, reasons(size, software, rollup), "Acme", "acme.io"),
            ("11", 63, 45, 18, "A2", 5, reasons(size, software, rollup), "Bolt", None),
            ("12", 63, 33, 30, "B1", 2, reasons(software, size), None, "corp.io"),
            ("13", 99, 60, 39, "A1", 9, reasons(size), "Gone", None),        # archived
            ("14", 95, 60, 35, "A1", 9, reasons(size), "Merged", None),      # merged into 10
            ("15", 5, 5, 0, "C3", 0, reasons(("Company size", "fit", -5)), None, None),
            ("16", 20, 20, 0, None, 1, reasons(software), "Shadow", None)]:
        company_id, total, fit, engagement, grade, contacts, why, name, domain = row
        add_scored_company(built, company_id, total, fit, engagement, grade, contacts, why,
                           name=name, domain=domain, archived=int(company_id == "13"),
                           merged_into="10" if company_id == "14" else None,
                           model="other" if company_id == "16" else "accounts")
    built.conn.commit()
    yield built
    built.close()


def test_top_accounts_are_the_best_scored_live_companies_with_ties_broken(cache: Cache) -> None:
    top = top_accounts(cache, 4)
    # 12 is the most engaged of the 63s; 11 has more contacts than 10; archived and merged
    # companies are left out
    assert [a.company_id for a in top] == ["12", "11", "10", "16"]
    assert top[0] == Account("12", None, "corp.io", 63, 33, 30, "B1", 2,
                             "Company size +25; Software company +20")
    assert top[2].why == "Company size +25; Software company +20; Contacts' engagement (top 3) +18"
    assert [a.label for a in top] == ["corp.io", "Bolt", "Acme (acme.io)", "Shadow"]
    assert top_accounts(cache, 10)[-1].label == "company 15"


def test_accounts_hold_the_distribution_grades_and_the_model(cache: Cache) -> None:
    found = accounts(cache, 2)
    assert [a.company_id for a in found.top] == ["12", "11"]
    assert found.grades == {"A2": 2, "B1": 1, "C3": 1, "(none)": 1}
    assert (found.scores.count, found.scores.max, found.scores.min) == (5, 63, 5)
    assert found.model == "accounts 2026-11-01"


def test_the_report_has_top_accounts_only_with_a_company_model(cache: Cache,
                                                                tmp_path: Path) -> None:
    page = write_report(cache, tmp_path / "with.html", generated_at=NOW,
                        companies=True).read_text(encoding="utf-8")
    section = re.search(r'<section id="accounts">.*?</section>', page, re.S).group(0)
    assert "<h2>Top accounts</h2>" in section
    assert ("Company scores of 5 companies (company model accounts 2026-11-01): fit from the "
            "company&#x27;s own properties") in section
    assert section.count("<svg ") == 2 and 'aria-label="company-scores chart"' in section
    assert "companies per score band" in section and "darker: more companies" in section
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>"
                      r"<td>(.*?)</td><td>(.*?)</td><td class=\"reasons\">(.*?)</td></tr>",
                      section)
    assert rows[:2] == [
        ("corp.io", "63", "B1", "33", "30", "2", "Company size +25; Software company +20"),
        ("Bolt", "63", "A2", "45", "18", "5",
         "Company size +25; Software company +20; Contacts&#x27; engagement (top 3) +18")]
    assert [r[0] for r in rows] == ["corp.io", "Bolt", "Acme (acme.io)", "Shadow", "company 15"]
    # the page's other charts keep their own ids: no clash with the contacts' charts
    assert page.count('aria-label="scores chart"') == 1

    without = write_report(cache, tmp_path / "without.html", generated_at=NOW)
    text = without.read_text(encoding="utf-8")
    assert 'id="accounts"' not in text and "Top accounts" not in text


def test_the_section_says_so_when_no_company_is_scored_yet(tmp_path: Path) -> None:
    built = build(tmp_path / "e.db")
    try:
        page = write_report(built, tmp_path / "r.html", generated_at=NOW,
                            companies=True).read_text(encoding="utf-8")
    finally:
        built.close()
    section = re.search(r'<section id="accounts">.*?</section>', page, re.S).group(0)
    assert "Company scores of 0 companies: fit" in section
    assert ("No company scored yet: run `leadsync score` or `leadsync sync`." in
            section.replace("&#x60;", "`"))
    assert "<svg" not in section


def test_run_report_follows_the_config(cache: Cache, tmp_path: Path) -> None:
    from foundation import settings

    conf = tmp_path / "leadsync.toml"
    conf.write_text(f'[scoring]\ncompany_model = "{COMPANY_MODEL}"\n')
    db = str(tmp_path / "l.db")
    page = run_report(db, tmp_path / "a.html", settings=settings.load(conf)).read_text()
    assert '<section id="accounts">' in page
    plain = run_report(db, tmp_path / "b.html", settings=settings.load(None)).read_text()
    assert 'id="accounts"' not in plain


def test_every_contact_section_reads_the_model_in_charge(cache: Cache) -> None:
    """Scores of a second model ('core', scored later) are read only when it is in charge."""
    cache.conn.execute(
        "INSERT INTO scores (contact_id, model, model_name, model_version, as_of, fit, "
        "engagement, total, grade, stage, inactive, reasons, scored_at) "
        "SELECT contact_id, 'core', 'core', '2', '2026-11-05T00:00:00.000Z', fit, engagement, "
        "total + 1, grade, stage, inactive, reasons, scored_at FROM scores WHERE contact_id "
        "IN ('1', '2')")
    cache.conn.execute(
        "INSERT INTO score_history (contact_id, changed_at, as_of, model, model_name, "
        "model_version, trigger, new_total, new_stage) VALUES ('1', '2026-11-05T00:00:00.000Z', "
        "'2026-11-05T00:00:00.000Z', 'core', 'core', '2', 'score', 41, 'customer')")
    cache.conn.commit()
    default = gather(cache, NOW)
    core = gather(cache, NOW, model="core")
    assert (default.scored, core.scored) == (4, 2)
    assert core.models == ["core 2"] and core.grades == {"A3": 1, "C1": 1}
    assert core.trend == (["2026-11-05"], [41.0], [1])
    assert default.leakage.as_of == "2026-11-02T00:00:00.000Z"
    assert core.leakage.as_of == "2026-11-05T00:00:00.000Z"

"""`leadsync score` with a company model, on a cache pulled from the sandbox over real HTTP:
contacts, then companies, then the contacts that read a changed company score, in one run;
`--contact` rescores that contact's companies; without a company model nothing changes."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cache.company_reader import companies_of, contacts_of
from cache.database import open_cache
from cli import cli
from sandbox import Sandbox
from scoring.model import starter_path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
COMPANY_MODEL = FIXTURES / "company_model.toml"
AS_OF = "2026-11-22T00:00:00Z"
STORED_AS_OF = "2026-11-22T00:00:00.000Z"


def leadsync(db: Path, conf: Path | None, *args: str, env: dict | None = None):
    config = ["--config", str(conf)] if conf is not None else []
    return CliRunner().invoke(cli, ["--db", str(db), *config, *args], env=env or {},
                              catch_exceptions=False)


def write_config(folder: Path) -> Path:
    """Two contact models: `core` in charge (its engagement feeds the company score) and `hot`,
    whose fit rule reads the company score; and the company model."""
    hot = folder / "hot.toml"
    hot.write_text(starter_path().read_text() + (
        '\n[[fit.rules]]\nname = "Hot account"\n'
        'when = { company.leadsync_company_score = { gte = 40 } }\npoints = 10\n'))
    conf = folder / "leadsync.toml"
    conf.write_text(f'[scoring]\ncompany_model = "{COMPANY_MODEL}"\n'
                    f'[[models]]\nname = "core"\ndrives_stages = true\n'
                    f'[[models]]\nname = "hot"\npath = "{hot}"\nprefix = "leadsync_hot_"\n')
    return conf


@pytest.fixture(scope="module")
def pulled(tmp_path_factory) -> tuple[Path, Path]:
    """A cache pulled from a 300-contact sandbox with the company config (read it, never
    write it: `world` copies it)."""
    folder = tmp_path_factory.mktemp("pulled")
    conf, db = write_config(folder), folder / "leadsync.db"
    with Sandbox(contacts=300, seed=6) as sb:
        env = {"LEADSYNC_BASE_URL": sb.base_url, "HUBSPOT_ACCESS_TOKEN": sb.token}
        result = leadsync(db, conf, "pull", env=env)
        assert result.exit_code == 0, result.output
    return db, conf


@pytest.fixture
def world(pulled, tmp_path) -> tuple[Path, Path]:
    db, conf = pulled
    copy = tmp_path / "leadsync.db"
    shutil.copy(db, copy)
    return copy, conf


def query(db: Path, sql: str, *args) -> list[tuple]:
    cache = open_cache(db)
    try:
        return cache.conn.execute(sql, args).fetchall()
    finally:
        cache.close()


def test_score_runs_contacts_then_companies_then_contacts_reading_the_company_score(world):
    db, conf = world
    result = leadsync(db, conf, "score", "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    companies = summary["companies"]
    live = [r[0] for r in query(db, "SELECT id FROM companies WHERE archived = 0 "
                                    "AND merged_into IS NULL ORDER BY id")]
    stored = dict(query(db, "SELECT company_id, grade FROM company_scores"))
    assert sorted(stored) == live and len(live) > 50
    grades: dict[str, int] = {}
    for grade in stored.values():
        grades[grade or "none"] = grades.get(grade or "none", 0) + 1
    assert {k: companies[k] for k in ("model", "as_of", "trigger", "scored", "changed",
                                      "updated", "grades")} == {
        "model": "accounts 2026-11-01", "as_of": STORED_AS_OF, "trigger": "score",
        "scored": len(live), "changed": len(live), "updated": len(live),
        "grades": dict(sorted(grades.items()))}
    assert sorted(companies["changed_ids"]) == live
    # every contact of a changed company was rescored with the company score of this run
    again = companies["contacts_rescored_for_company_scores"]
    cache = open_cache(db)
    readers = contacts_of(cache, live)
    cache.close()
    assert again["scored"] == len(readers) > 0
    (run_id, details), = query(db, "SELECT id, details FROM runs WHERE command = 'score'")
    assert json.loads(details) == summary
    assert query(db, "SELECT count(*), min(trigger), max(trigger), min(run_id), max(run_id) "
                     "FROM company_score_history") == [(len(live), "score", "score", run_id,
                                                        run_id)]
    rows = query(db, """
        SELECT s.contact_id, s.reasons LIKE '%"Hot account"%', cs.total FROM scores s
        JOIN associations a ON a.from_type = 'contacts' AND a.from_id = s.contact_id
          AND a.to_type = 'companies' AND a.type_id = 1
        JOIN company_scores cs ON cs.company_id = a.to_id WHERE s.model = 'hot'""")
    hot = {r[0] for r in rows if r[2] >= 40}
    assert 0 < len(hot) < len(rows)
    assert {r[0] for r in rows if r[1]} == hot  # the rule read the score stored this run

    text = leadsync(db, conf, "score", "--as-of", AS_OF)
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    company_at = next(i for i, line in enumerate(lines) if "companies with company model" in line)
    assert lines[company_at].startswith(f"Scored {len(live):,} companies with company model "
                                        f"accounts 2026-11-01 as of {STORED_AS_OF} in ")
    grades_text = ", ".join(f"{g} {n:,}" for g, n in sorted(grades.items()))
    assert lines[company_at + 1:] == ["  changed (total or grade; history rows): 0",
                                      f"  grades: {grades_text}"]
    assert lines[1] == "  changed (total, grade or stage; history rows): 0"


def test_score_contact_rescores_its_companies_and_the_contacts_reading_them(world):
    db, conf = world
    assert leadsync(db, conf, "score", "--as-of", AS_OF).exit_code == 0
    # a contact of a company that other contacts share, whose size now moves its score
    (contact, company), = query(db, """
        SELECT a.from_id, a.to_id FROM associations a
        JOIN company_scores cs ON cs.company_id = a.to_id
        WHERE a.from_type = 'contacts' AND a.to_type = 'companies' AND a.type_id = 1
          AND cs.total < 40 AND cs.total >= 15
          AND (SELECT count(*) FROM associations b WHERE b.to_id = a.to_id
               AND b.from_type = 'contacts' AND b.to_type = 'companies' AND b.type_id = 1) > 1
        ORDER BY CAST(a.to_id AS INTEGER), CAST(a.from_id AS INTEGER) LIMIT 1""")
    cache = open_cache(db)
    theirs = companies_of(cache, [contact])
    members = contacts_of(cache, [company])
    cache.conn.execute("UPDATE companies SET properties = json_set(properties, "
                       "'$.numberofemployees', '5000', '$.hs_is_target_account', 'true', "
                       "'$.industry', 'COMPUTER_SOFTWARE') WHERE id = ?", (company,))
    cache.conn.commit()
    cache.close()
    before = dict(query(db, "SELECT company_id, total FROM company_scores"))

    result = leadsync(db, conf, "score", "--as-of", AS_OF, "--contact", contact, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["scored"] == 1
    companies = summary["companies"]
    assert (companies["scored"], companies["changed_ids"]) == (len(theirs), [company])
    after = dict(query(db, "SELECT company_id, total FROM company_scores"))
    assert after[company] >= 40 > before[company]
    assert {k: v for k, v in after.items() if k != company} == {
        k: v for k, v in before.items() if k != company}
    again = companies["contacts_rescored_for_company_scores"]
    assert again["scored"] == len(members) > 1
    fired = {r[0] for r in query(db, "SELECT contact_id FROM scores WHERE model = 'hot' "
                                     "AND reasons LIKE '%\"Hot account\"%'")}
    primary = {r[0] for r in query(db, "SELECT from_id FROM associations WHERE to_id = ? "
                                       "AND from_type = 'contacts' AND to_type = 'companies' "
                                       "AND type_id = 1", company)}
    assert primary <= fired
    (trigger, old, new), = query(db, "SELECT trigger, old_total, new_total FROM "
                                     "company_score_history WHERE company_id = ? ORDER BY id "
                                     "DESC LIMIT 1", company)
    assert (trigger, old, new) == ("score", before[company], after[company])


def test_score_without_a_company_model_reports_contacts_only(world, tmp_path):
    db, _ = world
    plain = tmp_path / "plain.toml"
    plain.write_text("[scoring]\n")
    result = leadsync(db, plain, "score", "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert "companies" not in summary and summary["scored"] > 250
    assert query(db, "SELECT count(*) FROM company_scores") == [(0,)]
    text = leadsync(db, plain, "score", "--as-of", AS_OF).output
    assert "compan" not in text

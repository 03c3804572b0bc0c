"""Company scores end to end against the sandbox over real HTTP: setup creates the company
properties, sync scores companies after their contacts and writes exactly the desired values
in batches of ≤ 100, a second sync writes nothing, and contact rules can read the score."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from cache.database import open_cache
from cli import cli
from mappings.company_writeback import desired_company_values
from sandbox import Sandbox

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
COMPANY_MODEL = FIXTURES / "company_model.toml"
NAMES = {"score": "leadsync_company_score", "grade": "leadsync_company_grade",
         "reasons": "leadsync_company_reasons"}
COMPANY_ROUTE = "POST /crm/v3/objects/companies/batch/update"
CONTACT_ROUTE = "POST /crm/v3/objects/contacts/batch/update"
AS_OF = datetime.now(timezone.utc).isoformat(timespec="seconds")


@pytest.fixture
def sb():
    with Sandbox(contacts=600, seed=6) as sandbox:
        yield sandbox


def config(tmp_path: Path, *, contact_model: str | None = None) -> Path:
    path = tmp_path / "leadsync.toml"
    lines = ["[scoring]", f'company_model = "{COMPANY_MODEL}"']
    if contact_model:
        lines.append(f'model = "{contact_model}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def leadsync(sb, db, conf, *args):
    env = {"LEADSYNC_BASE_URL": sb.base_url, "HUBSPOT_ACCESS_TOKEN": sb.token}
    return CliRunner().invoke(cli, ["--db", str(db), "--config", str(conf), *args], env=env,
                              catch_exceptions=False)


def desired(db) -> dict[str, dict[str, str]]:
    cache = open_cache(db)
    try:
        rows = cache.conn.execute("SELECT company_id, total, grade, reasons "
                                  "FROM company_scores").fetchall()
    finally:
        cache.close()
    return {r[0]: desired_company_values(r[1], r[2], r[3], NAMES) for r in rows}


def test_sync_writes_exactly_the_desired_company_values_then_nothing(sb, tmp_path):
    db, conf = tmp_path / "leadsync.db", config(tmp_path)
    setup = leadsync(sb, db, conf, "setup", "--json")
    assert setup.exit_code == 0, setup.output
    made = json.loads(setup.output)["properties"]
    assert {k: v for k, v in made.items() if k.startswith("companies.")} == {
        f"companies.{n}": "created" for n in NAMES.values()}
    grade = sb.portal.catalogs["companies"].get("leadsync_company_grade").to_json()
    assert (grade["type"], grade["fieldType"], grade["groupName"]) == (
        "enumeration", "select", "leadsync")
    assert [o["value"] for o in grade["options"]][:3] == ["A1", "A2", "A3"]

    sb.reset_stats()
    first = leadsync(sb, db, conf, "sync", "--as-of", AS_OF, "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output)["companies"]
    wanted = desired(db)
    live = {str(r.id) for r in sb.portal.live("companies")}
    assert set(wanted) == live and summary["score"]["scored"] == len(live) > 100
    changed = summary["push"]["plan"]["companies"]
    assert summary["push"]["companies_written"] == changed > 100
    assert summary["push"]["write_calls"] == -(-changed // 100) == summary["push"]["minimum_calls"]
    assert sb.stats()["by_route"][COMPANY_ROUTE] == -(-changed // 100)
    for company_id, values in wanted.items():
        have = sb.portal.get("companies", company_id).properties
        assert {k: have.get(k, "") for k in values} == values, company_id
    scores = [float(v[NAMES["score"]]) for v in wanted.values()]
    assert len(set(scores)) > 10  # the fixture model spreads companies out
    status = json.loads(leadsync(sb, db, conf, "status", "--json").output)["company_scores"]
    grades = {}
    for values in wanted.values():
        grade = values[NAMES["grade"]] or "none"
        grades[grade] = grades.get(grade, 0) + 1
    assert status == {"count": len(live), "grades": dict(sorted(grades.items())),
                      "history_rows": len(live), "outbox": {"done": changed}}
    text = leadsync(sb, db, conf, "status").output
    assert f"Company scores: {len(live):,} (grades: " in text

    sb.reset_stats()
    second = leadsync(sb, db, conf, "sync", "--as-of", AS_OF, "--json")
    assert second.exit_code == 0, second.output
    again = json.loads(second.output)["companies"]
    assert again["score"]["changed"] == 0 and again["push"]["write_calls"] == 0
    assert again["push"]["plan"]["unchanged"] == len(live)
    routes = sb.stats()["by_route"]
    assert routes.get(COMPANY_ROUTE, 0) == 0 and routes.get(CONTACT_ROUTE, 0) == 0
    history = open_cache(db).conn.execute(
        "SELECT count(*), count(pushed_at), min(trigger) FROM company_score_history").fetchone()
    assert history == (len(live), len(live), "sync")


def test_explain_and_history_of_a_company_after_sync(sb, tmp_path):
    db, conf = tmp_path / "leadsync.db", config(tmp_path)
    assert leadsync(sb, db, conf, "setup").exit_code == 0
    assert leadsync(sb, db, conf, "sync", "--as-of", AS_OF).exit_code == 0
    cache = open_cache(db)
    company, total, grade, domain = cache.conn.execute(
        "SELECT s.company_id, s.total, s.grade, c.domain FROM company_scores s "
        "JOIN companies c ON c.id = s.company_id WHERE c.domain IS NOT NULL "
        "ORDER BY s.total DESC, s.company_id LIMIT 1").fetchone()
    cache.close()

    by_domain = leadsync(sb, db, conf, "explain", "--company", domain, "--as-of", AS_OF, "--json")
    assert by_domain.exit_code == 0, by_domain.output
    data = json.loads(by_domain.output)
    assert (data["company_id"], data["total"], data["grade"]) == (company, total, grade)
    text = leadsync(sb, db, conf, "explain", "--company", company, "--as-of", AS_OF).output
    assert text.splitlines()[0].startswith(f"Company {company} (")
    assert f": {total:g} = fit " in text.splitlines()[0]

    history = leadsync(sb, db, conf, "history", "--company", company, "--json")
    rows = json.loads(history.output)
    assert [(r["company_id"], r["old_total"], r["new_total"], r["trigger"]) for r in rows] == [
        (company, None, total, "sync")]
    both = leadsync(sb, db, conf, "explain", "1", "--company", company)
    assert both.exit_code == 2 and "not both" in both.output


def test_push_alone_writes_company_scores_back_where_hubspot_differs(sb, tmp_path):
    db, conf = tmp_path / "leadsync.db", config(tmp_path)
    assert leadsync(sb, db, conf, "setup").exit_code == 0
    assert leadsync(sb, db, conf, "sync", "--as-of", AS_OF).exit_code == 0
    wanted = desired(db)
    company = sorted(wanted, key=int)[0]
    # someone overwrites the score in HubSpot; the next pull brings that value in
    sb.portal.update("companies", company, {NAMES["score"]: "999"})
    assert leadsync(sb, db, conf, "pull").exit_code == 0

    plan = json.loads(leadsync(sb, db, conf, "push", "--dry-run", "--json").output)
    assert [c["company_id"] for c in plan["companies"]["plan"]["changes"]] == [company]
    assert "companies: 1 to write, " in leadsync(sb, db, conf, "push", "--dry-run").output

    sb.reset_stats()
    pushed = leadsync(sb, db, conf, "push", "--json")
    assert pushed.exit_code == 0, pushed.output
    companies = json.loads(pushed.output)["companies"]
    assert (companies["companies_written"], companies["write_calls"]) == (1, 1)
    assert sb.stats()["by_route"][COMPANY_ROUTE] == 1
    have = sb.portal.get("companies", company).properties
    assert have[NAMES["score"]] == wanted[company][NAMES["score"]] != "999"
    again = json.loads(leadsync(sb, db, conf, "push", "--json").output)["companies"]
    assert again["write_calls"] == 0 and again["plan"]["companies"] == 0


def test_a_contact_rule_reads_the_company_score_computed_in_the_same_sync(sb, tmp_path):
    """Two contact models: the one in charge (its engagement feeds the company score) and
    one whose fit rule reads the company score; both in the one contact read of the run."""
    from scoring.model import starter_path

    model = tmp_path / "accounts.toml"
    model.write_text(starter_path().read_text() + (
        '\n[[fit.rules]]\nname = "Hot account"\n'
        'when = { company.leadsync_company_score = { gte = 40 } }\npoints = 10\n'))
    db, conf = tmp_path / "leadsync.db", tmp_path / "leadsync.toml"
    conf.write_text(f'[scoring]\ncompany_model = "{COMPANY_MODEL}"\n'
                    f'[[models]]\nname = "core"\ndrives_stages = true\n'
                    f'[[models]]\nname = "hot"\npath = "{model}"\nprefix = "leadsync_hot_"\n')
    assert leadsync(sb, db, conf, "setup").exit_code == 0
    first = leadsync(sb, db, conf, "sync", "--as-of", AS_OF, "--json")
    assert first.exit_code == 0, first.output
    again = json.loads(first.output)["companies"]["contacts_rescored_for_company_scores"]
    assert again is not None and again["changed"] > 0

    cache = open_cache(db)
    rows = cache.conn.execute("""
        SELECT s.contact_id, s.total, s.reasons LIKE '%"Hot account"%', cs.total, c.total
        FROM scores s
        JOIN scores c ON c.contact_id = s.contact_id AND c.model = 'core'
        JOIN associations a ON a.from_type = 'contacts' AND a.from_id = s.contact_id
          AND a.to_type = 'companies' AND a.type_id = 1
        JOIN company_scores cs ON cs.company_id = a.to_id
        WHERE s.model = 'hot'""").fetchall()
    cache.close()
    hot = {r[0] for r in rows if r[3] >= 40}
    assert 0 < len(hot) < len(rows)
    assert {r[0] for r in rows if r[2]} == hot  # fired exactly where the new score is >= 40
    for contact_id, total, _, _, core in rows:  # and HubSpot holds what the cache holds
        have = sb.portal.get("contacts", contact_id).properties
        assert (have["leadsync_hot_score"], have["leadsync_core_score"]) == (
            f"{total:g}", f"{core:g}"), contact_id

    sb.reset_stats()
    second = leadsync(sb, db, conf, "sync", "--as-of", AS_OF, "--json")
    summary = json.loads(second.output)
    assert summary["score"]["changed"] == 0 and summary["push"]["write_calls"] == 0
    assert summary["companies"]["contacts_rescored_for_company_scores"] is None
    routes = sb.stats()["by_route"]
    assert routes.get(COMPANY_ROUTE, 0) == 0 and routes.get(CONTACT_ROUTE, 0) == 0

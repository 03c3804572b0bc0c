"""`leadsync simulate --company-model`: a candidate company model against the stored company
scores, on a small hand-made cache; exact figures, nothing written."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from score_cache import add_company, add_contact

from analysis.company_rescore import load_company, rescore_companies
from cache.database import open_cache
from cli import cli

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "company_model.toml"
AS_OF = datetime(2026, 11, 22, tzinfo=timezone.utc)
# The candidate: the highest contact counts (not the top 3), and retail is a fit too.
CANDIDATE = (FIXTURE.read_text(encoding="utf-8")
             .replace('version = "2026-11-01"', 'version = "candidate-1"')
             .replace('rollup = "top"\ntop = 3\n', 'rollup = "max"\n')
             .replace('"INFORMATION_TECHNOLOGY_AND_SERVICES"]',
                      '"INFORMATION_TECHNOLOGY_AND_SERVICES", "RETAIL"]'))


def stored_score(cache, contact_id: str, engagement: float, model: str = "default") -> None:
    cache.conn.execute(
        "INSERT INTO scores (contact_id, model_name, model_version, as_of, fit, engagement, "
        "total, grade, stage, inactive, reasons, scored_at, model) "
        "VALUES (?, 'starter', 'v', '2026-11-22T00:00:00.000Z', 0, ?, ?, NULL, NULL, 0, '[]', "
        "'2026-11-22T00:00:00.000Z', ?)", (contact_id, engagement, engagement, model))


@pytest.fixture
def world(tmp_path: Path) -> dict:
    """Acme (fit 60; contacts engaged 25 and 8), Beta (retail, fit 10; one contact, 12) and
    Gamma (fit 0; a contact never scored). Stored: the fixture model's scores."""
    db = tmp_path / "leadsync.db"
    cache = open_cache(str(db))
    add_company(cache, "10", name="Acme", domain="acme.example", industry="COMPUTER_SOFTWARE",
                numberofemployees="600", hs_is_target_account="true")
    add_company(cache, "20", name="Beta", domain="beta.example", industry="RETAIL",
                numberofemployees="100")
    add_company(cache, "30", name="Gamma", numberofemployees="20")
    for contact, company, engagement in (("1", "10", 25.0), ("2", "10", 8.0), ("3", "20", 12.0),
                                         ("4", "30", None)):
        add_contact(cache, contact, email=f"c{contact}@example.com")
        add_company(cache, company, contact)
        if engagement is not None:
            stored_score(cache, contact, engagement)
    stored_score(cache, "2", 40.0, model="next")  # a shadow's engagement is never rolled up
    cache.conn.commit()
    rescore_companies(cache, load_company(str(FIXTURE)), AS_OF)
    cache.close()
    (tmp_path / "candidate.toml").write_text(CANDIDATE, encoding="utf-8")
    (tmp_path / "leadsync.toml").write_text(f'[scoring]\ncompany_model = "{FIXTURE}"\n',
                                            encoding="utf-8")
    return {"db": str(db), "dir": tmp_path}


def invoke(world: dict, *args: str, config: str = "leadsync.toml"):
    return CliRunner().invoke(cli, ["--db", world["db"], "--config",
                                    str(world["dir"] / config), "simulate", *args])


def snapshot(db: str) -> list:
    cache = open_cache(db)
    try:
        return [cache.conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for t in ("company_scores", "company_score_history", "company_outbox", "scores")]
    finally:
        cache.close()


def test_simulate_compares_a_candidate_company_model_with_the_stored_scores(world: dict) -> None:
    before = snapshot(world["db"])
    result = invoke(world, "--company-model", str(world["dir"] / "candidate.toml"),
                    "--as-of", "2026-11-22", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data) == ["company"]  # no contact candidate: no contact comparison
    sim = data["company"]
    assert sim["candidate"] == "accounts candidate-1"
    assert sim["baseline"] == ("stored company scores (accounts 2026-11-01 as of "
                               "2026-11-22T00:00:00.000Z: 3)")
    # Acme 88 (60 + top 3: 20 + 8) A1 -> 80 (60 + max: 20) A2; Beta 22 C2 -> 42 (30 + 12) B2
    assert (sim["companies"], sim["changed"]) == (3, 2)
    assert sim["grades"] == {"A1": {"A2": 1}, "C2": {"B2": 1}, "C3": {"C3": 1}}
    dist = sim["distribution"]
    assert (dist["before"]["mean"], dist["before"]["max"]) == (36.7, 88.0)
    assert (dist["after"]["mean"], dist["after"]["max"]) == (40.7, 80.0)
    assert [b["companies"] for b in dist["after"]["histogram"] if b["companies"]] == [1, 1, 1]
    movers = [(m["company_id"], m["name"], m["domain"], m["delta"], m["before"]["total"],
               m["after"]["total"]) for m in sim["movers"]]
    assert movers == [("20", "Beta", "beta.example", 20.0, 22.0, 42.0),
                      ("10", "Acme", "acme.example", -8.0, 88.0, 80.0)]
    assert sim["movers"][1]["after"]["reasons"][-1] == {
        "rule": "Contacts' engagement (highest)", "section": "engagement", "points": 20.0}
    # HubSpot holds no company score yet: a push sends all three, now and after (Gamma's
    # reasons are empty: no rule fired, and HubSpot's empty value already says so)
    assert sim["push_now"] == {"companies": 3, "unchanged": 0, "skipped": 0, "write_calls": 1,
                               "by_property": {"leadsync_company_grade": 3,
                                               "leadsync_company_reasons": 2,
                                               "leadsync_company_score": 3}}
    assert sim["push"]["companies"] == 3 and sim["push"]["write_calls"] == 1
    assert sim["notes"] == ["contacts' engagement rolled up: the stored scores of contact model "
                            "'default' (the model in charge)"]
    assert snapshot(world["db"]) == before  # nothing written


def test_the_push_plan_counts_only_companies_whose_values_would_change(world: dict) -> None:
    """Gamma's values are in HubSpot already (a pull brought them), Beta's company outbox
    row is unfinished: the plans leave Beta out and Gamma alone."""
    cache = open_cache(world["db"])
    cache.conn.execute("UPDATE companies SET properties = json_set(properties, "
                       "'$.leadsync_company_score', '0', '$.leadsync_company_grade', 'C3', "
                       "'$.leadsync_company_reasons', '') WHERE id = '30'")
    cache.conn.execute("INSERT INTO company_outbox (company_id, properties, status, created_at, "
                       "updated_at) VALUES ('20', '{}', 'pending', 'x', 'x')")
    cache.conn.commit()
    cache.close()
    result = invoke(world, "--company-model", str(world["dir"] / "candidate.toml"),
                    "--as-of", "2026-11-22", "--json")
    sim = json.loads(result.output)["company"]
    assert (sim["push_now"]["companies"], sim["push_now"]["unchanged"]) == (1, 1)
    assert (sim["push"]["companies"], sim["push"]["unchanged"]) == (1, 1)
    assert sim["notes"][-1].startswith("1 companies have unfinished company outbox rows")
    assert sim["changed"] == 2  # the comparison still covers every company


def test_two_hundred_and_one_new_companies_take_three_write_calls(tmp_path: Path) -> None:
    """No company score stored and no company model configured: every company is new."""
    db = tmp_path / "leadsync.db"
    cache = open_cache(str(db))
    for i in range(201):
        add_company(cache, str(1000 + i), name=f"Co {i}", industry="RETAIL")
    cache.conn.commit()
    cache.close()
    (tmp_path / "candidate.toml").write_text(CANDIDATE, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", str(db), "--config", str(tmp_path / "none.toml"),
                                      "simulate", "--company-model",
                                      str(tmp_path / "candidate.toml"), "--json"])
    assert result.exit_code == 2 and "none.toml" in result.output  # a missing config
    (tmp_path / "leadsync.toml").write_text("[scoring]\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", str(db), "--config", str(tmp_path / "leadsync.toml"),
                                      "simulate", "--company-model",
                                      str(tmp_path / "candidate.toml"), "--json"])
    sim = json.loads(result.output)["company"]
    assert sim["baseline"] == ("nothing (no company score is stored and no company model "
                               "configured)")
    # retail 20 + no size (-5) = 15: C, no engagement: 3
    assert (sim["companies"], sim["changed"], sim["grades"]) == (201, 201,
                                                                 {"(unscored)": {"C3": 201}})
    assert (sim["push"]["companies"], sim["push"]["write_calls"]) == (201, 3)
    assert (sim["push_now"]["companies"], sim["push_now"]["write_calls"]) == (0, 0)
    assert sim["movers"] == []


def test_the_text_report_names_the_companies_that_move(world: dict) -> None:
    result = invoke(world, "--company-model", str(world["dir"] / "candidate.toml"),
                    "--as-of", "2026-11-22")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "3 companies, 2 would change total or grade" in text
    assert "company 20 (Beta, beta.example): 22 -> 42 (+20)" in text
    assert "company 10 (Acme, acme.example): 88 -> 80 (-8)" in text
    assert "  companies to update                                  3           3" in text
    assert "  batch write calls (100 companies each)               1           1" in text


@pytest.mark.parametrize("args, message", [
    ((), "Error: name a candidate: --model FILE (contacts), --company-model FILE (companies), "
         "or both"),
    (("--company-model", "nowhere.toml"), "Error: nowhere.toml: no such company model file"),
    (("--company-model", "{dir}/broken.toml"), "Error: {dir}/broken.toml:"),
    (("--company-model", "{dir}/candidate.toml", "--against", "core"),
     "Error: --against names the contact model --model would replace; add --model FILE"),
])
def test_bad_input_exits_2_with_one_line(world: dict, args: tuple, message: str) -> None:
    (world["dir"] / "broken.toml").write_text(CANDIDATE.replace('rollup = "max"',
                                                                'rollup = "median"'))
    result = invoke(world, *(a.format(dir=world["dir"]) for a in args))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message.format(dir=world["dir"])), lines


def test_both_candidates_report_contacts_and_companies_in_one_document(world: dict) -> None:
    import scoring
    result = invoke(world, "--model", str(scoring.starter_path()), "--company-model",
                    str(world["dir"] / "candidate.toml"), "--as-of", "2026-11-22", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["contacts"], data["company"]["companies"], data["company"]["changed"]) == (4, 3, 2)

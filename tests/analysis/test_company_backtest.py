"""`leadsync backtest` with a company model: companies scored as known at the past date, with
the contact backtest's own engagement of then, against their contacts' conversions; exact
figures on a small hand-made cache."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from score_cache import add_company, add_contact, add_event

from cache.database import open_cache
from cli import cli

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "company_model.toml"
AS_OF = "2026-06-01T00:00:00Z"  # --as-of 2026-06-01, --horizon 90: conversions to 2026-08-30
EARLY = "2026-01-01T00:00:00Z"
SOFTWARE = "COMPUTER_SOFTWARE"


def contact(cache, contact_id: str, company_id: str, *, created: str = EARLY,
            meeting: str | None = None, **properties: str) -> None:
    add_contact(cache, contact_id, email=f"c{contact_id}@acme-{company_id}.example",
                createdate=created, **properties)
    add_company(cache, company_id, contact_id)
    if meeting is not None:
        add_event(cache, contact_id, "meetings", f"m{contact_id}", meeting,
                  hs_meeting_outcome="COMPLETED")


@pytest.fixture
def world(tmp_path: Path) -> dict:
    """Twelve companies (fit from the fixture model: software 20, 50-499 people 10, 500+ 25,
    target 15):

    10  software, 600  (fit 45): c1, a VP with a meeting at the as-of instant (15, and the
        buying group's 5), converts 2026-07-01                        -> 65 A2, converted
    20  retail, 100    (fit 10): c2, a meeting then (15), never converts  -> 25 C2
    30  software, 20   (fit 20): c3's meeting is after the as-of date (engagement 0 then, though
        a stored score says 50), converts 2026-08-01                  -> 20 B3, converted
    40  a contact already an opportunity on 2026-05-01                -> left out
    50  created 2026-07-01                                            -> left out
    60  retail, 600    (fit 25): no contacts                          -> 25 B3
    70  software, 100  (fit 30): c7 is created 2026-07-01 and converts 2026-08-15 (the
        account converted)                                            -> 30 B3, converted
    81…85 retail, 20   (fit 0): no contacts                           -> 0 C3
    """
    db = tmp_path / "leadsync.db"
    cache = open_cache(str(db))
    companies = {"10": (SOFTWARE, "600"), "20": ("RETAIL", "100"), "30": (SOFTWARE, "20"),
                 "40": (SOFTWARE, "600"), "50": (SOFTWARE, "600"), "60": ("RETAIL", "600"),
                 "70": (SOFTWARE, "100"), **{str(i): ("RETAIL", "20") for i in range(81, 86)}}
    for company_id, (industry, size) in companies.items():
        add_company(cache, company_id, name=f"Company {company_id}", industry=industry,
                    numberofemployees=size,
                    createdate="2026-07-01T00:00:00Z" if company_id == "50" else EARLY)
    contact(cache, "1", "10", meeting=AS_OF, hs_seniority="vp",
            hs_v2_date_entered_opportunity="2026-07-01T00:00:00Z")
    contact(cache, "2", "20", meeting=AS_OF)
    contact(cache, "3", "30", meeting="2026-07-15T00:00:00Z",
            hs_v2_date_entered_opportunity="2026-08-01T00:00:00Z")
    contact(cache, "4", "40", meeting=AS_OF, lifecyclestage="opportunity",
            hs_v2_date_entered_opportunity="2026-05-01T00:00:00Z")
    contact(cache, "5", "50")
    contact(cache, "7", "70", created="2026-07-01T00:00:00Z",
            hs_v2_date_entered_customer="2026-08-15T00:00:00Z")
    cache.conn.execute(  # today's stored engagement must not leak into the past
        "INSERT INTO scores (contact_id, model_name, model_version, as_of, fit, engagement, "
        "total, grade, stage, inactive, reasons, scored_at, model) VALUES ('3', 'starter', 'v', "
        "'x', 0, 50, 50, NULL, NULL, 0, '[]', 'x', 'default')")
    cache.conn.commit()
    cache.close()
    (tmp_path / "leadsync.toml").write_text(f'[scoring]\ncompany_model = "{FIXTURE}"\n',
                                            encoding="utf-8")
    (tmp_path / "plain.toml").write_text("[scoring]\n", encoding="utf-8")
    return {"db": str(db), "dir": tmp_path}


def backtest(world: dict, *args: str, config: str = "leadsync.toml"):
    return CliRunner().invoke(cli, ["--db", world["db"], "--config", str(world["dir"] / config),
                                    "backtest", "--as-of", "2026-06-01", "--horizon", "90",
                                    "--quiet", *args])


def test_companies_are_backtested_as_known_then_beside_the_contacts(world: dict) -> None:
    result = backtest(world, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["population"]["evaluated"] == 4  # contacts 1, 2, 3 and 5
    company = data["company"]
    assert company["model"] == "accounts 2026-11-01"
    assert company["engagement_model"] == data["evaluations"][0]["model"] == "starter 2026-11-22"
    assert company["population"] == {"companies": 12, "created_later": 1, "already_converted": 1,
                                     "evaluated": 10, "converted": 3, "without_contacts": 7}
    evaluation = company["evaluation"]
    # converted 65, 30, 20 against 25, 25 and five 0s: (7 + 7 + 5) / 21
    assert evaluation["auc"] == round(19 / 21, 10)
    assert evaluation["top_decile_lift"] == round(1 / 0.3, 10)
    assert [(d["contacts"], d["converted"], d["max_score"]) for d in evaluation["deciles"][:5]] \
        == [(1, 1.0, 65.0), (1, 1.0, 30.0), (1, 0.0, 25.0), (1, 0.0, 25.0), (1, 1.0, 20.0)]
    assert [(g["name"], g["contacts"], g["converted"]) for g in evaluation["by_grade"]] == [
        ("A2", 1, 1), ("B3", 3, 2), ("C2", 1, 0), ("C3", 5, 0)]
    assert company["limitations"][0].startswith("Associations are today's")


def test_the_company_figures_are_saved_with_the_backtest(world: dict) -> None:
    assert backtest(world).exit_code == 0
    cache = open_cache(world["db"])
    saved = json.loads(cache.conn.execute("SELECT result FROM backtests").fetchone()[0])
    details = json.loads(cache.conn.execute(
        "SELECT details FROM runs WHERE command = 'backtest'").fetchone()[0])
    cache.close()
    assert saved["company"]["population"]["evaluated"] == 10
    assert details["company_auc"] == round(19 / 21, 10)


def test_the_text_shows_the_company_section(world: dict) -> None:
    result = backtest(world)
    assert result.exit_code == 0, result.output
    text = result.output
    assert ("Companies (company model accounts 2026-11-01; contacts' engagement as of then from "
            "starter 2026-11-22)") in text
    assert ("  10 companies evaluated, 3 converted (a contact converted; 30.0%); left out: 1 "
            "created later, 1 with a contact already converted; 7 evaluated had no contact "
            "then") in text
    assert "\nROC AUC                                0.905\n" in text
    assert "\ntop-decile lift                        3.33x\n" in text
    assert "\n  B3                           3 / 2 / 66.7%\n" in text
    assert text.index("Companies (") < text.index("Limitations:")
    assert "  - Companies: Associations are today's" in text


def test_company_model_option_without_a_configured_one(world: dict, tmp_path: Path) -> None:
    """--company-model backtests a candidate; the config's plain model feeds its engagement."""
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(FIXTURE.read_text().replace('version = "2026-11-01"',
                                                     'version = "candidate-1"')
                         .replace("points = 5\ncap = 10", "points = 50\ncap = 50"))
    assert "company" not in json.loads(backtest(world, "--json", config="plain.toml").output)
    result = backtest(world, "--json", "--company-model", str(candidate), config="plain.toml")
    company = json.loads(result.output)["company"]
    assert company["model"] == "accounts candidate-1"
    # the VP's company now scores 45 + 15 + 50 (engagement max 40): 85
    assert company["evaluation"]["deciles"][0]["max_score"] == 85.0


@pytest.mark.parametrize("path, message", [
    ("nowhere.toml", "Error: nowhere.toml: no such company model file"),
    ("{dir}/broken.toml", "Error: {dir}/broken.toml:"),
])
def test_a_bad_company_model_exits_2_with_one_line(world: dict, path: str, message: str) -> None:
    (world["dir"] / "broken.toml").write_text(
        FIXTURE.read_text().replace('rollup = "top"\ntop = 3', 'rollup = "median"'))
    result = backtest(world, "--company-model", path.format(dir=world["dir"]))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message.format(dir=world["dir"])), lines


def test_with_several_models_the_model_in_charge_feeds_the_companies(world: dict) -> None:
    """A shadow listed first doubles meeting points; the companies still roll up the
    engagement of the model driving stages, so their figures are the one-model figures."""
    import scoring
    doubled = scoring.load(None).text.replace('version = "2026-11-22"', 'version = "doubled"')
    doubled = doubled.replace('points = 15\ncount = "each"\ncap = 30',
                              'points = 30\ncount = "each"\ncap = 60')
    assert "doubled" in doubled and "points = 30\ncount" in doubled
    (world["dir"] / "doubled.toml").write_text(doubled, encoding="utf-8")
    (world["dir"] / "models.toml").write_text(
        f'[scoring]\ncompany_model = "{FIXTURE}"\n'
        f'[[models]]\nname = "next"\nshadow = true\npath = "doubled.toml"\n'
        f'[[models]]\nname = "core"\ndrives_stages = true\n', encoding="utf-8")
    one = json.loads(backtest(world, "--json").output)["company"]
    result = backtest(world, "--json", config="models.toml")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [e["model"] for e in data["evaluations"]] == ["starter doubled", "starter 2026-11-22"]
    assert data["company"]["engagement_model"] == "starter 2026-11-22"
    assert data["company"]["evaluation"] == one["evaluation"]

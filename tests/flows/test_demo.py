import json
import re
from pathlib import Path

from click.testing import CliRunner
from score_cache import add_contact, add_event

from cache.database import open_cache
from cli import cli
from flows.demo import Lead, _top_accounts, top_leads
from scoring import Reason
from scoring.reasons import dumps

COMPANY_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "company_model.toml"


def test_demo_runs_the_whole_loop_and_says_where_things_are(tmp_path):
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--contacts", "300", "--dir", str(workdir)],
                                catch_exceptions=False)
    assert result.exit_code == 0
    out = result.output
    assert "properties: 7 created, 0 already there" in out
    first, second = [line for line in out.splitlines() if line.strip().startswith("pulled ")]
    assert " 0 batch calls" not in first
    assert "wrote 0 contacts in 0 batch calls" in second
    assert "Funnel (live contacts)" in out and "Top leads to call (not yet opportunity or customer), and why:" in out
    assert "Backtest as of " in out and "ROC AUC starter" in out
    learned = next(line for line in out.splitlines() if line.startswith("Learned model: "))
    assert f"{workdir / 'learned_model.toml'} (" in learned and " vs the starter's 0." in learned
    assert (workdir / "learned_model.toml").read_text().startswith("# Learned by `leadsync learn`")
    assert f"Report: {workdir / 'report.html'}" in out
    assert (workdir / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert f"Cache: {workdir / 'leadsync.db'}" in out
    # every hint is one command the user can run as printed (here: pytest's runner is not on
    # PATH as leadsync, so the hints name the command the same way throughout)
    hints = [line for line in out.splitlines() if "review it:" in line or line.startswith("Cache:")]
    command = hints[-1].split("(try: ", 1)[1].split(" --db", 1)[0]
    assert all(hint.count(f"{command} --db") >= 2 for hint in hints), hints
    assert "datasette" not in out and f"{command} --db {workdir / 'leadsync.db'} browse" in out


def test_top_leads_are_the_ones_sales_should_call_with_ties_broken_and_every_reason_counted(tmp_path):
    cache = open_cache(tmp_path / "l.db")
    rules = [Reason(f"rule {i}", "fit", float(10 - i), 1) for i in range(5)]
    bound = Reason("total capped at 100", "total", -18.0, 0)
    for contact_id, stage, hs_stage, total, engagement, inactive in [
            ("1", "marketingqualifiedlead", "marketingqualifiedlead", 100, 20, 0),
            ("2", "marketingqualifiedlead", "customer", 100, 90, 0),      # already bought
            ("3", "opportunity", "salesqualifiedlead", 100, 90, 0),       # a deal already
            ("4", "marketingqualifiedlead", "lead", 100, 20, 0),         # tie with 1: more recent
            ("5", "marketingqualifiedlead", "lead", 100, 35, 0),         # more engaged: first
            ("6", "marketingqualifiedlead", "lead", 100, 99, 1),         # inactive
            ("7", "lead", "lead", 40, 0, 0)]:
        add_contact(cache, contact_id, email=f"c{contact_id}@x.io", lifecyclestage=hs_stage)
        cache.conn.execute(
            "INSERT INTO scores (contact_id, model_name, model_version, as_of, fit, engagement, "
            "total, grade, stage, inactive, reasons, scored_at) "
            "VALUES (?, 'm', '1', '2026-11-22', 0, ?, ?, 'A1', ?, ?, ?, '2026-11-22')",
            (contact_id, engagement, total, stage, inactive, dumps([*rules, bound])))
    add_event(cache, "1", "meetings", "m1", "2026-10-01T00:00:00.000Z")
    add_event(cache, "4", "meetings", "m4", "2026-11-20T00:00:00.000Z")
    leads = top_leads(cache, 4)
    cache.close()
    assert [lead.contact_id for lead in leads] == ["5", "4", "1", "7"]
    assert leads[1] == Lead("4", "c4@x.io", 100, 20, "A1", "marketingqualifiedlead", "2026-11-20",
                            "rule 0 +10; rule 1 +9; rule 2 +8; +2 more")
    assert leads[0].last_engaged is None


def test_top_leads_read_the_model_in_charge_once_per_contact(tmp_path):
    cache = open_cache(tmp_path / "m.db")
    for contact_id, core, shadow in [("1", 50, 90), ("2", 70, 10), ("3", 60, 95)]:
        add_contact(cache, contact_id, email=f"c{contact_id}@x.io", lifecyclestage="lead")
        for model, total in (("core", core), ("next", shadow)):
            cache.conn.execute(
                "INSERT INTO scores (contact_id, model, model_name, model_version, as_of, fit, "
                "engagement, total, grade, stage, inactive, reasons, scored_at) "
                "VALUES (?, ?, ?, '1', '2026-11-22', 0, 0, ?, 'B2', 'lead', 0, '[]', "
                "'2026-11-22')", (contact_id, model, model, total))
    core = top_leads(cache, 5, "core")
    shadow = top_leads(cache, 5, "next")
    assert top_leads(cache, 5) == []  # no score of the default model in this cache
    cache.close()
    assert [(lead.contact_id, lead.total) for lead in core] == [("2", 70), ("3", 60), ("1", 50)]
    assert [(lead.contact_id, lead.total) for lead in shadow] == [("3", 95), ("1", 90), ("2", 10)]


def test_top_accounts_lines_mirror_the_top_leads(tmp_path):
    cache = open_cache(tmp_path / "a.db")
    for company_id, name, domain, total, grade, contacts in [
            ("7", "Acme", "acme.io", 63, "A2", 3), ("8", None, "solo.io", 20.5, None, 1)]:
        cache.conn.execute("INSERT INTO companies (id, domain, properties) VALUES (?, ?, ?)",
                           (company_id, domain, json.dumps({"name": name} if name else {})))
        cache.conn.execute(
            "INSERT INTO company_scores (company_id, model_name, model_version, as_of, fit, "
            "engagement, total, grade, reasons, contacts, scored_at) VALUES (?, 'accounts', '1', "
            "'2026-11-22', ?, ?, ?, ?, ?, ?, '2026-11-22')",
            (company_id, total - 18, 18, total, grade,
             dumps([Reason("Company size", "fit", 25.0, 1), Reason("Software", "fit", 20.0, 1),
                    Reason("Target account", "fit", 15.0, 1),
                    Reason("Contacts' engagement (top 3)", "engagement", 18.0, 3)]), contacts))
    cache.close()
    assert _top_accounts(str(tmp_path / "a.db")).splitlines() == [
        "Top accounts (the company model's best-scored companies), and why:",
        "     63 A2  Acme (acme.io)  (fit 45, engagement 18, 3 contacts)",
        "        Company size +25; Software +20; Contacts' engagement (top 3) +18; +1 more",
        "   20.5 --  solo.io  (fit 2.5, engagement 18, 1 contact)",
        "        Company size +25; Software +20; Contacts' engagement (top 3) +18; +1 more"]
    empty = tmp_path / "e.db"
    open_cache(empty).close()
    assert _top_accounts(str(empty)).splitlines()[1:] == ["  none: no company scored yet"]


def test_demo_with_a_config_scores_its_models_and_lists_top_accounts(tmp_path):
    conf = tmp_path / "leadsync.toml"
    conf.write_text(f'[scoring]\ncompany_model = "{COMPANY_MODEL}"\n'
                    '[[models]]\nname = "core"\ndrives_stages = true\n'
                    '[[models]]\nname = "next"\nshadow = true\n')
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["--config", str(conf), "demo", "--contacts", "300",
                                      "--dir", str(workdir)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output.splitlines()
    assert out[1] == f"Scoring with the models of {conf}"
    assert out[2] == "1. leadsync setup: creating leadsync's contact and company properties in " \
                     "the portal"
    first, second = [line for line in out if line.strip().startswith("pulled ")]
    assert "; scored " in first and " companies (" in first and "wrote 0 companies" not in first
    assert "wrote 0 contacts in 0 batch calls; scored " in second
    assert " companies (0 changed), wrote 0 in 0 batch calls; " in second
    leads_at = out.index("Top leads to call (not yet opportunity or customer), and why:")
    emails = [line.split()[3] for line in out[leads_at + 1:leads_at + 11:2]]
    assert len(emails) == len(set(emails)) == 5  # once each, though two models score them
    cache = open_cache(workdir / "leadsync.db")
    best = cache.conn.execute(
        "SELECT s.total, s.grade, json_extract(c.properties, '$.name'), c.domain, s.contacts "
        "FROM company_scores s JOIN companies c ON c.id = s.company_id "
        "ORDER BY s.total DESC, s.engagement DESC, s.contacts DESC, "
        "CAST(s.company_id AS INTEGER) LIMIT 1").fetchone()
    cache.close()
    accounts_at = out.index("Top accounts (the company model's best-scored companies), and why:")
    total, grade, name, domain, contacts = best
    assert out[accounts_at + 1].startswith(
        f"  {total:>5g} {grade or '--':<3} {name} ({domain})  (fit ")
    assert out[accounts_at + 1].endswith(f", {contacts:,} contacts)")
    assert len(out[accounts_at + 1:out.index("", accounts_at)]) == 10
    assert "explain --company <domain>, " in out[-1]
    # the backtest line names the config's models, and adds the companies' figure
    backtest = next(line for line in out if line.startswith("Backtest as of "))
    assert re.search(r"ROC AUC core: 0\.\d{3}, next: 0\.\d{3}, random baseline: 0\.\d{3}, "
                     r"companies: 0\.\d{3} \(0\.5 = chance", backtest), backtest
    page = (workdir / "report.html").read_text()
    assert '<section id="accounts">' in page and '<section id="challenger">' in page

from click.testing import CliRunner
from score_cache import add_contact, add_event

from cache.database import open_cache
from cli import cli
from flows.demo import Lead, top_leads
from scoring import Reason
from scoring.reasons import dumps


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

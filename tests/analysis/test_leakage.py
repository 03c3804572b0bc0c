"""`leadsync leakage` and the report's leakage section, on a hand-made cache (numbers by hand),
the section checked in headless chromium as the report's browser test does."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner
from report_world import D, build
from headless import dump_dom
from test_report_browser import Charts

from analysis.leakage import leakage
from analysis.report import write_report
from cache.owners import save_owners
from cli import cli

AS_OF = "2026-11-25T12:00:00.000Z"
OWNERS = [{"id": "11", "firstName": "Maya", "lastName": "L", "teams": [
              {"id": "1", "name": "Inbound", "primary": True}]},
          {"id": "12", "firstName": "Tom", "lastName": "O", "teams": [
              {"id": "2", "name": "Outbound", "primary": True}]}]


def state(status: str, owner: str, started: str, due: str, met: str | None = None) -> str:
    return json.dumps({"stage": "marketingqualifiedlead", "owner": owner, "started_at": started,
                       "due_at": due, "status": status, "met_at": met,
                       "met_by": owner if met else None,
                       "breached_since": due if status in ("breached", "met_late") else None})


def with_followups(path: Path):
    cache = build(path)
    with cache.transaction() as conn:
        save_owners(conn, OWNERS, AS_OF)
        conn.execute("UPDATE scores SET as_of = ?", (AS_OF,))
        rows = {  # contact: SLA state (2 and 3 are MQLs in the report world; 4 met late, then
                  # recycled)
            "2": state("met", "11", "2026-11-23T08:00:00.000Z", "2026-11-23T16:00:00.000Z",
                       "2026-11-23T10:00:00.000Z"),
            "3": state("breached", "12", "2026-11-20T14:30:00.000Z",
                       "2026-11-23T14:30:00.000Z"),
            "4": state("met_late", "12", "2026-11-20T09:00:00.000Z", "2026-11-20T17:00:00.000Z",
                       "2026-11-21T11:00:00.000Z"),
        }
        for contact, text in rows.items():
            conn.execute("UPDATE scores SET followup = ? WHERE contact_id = ?", (text, contact))
        conn.execute("UPDATE contacts SET properties = json_set(properties, "
                     "'$.hs_v2_date_entered_marketingqualifiedlead', ?) WHERE id IN ('2', '4')",
                     (f"2026-11-23{D}",))
        conn.execute("UPDATE scores SET reasons = ? WHERE contact_id = '4'",
                     ('[["Recycled: Never touched by sales","stage",0.0,1]]',))
    return cache


def test_leakage_counts_each_step_by_owner_and_times_first_touch(tmp_path):
    cache = with_followups(tmp_path / "l.db")
    report = leakage(cache)
    cache.close()
    assert report.with_sla == 3
    assert [(s["step"], s["contacts"], s["leaked"]) for s in report.funnel] == [
        ("Became MQL", 3, 1), ("Touched by owner", 2, 1), ("Became SQL", 0, 0),
        ("Recycled", 1, 1)]
    assert [(r["name"], r["mqls"], r["never_touched"], r["breached"], r["met_late"])
            for r in report.by_owner] == [("Tom O", 2, 1, 2, 1), ("Maya L", 1, 0, 0, 0)]
    assert [r["name"] for r in report.by_team] == ["Outbound", "Inbound"]
    assert [(r["owner"], r["touched"], r["median_hours"], r["within_sla"], r["buckets"]["1-4 h"])
            for r in report.first_touch] == [("Maya L", 1, 2.0, 1.0, 1),
                                             ("Tom O", 1, 26.0, 0.0, 0)]
    assert [(r["contact_id"], r["owner"], r["status"], r["hours_overdue"])
            for r in report.act_today] == [("3", "Tom O", "breached", 45.5)]


def test_leakage_reads_the_model_in_charge_so_a_contact_counts_once(tmp_path):
    cache = with_followups(tmp_path / "l.db")
    alone = leakage(cache).as_dict()
    with cache.transaction() as conn:  # a challenger scored the same contacts: its rows too
        conn.execute("INSERT INTO scores (contact_id, model_name, model_version, as_of, fit, "
                     "engagement, total, grade, stage, inactive, reasons, scored_at, followup, "
                     "model) SELECT contact_id, 'c', '1', as_of, fit, engagement, total, grade, "
                     "stage, inactive, reasons, scored_at, followup, 'challenger' FROM scores")
    assert leakage(cache).as_dict() == alone
    assert leakage(cache, "challenger").as_dict() == alone  # the same states, read once
    assert leakage(cache, "nobody").funnel[0]["contacts"] == 0
    cache.close()


def test_leakage_command_prints_json_and_writes_the_csv_to_act_on(tmp_path):
    with_followups(tmp_path / "l.db").close()
    out = tmp_path / "today.csv"
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "l.db"), "leakage", "--json",
                                      "--csv", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["funnel"][0]["leaked"] == 1
    with out.open() as handle:
        assert list(csv.DictReader(handle)) == [{
            "contact_id": "3", "email": "c@x.io", "owner": "Tom O", "team": "Outbound",
            "source": "PAID_SOCIAL", "stage": "marketingqualifiedlead", "status": "breached",
            "due_at": "2026-11-23T14:30:00.000Z", "hours_overdue": "45.5"}]
    text = CliRunner().invoke(cli, ["--db", str(tmp_path / "l.db"), "leakage"]).output
    assert "Became MQL                     3        1  MQLs never touched" in text
    missing = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "leakage"])
    assert missing.exit_code == 2 and "no cache at" in missing.output


def test_the_leakage_section_renders_in_a_headless_browser(tmp_path):
    cache = with_followups(tmp_path / "l.db")
    page = write_report(cache, tmp_path / "report.html")
    cache.close()
    done = dump_dom(page.as_uri(), tmp_path / "profile", "--window-size=1200,3600")
    assert done.returncode == 0, done.stderr[-2000:]
    assert [line for line in done.stderr.splitlines() if ":CONSOLE" in line] == []
    dom = Charts()
    dom.feed(done.stdout)
    assert (dom.svgs["leakage"], dom.svgs["followup"]) == (1, 1)
    assert dom.shapes["leakage"] >= 20 and dom.shapes["followup"] >= 20
    for legend in ("reached the step", "leaked at the step", "median", "90th percentile",
                   "Lead leakage after the handoff", "Tom O", "within SLA"):
        assert legend in done.stdout, legend

"""The company push's guardrail through `leadsync push` and `sync`, against the sandbox over
real HTTP: more companies to write than `--max-company-changes` (or push.max_company_changes)
allows stops the command with one line, exit 1, and nothing sent: no company write and no
contact write either (both plans are checked before anything goes out)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cache.database import open_cache
from cli import cli
from mappings.company_writeback import desired_company_values
from sandbox import Sandbox

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NAMES = {"score": "leadsync_company_score", "grade": "leadsync_company_grade",
         "reasons": "leadsync_company_reasons"}
COMPANY_ROUTE = "POST /crm/v3/objects/companies/batch/update"
CONTACT_ROUTE = "POST /crm/v3/objects/contacts/batch/update"
AS_OF = "2026-11-22T00:00:00Z"
RERUN = "Check `leadsync push --dry-run`, then rerun with"


@pytest.fixture
def sb():
    with Sandbox(contacts=600, seed=6) as sandbox:  # 150 companies
        yield sandbox


def config(folder: Path, push: str = "") -> Path:
    path = folder / "leadsync.toml"
    path.write_text(f'[scoring]\ncompany_model = "{FIXTURES / "company_model.toml"}"\n'
                    + (f"\n[push]\n{push}\n" if push else ""))
    return path


def leadsync(sb, db, conf, *args):
    return CliRunner().invoke(cli, ["--db", str(db), "--config", str(conf), *args],
                              env={"LEADSYNC_BASE_URL": sb.base_url,
                                   "HUBSPOT_ACCESS_TOKEN": sb.token},
                              catch_exceptions=False)


def query(db, sql: str) -> list[tuple]:
    cache = open_cache(db)
    try:
        return cache.conn.execute(sql).fetchall()
    finally:
        cache.close()


def writes(sb) -> tuple[int, int]:
    """Batch update calls since the last reset: (contacts, companies)."""
    routes = sb.stats()["by_route"]
    return routes.get(CONTACT_ROUTE, 0), routes.get(COMPANY_ROUTE, 0)


def synced_then_every_company_moved(sb, tmp_path, conf) -> Path:
    """A cache in step with the portal, then a company model edit that moves every company's
    total: the next push would write 150 companies and no contact. (The sync's flag lets
    it through whatever the config says.)"""
    db = tmp_path / "leadsync.db"
    assert leadsync(sb, db, conf, "setup").exit_code == 0
    synced = leadsync(sb, db, conf, "sync", "--as-of", AS_OF, "--quiet",
                      "--max-company-changes", "150")
    assert synced.exit_code == 0, synced.output
    cache = open_cache(db)
    try:
        with cache.transaction() as conn:
            conn.execute("UPDATE company_scores SET total = total + 1")
    finally:
        cache.close()
    return db


def assert_portal_holds_the_stored_scores(sb, db) -> None:
    for company_id, total, grade, reasons in query(
            db, "SELECT company_id, total, grade, reasons FROM company_scores"):
        want = desired_company_values(total, grade, reasons, NAMES)
        have = sb.portal.get("companies", company_id).properties
        assert {k: have.get(k, "") for k in want} == want, company_id


def test_push_over_the_company_guardrail_sends_nothing_and_names_the_flag(sb, tmp_path):
    conf = config(tmp_path)
    db = synced_then_every_company_moved(sb, tmp_path, conf)
    rows_before = query(db, "SELECT count(*) FROM company_outbox")

    sb.reset_stats()
    result = leadsync(sb, db, conf, "push", "--max-company-changes", "149")
    assert result.exit_code == 1
    assert result.output == (
        "Error: push would update 150 companies, more than --max-company-changes 149; nothing "
        f"was sent. {RERUN} --max-company-changes 150\n")
    assert writes(sb) == (0, 0)
    assert query(db, "SELECT count(*) FROM company_outbox") == rows_before  # nothing filed
    assert query(db, "SELECT outcome FROM runs ORDER BY id DESC LIMIT 1") == [("failed",)]

    # exactly at the limit: written, in the fewest calls
    sb.reset_stats()
    result = leadsync(sb, db, conf, "push", "--max-company-changes", "150", "--json")
    assert result.exit_code == 0, result.output
    companies = json.loads(result.output)["companies"]
    assert (companies["companies_written"], companies["failed"]) == (150, [])
    assert writes(sb) == (0, 2)
    assert_portal_holds_the_stored_scores(sb, db)


def test_the_flag_overrides_the_config_and_dry_run_only_notes_it(sb, tmp_path):
    conf = config(tmp_path, "max_company_changes = 0")
    db = synced_then_every_company_moved(sb, tmp_path, conf)

    sb.reset_stats()
    result = leadsync(sb, db, conf, "push")
    assert result.exit_code == 1
    assert result.output == (
        "Error: push would update 150 companies, more than --max-company-changes 0; nothing "
        f"was sent. {RERUN} --max-company-changes 150\n")
    assert sb.stats()["total"] == 0

    dry = leadsync(sb, db, conf, "push", "--dry-run")  # the plan is shown, never stopped
    assert dry.exit_code == 0, dry.output
    lines = dry.output.splitlines()
    assert "companies: 150 to write, 0 already up to date" in lines
    assert lines[-1] == "dry run: nothing sent"
    # ... with a note that a push would stop on it, and the flag that lets this plan through
    notes = [line for line in lines if line.startswith("note: ")]
    assert notes == ["note: over the guardrail: 150 companies would change, more than "
                     "--max-company-changes 0; `leadsync push` would stop and send nothing (if "
                     "this plan is right: --max-company-changes 150)"]
    assert json.loads(leadsync(sb, db, conf, "push", "--dry-run", "--json").output)[
        "notes"] == [notes[0].removeprefix("note: ")]
    within = leadsync(sb, db, conf, "push", "--dry-run", "--max-company-changes", "150")
    assert "note: " not in within.output
    assert sb.stats()["total"] == 0

    result = leadsync(sb, db, conf, "push", "--max-company-changes", "5000")
    assert result.exit_code == 0, result.output
    assert "companies: 150 written in 2 batch calls, 0 already up to date" in result.output
    assert writes(sb) == (0, 2)
    assert_portal_holds_the_stored_scores(sb, db)


def test_both_guardrails_tripped_are_named_in_one_line(sb, tmp_path):
    conf = config(tmp_path)
    db = tmp_path / "leadsync.db"
    assert leadsync(sb, db, conf, "setup").exit_code == 0
    assert leadsync(sb, db, conf, "pull", "--quiet").exit_code == 0
    assert leadsync(sb, db, conf, "score", "--as-of", AS_OF).exit_code == 0
    plan = json.loads(leadsync(sb, db, conf, "push", "--dry-run", "--json").output)
    contacts, companies = plan["plan"]["contacts"], plan["companies"]["plan"]["companies"]
    assert contacts > 10 and companies == 150

    sb.reset_stats()
    result = leadsync(sb, db, conf, "push", "--max-changes", "10", "--max-company-changes", "10")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: push would update {contacts:,} contacts, more than --max-changes 10, and 150 "
        f"companies, more than --max-company-changes 10; nothing was sent. {RERUN} "
        f"--max-changes {contacts} --max-company-changes 150\n")
    # the contact guardrail alone keeps its own message
    result = leadsync(sb, db, conf, "push", "--max-changes", "10")
    assert result.output == (
        f"Error: push would update {contacts:,} contacts, more than --max-changes 10; nothing "
        f"was sent. {RERUN} --max-changes {contacts}\n")
    dry = leadsync(sb, db, conf, "push", "--dry-run", "--max-changes", "10")
    assert [line for line in dry.output.splitlines() if line.startswith("note: ")] == [
        f"note: over the guardrail: {contacts:,} contacts would change, more than --max-changes "
        f"10; `leadsync push` would stop and send nothing (if this plan is right: --max-changes "
        f"{contacts})"]
    assert sb.stats()["total"] == 0
    assert query(db, "SELECT count(*) FROM outbox") == [(0,)]
    assert query(db, "SELECT count(*) FROM company_outbox") == [(0,)]


def test_sync_over_the_company_guardrail_writes_no_contact_either(sb, tmp_path):
    conf = config(tmp_path)
    db = tmp_path / "leadsync.db"
    assert leadsync(sb, db, conf, "setup").exit_code == 0

    sb.reset_stats()
    result = leadsync(sb, db, conf, "sync", "--as-of", AS_OF, "--quiet",
                      "--max-company-changes", "149")
    assert result.exit_code == 1
    assert result.output == (
        "Error: push would update 150 companies, more than --max-company-changes 149; nothing "
        f"was sent. {RERUN} --max-company-changes 150\n")
    assert writes(sb) == (0, 0)
    assert query(db, "SELECT count(*) FROM outbox") == [(0,)]
    assert query(db, "SELECT count(*) FROM company_outbox") == [(0,)]
    assert query(db, "SELECT count(*) FROM company_scores") == [(150,)]  # the scores are kept

    result = leadsync(sb, db, conf, "sync", "--as-of", AS_OF, "--quiet", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["push"]["contacts_written"] > 0
    assert summary["companies"]["push"]["companies_written"] == 150
    assert_portal_holds_the_stored_scores(sb, db)


@pytest.mark.parametrize("value, shown", [("-1", "-1"), ('"many"', "'many'"), ("1.5", "1.5")])
def test_a_bad_max_company_changes_is_one_line_and_exit_2(sb, tmp_path, value, shown):
    conf = config(tmp_path, f"max_company_changes = {value}")
    result = leadsync(sb, tmp_path / "leadsync.db", conf, "sync")
    assert result.exit_code == 2
    assert result.output == (f"Error: {conf}: push.max_company_changes must be a whole number "
                             f"at least 0, got {shown}\n")

"""`leadsync sync` and `push` when company writes fail or the process dies, against the
sandbox over real HTTP: exit 3 with the company line and its failures, `--retry-failed`
sends the rejected companies, and a `leadsync push` killed with SIGKILL while a company batch
is in flight leaves a cache the next push completes, writing nothing twice but that batch."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
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
AS_OF = datetime.now(timezone.utc).isoformat(timespec="seconds")
LEADSYNC = Path(sys.executable).parent / "leadsync"
ERROR = "VALIDATION_ERROR: Company is locked by an import"


@pytest.fixture
def sb():
    with Sandbox(contacts=600, seed=6) as sandbox:  # 150 companies
        yield sandbox


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "leadsync.toml"
    path.write_text(f'[scoring]\ncompany_model = "{FIXTURES / "company_model.toml"}"\n')
    return path


def env(sb) -> dict[str, str]:
    return {"LEADSYNC_BASE_URL": sb.base_url, "HUBSPOT_ACCESS_TOKEN": sb.token}


def leadsync(sb, db, conf, *args):
    return CliRunner().invoke(cli, ["--db", str(db), "--config", str(conf), *args], env=env(sb),
                              catch_exceptions=False)


def desired(db) -> dict[str, dict[str, str]]:
    cache = open_cache(db)
    try:
        return {r[0]: desired_company_values(r[1], r[2], r[3], NAMES) for r in cache.conn.execute(
            "SELECT company_id, total, grade, reasons FROM company_scores")}
    finally:
        cache.close()


def assert_portal_holds(sb, wanted: dict[str, dict[str, str]]) -> None:
    for company_id, values in wanted.items():
        have = sb.portal.get("companies", company_id).properties
        assert {k: have.get(k, "") for k in values} == values, company_id


def move_every_company_score(db) -> None:
    """A rescore moved every company's total (the contacts' scores stay put)."""
    cache = open_cache(db)
    try:
        with cache.transaction() as conn:
            conn.execute("UPDATE company_scores SET total = total + 1")
    finally:
        cache.close()


def outbox(db) -> list[tuple]:
    cache = open_cache(db)
    try:
        return cache.conn.execute("SELECT company_id, status FROM company_outbox "
                                  "ORDER BY id").fetchall()
    finally:
        cache.close()


def test_sync_and_push_exit_3_when_company_writes_fail_and_retry_failed_sends_them(
        sb, tmp_path, conf):
    db = tmp_path / "leadsync.db"
    assert leadsync(sb, db, conf, "setup").exit_code == 0
    ids = sorted((str(r.id) for r in sb.portal.live("companies")), key=int)
    bad = [ids[3], ids[100]]
    sb.faults.fail_records("companies", bad, message="Company is locked by an import")

    synced = leadsync(sb, db, conf, "sync", "--as-of", AS_OF)
    assert synced.exit_code == 3, synced.output
    lines = synced.output.splitlines()
    assert "companies: 150 scored, 150 changed; 148 written in 2 batch calls, 2 failed" in lines
    at = lines.index("companies: 150 scored, 150 changed; 148 written in 2 batch calls, 2 failed")
    assert lines[at + 1:at + 4] == ["2 companies failed:", f"  company {bad[0]}: {ERROR}",
                                    f"  company {bad[1]}: {ERROR}"]
    for company_id in bad:
        assert NAMES["score"] not in sb.portal.get("companies", company_id).properties

    # still failing: --retry-failed resends them (first), the other companies' new scores go too
    move_every_company_score(db)
    sb.reset_stats()
    pushed = leadsync(sb, db, conf, "push", "--retry-failed")
    assert pushed.exit_code == 3, pushed.output
    lines = pushed.output.splitlines()
    at = lines.index("companies: 148 written in 3 batch calls, 0 already up to date")
    assert lines[at + 1:at + 3] == ["2 company outbox rows left by an earlier push resent first",
                                    "2 companies failed:"]
    assert sb.stats()["by_route"][COMPANY_ROUTE] == 3

    # without the flag they wait: exit 0, no company call, and the output says what to run
    sb.reset_stats()
    waiting = leadsync(sb, db, conf, "push")
    assert waiting.exit_code == 0, waiting.output
    assert ("2 companies held back by earlier failures; fix the cause, then run "
            "`leadsync push --retry-failed`") in waiting.output.splitlines()
    assert sb.stats()["by_route"].get(COMPANY_ROUTE, 0) == 0

    sb.faults.clear_records()
    sb.reset_stats()
    retried = leadsync(sb, db, conf, "push", "--retry-failed", "--json")
    assert retried.exit_code == 0, retried.output
    companies = json.loads(retried.output)["companies"]
    # their rows still carry the scores of the first sync: resent, then planned again and
    # written with the scores moved since (one call each)
    assert (companies["companies_written"], companies["write_calls"], companies["failed"]) == (
        2, 2, [])
    assert companies["minimum_calls"] == 2 and companies["plan"]["companies"] == 2
    assert_portal_holds(sb, desired(db))
    assert {status for _, status in outbox(db)} == {"done"}


def test_push_killed_while_a_company_batch_is_in_flight_then_the_next_push_completes(
        sb, tmp_path, conf):
    db = tmp_path / "leadsync.db"
    assert leadsync(sb, db, conf, "setup").exit_code == 0
    assert leadsync(sb, db, conf, "sync", "--as-of", AS_OF).exit_code == 0
    done_before = len(outbox(db))
    move_every_company_score(db)

    sb.latency_ms = 700
    child = subprocess.Popen(
        [str(LEADSYNC), "--db", str(db), "--config", str(conf), "push", "--quiet"],
        env={**os.environ, **env(sb)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        cache = open_cache(db)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and child.poll() is None:
                if cache.conn.execute("SELECT 1 FROM company_outbox "
                                      "WHERE status = 'sent'").fetchone():
                    break
                time.sleep(0.02)
        finally:
            cache.close()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    rows = outbox(db)[done_before:]
    in_flight = sum(1 for _, status in rows if status == "sent")
    assert in_flight >= 1 and {status for _, status in rows} <= {"sent", "done"}
    landed = len(rows) - in_flight

    sb.latency_ms = 0
    sb.reset_stats()
    rerun = leadsync(sb, db, conf, "push", "--json")
    assert rerun.exit_code == 0, rerun.output
    companies = json.loads(rerun.output)["companies"]
    # the rows in flight are resent (HubSpot may have them already: the same values), the
    # companies never filed are planned and written; nothing else is written again
    assert companies["resent"] == in_flight
    assert companies["companies_written"] == 150 - landed and companies["failed"] == []
    assert companies["write_calls"] == companies["minimum_calls"] == (
        -(-in_flight // 100) - (-(150 - landed - in_flight) // 100))
    assert sb.stats()["by_route"][COMPANY_ROUTE] == companies["write_calls"]
    rows = outbox(db)[done_before:]
    assert sorted(company for company, _ in rows) == sorted(desired(db))  # one row each
    assert {status for _, status in rows} == {"done"}
    assert_portal_holds(sb, desired(db))

    sb.reset_stats()
    again = json.loads(leadsync(sb, db, conf, "push", "--json").output)["companies"]
    assert again["write_calls"] == 0 and sb.stats()["by_route"].get(COMPANY_ROUTE, 0) == 0

"""`leadsync setup`, `sync` and `push` as a RevOps person runs them, against the sandbox."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from writeback_world import BATCH_ROUTE, NAMES

from cache.database import open_cache
from cli import cli
from mappings.writeback import DesiredScore, desired_values
from sandbox import Sandbox


@pytest.fixture
def sb():
    with Sandbox(contacts=300, seed=6) as sandbox:
        yield sandbox


# One instant for every sync of a test: scores are f(model, data, as_of), so a later "now"
# could move a decayed score across a rounding step and make a write the test did not expect.
AS_OF = datetime.now(timezone.utc).isoformat(timespec="seconds")


def leadsync(sb, db, *args, token=True):
    env = {"LEADSYNC_BASE_URL": sb.base_url, "HUBSPOT_ACCESS_TOKEN": sb.token if token else ""}
    return CliRunner().invoke(cli, ["--db", str(db), *args], env=env, catch_exceptions=False)


def desired(db) -> dict[str, dict[str, str]]:
    cache = open_cache(db)
    try:
        rows = cache.conn.execute(
            "SELECT s.contact_id, s.total, s.fit, s.engagement, s.grade, s.stage, s.inactive, s.reasons, "
            "(SELECT MAX(changed_at) FROM score_history h WHERE h.contact_id = s.contact_id) "
            "FROM scores s").fetchall()
    finally:
        cache.close()
    return {r[0]: {**desired_values(DesiredScore(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]),
                                                 r[7], r[8]), NAMES),
                   "lifecyclestage": r[5] or ""} for r in rows}


def assert_portal_holds(sb, wanted: dict[str, dict[str, str]]) -> None:
    for contact_id, values in wanted.items():
        have = sb.portal.get("contacts", contact_id).properties
        assert {k: have.get(k, "") for k in values} == values, contact_id


def test_sync_leaves_the_portal_with_exactly_the_desired_values_and_then_writes_nothing(sb, tmp_path):
    db = tmp_path / "leadsync.db"
    assert leadsync(sb, db, "setup").exit_code == 0
    first = leadsync(sb, db, "sync", "--as-of", AS_OF, "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    wanted = desired(db)
    assert summary["push"]["contacts_written"] == len(wanted) > 0
    assert summary["push"]["write_calls"] == -(-len(wanted) // 100)
    assert_portal_holds(sb, wanted)
    cache = open_cache(db)
    try:
        assert cache.conn.execute("SELECT COUNT(*) FROM score_history WHERE pushed_at IS NULL").fetchone() == (0,)
        assert cache.conn.execute("SELECT DISTINCT trigger FROM score_history").fetchall() == [("sync",)]
    finally:
        cache.close()
    sb.reset_stats()
    second = leadsync(sb, db, "sync", "--as-of", AS_OF)  # same as-of: decay cannot move a score
    assert second.exit_code == 0, second.output
    assert sb.stats()["by_route"].get(BATCH_ROUTE, 0) == 0
    assert "push:  0 contacts written in 0 batch calls" in second.output


def test_three_contacts_changed_in_hubspot_make_at_most_one_batch_of_their_changes(sb, tmp_path):
    db = tmp_path / "leadsync.db"
    leadsync(sb, db, "setup")
    leadsync(sb, db, "sync", "--as-of", AS_OF)
    live = [r["id"] for r in sb.portal.truth("contacts") if not r["archived"] and not r["mergedInto"]]
    changed = [str(i) for i in live[10:13]]
    for contact_id in changed:
        sb.portal.demo_request(contact_id)
    sb.reset_stats()
    result = leadsync(sb, db, "sync", "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    assert sb.stats()["by_route"].get(BATCH_ROUTE, 0) <= 1
    changes = json.loads(result.stdout)["push"]["plan"]["changes"]
    assert {c["contact_id"] for c in changes} <= set(changed)
    for change in changes:  # only properties whose values really differ
        assert all(change["old"].get(k, "") != v for k, v in change["writes"][0].items())
    assert_portal_holds(sb, desired(db))


def test_dry_run_prints_the_plan_with_zero_api_calls_and_no_token(sb, tmp_path):
    db = tmp_path / "leadsync.db"
    leadsync(sb, db, "setup")
    leadsync(sb, db, "pull", "--quiet", "--stream", "contacts")
    assert leadsync(sb, db, "score").exit_code == 0
    sb.reset_stats()
    result = leadsync(sb, db, "push", "--dry-run", "--json", token=False)
    assert result.exit_code == 0, result.output
    assert sb.stats()["total"] == 0
    plan = json.loads(result.stdout)["plan"]
    assert plan["contacts"] == len(plan["changes"]) > 0
    assert plan["by_property"]["leadsync_score"] == plan["contacts"]
    text = leadsync(sb, db, "push", "--dry-run", token=False).output
    assert f"{plan['contacts']:,} contacts to update" in text and "dry run: nothing sent" in text
    assert sb.stats()["total"] == 0


def test_guardrail_stops_the_push_with_one_line_naming_the_count_and_the_flag(sb, tmp_path):
    db = tmp_path / "leadsync.db"
    leadsync(sb, db, "setup")
    leadsync(sb, db, "pull", "--quiet", "--stream", "contacts")
    leadsync(sb, db, "score")
    sb.reset_stats()
    result = leadsync(sb, db, "push", "--max-changes", "10")
    assert result.exit_code == 1
    line = result.output.strip()
    assert "\n" not in line and line.startswith("Error: push would update ")
    assert "more than --max-changes 10; nothing was sent" in line
    assert sb.stats()["total"] == 0
    cache = open_cache(db)
    try:
        assert cache.conn.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)
    finally:
        cache.close()


def test_push_without_setup_says_what_is_missing_in_one_line(sb, tmp_path):
    open_cache(tmp_path / "leadsync.db").close()  # pulled, but never set up
    result = leadsync(sb, tmp_path / "leadsync.db", "push")
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: the write-back properties are not set up in HubSpot; "
                                     "run `leadsync setup` first (it creates them and reads the "
                                     "property catalog)")


def test_status_shows_the_daily_budget_and_the_records_a_sync_reported(tmp_path):
    db = tmp_path / "leadsync.db"
    with Sandbox(contacts=60, seed=6, daily_limit=250_000) as sandbox:
        assert leadsync(sandbox, db, "setup").exit_code == 0
        synced = leadsync(sandbox, db, "sync", "--as-of", AS_OF)
        assert synced.exit_code == 0, synced.output
        status = leadsync(sandbox, db, "status", "--json")
        text = leadsync(sandbox, db, "status").output
    pulled = int(re.search(r"pull: +([\d,]+) records", synced.output)[1].replace(",", ""))
    written = int(re.search(r"push: +([\d,]+) contacts written", synced.output)[1])
    report = json.loads(status.output)
    left = report["daily_budget"]["remaining"]
    assert 0 < left < 250_000
    assert f"Daily API budget left: {left:,}" in text
    run = report["last_runs"][0]
    assert (run["command"], run["records"], run["records_are"]) == ("sync", pulled,
                                                                     "records pulled")
    assert run["contacts_written"] == written > 0
    assert f"{pulled:,} records pulled, {written:,} contacts written" in text


def test_dry_run_works_while_another_run_holds_the_cache(sb, tmp_path):
    from cache.lock import run_lock

    db = tmp_path / "leadsync.db"
    leadsync(sb, db, "setup")
    leadsync(sb, db, "pull", "--quiet", "--stream", "contacts")
    assert leadsync(sb, db, "score").exit_code == 0
    unlocked = json.loads(leadsync(sb, db, "push", "--dry-run", "--json").output)
    with run_lock(str(db), "worker"):  # as the webhook worker holds it while it processes
        held = leadsync(sb, db, "push", "--dry-run", "--json", token=False)
        assert held.exit_code == 0, held.output
        assert json.loads(held.output)["plan"] == unlocked["plan"]
        busy = leadsync(sb, db, "push")  # a real push still waits for the lock
        assert busy.exit_code == 1 and "is in use by `leadsync worker`" in busy.output


def test_sync_with_contacts_that_failed_to_write_exits_3_after_its_summary(sb, tmp_path):
    db = tmp_path / "leadsync.db"
    assert leadsync(sb, db, "setup").exit_code == 0
    live = [int(r["id"]) for r in sb.portal.truth("contacts")
            if not r["archived"] and not r["mergedInto"]][:2]
    sb.faults.fail_records("contacts", live, category="VALIDATION_ERROR",
                           message="Property values were not valid")
    try:
        result = leadsync(sb, db, "sync", "--as-of", AS_OF, "--json")
    finally:
        sb.faults.clear_records()
    assert result.exit_code == 3, result.output
    summary = json.loads(result.stdout)
    assert sorted(f["contact_id"] for f in summary["push"]["failed"]) == sorted(map(str, live))
    assert leadsync(sb, db, "push").exit_code == 0  # held back, not failed again: cron is quiet

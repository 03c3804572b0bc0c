"""The company push's failure paths against the sandbox over real HTTP: 207s, 429s, 5xx, and
a process killed between sending a batch and recording its answer. The outbox protocol is
connector/outbox.py's (tested in depth through the contact push); these check its company
wiring: the tables, the object type, the summary and --retry-failed."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from company_world import COMPANY_NAMES, CompanyWorld
from writeback_world import make_client

from cache.database import open_cache
from foundation.errors import RateLimited
from sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
BATCH_PATH = "/crm/v3/objects/companies/batch/update"
SCORE = COMPANY_NAMES["score"]


@pytest.fixture
def world(tmp_path):
    with Sandbox(contacts=600, seed=6) as sb:  # 150 companies: two batches
        cache = open_cache(tmp_path / "leadsync.db")
        w = CompanyWorld(sb, cache, make_client(sb))
        w.setup()
        w.pull()
        yield w
        cache.close()


def pushed_history(world: CompanyWorld) -> int:
    return world.cache.conn.execute(
        "SELECT count(*) FROM company_score_history WHERE pushed_at IS NOT NULL").fetchone()[0]


def test_a_207_fails_the_rejected_companies_the_rest_land_and_retry_failed_sends_them(world):
    ids = world.live_ids()
    assert len(ids) == 150
    world.score(ids)
    bad = [ids[7], ids[120]]
    world.sb.faults.fail_records("companies", bad, message="Company is locked by an import")
    world.sb.reset_stats()
    summary = world.push()
    error = "VALIDATION_ERROR: Company is locked by an import"
    assert sorted(summary.failed, key=lambda f: f["company_id"]) == [
        {"company_id": c, "error": error, "retriable": False} for c in sorted(bad)]
    assert summary.companies_written == 148 and summary.written == 148
    assert world.write_calls() == 2 == summary.write_calls == summary.minimum_calls
    text = summary.render()
    assert "2 companies failed:" in text and f"  company {bad[0]}: {error}" in text
    for company_id in bad:
        assert SCORE not in world.hubspot(company_id)
    world.assert_hubspot_has_desired_values(skip=frozenset(bad))
    assert pushed_history(world) == 148  # a rejected company's history is not stamped
    assert sorted(r[1] for r in world.outbox()) == ["done"] * 148 + ["failed"] * 2

    world.sb.reset_stats()
    again = world.push()  # without --retry-failed they wait: no call, and the summary says why
    assert world.write_calls() == 0 and again.backlog.held == frozenset(bad)
    assert again.plan.changes == [] and again.failed == []
    assert ("2 companies held back by earlier failures; fix the cause, then run "
            "`leadsync push --retry-failed`") in again.render()

    world.sb.faults.clear_records()
    world.sb.reset_stats()
    retried = world.push(retry_failed=True)
    assert (retried.companies_written, retried.failed, retried.resent) == (2, [], 2)
    assert world.write_calls() == 1
    world.assert_hubspot_has_desired_values()
    assert pushed_history(world) == 150
    assert {r[1] for r in world.outbox()} == {"done"}


def test_a_429_is_retried_and_nothing_is_lost(world):
    world.client = make_client(world.sb, window=0.5)  # a 429 waits out one window
    ids = world.live_ids()
    world.score(ids)
    world.sb.faults.add(status=429, times=1, path_prefix=BATCH_PATH)
    world.sb.reset_stats()
    summary = world.push()
    assert summary.failed == [] and summary.companies_written == 150
    assert summary.write_calls == summary.minimum_calls == 2
    stats = world.sb.stats()
    assert stats["rate_limited"] == 1 and world.write_calls() == 3  # the 429'd call, again
    assert [r[1:3] for r in world.outbox()] == [("done", 1)] * 150
    world.assert_hubspot_has_desired_values()


def test_a_429_that_outlasts_the_retries_stops_the_push_and_the_next_one_sends_it(world):
    world.client = make_client(world.sb, window=0.5)  # a 429 waits out one window
    ids = world.live_ids()
    world.score(ids)
    world.sb.faults.add(status=429, times=None, path_prefix=BATCH_PATH)
    with pytest.raises(RateLimited):
        world.push()
    # the batches in flight went back to pending: nothing is lost, nothing counts as failed
    assert [r[1] for r in world.outbox()] == ["pending"] * 150
    assert world.cache.conn.execute("SELECT count(*) FROM company_pushed").fetchone() == (0,)
    world.sb.faults.clear()
    world.sb.reset_stats()
    summary = world.push()
    assert (summary.resent, summary.companies_written, summary.failed) == (150, 150, [])
    assert world.write_calls() == 2
    world.assert_hubspot_has_desired_values()


def test_a_5xx_past_the_client_retries_is_resent_in_the_next_round(world):
    ids = world.live_ids()
    world.score(ids)
    world.sb.faults.add(status=503, times=4, path_prefix=BATCH_PATH)  # the client tries 4 times
    world.sb.reset_stats()
    summary = world.push()
    assert summary.failed == [] and summary.companies_written == 150
    assert summary.write_calls == 3  # both batches, then the first one again
    assert world.write_calls() == 4 + 1 + 1
    attempts = sorted(r[2] for r in world.outbox())
    assert attempts == [1] * 50 + [2] * 100
    world.assert_hubspot_has_desired_values()


# The child pushes one batch at a time and SIGKILLs itself once the first batch's HTTP answer
# is in, before the answer is recorded: the worst moment for the outbox.
CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path[:0] = [{root!r}, {tests!r}]
    from cache.database import open_cache
    from company_world import COMPANY_NAMES
    from connector.client import HubSpot
    from connector.company_push import push_companies
    from connector.ratelimit import Budget, Limiter

    client = HubSpot(base_url={url!r}, token={token!r},
                     budget=Budget(Limiter(190, 10.0), Limiter(5, 1.0)), concurrency=1)
    cache = open_cache({db!r})
    def die(batch, companies):
        os.kill(os.getpid(), signal.SIGKILL)
    push_companies(cache, client, COMPANY_NAMES, concurrency=1, after_send=die)
""")


def test_killed_between_send_and_record_the_rerun_writes_what_is_missing_once(world, tmp_path):
    ids = world.live_ids()
    world.score(ids)
    world.sb.reset_stats()
    code = CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), url=world.sb.base_url,
                        token=world.sb.token, db=str(tmp_path / "leadsync.db"))
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert world.write_calls() == 1  # the first batch reached HubSpot …
    # … but its answer was never recorded, and the second batch was never filed
    assert [r[1] for r in world.outbox()] == ["sent"] * 100
    assert world.cache.conn.execute("SELECT count(*) FROM company_pushed").fetchone() == (0,)
    assert pushed_history(world) == 0

    world.sb.reset_stats()
    summary = world.push()
    assert (summary.resent, summary.companies_written, summary.failed) == (100, 150, [])
    # the batch in flight once more, then the 50 never sent: the fewest calls that can do it
    assert world.write_calls() == 2 == summary.write_calls
    rows = world.outbox()
    assert len(rows) == 150 and {r[0] for r in rows} == set(ids)  # one row per company
    assert {r[1] for r in rows} == {"done"}
    world.assert_hubspot_has_desired_values()
    assert pushed_history(world) == 150
    world.sb.reset_stats()
    assert world.push().write_calls == 0 and world.write_calls() == 0

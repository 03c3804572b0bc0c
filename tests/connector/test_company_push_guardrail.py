"""push_companies' guardrail against the sandbox over real HTTP: it counts the companies a
push would write, rows an earlier push left (resent first) included, each company once, and
sends nothing when they are more than `max_changes`."""
from __future__ import annotations

import pytest
from company_world import CompanyWorld
from writeback_world import make_client

from cache.database import open_cache
from foundation.errors import TooManyChanges
from sandbox import Sandbox


class Crash(Exception):
    """Stands for a process that died after a batch's HTTP call, before its answer was kept."""


@pytest.fixture
def world(tmp_path):
    with Sandbox(contacts=600, seed=6) as sb:  # 150 companies
        cache = open_cache(tmp_path / "leadsync.db")
        w = CompanyWorld(sb, cache, make_client(sb))
        w.setup()
        w.pull()
        yield w
        cache.close()


def test_within_the_limit_everything_is_written_over_it_nothing_is(world):
    ids = world.live_ids()
    world.score(ids)
    world.sb.reset_stats()
    with pytest.raises(TooManyChanges) as stopped:
        world.push(max_changes=149)
    assert str(stopped.value) == (
        "push would update 150 companies, more than --max-company-changes 149; nothing was "
        "sent. Check `leadsync push --dry-run`, then rerun with --max-company-changes 150")
    assert world.write_calls() == 0 and world.outbox() == []

    summary = world.push(max_changes=150)
    assert (summary.companies_written, summary.failed, world.write_calls()) == (150, [], 2)
    world.assert_hubspot_has_desired_values()
    assert world.push(max_changes=0).companies_written == 0  # nothing to write: never trips


def test_rows_left_by_an_earlier_push_count_once_with_the_plan(world):
    ids = world.live_ids()
    world.score(ids[:100])

    def crash(batch, companies):
        raise Crash(batch)

    with pytest.raises(Crash):
        world.push(after_send=crash)  # 100 rows left `sent`: the next push resends them
    assert len(world.outbox()) == 100
    world.score(ids, bump=1.0)  # now every company moved: 100 in the backlog, 50 new

    world.sb.reset_stats()
    with pytest.raises(TooManyChanges, match=r"^push would update 150 companies, more than "
                                             r"--max-company-changes 149;"):
        world.push(max_changes=149)
    assert world.write_calls() == 0
    assert [r[1] for r in world.outbox()] == ["sent"] * 100  # untouched, nothing filed

    summary = world.push(max_changes=150)
    assert (summary.resent, summary.failed) == (100, [])
    world.assert_hubspot_has_desired_values()

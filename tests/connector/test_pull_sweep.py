"""The rolling archived sweep: incremental pulls read a bounded number of `archived=true` pages
per stream, resume where the last run stopped, and see every deletion and restore within the
stated number of runs."""
from __future__ import annotations

import math

import pytest
from ground_truth import assert_cache_matches
from pull_world import ALL, make_client

from cache.database import open_cache
from cache.records import SweepState, read_sweep, write_sweep
from connector.pull import pull
from flows.status import status
from foundation.settings import Settings
from sandbox import Sandbox


@pytest.fixture
def sb():
    with Sandbox(contacts=400, seed=31) as sandbox:
        yield sandbox


@pytest.fixture
def cache(tmp_path):
    c = open_cache(tmp_path / "leadsync.db")
    yield c
    c.close()


def live_ids(sb, object_type: str = "contacts") -> list[int]:
    return [int(r["id"]) for r in sb.portal.truth(object_type) if not r["archived"] and not r["mergedInto"]]


def archived_count(sb, object_type: str = "contacts") -> int:
    return sum(1 for r in sb.portal.truth(object_type) if r["archived"] and not r["mergedInto"])


def archived_pages_read(sb) -> dict[str, int]:
    return {name: sb.stats()["by_route"].get(f"GET /crm/v3/objects/{name}", 0) for name in ALL}


def tombstoned(cache, contact: int) -> bool:
    row = cache.conn.execute("SELECT archived FROM contacts WHERE id = ?", (str(contact),)).fetchone()
    return row is not None and row[0] == 1


def test_each_incremental_pull_reads_one_archived_page_per_stream_and_resumes(sb, cache):
    pull(cache, make_client(sb), ALL)
    for contact in live_ids(sb)[-250:]:  # a contacts archive of several pages
        sb.portal.archive("contacts", contact)
    pages = math.ceil(archived_count(sb) / 100)
    assert pages >= 3
    cycle = status(cache, settings=Settings())["archive_sweep"]["contacts"]
    for run in range(1, pages + 1):
        sb.reset_stats()
        summary = pull(cache, make_client(sb), ALL)
        assert archived_pages_read(sb) == {name: 1 for name in ALL}
        state = read_sweep(cache.conn, "contacts")
        if run < pages:
            assert (state.pages, state.after is not None) == (run, True)
        else:  # the cycle is complete: tombstones it did not list were read back
            assert (state.after, state.cycle_started, state.last_pages) == (None, None, pages)
    assert summary.streams["contacts"].archived > 0
    assert_cache_matches(cache, sb, ALL)
    after = status(cache, settings=Settings())["archive_sweep"]["contacts"]
    assert after["last_completed"] > cycle["last_completed"]
    assert after["runs_per_cycle"] == pages


def test_a_deletion_just_behind_the_cursor_is_seen_within_one_cycle(sb, cache):
    pull(cache, make_client(sb), ALL)
    for contact in live_ids(sb)[-250:]:
        sb.portal.archive("contacts", contact)
    pages = math.ceil(archived_count(sb) / 100)
    pull(cache, make_client(sb), ALL)  # the sweep has passed the first page
    victim = live_ids(sb)[0]  # lowest id: its place in the archived listing is on page one
    sb.portal.archive("contacts", victim)
    runs = 0
    while not tombstoned(cache, victim):
        pull(cache, make_client(sb), ALL)
        runs += 1
        assert runs <= pages  # the stated bound: one cycle of runs
    assert runs == pages  # the rest of this cycle (pages - 1 runs), then page one again
    assert_cache_matches(cache, sb, ALL)


def test_a_restored_record_returns_when_its_cycle_ends(sb, cache):
    pull(cache, make_client(sb), ALL)
    victim = live_ids(sb)[5]
    sb.portal.archive("contacts", victim)
    pull(cache, make_client(sb), ALL)  # one-page archive: a whole cycle each run
    assert tombstoned(cache, victim)
    sb.portal.restore("contacts", victim)
    summary = pull(cache, make_client(sb), ALL)
    assert not tombstoned(cache, victim) and summary.streams["contacts"].restored == 1
    assert_cache_matches(cache, sb, ALL)


def test_a_run_killed_between_the_last_page_and_the_read_back_finishes_it_next_time(sb, cache):
    pull(cache, make_client(sb), ALL)
    victim, gone = str(live_ids(sb)[7]), "99999999"  # live in HubSpot; unknown to it
    with cache.transaction() as conn:
        conn.execute("UPDATE contacts SET archived = 1 WHERE id = ?", (victim,))
        conn.execute("INSERT INTO contacts (id, archived, pulled_at) VALUES (?, 1, ?)",
                     (gone, "2026-01-01T00:00:00.000Z"))
        write_sweep(conn, SweepState("contacts", None, "2999-01-01T00:00:00.000Z", 4, 4, None),
                    "2999-01-01T00:00:00.000Z")
    sb.reset_stats()
    summary = pull(cache, make_client(sb), ALL)
    assert archived_pages_read(sb)["contacts"] == 0  # the read-back only, no new cycle yet
    assert sb.stats()["by_route"]["POST /crm/v3/objects/contacts/batch/read"] == 1
    assert summary.streams["contacts"].restored == 1
    rows = dict(cache.conn.execute("SELECT id, archived FROM contacts WHERE id IN (?, ?)",
                                   (victim, gone)))
    assert rows == {victim: 0, gone: 2}
    state = read_sweep(cache.conn, "contacts")
    assert (state.cycle_started, state.last_pages) == (None, 4)


def test_sweep_pages_zero_reads_no_archived_page(sb, cache):
    pull(cache, make_client(sb), ALL)
    victim = live_ids(sb)[3]
    sb.portal.archive("contacts", victim)
    sb.reset_stats()
    pull(cache, make_client(sb), ALL, sweep_pages=0)
    assert archived_pages_read(sb) == {name: 0 for name in ALL}
    assert not tombstoned(cache, victim)
    assert status(cache, settings=Settings(archive_sweep_pages=0))["archive_sweep"]["contacts"][
        "runs_per_cycle"] is None

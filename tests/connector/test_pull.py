"""Pull against the sandbox over real HTTP: the cache must equal the portal's ground truth."""
from __future__ import annotations

import pytest
from ground_truth import assert_cache_matches
from pull_world import ALL, live_contacts, make_client

from cache.database import open_cache
from connector.pull import pull
from foundation.errors import AuthError, HubSpotError
from mappings.streams import select
from sandbox import Sandbox


@pytest.fixture
def sb():
    with Sandbox(contacts=400, seed=11) as sandbox:
        yield sandbox


@pytest.fixture
def cache(tmp_path):
    c = open_cache(tmp_path / "leadsync.db")
    yield c
    c.close()


def test_first_pull_lists_everything_and_matches_the_portal(sb, cache):
    summary = pull(cache, make_client(sb), ALL)
    assert_cache_matches(cache, sb, ALL)
    assert set(summary.modes.values()) == {"full"}
    truth = sb.portal.truth("contacts")
    live = [r for r in truth if not r["archived"] and not r["mergedInto"]]
    assert summary.streams["contacts"].new == len(live)
    assert summary.streams["contacts"].merged == sum(1 for r in truth if r["mergedInto"])


def test_full_pull_makes_the_minimum_number_of_calls(sb, cache):
    sb.reset_stats()
    client = make_client(sb)
    pull(cache, client, ALL)
    pages = 0
    for name in ALL:
        truth = sb.portal.truth(name)
        live = sum(1 for r in truth if not r["archived"] and not r["mergedInto"])
        archived = sum(1 for r in truth if r["archived"] and not r["mergedInto"])
        pages += -(-live // 100) + max(1, -(-archived // 100))
    contacts = sum(1 for r in sb.portal.truth("contacts") if not r["archived"] and not r["mergedInto"])
    association_batches = -(-contacts // 1000) * 6
    totals = len(ALL)  # one search per listing sizes its share of the rate budget
    assert client.counters.calls == pages + association_batches + totals
    assert sb.stats()["total"] == client.counters.calls


def test_incremental_pull_brings_exactly_the_changes(sb, cache):
    pull(cache, make_client(sb), ALL)
    portal = sb.portal
    a, b, c, d, e, f = live_contacts(sb, 6)
    portal.update("contacts", a, {"jobtitle": "VP Revenue"})
    portal.demo_request(b)
    portal.archive("contacts", c)
    portal.merge("contacts", d, e)
    call = portal.create("calls", {"hs_timestamp": "2026-11-01T10:00:00.000Z",
                                   "hs_call_direction": "INBOUND", "hs_call_status": "COMPLETED"})
    portal.associate("calls", call.id, "contacts", f)
    client = make_client(sb)
    summary = pull(cache, client, ALL)
    assert_cache_matches(cache, sb, ALL)
    assert set(summary.modes.values()) == {"incremental"}
    contacts = summary.streams["contacts"]
    assert (contacts.changed, contacts.archived) == (3, 1)  # a, b and the survivor d
    assert contacts.merged == 1
    assert summary.streams["calls"].new == 1
    # one search page + one archived sweep per stream, plus the association reads of the
    # 3 changed contacts (6 targets) and of the new call (1)
    assert client.counters.calls == 7 * 2 + 6 + 1


def test_a_second_pull_without_changes_reads_nothing_new(sb, cache):
    pull(cache, make_client(sb), ALL)
    summary = pull(cache, make_client(sb), ALL)
    assert all(t.new == t.changed == t.archived == 0 for t in summary.streams.values())
    # one search and one archived page per stream, and the association audit: one batch of
    # the contacts verified longest ago (all of them here), one read per target type
    live = sum(1 for r in sb.portal.truth("contacts") if not r["archived"] and not r["mergedInto"])
    assert summary.audit.queued == live
    assert summary.api_calls == 7 * 2 + 6


def test_reassociated_and_restored_records_are_reflected(sb, cache):
    pull(cache, make_client(sb), ALL)
    portal = sb.portal
    moved, restored = live_contacts(sb, 2)
    old_company = list(portal.links.targets("contacts", moved, "companies"))
    portal.archive("contacts", restored)
    pull(cache, make_client(sb), ALL)
    portal.restore("contacts", restored)
    for company in old_company:
        portal.disassociate("contacts", moved, "companies", company)
    new_company = next(int(r["id"]) for r in portal.truth("companies")
                       if not r["archived"] and int(r["id"]) not in old_company)
    portal.associate("contacts", moved, "companies", new_company, primary=True)
    portal.update("contacts", moved, {"jobtitle": "Head of Growth"})
    pull(cache, make_client(sb), ALL)
    assert_cache_matches(cache, sb, ALL)


def test_more_than_ten_thousand_changes_in_one_window_are_all_pulled(tmp_path):
    with Sandbox(contacts=10_300, seed=3) as big:
        cache = open_cache(tmp_path / "big.db")
        contacts = select(("contacts",))
        pull(cache, make_client(big), contacts)
        touched = big.portal.touch("contacts", count=10_300)
        assert len(touched) > 10_000
        big.portal.update("contacts", touched[-1], {"jobtitle": "Chief Revenue Officer"})
        summary = pull(cache, make_client(big), contacts)
        assert summary.streams["contacts"].unchanged + summary.streams["contacts"].changed == len(touched)
        assert_cache_matches(cache, big, contacts)
        cache.close()


def test_injected_failures_are_retried_and_the_cache_ends_the_same(sb, cache):
    faults = sb.faults
    faults.add(status=503, times=3, path_prefix="/crm/v3/objects/contacts")
    faults.add(drop=True, times=2, path_prefix="/crm/v3/objects/calls")
    faults.add(drop="mid", times=1, path_prefix="/crm/v4/associations")
    faults.add(status=429, times=2, path_prefix="/crm/v3/objects/emails")
    faults.add(status=502, times=1, path_prefix="/crm/v3/objects/meetings/search")
    client = make_client(sb, interval=0.2)
    summary = pull(cache, client, ALL)
    assert_cache_matches(cache, sb, ALL)
    assert summary.rate_limited == 2
    assert summary.retries == 3 + 2 + 1 + 2 + 1  # the last: the meetings search sizing the listing
    sb.portal.update("contacts", live_contacts(sb, 1)[0], {"jobtitle": "CFO"})
    sb.faults.add(status=502, times=1, path_prefix="/crm/v3/objects/contacts/search")
    pull(cache, make_client(sb, interval=0.2), ALL)
    assert_cache_matches(cache, sb, ALL)


def test_contacts_stay_queued_until_every_association_target_is_saved(sb, cache):
    # One target type's read failing must keep the whole batch queued for the next run.
    sb.faults.add(status=400, times=1, path_prefix="/crm/v4/associations/contacts/emails")
    with pytest.raises(HubSpotError):
        pull(cache, make_client(sb), ALL)
    queued = cache.conn.execute("SELECT count(*) FROM association_queue").fetchone()[0]
    truth = sb.portal.truth("contacts")
    assert queued == sum(1 for r in truth if not r["archived"] and not r["mergedInto"])
    pull(cache, make_client(sb), ALL)
    assert_cache_matches(cache, sb, ALL)
    assert cache.conn.execute("SELECT count(*) FROM association_queue").fetchone()[0] == 0


def test_association_batches_are_claimed_a_few_at_a_time(sb, cache):
    """Queued ids wait in the queue table, not in memory: never more than `at_once` batches
    are claimed, and wait() still reads every queued contact."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from connector.associations import AssociationRefresher
    ids = [str(i) for i in live_contacts(sb, 95)]
    cache.conn.executemany("INSERT INTO association_queue (object_type, id) VALUES ('contacts', ?)",
                           [(i,) for i in ids])
    reading, most, lock = 0, 0, threading.Lock()
    with ThreadPoolExecutor(8) as pool:
        refresher = AssociationRefresher(cache, make_client(sb), pool, {"contacts": ["companies"]},
                                         batch=10, at_once=2)
        refresh = refresher._refresh

        def counted(from_type, batch):
            nonlocal reading, most
            with lock:
                reading += 1
                most = max(most, reading, len(refresher._in_flight) // 10)
            try:
                refresh(from_type, batch)
            finally:
                with lock:
                    reading -= 1
        refresher._refresh = counted
        refresher.drain(final=True)
        refresher.wait()
    assert most == 2 and refresher.batches == 10
    assert cache.conn.execute("SELECT count(*) FROM association_queue").fetchone()[0] == 0
    read = {r[0] for r in cache.conn.execute(
        "SELECT DISTINCT from_id FROM associations WHERE to_type = 'companies'")}
    linked = {str(r["id"]) for r in sb.portal.truth("contacts")
              if str(r["id"]) in ids and r["associations"].get("companies")}
    assert read == linked and len(linked) > 50


def test_a_bad_token_is_a_one_line_auth_error(sb, cache):
    with pytest.raises(AuthError) as info:
        pull(cache, make_client(sb, token="wrong"), select(("contacts",)))
    assert "HUBSPOT_ACCESS_TOKEN" in str(info.value) and "wrong" not in str(info.value)

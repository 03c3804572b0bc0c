"""A full pull killed part-way and resumed ends with the cache equal to the portal, even when
records on pages saved before the kill changed during the outage."""
from __future__ import annotations

import json
import threading

import pytest
from ground_truth import assert_cache_matches
from pull_world import ALL, change_during_outage, make_client, saved

from cache.database import open_cache
from connector.client import HubSpot
from connector.pull import pull
from sandbox import Sandbox


class Killed(BaseException):
    """The process died: no retry layer or handler catches this."""


def dying_after(client: HubSpot, pages: int) -> HubSpot:
    """`client`, except that once `pages` contact list pages have been answered, every later
    request fails as if the process had been killed (what is committed stays committed)."""
    state = {"pages": 0, "dead": False}
    lock = threading.Lock()
    once, list_page = client._once, client.list_page

    def guarded_once(*args, **kwargs):
        with lock:
            if state["dead"]:
                raise Killed()
        return once(*args, **kwargs)

    def counted_list_page(object_type, **kwargs):
        page = list_page(object_type, **kwargs)
        if object_type == "contacts" and not kwargs.get("archived"):
            with lock:
                state["pages"] += 1
                state["dead"] = state["pages"] >= pages
        return page

    client._once = guarded_once
    client.list_page = counted_list_page
    return client


@pytest.mark.parametrize("pages", [1, 7, 14])
def test_a_full_pull_killed_and_resumed_ends_equal_to_the_portal(tmp_path, pages):
    with Sandbox(contacts=1500, seed=21) as sb:
        cache = open_cache(tmp_path / "leadsync.db")
        with pytest.raises(Killed):
            pull(cache, dying_after(make_client(sb), pages), ALL)
        cursor = json.loads(cache.conn.execute(
            "SELECT cursor FROM sync_state WHERE stream = 'contacts'").fetchone()[0])
        assert cursor["done"] == pages * 100  # every page answered before the kill was saved
        changed = change_during_outage(sb, cache)

        summary = pull(cache, make_client(sb), ALL)
        assert summary.modes["contacts"] == "full"
        assert_cache_matches(cache, sb, ALL)
        assert cache.conn.execute("SELECT phase FROM sync_state WHERE phase IS NOT NULL").fetchall() == []
        assert cache.conn.execute("SELECT count(*) FROM association_queue").fetchone() == (0,)
        if "restored" in changed:
            assert summary.streams["contacts"].restored >= 1
        # the next incremental pull finds nothing left to bring
        again = pull(cache, make_client(sb), ALL)
        assert all(t.new == t.changed == t.archived == t.restored == 0 for t in again.streams.values())
        cache.close()


def test_a_pull_killed_twice_catches_up_from_the_first_attempts_start(tmp_path):
    with Sandbox(contacts=1500, seed=22) as sb:
        cache = open_cache(tmp_path / "leadsync.db")
        with pytest.raises(Killed):
            pull(cache, dying_after(make_client(sb), 3), ALL)
        first = json.loads(cache.conn.execute(
            "SELECT cursor FROM sync_state WHERE stream = 'contacts'").fetchone()[0])["started"]
        early = saved(cache)[4]
        sb.portal.update("contacts", early, {"jobtitle": "Edited in the first outage"})
        with pytest.raises(Killed):
            pull(cache, dying_after(make_client(sb), 5), ALL)
        state = json.loads(cache.conn.execute(
            "SELECT cursor FROM sync_state WHERE stream = 'contacts'").fetchone()[0])
        assert (state["started"], state["done"]) == (first, 800)
        change_during_outage(sb, cache)
        pull(cache, make_client(sb), ALL)
        assert_cache_matches(cache, sb, ALL)
        assert json.loads(cache.conn.execute("SELECT properties FROM contacts WHERE id = ?",
                                             (early,)).fetchone()[0])["jobtitle"] == \
            "Edited in the first outage"
        cache.close()

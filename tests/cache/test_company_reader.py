"""cache/company_reader.py against a cache pulled from the sandbox over real HTTP."""
from __future__ import annotations

from writeback_world import make_client

from cache.company_reader import companies_of
from cache.database import open_cache
from connector.pull import pull
from mappings.streams import select
from sandbox import Sandbox


def test_companies_of_leaves_out_a_company_merged_away_while_the_contact_link_is_stale(tmp_path):
    with Sandbox(contacts=120, seed=4) as sb:
        cache = open_cache(tmp_path / "leadsync.db")
        try:
            client = make_client(sb)
            pull(cache, client, select(("contacts", "companies")))
            contact, gone = cache.conn.execute(
                "SELECT from_id, to_id FROM associations WHERE from_type = 'contacts' "
                "AND to_type = 'companies' ORDER BY CAST(from_id AS INTEGER) LIMIT 1").fetchone()
            survivor = next(str(c.id) for c in sb.portal.live("companies") if str(c.id) != gone)
            assert gone in companies_of(cache, [contact])

            sb.portal.merge("companies", survivor, gone)
            pull(cache, client, select(("companies",)))  # the contact's links are not re-read
            assert cache.conn.execute("SELECT merged_into FROM companies WHERE id = ?",
                                      (gone,)).fetchone() == (survivor,)
            assert cache.conn.execute(  # still linked in the cache (one row per label)
                "SELECT count(*) FROM associations WHERE from_type = 'contacts' "
                "AND from_id = ? AND to_id = ?", (contact, gone)).fetchone()[0] >= 1
            theirs = companies_of(cache, [contact])
            assert gone not in theirs
            # the rest of the contact's companies are still there, each once, in order
            linked = sorted({r[0] for r in cache.conn.execute(
                "SELECT to_id FROM associations WHERE from_type = 'contacts' AND from_id = ? "
                "AND to_type = 'companies'", (contact,))} - {gone})
            assert theirs == linked
        finally:
            cache.close()

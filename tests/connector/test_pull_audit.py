"""The association audit: link changes move no modified date, yet incremental pulls catch them
within the stated number of runs, and the contacts' scores follow; `status` shows how far."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from ground_truth import assert_cache_matches
from pull_world import ALL, make_client

from analysis.rescore import rescore
from cache.database import open_cache
from connector.associations import audit_bound, audit_size
from connector.pull import pull
from flows.status import render, status
from foundation.settings import Settings
from sandbox import Sandbox
from scoring import loads

CONTACTS = 1_800
MODEL = """
[model]
name = "audit"
version = "1"
[[fit.rules]]
name = "Software company"
when = { company.industry = "COMPUTER_SOFTWARE" }
points = 40
[grades]
fit = { A = 30, B = 10 }
engagement = { 1 = 20, 2 = 5 }
[stages]
managed = ["lead"]
[stages.lead]
when = { email = { exists = true } }
"""
AS_OF = datetime(2026, 11, 22, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def world():
    """A portal pulled in full once; each test works on its own copy of the cache."""
    with Sandbox(contacts=CONTACTS, seed=12) as sb:
        yield sb


@pytest.fixture
def cache(tmp_path):
    c = open_cache(tmp_path / "leadsync.db")
    yield c
    c.close()


def links(cache, contact: str, to_type: str) -> list[str]:
    return sorted(r[0] for r in cache.conn.execute(
        "SELECT DISTINCT to_id FROM associations WHERE from_type = 'contacts' AND from_id = ? "
        "AND to_type = ?", (contact, to_type)))


def truth_links(sb, contact: str, to_type: str) -> list[str]:
    record = next(r for r in sb.portal.truth("contacts") if r["id"] == contact)
    alive = {r["id"] for r in sb.portal.truth(to_type) if not r["archived"] and not r["mergedInto"]}
    return sorted(a["id"] for a in record["associations"][to_type] if a["id"] in alive)


def verified_last(cache, n: int) -> list[str]:
    """The `n` live contacts the audit will reach last (verified most recently)."""
    return [r[0] for r in cache.conn.execute(
        "SELECT id FROM contacts WHERE archived = 0 AND merged_into IS NULL "
        "ORDER BY links_verified_at DESC, id DESC LIMIT ?", (n,))]


def industry_of(sb, company: str) -> str | None:
    return sb.portal.get("companies", company).properties.get("industry")


def totals(cache, ids) -> dict[str, float]:
    marks = ",".join("?" * len(ids))
    return dict(cache.conn.execute(f"SELECT contact_id, total FROM scores WHERE contact_id IN ({marks})",
                                   list(ids)))


def test_link_changes_without_modified_dates_are_caught_within_the_bound_and_rescored(world, cache):
    sb = world
    portal = sb.portal
    pull(cache, make_client(sb), ALL)
    model = loads(MODEL)
    rescore(cache, model, AS_OF)
    live = cache.conn.execute("SELECT count(*) FROM contacts WHERE archived = 0 "
                              "AND merged_into IS NULL").fetchone()[0]
    per_run = audit_size(0.05, 190, 6)
    bound = audit_bound(live, per_run)
    assert (per_run, bound) == (1000, 4)

    # The worst case: the contacts the audit reaches last.
    candidates = verified_last(cache, 200)
    companies = [r for r in portal.truth("companies") if not r["archived"] and not r["mergedInto"]]
    software = next(r["id"] for r in companies if r["properties"].get("industry") == "COMPUTER_SOFTWARE")
    other = next(r["id"] for r in companies if r["properties"].get("industry") not in
                 (None, "COMPUTER_SOFTWARE"))
    to_software = next(c for c in candidates if (p := portal.links.primary_target(
        "contacts", int(c), "companies")) and industry_of(sb, str(p)) != "COMPUTER_SOFTWARE")
    from_software = next(c for c in candidates if (p := portal.links.primary_target(
        "contacts", int(c), "companies")) and industry_of(sb, str(p)) == "COMPUTER_SOFTWARE"
        and c != to_software)
    unlinked = next(c for c in candidates if truth_links(sb, c, "emails")
                    and c not in (to_software, from_software))
    linked = next(c for c in candidates if c not in (to_software, from_software, unlinked))
    meeting = next(r["id"] for r in portal.truth("meetings") if not r["archived"]
                   and r["id"] not in truth_links(sb, linked, "meetings"))
    email = truth_links(sb, unlinked, "emails")[0]
    before = totals(cache, [to_software, from_software])

    modified = {c: portal.get("contacts", c).properties["lastmodifieddate"]
                for c in (to_software, from_software, unlinked, linked)}
    portal.move("contacts", to_software, "companies", software)  # moved
    portal.move("contacts", from_software, "companies", other)
    portal.disassociate("contacts", unlinked, "emails", email)  # removed
    portal.associate("contacts", linked, "meetings", meeting)  # added
    assert {c: portal.get("contacts", c).properties["lastmodifieddate"] for c in modified} == modified

    def caught() -> dict[str, bool]:
        return {to_software: links(cache, to_software, "companies") == [software],
                from_software: links(cache, from_software, "companies") == [other],
                unlinked: email not in links(cache, unlinked, "emails"),
                linked: meeting in links(cache, linked, "meetings")}

    runs = 0
    while not all(caught().values()):
        summary = pull(cache, make_client(sb), ALL)
        runs += 1
        assert summary.modes["contacts"] == "incremental"
        assert summary.audit.queued == 1000  # nothing changed: a whole batch of the oldest
        assert runs <= bound, f"still stale after {runs} runs: {caught()}"
        if runs == 1:  # the first run audits the 1,000 verified longest ago: not these
            assert not any(caught().values())
    assert runs == 2  # no contact changed, so each run audited 1,000: 1,800 in two
    assert_cache_matches(cache, sb, ALL)

    rescore(cache, model, AS_OF)
    after = totals(cache, [to_software, from_software])
    assert after[to_software] == before[to_software] + 40
    assert after[from_software] == before[from_software] - 40


def test_the_audit_fills_the_changed_contacts_last_batch_and_never_verified_go_first(world, cache):
    sb = world
    pull(cache, make_client(sb), ALL)
    # Contacts cached before the audit existed have never been verified: they go first.
    never = [r[0] for r in cache.conn.execute(
        "SELECT id FROM contacts WHERE archived = 0 AND merged_into IS NULL ORDER BY id DESC LIMIT 5")]
    cache.conn.executemany("UPDATE contacts SET links_verified_at = NULL WHERE id = ?",
                           [(i,) for i in never])
    edited = [r["id"] for r in sb.portal.truth("contacts")
              if not r["archived"] and not r["mergedInto"] and r["id"] not in never][:30]
    for contact in edited:
        sb.portal.update("contacts", contact, {"jobtitle": f"Audit {contact}"})
    sb.reset_stats()
    client = make_client(sb)
    summary = pull(cache, client, ALL)
    # 30 changed contacts and 970 audited fill one batch of 1,000: one read per target type
    assert summary.audit.queued == 970 and summary.audit.oldest is None
    assert sb.stats()["by_route"]["POST /crm/v4/associations/contacts/companies/batch/read"] == 1
    assert summary.association_calls == 6
    verified = dict(cache.conn.execute("SELECT id, links_verified_at FROM contacts"))
    assert all(verified[i] is not None for i in never + edited)
    for contact in edited:
        sb.portal.update("contacts", contact, {"jobtitle": f"Audit again {contact}"})
    summary = pull(cache, make_client(sb), ALL)
    assert summary.audit.queued == 970 and summary.audit.oldest is not None


def test_status_shows_how_much_was_verified_and_the_bound(world, cache):
    sb = world
    assert status(cache)["association_audit"]["contacts"] == 0
    pull(cache, make_client(sb), ALL)
    live = cache.conn.execute("SELECT count(*) FROM contacts WHERE archived = 0 "
                              "AND merged_into IS NULL").fetchone()[0]
    cache.conn.execute("UPDATE contacts SET links_verified_at = '2026-01-01T00:00:00.000Z' "
                       "WHERE id IN (SELECT id FROM contacts WHERE archived = 0 "
                       "AND merged_into IS NULL ORDER BY id LIMIT 300)")
    report = status(cache, settings=Settings(tier=190))
    audit = report["association_audit"]
    assert audit == {"contacts": live, "verified": live, "never_verified": 0,
                     "oldest_verified_at": "2026-01-01T00:00:00.000Z",
                     "verified_last_7_days": live - 300,
                     "share_verified_last_7_days": round((live - 300) / live, 4),
                     "contacts_per_run": 1000, "runs_to_verify_all": 4}
    text = render(report)
    assert (f"Association audit: {live - 300:,} of {live:,} contacts' links verified in the last "
            f"7 days ({(live - 300) / live:.0%}), oldest verified 2026-01-01T00:00:00.000Z; 1,000 a "
            f"pull, all within 4 incremental pulls") in text
    off = status(cache, settings=Settings(association_audit_share=0))["association_audit"]
    assert (off["contacts_per_run"], off["runs_to_verify_all"]) == (0, None)
    assert "the audit is off" in render(status(cache, settings=Settings(association_audit_share=0)))
    sweep = report["archive_sweep"]["contacts"]
    assert sweep["last_completed"] is not None and sweep["runs_per_cycle"] >= 1


@pytest.mark.parametrize("share, tier, targets, per_run", [
    (0.05, 100, 6, 1000), (0.05, 190, 6, 1000), (0.05, 250, 6, 2000), (0.2, 190, 6, 6000),
    (0.05, 190, 1, 9000), (0, 190, 6, 0), (0.05, 190, 0, 0)])
def test_audit_size_follows_the_share_of_the_rate_budget(share, tier, targets, per_run):
    assert audit_size(share, tier, targets) == per_run


def test_audit_bound_counts_half_a_batch_lost_to_filling():
    assert audit_bound(40_000, 1000) == 80
    assert audit_bound(1_800, 1000) == 4
    assert audit_bound(10, 1000) == 1
    assert audit_bound(40_000, 6000) == 8
    assert audit_bound(40_000, 0) is None

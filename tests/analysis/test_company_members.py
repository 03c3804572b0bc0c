"""A full rescore gathers the company model's members in the contacts' pass; the companies
scored from them are exactly those scored by reading the members again (scoring/members.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from score_cache import add_company, add_contact, add_event, cache_from_portal

import scoring
from analysis.company_rescore import rescore_companies
from analysis.rescore import rescore
from cache.database import Cache, open_cache
from scoring.company_model import loads_company_model
from scoring.members import MemberMarks
from scoring.models import ContactModel, ModelSet, segment

ANCHOR = datetime(2026, 12, 2, tzinfo=timezone.utc)
AS_OF = ANCHOR - timedelta(days=3)
COMPANY = """
[model]
name = "accounts"
version = "1"
[[fit.rules]]
name = "Size"
property = "numberofemployees"
bands = [{ from = 200, points = 20 }]
[engagement]
rollup = "top"
top = 2
contact_cap = 25
activity = [ACTIVITY]
[[engagement.buying_group]]
name = "Senior and recently active"
when = { hs_seniority = { in = ["vp", "executive", "director"] }, days_since_last_engagement = { lte = 60 } }
points = 4
cap = 12
[[engagement.buying_group]]
name = "Engaged"
when = { engagement = { gte = 5 } }
bands = [{ from = 1, below = 3, points = 2 }, { from = 3, points = 6 }]
[grades]
fit = { A = 20, B = 1 }
engagement = { 1 = 20, 2 = 5 }
"""
# the starter's activity, and the same event kinds with fewer date properties
SAME_ACTIVITY = ('"meetings", "calls", "emails", "recent_conversion_date", '
                 '"hs_email_last_open_date"')
SAME_KINDS = '"calls", "emails", "meetings", "recent_conversion_date"'


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    from sandbox.portal import Portal
    from sandbox.seed import seed_portal

    portal = Portal()
    seed_portal(portal, contacts=600, seed=4, anchor_ms=int(ANCHOR.timestamp() * 1000))
    path = tmp_path_factory.mktemp("members") / "template.db"
    cache = open_cache(path)
    cache_from_portal(cache, portal)
    cache.close()
    return path


@pytest.fixture
def cache(template: Path, tmp_path: Path) -> Cache:
    target = tmp_path / "leadsync.db"
    target.write_bytes(template.read_bytes())
    cache = open_cache(target)
    yield cache
    cache.close()


def models(company_activity: str = SAME_ACTIVITY) -> ModelSet:
    """A segment in charge (so engagement is None outside it), a model for everyone, a shadow."""
    starter = scoring.load(None)
    countries = ["United States", "Germany", "France"]
    chosen = segment({"country": {"in": countries}}, starter, source="test", where="us")
    return ModelSet((ContactModel("core", starter, chosen, drives_stages=True),
                     ContactModel("all", starter),
                     ContactModel("next", starter, shadow=True)),
                    loads_company_model(COMPANY.replace("ACTIVITY", company_activity)))


def company_rows(cache: Cache) -> list[tuple]:
    return cache.conn.execute(
        "SELECT company_id, fit, engagement, total, grade, reasons, contacts "
        "FROM company_scores ORDER BY company_id").fetchall()


def gathered_then_read(cache: Cache, chosen: ModelSet) -> tuple[MemberMarks, list, list]:
    marks = MemberMarks(chosen.company, AS_OF)
    rescore(cache, chosen, AS_OF, members=marks)
    rescore_companies(cache, chosen.company, AS_OF, marks=marks,
                      engagement_model=chosen.engagement_source.name)
    gathered = company_rows(cache)
    cache.conn.execute("DELETE FROM company_scores")
    rescore_companies(cache, chosen.company, AS_OF, engagement_model=chosen.engagement_source.name)
    return marks, gathered, company_rows(cache)


@pytest.mark.parametrize("activity", [SAME_ACTIVITY, SAME_KINDS])
def test_companies_scored_from_the_pass_equal_companies_scored_from_their_members(cache,
                                                                                  activity):
    chosen = models(activity)
    marks, gathered, read = gathered_then_read(cache, chosen)
    assert marks.complete
    assert gathered == read and len(read) > 50
    reasons = " ".join(row[5] for row in read)
    # the data exercises every part: roll-up, both buying groups, several contacts each
    assert "Senior and recently active" in reasons and "contacts" in reasons
    assert "engagement (top 2)" in reasons
    assert max(row[6] for row in read) >= 3


def test_another_activity_reads_the_members_instead_and_agrees(cache):
    marks, gathered, read = gathered_then_read(cache, models('"meetings"'))
    assert not marks.complete  # the pass read other kinds' latest activity: not gathered
    assert gathered == read


def test_members_are_live_contacts_once_per_company_whatever_their_labels(tmp_path):
    cache = open_cache(tmp_path / "leadsync.db")
    add_company(cache, "900", "1", numberofemployees="500")
    add_company(cache, "900", "1", type_id=279)  # the same pair under a second label
    add_company(cache, "901", "1")
    add_company(cache, "900", "2")
    add_contact(cache, "1", email="a@acme.io", hs_seniority="vp")
    add_contact(cache, "2", email="b@acme.io", archived=1, hs_seniority="vp")
    add_contact(cache, "3", email="c@acme.io")  # no company
    add_event(cache, "1", "meetings", "m1", "2026-11-25T10:00:00.000Z")
    chosen = models()
    marks, gathered, read = gathered_then_read(cache, chosen)
    assert marks.complete and gathered == read
    assert sorted(marks.by_company) == ["900", "901"]
    assert [len(marks.of("900")), len(marks.of("901"))] == [1, 1]
    assert [row[6] for row in read] == [1, 1]
    assert "Senior and recently active" in read[0][5]
    cache.close()


def test_a_rescore_of_chosen_contacts_gathers_nothing(cache):
    chosen = models()
    marks = MemberMarks(chosen.company, AS_OF)
    marks.by_company["stale"] = [(1.0, (True, False))]
    some = [r[0] for r in cache.conn.execute("SELECT id FROM contacts LIMIT 5")]
    rescore(cache, chosen, AS_OF, members=marks, contact_ids=some)
    assert not marks.complete and marks.by_company == {}

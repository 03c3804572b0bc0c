"""Seeded data: deterministic, valid against its own catalog, and carrying a real signal."""
from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone

import pytest

from sandbox import Sandbox
from sandbox.catalog import ENGAGEMENT_TYPES
from sandbox.clock import parse_ms
from sandbox.values import normalize

ANCHOR = datetime(2026, 11, 1, tzinfo=timezone.utc)
LADDER = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
          "customer"]


@pytest.fixture(scope="module")
def portal():
    return Sandbox(contacts=3000, seed=21, anchor=ANCHOR).portal


def auc(scores: list[float], labels: list[bool]) -> float:
    """Probability that a random positive outranks a random negative (ties count half)."""
    ranked = sorted(zip(scores, labels))
    positives = sum(labels)
    negatives = len(labels) - positives
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        average_rank = (i + j + 1) / 2
        rank_sum += average_rank * sum(1 for _, label in ranked[i:j] if label)
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def live(portal, object_type: str) -> list:
    return list(portal.live(object_type))


def converted(record) -> bool:
    return record.properties.get("lifecyclestage") in ("opportunity", "customer")


def test_same_seed_and_anchor_give_identical_portals():
    first = Sandbox(contacts=200, seed=9, anchor=ANCHOR).portal
    second = Sandbox(contacts=200, seed=9, anchor=ANCHOR).portal
    for object_type in ("contacts", "companies", *ENGAGEMENT_TYPES):
        assert first.truth(object_type) == second.truth(object_type), object_type


def test_different_seed_or_anchor_give_different_portals():
    base = Sandbox(contacts=200, seed=9, anchor=ANCHOR).portal.truth("contacts")
    assert Sandbox(contacts=200, seed=10, anchor=ANCHOR).portal.truth("contacts") != base
    later = datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert Sandbox(contacts=200, seed=9, anchor=later).portal.truth("contacts") != base


def test_default_anchor_is_today_at_midnight_utc():
    sb = Sandbox(contacts=5, seed=1)
    assert sb.anchor_ms % 86_400_000 == 0
    assert 0 <= time.time() * 1000 - sb.anchor_ms < 86_400_000


def test_every_stored_value_is_valid_for_its_property(portal):
    for object_type in ("contacts", "companies", *ENGAGEMENT_TYPES):
        catalog = portal.catalogs[object_type]
        for record in portal.records[object_type].values():
            for name, value in record.properties.items():
                assert normalize(catalog.get(name), name, value, trusted=True) == value, \
                    (object_type, record.id, name, value)


def test_contacts_carry_the_documented_properties(portal):
    seen = Counter(name for r in live(portal, "contacts") for name in r.properties)
    expected = {"email", "firstname", "lastname", "jobtitle", "hs_seniority", "company",
                "industry", "country", "numemployees", "annualrevenue", "hs_analytics_source",
                "hs_email_open", "hs_email_click", "hs_email_replied", "hs_email_bounce",
                "hs_email_optout", "hs_analytics_num_page_views", "hs_analytics_num_visits",
                "num_conversion_events", "recent_conversion_date",
                "recent_conversion_event_name", "first_conversion_date", "lifecyclestage",
                "hs_lead_status", "createdate", "lastmodifieddate", "hs_object_id",
                "hs_v2_date_entered_lead", "hs_v2_date_entered_marketingqualifiedlead",
                "hs_v2_date_entered_salesqualifiedlead", "hs_v2_date_entered_opportunity",
                "hs_v2_date_entered_customer", "hs_merged_object_ids", "associatedcompanyid"}
    assert expected <= set(seen)
    companies = Counter(n for r in live(portal, "companies") for n in r.properties)
    assert {"name", "domain", "industry", "numberofemployees", "annualrevenue", "country",
            "hs_is_target_account", "hs_ideal_customer_profile", "lifecyclestage",
            "createdate", "hs_lastmodifieddate"} <= set(companies)


def test_portal_shape(portal):
    contacts = list(portal.records["contacts"].values())
    archived = sum(r.archived_ms is not None for r in contacts)
    merged = sum(r.merged_into is not None for r in contacts)
    assert 0.005 < archived / len(contacts) < 0.05
    assert merged >= 5
    assert len(portal.records["companies"]) == 750
    engagements = sum(len(portal.records[t]) for t in ENGAGEMENT_TYPES)
    assert 3 <= engagements / len(contacts) <= 10
    free = sum(r.properties["email"].endswith(("@gmail.com", "@yahoo.com", "@outlook.com",
                                               "@hotmail.com", "@icloud.com"))
               for r in contacts)
    assert 0.05 < free / len(contacts) < 0.3
    stages = Counter(r.properties.get("lifecyclestage") for r in live(portal, "contacts"))
    assert stages["customer"] > 30 and stages["opportunity"] > 30
    assert stages["lead"] > stages["customer"]


def test_history_ends_at_the_anchor(portal):
    anchor = parse_ms("2026-11-01T00:00:00Z")
    for object_type in ("contacts", "companies", *ENGAGEMENT_TYPES):
        for record in portal.records[object_type].values():
            assert record.created_ms <= record.updated_ms <= anchor
    oldest = min(parse_ms(r.properties["hs_timestamp"]) for r in live(portal, "calls"))
    assert anchor - oldest < 420 * 86_400_000


def test_stage_dates_follow_the_ladder_and_the_engagement_before_them(portal):
    checked = 0
    for contact in live(portal, "contacts"):
        props = contact.properties
        entered = [(stage, parse_ms(props[f"hs_v2_date_entered_{stage}"])) for stage in LADDER
                   if f"hs_v2_date_entered_{stage}" in props]
        assert entered[-1][0] == props["lifecyclestage"]
        assert [at for _, at in entered] == sorted(at for _, at in entered)
        sql = props.get("hs_v2_date_entered_salesqualifiedlead")
        if sql:
            meetings = [portal.get("meetings", i).properties for i in
                        portal.links.targets("contacts", contact.id, "meetings")]
            assert any(m["hs_meeting_outcome"] == "COMPLETED"
                       and parse_ms(m["hs_timestamp"]) < parse_ms(sql) for m in meetings)
            checked += 1
    assert checked > 50


def test_converters_engage_more(portal):
    def meetings(contact) -> int:
        return len(portal.links.targets("contacts", contact.id, "meetings"))
    contacts = live(portal, "contacts")
    yes = [meetings(c) for c in contacts if converted(c)]
    no = [meetings(c) for c in contacts if not converted(c)]
    assert sum(yes) / len(yes) > 2 * sum(no) / len(no)
    demo = [c for c in contacts if c.properties.get("recent_conversion_event_name") ==
            "Demo request"]
    assert sum(map(converted, demo)) / len(demo) > 1.5 * sum(map(converted, contacts)) / \
        len(contacts)


def test_fit_alone_beats_chance_and_the_hidden_propensity_is_not_perfect(portal):
    contacts = [c for c in live(portal, "contacts") if c.id in portal.propensity]
    labels = [converted(c) for c in contacts]

    def fit(contact) -> float:
        title = contact.properties.get("jobtitle", "").lower()
        senior = any(w in title for w in ("chief", "ceo", "cto", "vp", "vice", "director",
                                          "head of"))
        junior = any(w in title for w in ("student", "intern"))
        company = portal.get("companies", contact.properties.get("associatedcompanyid", 0))
        size = int(company.properties["numberofemployees"]) if company else 0
        target = company is not None and company.properties["hs_is_target_account"] == "true"
        return 2 * senior - 2 * junior + (50 <= size <= 5000) + target
    assert auc([fit(c) for c in contacts], labels) > 0.65
    hidden = auc([portal.propensity[c.id] for c in contacts], labels)
    assert 0.75 < hidden < 0.97

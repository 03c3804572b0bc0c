"""The starter model: valid against the sandbox portal's catalog, scores a sample as documented."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from scoring import catalog_from_rows, event, explain, load, score, starter_path

AS_OF = datetime(2026, 11, 22, tzinfo=timezone.utc)
CONTACT = {
    "id": "101", "email": "ann@acme.io", "jobtitle": "VP of Marketing",
    "hs_email_click": "4", "hs_analytics_num_page_views": "9", "num_conversion_events": "2",
    "recent_conversion_event_name": "Demo request", "recent_conversion_date": "2026-11-12T00:00:00Z",
    "lifecyclestage": "lead", "createdate": "2026-03-01T09:00:00Z",
}
COMPANY = {"industry": "COMPUTER_SOFTWARE", "numberofemployees": "240",
           "hs_ideal_customer_profile": "tier_2"}
EVENTS = [
    event("meeting", "2026-11-19T00:00:00Z", {"hs_meeting_outcome": "COMPLETED"}),
    event("email", "2026-11-18T00:00:00Z", {"hs_email_direction": "INCOMING_EMAIL"}),
    event("note", "2026-11-21T00:00:00Z", {"hs_note_body": "<p>wants a demo</p>"}),
]


def test_starter_model_is_valid_against_the_sandbox_catalog() -> None:
    catalog_module = pytest.importorskip("sandbox.catalog")
    rows = [(object_type, p.name, p.type, p.field_type)
            for object_type in catalog_module.OBJECT_TYPES
            for p in catalog_module.PropertyCatalog(object_type).properties.values()]
    model = load(catalog=catalog_from_rows(rows))
    assert model.label == "starter 2026-11-22"


def test_starter_model_ships_as_package_data() -> None:
    assert starter_path().name == "starter_model.toml" and starter_path().is_file()


def test_starter_model_scores_a_sample_contact() -> None:
    model = load()
    result = score(CONTACT, EVENTS, COMPANY, model, AS_OF)
    assert [(r.rule, r.points, r.occurrences) for r in result.reasons] == [
        ("Executive or VP", 20.0, 1),
        ("Revenue, sales or marketing role", 8.0, 1),
        ("Target industry", 10.0, 1),
        ("Company of 50 to 5,000 people", 8.0, 1),
        ("Demo request", 19.8, 1),            # 25 * 0.5 ** (10 / 30)
        ("Meeting held or booked", 14.0, 1),  # 15 * 0.5 ** (3 / 30)
        ("Replied by email", 5.5, 1),         # 6 * 0.5 ** (4 / 30)
        ("Clicked marketing emails", 6.0, 1),
        ("Page views", 4.5, 9),
        ("Other form submissions", 4.0, 1),
    ]
    assert (result.fit, result.engagement, result.total, result.grade) == (46.0, 53.8, 99.8, "A1")
    assert (result.stage, result.stage_change, result.inactive) == (
        "marketingqualifiedlead", "promote", False)


def test_explanation_text() -> None:
    model = load()
    result = score(CONTACT, EVENTS, COMPANY, model, AS_OF)
    assert explain(result, model, AS_OF, contact=CONTACT) == """\
Contact 101 <ann@acme.io> as of 2026-11-22T00:00:00Z, model starter 2026-11-22
Score 99.8 = fit 46 + engagement 53.8
Grade A1
Stage lead -> marketingqualifiedlead (promoted: marketingqualifiedlead conditions hold)
Fit:
    +20.0  Executive or VP
     +8.0  Revenue, sales or marketing role
    +10.0  Target industry
     +8.0  Company of 50 to 5,000 people
Engagement:
    +19.8  Demo request
    +14.0  Meeting held or booked
     +5.5  Replied by email
     +6.0  Clicked marketing emails
     +4.5  Page views  x9
     +4.0  Other form submissions
Activity: last engagement 3 days ago; active (inactive after 90 days)"""


def test_explanation_of_a_customer_left_alone() -> None:
    model = load()
    customer = {**CONTACT, "lifecyclestage": "customer"}
    result = score(customer, [], None, model, AS_OF)
    text = explain(result, model, AS_OF, contact=customer)
    assert "Stage customer (left alone: later than the stages leadsync manages)" in text

"""Every operator and every coercion of the condition language, through the public engine."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from scoring import event, loads, score

AS_OF = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
LISTS = """
[lists]
target_countries = ["United States", "Canada"]
partners = ["partner.io"]
"""


def fires(condition: str, contact: dict, company: dict | None = None, events=()) -> bool:
    """Whether a one-rule fit model with `condition` as its `when` fires for the contact."""
    model = loads(f"""
[model]
name = "t"
version = "1"
{LISTS}
[properties.contacts]
tags = "multiselect"
[[fit.rules]]
name = "r"
when = {condition}
points = 1
""")
    return score(contact, list(events), company, model, AS_OF).fit == 1


@pytest.mark.parametrize("condition, contact, expected", [
    # equals: text is case-insensitive, numbers and booleans are coerced by type
    ('{ jobtitle = { equals = "ceo" } }', {"jobtitle": "CEO"}, True),
    ('{ jobtitle = "CEO" }', {"jobtitle": "CTO"}, False),
    ('{ hs_email_click = { equals = 10 } }', {"hs_email_click": "10.0"}, True),
    ('{ hs_email_click = 3 }', {"hs_email_click": "4"}, False),
    ('{ hs_email_optout = true }', {"hs_email_optout": "true"}, True),
    ('{ hs_email_optout = false }', {"hs_email_optout": "TRUE"}, False),
    ('{ hs_email_optout = false }', {}, False),
    ('{ lifecyclestage = "lead" }', {"lifecyclestage": "lead"}, True),
    ('{ recent_conversion_date = { equals = "2026-11-20" } }',
     {"recent_conversion_date": "2026-11-20T23:59:59Z"}, True),
    ('{ recent_conversion_date = { equals = "2026-11-20" } }',
     {"recent_conversion_date": "2026-11-21T00:00:00Z"}, False),
    # multi-select values are sets of options
    ('{ tags = "beta" }', {"tags": "alpha;beta"}, True),
    ('{ tags = { in = ["gamma", "BETA"] } }', {"tags": "alpha;beta"}, True),
    ('{ tags = { not_in = ["alpha"] } }', {"tags": "alpha;beta"}, False),
    ('{ tags = { contains = "alpha" } }', {"tags": "alpha;beta"}, True),
    # in / not_in: literal lists, named lists, numbers; missing is never in or not in
    ('{ country = { in = ["Germany", "france"] } }', {"country": "France"}, True),
    ('{ country = { in = "target_countries" } }', {"country": "canada"}, True),
    ('{ country = { not_in = "target_countries" } }', {"country": "Germany"}, True),
    ('{ country = { not_in = "target_countries" } }', {"country": "Canada"}, False),
    ('{ country = { not_in = "target_countries" } }', {}, False),
    ('{ country = { in = "target_countries" } }', {"country": ""}, False),
    ('{ hs_email_click = { in = [1, 2] } }', {"hs_email_click": "2"}, True),
    ('{ numemployees = ["100-500", "500-1000"] }', {"numemployees": "100-500"}, True),
    # comparisons: numbers, number-like text, dates by calendar day, exact datetimes
    ('{ hs_email_click = { gt = 3 } }', {"hs_email_click": "3"}, False),
    ('{ hs_email_click = { gte = 3 } }', {"hs_email_click": "3"}, True),
    ('{ hs_email_click = { lt = 3 } }', {"hs_email_click": "2.5"}, True),
    ('{ hs_email_click = { lte = 3 } }', {"hs_email_click": "3.01"}, False),
    ('{ hs_email_click = { gte = 1 } }', {"hs_email_click": "many"}, False),
    ('{ hs_email_click = { gte = 0 } }', {}, False),
    ('{ annualrevenue = { gt = 1000000 } }', {"annualrevenue": "2500000"}, True),
    ('{ recent_conversion_date = { lte = "2026-11-20" } }',
     {"recent_conversion_date": "2026-11-20T18:00:00.000Z"}, True),
    ('{ recent_conversion_date = { gt = "2026-11-20" } }',
     {"recent_conversion_date": "2026-11-20T18:00:00.000Z"}, False),
    ('{ recent_conversion_date = { gt = "2026-11-20T12:00:00Z" } }',
     {"recent_conversion_date": "2026-11-20T18:00:00.000Z"}, True),
    ('{ recent_conversion_date = { gte = 2026-11-01 } }',  # an unquoted TOML date
     {"recent_conversion_date": "2026-11-01T00:00:00Z"}, True),
    ('{ createdate = { lt = "2026-01-02" } }', {"createdate": "1767225600000"}, True),  # epoch ms
    ('{ createdate = { lt = "2026-01-01" } }', {"createdate": "1767225600000"}, False),
    # between is inclusive at both ends
    ('{ hs_email_open = { between = [2, 5] } }', {"hs_email_open": "5"}, True),
    ('{ hs_email_open = { between = [2, 5] } }', {"hs_email_open": "1"}, False),
    ('{ createdate = { between = ["2026-01-01", "2026-01-31"] } }',
     {"createdate": "2026-01-31T22:00:00Z"}, True),
    # text operators
    ('{ recent_conversion_event_name = { contains = "DEMO" } }',
     {"recent_conversion_event_name": "Demo request"}, True),
    ('{ jobtitle = { matches = "(?i)^vp\\\\b" } }', {"jobtitle": "VP Sales"}, True),
    ('{ jobtitle = { matches = "^vp" } }', {"jobtitle": "VP Sales"}, False),
    # presence
    ('{ phone = { exists = true } }', {"phone": "+1 555"}, True),
    ('{ phone = { exists = true } }', {"phone": ""}, False),
    ('{ phone = { missing = true } }', {"phone": None}, True),
    ('{ phone = { exists = false } }', {}, True),
    # domains: named lists, the built-in free-email list, literal lists
    ('{ email = { domain_in = "free_email" } }', {"email": "Ann@GMAIL.com"}, True),
    ('{ email = { domain_in = "free_email" } }', {"email": "ann@acme.com"}, False),
    ('{ email = { domain_in = "partners" } }', {"email": "bo@partner.io"}, True),
    ('{ website = { domain_in = ["acme.com"] } }', {"website": "https://www.acme.com/about"}, True),
    # within N days of as-of (never the future)
    ('{ recent_conversion_date = { within_days = 30 } }',
     {"recent_conversion_date": "2026-10-23T12:00:00Z"}, True),
    ('{ recent_conversion_date = { within_days = 30 } }',
     {"recent_conversion_date": "2026-10-23T11:59:59Z"}, False),
    ('{ recent_conversion_date = { within_days = 30 } }',
     {"recent_conversion_date": "2026-11-23T00:00:00Z"}, False),
    # combinators, and several keys in one table all having to hold
    ('{ all = [{ country = "Canada" }, { jobtitle = { contains = "vp" } }] }',
     {"country": "Canada", "jobtitle": "VP"}, True),
    ('{ country = "Canada", jobtitle = { contains = "vp" } }', {"country": "Canada"}, False),
    ('{ any = [{ country = "Canada" }, { jobtitle = { contains = "vp" } }] }',
     {"jobtitle": "SVP"}, True),
    ('{ not = { country = "Canada" } }', {"country": "Canada"}, False),
    ('{ hs_email_open = { gte = 2, lt = 5 } }', {"hs_email_open": "5"}, False),
    # derived inputs
    ('{ email_domain = "acme.com" }', {"email": "ann@ACME.com"}, True),
    ('{ is_free_email = true }', {"email": "ann@yahoo.com"}, True),
    ('{ is_free_email = false }', {"email": "ann@acme.com"}, True),
    ('{ is_free_email = false }', {}, False),
])
def test_operator(condition: str, contact: dict, expected: bool) -> None:
    assert fires(condition, contact) is expected


def test_company_properties_are_typed_as_company_properties() -> None:
    # numberofemployees is a number on companies; industry an enumeration
    condition = '{ company.numberofemployees = { gte = 50 }, company.industry = "COMPUTER_SOFTWARE" }'
    assert fires(condition, {}, {"numberofemployees": "120", "industry": "COMPUTER_SOFTWARE"})
    assert not fires(condition, {}, {"numberofemployees": "12", "industry": "COMPUTER_SOFTWARE"})
    assert not fires(condition, {}, None)


def test_quoted_company_key_works_like_dotted() -> None:
    assert fires('{ "company.hs_is_target_account" = true }', {}, {"hs_is_target_account": "true"})


def test_contact_company_name_property_is_not_the_company_namespace() -> None:
    assert fires('{ company = { contains = "acme" } }', {"company": "Acme Inc."})


def test_days_since_last_engagement_counts_from_the_latest_activity() -> None:
    events = [event("meeting", "2026-11-12T12:00:00Z"), event("call", "2026-10-01T00:00:00Z")]
    assert fires("{ days_since_last_engagement = { lte = 10 } }", {}, None, events)
    assert not fires("{ days_since_last_engagement = { lt = 10 } }", {}, None, events)
    assert not fires("{ days_since_last_engagement = { gte = 0 } }", {})  # never engaged


def test_event_where_conditions_use_event_property_types() -> None:
    model = loads("""
[model]
name = "t"
version = "1"
[[engagement.rules]]
name = "Long call"
event = "call"
where = { hs_call_duration = { gte = 60000 }, hs_call_direction = "inbound" }
points = 5
""")
    long_in = event("call", "2026-11-22T00:00:00Z", {"hs_call_duration": "61000",
                                                     "hs_call_direction": "INBOUND"})
    short_in = event("calls", "2026-11-22T00:00:00Z", {"hs_call_duration": "9000",
                                                       "hs_call_direction": "INBOUND"})
    assert score({}, [long_in], None, model, AS_OF).engagement == 5
    assert score({}, [short_in], None, model, AS_OF).engagement == 0


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-Infinity", "1e999"])
def test_non_finite_numbers_are_missing(raw: str) -> None:
    """Not a count: no numeric comparison holds, and `per` does not crash on them."""
    assert not fires("{ hs_email_click = { gte = 0 } }", {"hs_email_click": raw})
    assert not fires("{ hs_email_click = { lte = 0 } }", {"hs_email_click": raw})
    model = loads('[model]\nname = "t"\nversion = "1"\n[[engagement.rules]]\nname = "v"\n'
                  'when = { hs_analytics_num_page_views = { exists = true } }\n'
                  'per = "hs_analytics_num_page_views"\ncount = "each"\npoints = 1\n')
    assert score({"hs_analytics_num_page_views": raw}, [], None, model, AS_OF).engagement == 0.0

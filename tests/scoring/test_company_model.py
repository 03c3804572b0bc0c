"""Company models: validation with file and line, roll-ups, buying groups, and no cycle."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

import scoring
from analysis.company_rescore import check_no_cycle
from foundation.errors import ConfigError
from scoring.company import Member, score_company
from scoring.company_model import loads_company_model
from scoring.errors import ModelError

AS_OF = datetime(2026, 3, 1, tzinfo=timezone.utc)
HEAD = '[model]\nname = "accounts"\nversion = "1"\n'


def model(text: str):
    return loads_company_model(HEAD + text, source="company.toml")


def members(*engagements, seniority=None, days=None):
    return [Member(str(i), {"hs_seniority": seniority}, e, days)
            for i, e in enumerate(engagements)]


@pytest.mark.parametrize("rollup, expected", [
    ('rollup = "sum"', (50.0, 4)),
    ('rollup = "max"', (25.0, 1)),
    ('rollup = "top"\ntop = 2', (40.0, 2)),
    ('rollup = "sum"\ncontact_cap = 10', (30.0, 4)),
    ('rollup = "sum"\ncap = 30', (30.0, 4)),
])
def test_rollups_sum_max_top_with_caps(rollup, expected):
    m = model(f"[engagement]\n{rollup}\n")
    result = score_company({}, members(25.0, 15.0, 6.0, 4.0, 0.0, None), m, AS_OF)
    [reason] = result.reasons
    assert (reason.points, reason.occurrences) == expected
    assert result.engagement == result.total == expected[0]


def test_buying_group_points_per_contact_capped_and_bands_on_the_count():
    m = model('[engagement]\n[[engagement.buying_group]]\nname = "Senior engaged"\n'
              'when = { hs_seniority = { in = ["vp", "executive"] }, '
              'days_since_last_engagement = { lte = 30 }, engagement = { gte = 5 } }\n'
              'points = 8\ncap = 20\n'
              '[[engagement.buying_group]]\nname = "Seniors"\n'
              'when = { hs_seniority = "vp" }\nbands = [{ from = 1, below = 3, points = 5 }, '
              '{ from = 3, points = 12 }]\n')
    crowd = (members(10.0, 10.0, 10.0, seniority="VP", days=3.0)
             + members(1.0, seniority="vp", days=3.0) + members(9.0, seniority="vp", days=45.0))
    result = score_company({}, crowd, m, AS_OF)
    assert [(r.rule, r.points, r.occurrences) for r in result.reasons] == [
        ("Senior engaged", 20.0, 3), ("Seniors: 3 or more contacts", 12.0, 5)]
    assert result.contacts == 5


def test_fit_rules_use_the_contact_rule_language_on_company_properties():
    m = model('[fit]\n[[fit.rules]]\nname = "Software"\nwhen = { industry = "COMPUTER_SOFTWARE" }\n'
              'points = 20\n[[fit.rules]]\nname = "Size"\nproperty = "numberofemployees"\n'
              'bands = [{ below = 50, points = 2 }, { from = 50, points = 10 }]\nmissing = -3\n'
              '[[fit.rules]]\nname = "Per 1000 staff"\nwhen = { numberofemployees = { gte = 1 } }\n'
              'count = "each"\nper = "numberofemployees"\nunit = 1000\npoints = 4\ncap = 10\n')
    result = score_company({"industry": "computer_software", "numberofemployees": "3500"}, [],
                           m, AS_OF)
    assert [(r.rule, r.points, r.occurrences) for r in result.reasons] == [
        ("Software", 20.0, 1), ("Size: 50 or more", 10.0, 1), ("Per 1000 staff", 10.0, 3)]
    assert score_company({}, [], m, AS_OF).reasons[0][:3] == ("Size: (missing)", "fit", -3.0)


def test_problems_name_file_line_rule_and_field():
    with pytest.raises(ModelError) as caught:
        model('[engagement]\nrollup = "avg"\n[[engagement.buying_group]]\nname = "Deciders"\n'
              'when = { score = { gte = 50 } }\npoints = 5\n[[engagement.buying_group]]\n'
              'name = "Via company"\nwhen = { company.industry = "X" }\npoints = 1\n')
    lines = [str(p) for p in caught.value.problems]
    assert lines == [
        "company.toml:5: [engagement]: rollup: must be one of sum, max, top, got 'avg'",
        "company.toml:8: engagement.buying_group rule 'Deciders': when.score: a buying-group "
        "condition may read a contact's engagement, not its score (the company score must not "
        "depend on it)",
        "company.toml:12: engagement.buying_group rule 'Via company': when.company.industry: a "
        "buying-group condition tests the contact; put company conditions in [fit]"]


def test_a_contact_engagement_rule_reading_the_company_score_is_refused():
    contact = scoring.loads(
        '[model]\nname = "m"\nversion = "1"\n[fit]\n[[fit.rules]]\nname = "Hot account"\n'
        'when = { company.leadsync_company_score = { gte = 50 } }\npoints = 10\n'
        '[engagement]\n[[engagement.rules]]\nname = "Account push"\n'
        'when = { any = [{ company.leadsync_company_grade = "A1" }] }\npoints = 5\n',
        source="model.toml")
    with pytest.raises(ConfigError, match="engagement rule 'Account push' reads "
                                          "company.leadsync_company_grade, but the company score "
                                          "is rolled up from contacts' engagement"):
        check_no_cycle(contact, ("leadsync_company_score", "leadsync_company_grade"))
    check_no_cycle(contact, ("other_score",))  # a fit rule may read it

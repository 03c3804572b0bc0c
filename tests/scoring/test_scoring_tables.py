"""Tables of points (value maps, bands), proportional fit points, placeholders and case rules.

Each behaviour is checked with exact points and reason texts through the per-contact engine;
`test_the_batch_scorer_agrees_bit_for_bit` then scores a randomised population with a model
using all of them and asserts the column scorer returns exactly the engine's Score.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from scoring import ModelError, Reason, event, explain, loads, score
from scoring.batch import batch_scorer, chunk_of

AS_OF = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
HEAD = '[model]\nname = "t"\nversion = "1"\n'


def model(rules: str, head: str = "", extra: str = "") -> str:
    return f"{HEAD}{head}\n{extra}\n{rules}"


def fit(rules: str, contact: dict, company: dict | None = None, *, head: str = "",
        extra: str = "", events=()) -> tuple[float, tuple[Reason, ...]]:
    """Fit points and fit reasons of one contact under a model made of `rules`."""
    result = score(contact, list(events), company, loads(model(rules, head, extra)), AS_OF)
    return result.fit, tuple(r for r in result.reasons if r.section == "fit")


def ago(days: float) -> str:
    return (AS_OF - timedelta(days=days)).isoformat().replace("+00:00", "Z")


# --- value maps -------------------------------------------------------------------------------

SOURCE = """
[[fit.rules]]
name = "Lead source"
property = "hs_analytics_source"
points_by_value = { ORGANIC_SEARCH = 12, PAID_SEARCH = 6, OFFLINE = -4 }
else = 1.5
missing = -2
"""


@pytest.mark.parametrize("value, expected", [
    ("ORGANIC_SEARCH", (12.0, "Lead source: ORGANIC_SEARCH")),
    ("organic_search", (12.0, "Lead source: ORGANIC_SEARCH")),  # named as the model spells it
    ("OFFLINE", (-4.0, "Lead source: OFFLINE")),
    ("DIRECT_TRAFFIC", (1.5, "Lead source: (any other value)")),
    (" ORGANIC_SEARCH", (1.5, "Lead source: (any other value)")),  # as equals: no trimming
    ("", (-2.0, "Lead source: (missing)")),
    (None, (-2.0, "Lead source: (missing)")),
])
def test_a_value_map_gives_the_points_of_the_matching_value(value, expected) -> None:
    points, name = expected
    assert fit(SOURCE, {"hs_analytics_source": value}) == (
        points, (Reason(name, "fit", points, 1),))


def test_without_else_or_missing_other_values_give_no_reason() -> None:
    rules = SOURCE.replace("else = 1.5\n", "").replace("missing = -2\n", "")
    assert fit(rules, {"hs_analytics_source": "DIRECT_TRAFFIC"}) == (0.0, ())
    assert fit(rules, {}) == (0.0, ())
    assert fit(rules, {"hs_analytics_source": "PAID_SEARCH"}) == (
        6.0, (Reason("Lead source: PAID_SEARCH", "fit", 6.0, 1),))


def test_a_value_map_on_a_company_enumeration_and_on_a_boolean() -> None:
    rules = """
[[fit.rules]]
name = "Industry"
property = "company.industry"
points_by_value = { COMPUTER_SOFTWARE = 10, HIGHER_EDUCATION = -8 }
[[fit.rules]]
name = "Target account"
property = "company.hs_is_target_account"
points_by_value = { true = 5, false = -1 }
missing = 0
"""
    assert fit(rules, {}, {"industry": "computer_software", "hs_is_target_account": "TRUE"}) == (
        15.0, (Reason("Industry: COMPUTER_SOFTWARE", "fit", 10.0, 1),
               Reason("Target account: true", "fit", 5.0, 1)))
    assert fit(rules, {}, {"industry": "HIGHER_EDUCATION", "hs_is_target_account": "false"}) == (
        -9.0, (Reason("Industry: HIGHER_EDUCATION", "fit", -8.0, 1),
               Reason("Target account: false", "fit", -1.0, 1)))
    # no company, or a value that is not true/false: missing (0 points, still a reason)
    assert fit(rules, {}, None) == (0.0, (Reason("Target account: (missing)", "fit", 0.0, 1),))
    assert fit(rules, {}, {"hs_is_target_account": "maybe"})[1] == (
        Reason("Target account: (missing)", "fit", 0.0, 1),)


def test_a_table_rule_with_when_applies_only_when_it_holds() -> None:
    rules = SOURCE.replace('name = "Lead source"\n',
                           'name = "Lead source"\nwhen = { country = "Canada" }\n')
    assert fit(rules, {"hs_analytics_source": "PAID_SEARCH", "country": "canada"})[0] == 6.0
    assert fit(rules, {"hs_analytics_source": "PAID_SEARCH", "country": "France"}) == (0.0, ())
    assert fit(rules, {"country": "France"}) == (0.0, ())


def test_a_value_map_can_be_a_table_of_its_own() -> None:
    rules = """
[[fit.rules]]
name = "Industry"
property = "company.industry"
else = -1
[fit.rules.points_by_value]
COMPUTER_SOFTWARE = 10
INTERNET = 7.25
"""
    assert fit(rules, {}, {"industry": "INTERNET"}) == (
        7.2, (Reason("Industry: INTERNET", "fit", 7.2, 1),))  # round(7.25, 1) is 7.2
    assert fit(rules, {}, {"industry": "RETAIL"})[0] == -1.0


# --- bands ------------------------------------------------------------------------------------

EMPLOYEES = """
[[fit.rules]]
name = "Company size"
property = "company.numberofemployees"
bands = [
  { below = 10, points = -5 },
  { from = 10, below = 200, points = 4 },
  { from = 200, below = 1000, points = 8 },
  { from = 5000, points = 2 },
]
"""


@pytest.mark.parametrize("employees, expected", [
    ("0", (-5.0, "Company size: under 10")),
    ("-3", (-5.0, "Company size: under 10")),        # the first band has no lower edge
    ("9.999", (-5.0, "Company size: under 10")),
    ("10", (4.0, "Company size: 10 to under 200")),  # from is in the band
    ("199.5", (4.0, "Company size: 10 to under 200")),
    ("200", (8.0, "Company size: 200 to under 1000")),  # below is not
    ("999", (8.0, "Company size: 200 to under 1000")),
    ("1000", None),                                   # the gap 1000-5000: no band, no else
    ("4999.9", None),
    ("5000", (2.0, "Company size: 5000 or more")),
    ("1e9", (2.0, "Company size: 5000 or more")),     # the last band has no upper edge
    ("", None), (None, None), ("lots", None), ("nan", None),  # missing, no `missing`
])
def test_bands_are_half_open_from_inclusive_below_exclusive(employees, expected) -> None:
    result = fit(EMPLOYEES, {}, {"numberofemployees": employees})
    if expected is None:
        assert result == (0.0, ())
    else:
        assert result == (expected[0], (Reason(expected[1], "fit", expected[0], 1),))


def test_bands_else_covers_gaps_and_missing_covers_unreadable_values() -> None:
    rules = EMPLOYEES.replace("\n]\n", "\n]\nelse = 1\nmissing = -1\n")
    assert fit(rules, {}, {"numberofemployees": "1000"}) == (
        1.0, (Reason("Company size: (outside the bands)", "fit", 1.0, 1),))
    for value in ("", None, "lots", "inf"):
        assert fit(rules, {}, {"numberofemployees": value}) == (
            -1.0, (Reason("Company size: (missing)", "fit", -1.0, 1),))
    assert fit(rules, {}, None)[0] == -1.0  # no company at all


AGE = """
[[fit.rules]]
name = "Contact age"
days_since = "createdate"
bands = [{ below = 7, points = 10 }, { from = 7, below = 30, points = 4 }, { from = 90, points = -6 }]
missing = -1
"""


@pytest.mark.parametrize("created, expected", [
    (ago(0), (10.0, "Contact age: under 7")),                        # created at as-of
    (ago(7 - 1 / 86400), (10.0, "Contact age: under 7")),           # a second short of 7 days
    (ago(7), (4.0, "Contact age: 7 to under 30")),                    # exactly 7 days
    (str(int((AS_OF - timedelta(days=29)).timestamp() * 1000)),
     (4.0, "Contact age: 7 to under 30")),                           # epoch milliseconds
    ("2026-10-24", (4.0, "Contact age: 7 to under 30")),  # midnight UTC: 29.5 days before noon
    ("2026-10-23", None),                                 # 30.5 days: between bands, no else
    ("2026-08-24", (-6.0, "Contact age: 90 or more")),   # 90.5 days
    ("2026-08-25", None),                                 # 89.5 days: between bands, no else
    (ago(-1), (-1.0, "Contact age: (missing)")),          # created after as-of
    ("yesterday", (-1.0, "Contact age: (missing)")),
    (None, (-1.0, "Contact age: (missing)")),
])
def test_days_since_bands_read_a_dates_age_in_days(created, expected) -> None:
    result = fit(AGE, {"createdate": created})
    if expected is None:
        assert result == (0.0, ())
    else:
        assert result == (expected[0], (Reason(expected[1], "fit", expected[0], 1),))


def test_bands_on_a_derived_input_in_the_engagement_section() -> None:
    rules = """
[engagement]
activity = ["meeting"]
[[engagement.rules]]
name = "Recency"
property = "days_since_last_engagement"
bands = [{ below = 3, points = 9 }, { from = 3, below = 14.5, points = 3.25 }]
missing = -4
[[engagement.rules]]
name = "Page views"
property = "hs_analytics_num_page_views"
bands = [{ from = 1, below = 5, points = 1 }, { from = 5, points = 4 }]
"""
    m = loads(model(rules))
    meeting = [event("meeting", AS_OF - timedelta(days=14, hours=11))]
    result = score({"hs_analytics_num_page_views": "12"}, meeting, None, m, AS_OF)
    assert result.reasons == (Reason("Recency: 3 to under 14.5", "engagement", 3.2, 1),
                              Reason("Page views: 5 or more", "engagement", 4.0, 1))
    assert result.engagement == 7.2
    later = [event("meeting", AS_OF - timedelta(days=14, hours=12))]  # exactly 14.5 days
    assert score({}, later, None, m, AS_OF).reasons == ()
    assert score({}, [], None, m, AS_OF).reasons == (
        Reason("Recency: (missing)", "engagement", -4.0, 1),)


def test_explain_names_the_row_that_matched() -> None:
    m = loads(model(SOURCE + AGE + EMPLOYEES))
    contact = {"id": "7", "email": "ann@acme.io", "hs_analytics_source": "paid_search",
               "createdate": ago(12)}
    result = score(contact, [], {"numberofemployees": "4000"}, m, AS_OF)
    assert explain(result, m, AS_OF, contact=contact).splitlines()[4:8] == [
        "Fit:",
        "     +6.0  Lead source: PAID_SEARCH",
        "     +4.0  Contact age: 7 to under 30",
        "Engagement:"]


# --- proportional points on fit rules ---------------------------------------------------------

PER = """
[[fit.rules]]
name = "Employees"
when = { company.numberofemployees = { gte = 1 } }
count = "each"
per = "company.numberofemployees"
unit = 100
points = 1.5
cap = 9
"""


@pytest.mark.parametrize("employees, expected", [
    ("99", None),              # less than one unit of 100
    ("100", (1.5, 1)),
    ("250", (3.0, 2)),         # whole units only
    ("599.9", (7.5, 5)),
    ("600", (9.0, 6)),
    ("5000", (9.0, 50)),       # capped at 9, the units still counted
    ("", None), ("-", None),
])
def test_fit_points_per_n_units_with_a_cap(employees, expected) -> None:
    result = fit(PER, {}, {"numberofemployees": employees})
    if expected is None:
        assert result == (0.0, ())
    else:
        assert result == (expected[0], (Reason("Employees", "fit", expected[0], expected[1]),))


def test_negative_points_per_unit_are_capped_below() -> None:
    rules = PER.replace("points = 1.5", "points = -0.7").replace("unit = 100\n", "")
    assert fit(rules, {}, {"numberofemployees": "3"}) == (
        -2.1, (Reason("Employees", "fit", -2.1, 3),))
    assert fit(rules, {}, {"numberofemployees": "40"}) == (
        -9.0, (Reason("Employees", "fit", -9.0, 40),))


# --- placeholders -----------------------------------------------------------------------------

PLACEHOLDERS = 'missing_values = ["N/A", "-", "Select"]\n'


@pytest.mark.parametrize("condition", [
    "{ jobtitle = { exists = true } }", "{ jobtitle = { equals = \"n/a\" } }",
    "{ jobtitle = { in = [\"N/A\", \"-\"] } }", "{ jobtitle = { not_in = [\"CEO\"] } }",
    "{ jobtitle = { contains = \"/\" } }", "{ jobtitle = { matches = \".\" } }",
])
@pytest.mark.parametrize("placeholder", ["N/A", "n/a", " - ", "SELECT"])
def test_a_placeholder_is_missing_for_every_operator(condition: str, placeholder: str) -> None:
    rules = f'[[fit.rules]]\nname = "r"\nwhen = {condition}\npoints = 1\n'
    assert fit(rules, {"jobtitle": placeholder}, head=PLACEHOLDERS) == (0.0, ())
    missing = ('[[fit.rules]]\nname = "r"\nwhen = { jobtitle = { missing = true } }\n'
               'points = 1\n')
    assert fit(missing, {"jobtitle": placeholder}, head=PLACEHOLDERS)[0] == 1.0
    # without the declaration the same text is an ordinary value
    assert fit(missing, {"jobtitle": placeholder}) == (0.0, ())


def test_placeholders_in_tables_per_and_events() -> None:
    rules = SOURCE + EMPLOYEES.replace("\n]\n", "\n]\nmissing = -1\n") + """
[[engagement.rules]]
name = "Page views"
when = { hs_analytics_num_page_views = { gte = 0 } }
count = "each"
per = "hs_analytics_num_page_views"
points = 1
[[engagement.rules]]
name = "Meetings"
event = "meeting"
where = { hs_meeting_outcome = { exists = true } }
points = 5
count = "each"
"""
    m = loads(model(rules, PLACEHOLDERS))
    meetings = [event("meeting", AS_OF, {"hs_meeting_outcome": "Select"}),
                event("meeting", AS_OF, {"hs_meeting_outcome": "COMPLETED"})]
    result = score({"hs_analytics_source": "Select", "hs_analytics_num_page_views": "N/A"},
                   meetings, {"numberofemployees": "-"}, m, AS_OF)
    assert result.reasons == (Reason("Lead source: (missing)", "fit", -2.0, 1),
                              Reason("Company size: (missing)", "fit", -1.0, 1),
                              Reason("Meetings", "engagement", 5.0, 1))


def test_a_propertys_own_list_replaces_the_models() -> None:
    extra = """
[properties.contacts]
jobtitle = { missing_values = ["none", "."] }
hs_analytics_source = { type = "enumeration", missing_values = [] }
"""
    rules = SOURCE + ('[[fit.rules]]\nname = "Has title"\n'
                      'when = { jobtitle = { exists = true } }\npoints = 3\n')
    assert fit(rules, {"hs_analytics_source": "N/A", "jobtitle": "N/A"},
               head=PLACEHOLDERS, extra=extra) == (
        4.5, (Reason("Lead source: (any other value)", "fit", 1.5, 1),
              Reason("Has title", "fit", 3.0, 1)))
    assert fit(rules, {"hs_analytics_source": "SELECT", "jobtitle": "None"},
               head=PLACEHOLDERS, extra=extra) == (
        1.5, (Reason("Lead source: (any other value)", "fit", 1.5, 1),))


# --- case -------------------------------------------------------------------------------------

@pytest.mark.parametrize("condition, value, expected", [
    # by default text comparisons ignore case
    ('{ jobtitle = "vp sales" }', "VP Sales", True),
    ('{ jobtitle = { contains = "SALES" } }', "VP Sales", True),
    ('{ jobtitle = { in = ["vp sales"] } }', "VP Sales", True),
    # case_sensitive on the operator table
    ('{ jobtitle = { equals = "vp sales", case_sensitive = true } }', "VP Sales", False),
    ('{ jobtitle = { equals = "VP Sales", case_sensitive = true } }', "VP Sales", True),
    ('{ jobtitle = { contains = "SALES", case_sensitive = true } }', "VP Sales", False),
    ('{ jobtitle = { in = ["vp sales"], case_sensitive = true } }', "VP Sales", False),
    ('{ jobtitle = { not_in = ["vp sales"], case_sensitive = true } }', "VP Sales", True),
    ('{ jobtitle = { not_in = ["vp sales"] } }', "VP Sales", False),
    # matches is a regular expression: case-sensitive unless it says (?i), whatever the flag
    ('{ jobtitle = { matches = "^vp" } }', "VP Sales", False),
    ('{ jobtitle = { matches = "(?i)^vp" } }', "VP Sales", True),
    ('{ jobtitle = { matches = "(?i)^vp", case_sensitive = true } }', "VP Sales", True),
    # multi-select options
    ('{ tags = "Beta" }', "alpha;beta", True),
    ('{ tags = { equals = "Beta", case_sensitive = true } }', "alpha;beta", False),
    ('{ tags = { in = ["beta"], case_sensitive = true } }', "alpha;beta", True),
])
def test_text_ignores_case_unless_the_operator_asks(condition: str, value: str,
                                                    expected: bool) -> None:
    rules = f'[[fit.rules]]\nname = "r"\nwhen = {condition}\npoints = 1\n'
    contact = {"tags": value} if "tags" in condition else {"jobtitle": value}
    extra = '[properties.contacts]\ntags = "multiselect"\n'
    assert fit(rules, contact, extra=extra)[0] == (1.0 if expected else 0.0)


def test_case_sensitive_on_a_rule_applies_to_its_conditions_and_value_map() -> None:
    rules = SOURCE.replace("else = 1.5", "else = 1.5\ncase_sensitive = true") + """
[[fit.rules]]
name = "Exact title"
when = { jobtitle = "VP" }
case_sensitive = true
points = 2
[[engagement.rules]]
name = "Inbound reply"
event = "email"
where = { hs_email_direction = "INCOMING_EMAIL" }
case_sensitive = true
points = 3
"""
    m = loads(model(rules))
    email = [event("email", AS_OF, {"hs_email_direction": "incoming_email"})]
    assert score({"hs_analytics_source": "organic_search", "jobtitle": "vp"}, email, None, m,
                 AS_OF).reasons == (Reason("Lead source: (any other value)", "fit", 1.5, 1),)
    email = [event("email", AS_OF, {"hs_email_direction": "INCOMING_EMAIL"})]
    assert score({"hs_analytics_source": "ORGANIC_SEARCH", "jobtitle": "VP"}, email, None, m,
                 AS_OF).reasons == (Reason("Lead source: ORGANIC_SEARCH", "fit", 12.0, 1),
                                    Reason("Exact title", "fit", 2.0, 1),
                                    Reason("Inbound reply", "engagement", 3.0, 1))


def test_case_sensitive_value_maps_may_hold_values_differing_only_in_case() -> None:
    rules = """
[[fit.rules]]
name = "Region"
property = "state"
points_by_value = { CA = 3, ca = 1 }
case_sensitive = true
"""
    assert fit(rules, {"state": "ca"}) == (1.0, (Reason("Region: ca", "fit", 1.0, 1),))
    assert fit(rules, {"state": "Ca"}) == (0.0, ())


# --- validation -------------------------------------------------------------------------------

def problems(text: str) -> list[str]:
    with pytest.raises(ModelError) as caught:
        loads(text, source="model.toml")
    return [str(p) for p in caught.value.problems]


def one_rule(body: str, section: str = "fit") -> str:
    return f'{HEAD}\n[[{section}.rules]]\nname = "T"\n{body}\n'


@pytest.mark.parametrize("body, expected", [
    ('property = "hs_analytics_source"\npoints_by_value = { A = 1, a = 2 }',
     ["model.toml:8: fit rule 'T': points_by_value.a: the same value as 'A' ignoring case "
      "(set case_sensitive = true to tell them apart); keep one"]),
    ('property = "hs_analytics_source"\npoints_by_value = { A = "high" }',
     ["model.toml:8: fit rule 'T': points_by_value.A: must be a number (the points), got 'high'"]),
    ('property = "hs_analytics_source"\npoints_by_value = {}',
     ["model.toml:8: fit rule 'T': points_by_value: must be a table of value = points, e.g. "
      "{ ORGANIC_SEARCH = 12, PAID_SEARCH = 6 }"]),
    ('property = "hs_analytics_sorce"\npoints_by_value = { A = 1 }',
     ["model.toml:7: fit rule 'T': property: unknown contact property 'hs_analytics_sorce'; "
      "did you mean 'hs_analytics_source'?"]),
    ('points_by_value = { A = 1 }',
     ["model.toml:6: fit rule 'T': property: is required: the input the table reads "
      "(property = \"<name>\", or for bands days_since = \"<date property>\")"]),
    ('property = "hs_email_click"\npoints_by_value = { 1 = 1 }',
     ["model.toml:7: fit rule 'T': property: hs_email_click is a number; use bands"]),
    ('property = "hs_buying_role"\npoints_by_value = { x = 1 }',
     ["model.toml:7: fit rule 'T': property: hs_buying_role is a multi-select: a contact may "
      "have several options, so give each option a rule of its own"]),
    ('property = "company.hs_is_target_account"\npoints_by_value = { yes = 1 }',
     ["model.toml:8: fit rule 'T': points_by_value.yes: company.hs_is_target_account is "
      "true/false: the values are true and false"]),
    ('property = "hs_analytics_source"\npoints_by_value = { A = 1 }\npoints = 3\nelse = "x"',
     ["model.toml:9: fit rule 'T': points: a table rule takes its points from its rows "
      "(points_by_value or bands)",
      "model.toml:10: fit rule 'T': else: must be a number (the points), got 'x'"]),
    ('property = "hs_analytics_source"\npoints_by_value = { A = 1 }\nbands = [{ points = 1 }]',
     ["model.toml:9: fit rule 'T': bands: a rule has points_by_value or bands, not both"]),
    ('property = "hs_email_click"\nbands = [\n  { below = 3, points = 1 },\n'
     '  { from = 2, below = 9, points = 2 },\n]',
     ["model.toml:10: fit rule 'T': bands[1]: from = 2 is inside the band before it, which "
      "ends at below = 3: bands go in ascending order and must not overlap"]),
    ('property = "hs_email_click"\nbands = [\n  { from = 3, points = 1 },\n'
     '  { from = 9, points = 2 },\n]',
     ["model.toml:10: fit rule 'T': bands[1]: the band before it has no below (it takes every "
      "higher value): bands go in ascending order and must not overlap"]),
    ('property = "hs_email_click"\nbands = [\n  { from = 3, below = 5, points = 1 },\n'
     '  { below = 9, points = 2 },\n]',
     ["model.toml:10: fit rule 'T': bands[1]: it has no from (it takes every lower value), so "
      "it overlaps the band before it: bands go in ascending order and must not overlap"]),
    ('property = "hs_email_click"\nbands = [\n  { from = 5, below = 5, points = 1 },\n'
     '  { from = 6, upto = 9, points = "2" },\n]',
     ["model.toml:9: fit rule 'T': bands[0]: from = 5 must be less than below = 5",
      "model.toml:10: fit rule 'T': bands[1].upto: unknown key 'upto' in a band; a band has "
      "from, below and points",
      "model.toml:10: fit rule 'T': bands[1].points: must be a number, got '2'"]),
    ('property = "createdate"\nbands = [{ below = 7, points = 1 }]',
     ["model.toml:7: fit rule 'T': property: createdate is a datetime; use days_since = "
      "'createdate' for its age in days"]),
    ('days_since = "hs_email_click"\nbands = [{ below = 7, points = 1 }]',
     ["model.toml:7: fit rule 'T': days_since: 'hs_email_click' is not a date property"]),
    ('property = "company.industry"\nbands = [{ below = 7, points = 1 }]',
     ["model.toml:7: fit rule 'T': property: company.industry is an enumeration; bands need a "
      "number: use points_by_value"]),
    ('days_since = "createdate"\npoints_by_value = { A = 1 }',
     ["model.toml:7: fit rule 'T': days_since: days_since goes with bands (the age in days is "
      "a number)"]),
    ('when = { jobtitle = "x" }\npoints = 1\ncount = "daily"',
     ["model.toml:9: fit rule 'T': count: daily needs events; a fit rule counts once, or each "
      "with per"]),
    ('when = { jobtitle = "x" }\npoints = 1\nunit = 10',
     ["model.toml:9: fit rule 'T': unit: unit goes with per: points for every `unit` of the "
      "per input"]),
    ('when = { jobtitle = "x" }\npoints = 1\ncount = "each"\nper = "jobtitle"\nunit = 0',
     ["model.toml:11: fit rule 'T': unit: must be a positive number, got 0"]),
    ('when = { jobtitle = { equals = "x", case_sensitive = "yes" } }\npoints = 1',
     ["model.toml:7: fit rule 'T': when.jobtitle.case_sensitive: needs true or false"]),
    ('when = { jobtitle = "x" }\npoints = 1\ncase_sensitive = 1',
     ["model.toml:9: fit rule 'T': case_sensitive: must be true or false"]),
])
def test_table_and_rule_problems_name_line_rule_and_field(body: str, expected: list) -> None:
    assert problems(one_rule(body)) == expected


def test_keys_after_a_value_map_header_belong_to_the_map() -> None:
    text = one_rule('property = "hs_analytics_source"\n[fit.rules.points_by_value]\n'
                    'ORGANIC = 3\nelse = -1\nPAID = "2"')
    assert problems(text) == [
        "model.toml:10: fit rule 'T': points_by_value.else: a value named 'else': write the "
        "rule's else = ... above the points_by_value table (keys after its header belong to "
        "the map)",
        "model.toml:11: fit rule 'T': points_by_value.PAID: must be a number (the points), got '2'"]


def test_placeholder_lists_are_checked() -> None:
    text = HEAD + 'missing_values = "N/A"\n[properties.contacts]\n' \
        'jobtitle = { missing_values = ["-", ""], kind = "string" }\n'
    assert problems(text) == [
        "model.toml:4: [model]: missing_values: must be a list of texts that mean \"no value\", "
        "e.g. [\"N/A\", \"-\", \"Select\"]",
        "model.toml:6: [properties]: contacts.jobtitle.kind: unknown key 'kind'; expected one "
        "of type, missing_values",
        "model.toml:6: [properties]: contacts.jobtitle.missing_values: must be a list of texts "
        "that mean \"no value\", e.g. [\"N/A\", \"-\", \"Select\"]"]


def test_rules_read_by_tables_and_per_are_in_properties_used() -> None:
    m = loads(model(SOURCE + AGE + PER))
    assert m.properties_used == {"companies": ("numberofemployees",),
                                 "contacts": ("createdate", "hs_analytics_source")}


# --- the batch scorer agrees with the engine, bit for bit --------------------------------------

MODEL = HEAD + """
missing_values = ["N/A", "-", "Select"]

[properties.contacts]
tags = "multiselect"
region = { type = "enumeration", missing_values = ["unknown"] }

[fit]
max = 25
min = -8

[[fit.rules]]
name = "Lead source"
property = "hs_analytics_source"
points_by_value = { ORGANIC_SEARCH = 12, PAID_SEARCH = 6.35, OFFLINE = -4 }
else = 1.5
missing = -2
[[fit.rules]]
name = "Region exact"
property = "region"
points_by_value = { EMEA = 3, emea = 1, APAC = 2.2 }
case_sensitive = true
[[fit.rules]]
name = "Target account"
property = "company.hs_is_target_account"
points_by_value = { true = 5, false = -1 }
[[fit.rules]]
name = "Company size"
property = "company.numberofemployees"
when = { country = { in = ["Canada", "France"] } }
bands = [{ below = 10, points = -5 }, { from = 10, below = 200, points = 4 },
         { from = 200, below = 1000, points = 8.15 }, { from = 5000, points = 2 }]
else = 0.5
[[fit.rules]]
name = "Contact age"
days_since = "createdate"
bands = [{ below = 7, points = 10 }, { from = 7, below = 30, points = 4 }, { from = 90, points = -6 }]
missing = -1
[[fit.rules]]
name = "Employees"
when = { company.numberofemployees = { gte = 1 } }
count = "each"
per = "company.numberofemployees"
unit = 100
points = 0.35
cap = 6
[[fit.rules]]
name = "Domain"
property = "email_domain"
points_by_value = { "gmail.com" = -3, "acme.io" = 2 }
missing = -0.5
[[fit.rules]]
name = "Exact title"
when = { jobtitle = { in = ["VP Sales", "CEO"], case_sensitive = true } }
points = 7
[[fit.rules]]
name = "Has title"
when = { jobtitle = { exists = true } }
points = 1.1
[[fit.rules]]
name = "Tag"
when = { tags = { equals = "Beta", case_sensitive = true } }
points = 0.7

[engagement]
max = 30
half_life_days = 10
activity = ["meeting", "email"]

[[engagement.rules]]
name = "Recency"
property = "days_since_last_engagement"
bands = [{ below = 3, points = 9 }, { from = 3, below = 14.5, points = 3.25 }]
missing = -4
[[engagement.rules]]
name = "Page views"
when = { hs_analytics_num_page_views = { gte = 1 } }
count = "each"
per = "hs_analytics_num_page_views"
unit = 2.5
points = 0.45
cap = 5
[[engagement.rules]]
name = "Clicks, dated"
when = { hs_email_click = { gte = 1 } }
count = "each"
per = "hs_email_click"
dated_by = "hs_email_last_click_date"
points = 1.3
[[engagement.rules]]
name = "Meetings"
event = "meeting"
where = { hs_meeting_outcome = { in = ["completed"] } }
points = 6
count = "each"
[[engagement.rules]]
name = "Inbound"
event = "email"
where = { hs_email_direction = "INCOMING_EMAIL" }
case_sensitive = true
points = 2
count = "daily"
"""

SOURCES = ["ORGANIC_SEARCH", "organic_search", "PAID_SEARCH", "OFFLINE", "DIRECT", "N/A", "n/a",
           "-", "Select", "", None]
REGIONS = ["EMEA", "emea", "Emea", "APAC", "unknown", "N/A", "", None]
NUMBERS = ["0", "9.999", "10", "199.5", "200", "999", "1000", "5000", "1e9", "-3", "abc", "-",
           "N/A", "", None, "250", "2.5", "7.5", "99", "100"]
TITLES = ["VP Sales", "vp sales", "CEO", "ceo", "N/A", "Select", "", None, "Engineer"]


def when(rng: random.Random) -> str | None:
    days = rng.choice([0, 7, 30, 90, 7 - 1 / 86400, rng.uniform(-5, 200)])
    at = AS_OF - timedelta(days=days)
    return rng.choice([None, "-", "N/A", at.date().isoformat(), str(int(at.timestamp() * 1000)),
                       at.isoformat().replace("+00:00", "Z")])


def population(seed: int, size: int) -> tuple[list, list, list]:
    rng = random.Random(seed)
    pick = rng.choice
    contacts = [{"hs_analytics_source": pick(SOURCES), "region": pick(REGIONS),
                 "country": pick(["Canada", "france", "Spain", "N/A", None]),
                 "createdate": when(rng), "jobtitle": pick(TITLES),
                 "email": pick(["a@gmail.com", "b@ACME.io", "c@other.org", "N/A", "", None]),
                 "tags": pick(["alpha;Beta", "beta", "Beta;gamma", "-", None]),
                 "hs_analytics_num_page_views": pick(NUMBERS), "hs_email_click": pick(NUMBERS),
                 "hs_email_last_click_date": when(rng)} for _ in range(size)]
    companies = [None if rng.random() < 0.15 else
                 {"numberofemployees": pick(NUMBERS),
                  "hs_is_target_account": pick(["true", "FALSE", "Select", "maybe", None])}
                 for _ in range(size)]
    events = []
    for _ in range(size):
        found = []
        for _ in range(pick([0, 1, 2, 5])):
            kind = pick(["meetings", "emails"])
            at = AS_OF - timedelta(days=pick([rng.uniform(-3, 40), 3.0, 14.5, 0.0]))
            properties = ({"hs_meeting_outcome": pick(["COMPLETED", "Select", "NO_SHOW"])}
                          if kind == "meetings" else
                          {"hs_email_direction": pick(["INCOMING_EMAIL", "incoming_email", "-"])})
            found.append(event(kind, at, properties))
        events.append(found)
    return contacts, events, companies


@pytest.mark.parametrize("seed, as_of", [(1, AS_OF), (2, AS_OF + timedelta(days=9, hours=3)),
                                         (3, AS_OF - timedelta(days=20))])
def test_the_batch_scorer_agrees_bit_for_bit(seed: int, as_of: datetime) -> None:
    m = loads(MODEL)
    contacts, events, companies = population(seed, 1200)
    scores = batch_scorer(m, as_of).score(chunk_of(contacts, events, companies))
    for i, (c, e, co) in enumerate(zip(contacts, events, companies)):
        assert scores.score(i) == score(c, e, co, m, as_of), f"contact {i}: {c}, {e}, {co}"


def test_the_population_reaches_every_row() -> None:
    """The agreement test proves something only if every row, else and missing is reached."""
    m = loads(MODEL)
    contacts, events, companies = population(1, 1200)
    scores = batch_scorer(m, AS_OF).score(chunk_of(contacts, events, companies))
    assert {column.rule for column in scores.reasons} == {
        "Lead source: ORGANIC_SEARCH", "Lead source: PAID_SEARCH", "Lead source: OFFLINE",
        "Lead source: (any other value)", "Lead source: (missing)",
        "Region exact: EMEA", "Region exact: emea", "Region exact: APAC",
        "Target account: true", "Target account: false",
        "Company size: under 10", "Company size: 10 to under 200",
        "Company size: 200 to under 1000", "Company size: 5000 or more",
        "Company size: (outside the bands)",
        "Contact age: under 7", "Contact age: 7 to under 30", "Contact age: 90 or more",
        "Contact age: (missing)", "Domain: gmail.com", "Domain: acme.io", "Domain: (missing)",
        "Employees", "Exact title", "Has title", "Tag",
        "Recency: under 3", "Recency: 3 to under 14.5", "Recency: (missing)",
        "Page views", "Clicks, dated", "Meetings", "Inbound",
        "fit capped at 25", "fit floored at -8", "engagement capped at 30"}

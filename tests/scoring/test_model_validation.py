"""A wrong model fails on load, naming file, line, rule and field, with suggestions."""
from __future__ import annotations

from pathlib import Path

import pytest

from scoring import ModelError, catalog_from_rows, load, loads

HEAD = '[model]\nname = "t"\nversion = "1"\n'


def problems(text: str, **kw) -> list[str]:
    with pytest.raises(ModelError) as caught:
        loads(text, source="model.toml", **kw)
    return [str(p) for p in caught.value.problems]


def one_rule(body: str, section: str = "fit") -> str:
    return f'{HEAD}\n[[{section}.rules]]\nname = "Senior"\n{body}\n'


@pytest.mark.parametrize("body, section, expected", [
    ('when = { jobtitel = { matches = "vp" } }\npoints = 20', "fit",
     "model.toml:7: fit rule 'Senior': when.jobtitel: unknown contact property 'jobtitel'; "
     "did you mean 'jobtitle'?"),
    ('when = { company.industri = "X" }\npoints = 1', "fit",
     "model.toml:7: fit rule 'Senior': when.company.industri: unknown company property "
     "'industri'; did you mean 'industry'?"),
    ('when = { jobtitle = { matchs = "vp" } }\npoints = 20', "fit",
     "model.toml:7: fit rule 'Senior': when.jobtitle.matchs: unknown operator 'matchs'; "
     "did you mean 'matches'?"),
    ('when = { jobtitle = { matches = "(vp" } }\npoints = 20', "fit",
     "model.toml:7: fit rule 'Senior': when.jobtitle.matches: not a valid regular expression: "
     "missing ), unterminated subpattern at position 0"),
    ('when = { numemployees = { gte = 100 } }\npoints = 1', "fit",
     "model.toml:7: fit rule 'Senior': when.numemployees.gte: numemployees is an enumeration; "
     "compare it with in = [...] or equals"),
    ('when = { recent_conversion_date = { gt = 5 } }\npoints = 1', "fit",
     "model.toml:7: fit rule 'Senior': when.recent_conversion_date.gt: recent_conversion_date "
     "is a datetime; compare it with a date such as \"2026-01-31\" or use within_days"),
    ('when = { hs_email_click = { gte = "lots" } }\npoints = 1', "fit",
     "model.toml:7: fit rule 'Senior': when.hs_email_click.gte: needs a number or a date such "
     "as \"2026-01-31\", got 'lots'"),
    ('when = { country = { in = "markets" } }\npoints = 1', "fit",
     "model.toml:7: fit rule 'Senior': when.country.in: no list named 'markets' in [lists] "
     "(known: free_email)"),
    ('when = { score = { gte = 1 } }\npoints = 1', "fit",
     "model.toml:7: fit rule 'Senior': when.score: score is only known after scoring; "
     "use it in [stages]"),
    ('when = { jobtitle = "x" }', "fit",
     "model.toml:6: fit rule 'Senior': points: is required (a number, may be negative)"),
    ('when = { jobtitle = "x" }\npoints = 1\nhalf_life_days = 3', "fit",
     "model.toml:9: fit rule 'Senior': half_life_days: unknown key 'half_life_days'; expected "
     "one of name, description, when, points, count, per, unit, cap, case_sensitive"),
    ('event = "meting"\npoints = 5', "engagement",
     "model.toml:7: engagement rule 'Senior': event: unknown event 'meting'; did you mean 'meeting'?"),
    ('event = "meeting"\nwhere = { hs_meeting_outcom = "COMPLETED" }\npoints = 5', "engagement",
     "model.toml:8: engagement rule 'Senior': where.hs_meeting_outcom: unknown meeting property "
     "'hs_meeting_outcom'; did you mean 'hs_meeting_outcome'?"),
    ('event = "meeting"\npoints = 5\ncount = "weekly"', "engagement",
     "model.toml:9: engagement rule 'Senior': count: must be one of once, each, daily, got 'weekly'"),
    ('when = { hs_email_click = { gte = 3 } }\npoints = 5\nwindow_days = 30', "engagement",
     "model.toml:9: engagement rule 'Senior': window_days: needs a date: add dated_by = "
     "\"<date property>\" or make it an event rule"),
    ('event = "call"\npoints = 5\ncap = -3', "engagement",
     "model.toml:9: engagement rule 'Senior': cap: must be a positive number, got -3"),
    ('event = "call"\npoints = 5\nhalf_life_days = -30', "engagement",
     "model.toml:9: engagement rule 'Senior': half_life_days: must be 0 (no decay) or more, "
     "got -30; a negative half-life makes scores grow with age"),
    ('event = "call"\npoints = 5\nhalf_life_days = 36500', "engagement",
     "model.toml:9: engagement rule 'Senior': half_life_days: must be at most 3,650 days, got 36500"),
    ('event = "call"\npoints = 5\nwindow_days = 0', "engagement",
     "model.toml:9: engagement rule 'Senior': window_days: must be a positive number, got 0"),
    ('event = "call"\npoints = 5\nwindow_days = 100000', "engagement",
     "model.toml:9: engagement rule 'Senior': window_days: must be at most 3,650 days, got 100000"),
    ('event = "call"\npoints = 5\ncap = 1e9', "engagement",
     "model.toml:9: engagement rule 'Senior': cap: must be at most 100,000, got 1000000000.0"),
    ('when = { jobtitle = "x" }\npoints = -50000', "fit",
     "model.toml:8: fit rule 'Senior': points: must be between -10,000 and 10,000, got -50000"),
])
def test_rule_problems_name_file_line_rule_and_field(body: str, section: str, expected: str) -> None:
    assert problems(one_rule(body, section)) == [expected]


@pytest.mark.parametrize("text, expected", [
    ("[engagement]\nhalf_life_days = -30\n",
     "model.toml:6: [engagement]: half_life_days: must be 0 (no decay) or more, got -30; a "
     "negative half-life makes scores grow with age"),
    ("[fit]\nmax = 1e12\n", "model.toml:6: [fit]: max: must be at most 100,000, got 1000000000000.0"),
    ("[inactive]\nafter_days = 0\n", "model.toml:6: [inactive]: after_days: must be a positive number, got 0"),
    ("[inactive]\nafter_days = 99999\n",
     "model.toml:6: [inactive]: after_days: must be at most 3,650 days, got 99999"),
    ("[grades]\nfit = { A = 4000000, B = 20 }\nengagement = { 1 = 30, 2 = 10 }\n",
     "model.toml:6: [grades]: fit: thresholds must be at most 100,000"),
])
def test_section_values_out_of_range_name_file_and_line(text: str, expected: str) -> None:
    assert problems(f"{HEAD}\n{text}") == [expected]


def test_every_problem_is_reported_at_once() -> None:
    text = HEAD + """
[fitt]
max = 3

[[fit.rules]]
points = 1
when = { jobtitle = "x" }

[[fit.rules]]
name = "dup"
when = { jobtitle = "x" }
points = 1

[[fit.rules]]
name = "dup"
when = { jobtitle = "y" }
points = 1

[grades]
fit = { A = 10, B = 20 }
engagement = { 1 = 30 }
"""
    assert problems(text) == [
        "model.toml:5: [fitt]: unknown section 'fitt'; did you mean 'fit'?",
        "model.toml:8: fit rule '#1': name: is required (a short text naming the rule)",
        "model.toml:18: fit rule 'dup': name: another rule already has this name; names must be unique",
        "model.toml:23: [grades]: fit: A must be above B",
        "model.toml:24: [grades]: engagement: must be { 1 = 30, 2 = 10 } (the lowest grade takes the rest)",
    ]


def test_stage_problems() -> None:
    text = HEAD + """
[stages]
managed = ["lead", "marketingqualifiedlead"]
[stages.customer]
when = { score = { gte = 5 } }
[stages.lead]
when = { scor = { gte = 5 } }
"""
    assert problems(text) == [
        "model.toml:7: [stages]: customer: is not a managed stage; add it to stages.managed "
        "(lead, marketingqualifiedlead)",
        "model.toml:10: [stages]: lead.when.scor: unknown contact property 'scor'; did you mean 'score'?",
    ]


def test_other_is_never_managed() -> None:
    assert problems(HEAD + '[stages]\nmanaged = ["lead", "other"]\n') == [
        "model.toml:5: [stages]: managed: must be a list of distinct stages from subscriber, lead, "
        "marketingqualifiedlead, salesqualifiedlead, opportunity, customer, evangelist "
        "(\"other\" is never managed)"]


def test_model_head_is_required() -> None:
    assert problems("[fit]\nmax = 3\n") == [
        "model.toml: [model]: name: is required (non-empty text)",
        "model.toml: [model]: version: is required (non-empty text)"]


def test_invalid_toml_names_the_position() -> None:
    assert problems('[model]\nname = "t\n') == [
        "model.toml: not valid TOML: Illegal character '\\n' (at line 2, column 10)"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nope\.toml: no such model file"):
        load(tmp_path / "nope.toml")


CATALOG = catalog_from_rows([
    ("contacts", "jobtitle", "string", "text"),
    ("contacts", "favourite_colour", "enumeration", "select"),
    ("contacts", "interests", "enumeration", "checkbox"),
    ("companies", "industry", "enumeration", "select"),
])


def test_with_a_catalog_every_property_must_exist_there() -> None:
    text = one_rule('when = { hs_email_click = { gte = 3 } }\npoints = 1')
    assert problems(text, catalog=CATALOG) == [
        "model.toml:7: fit rule 'Senior': when.hs_email_click: unknown contact property "
        "'hs_email_click' (not in the cached property catalog; declare a custom property under "
        "[properties.contacts])"]
    assert problems(one_rule('when = { favorite_colour = "red" }\npoints = 1'), catalog=CATALOG) == [
        "model.toml:7: fit rule 'Senior': when.favorite_colour: unknown contact property "
        "'favorite_colour'; did you mean 'favourite_colour'?"]


def test_catalog_types_drive_coercion() -> None:
    model = loads(one_rule('when = { interests = "golf" }\npoints = 1'), catalog=CATALOG)
    assert model.properties_used == {"contacts": ("interests",)}


def test_custom_properties_can_be_declared() -> None:
    text = HEAD + '[properties.contacts]\nhs_email_clicks = "number"\n' + \
        '[[fit.rules]]\nname = "x"\nwhen = { hs_email_clicks = { gte = 2 } }\npoints = 1\n'
    assert loads(text).fit.rules[0].name == "x"
    # without the declaration the near-miss of a known property is flagged
    assert problems(text.replace('[properties.contacts]\nhs_email_clicks = "number"\n', "")) == [
        "model.toml:6: fit rule 'x': when.hs_email_clicks: unknown contact property "
        "'hs_email_clicks'; did you mean 'hs_email_click'?"]


def test_unknown_custom_names_without_a_catalog_are_accepted_as_text() -> None:
    model = loads(one_rule('when = { leadsource_detail = { contains = "expo" } }\npoints = 1'))
    assert model.properties_used == {"contacts": ("leadsource_detail",)}

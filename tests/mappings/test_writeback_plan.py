"""The pure write-back plan: values, canonical comparison, the newer-of rule, lifecycle rules."""
from __future__ import annotations

import pytest

from mappings.writeback import (ContactChange, DesiredScore, LifecyclePolicy, Plan, StageChange,
                                canonical, current_values, definition_mismatch, desired_values,
                                format_datetime, format_number, format_reasons,
                                format_reasons_json, plan_contact, property_definitions,
                                stage_decision, stage_order)
from scoring import Reason
from scoring.reasons import as_dicts, dumps

NAMES = {"score": "ls_score", "fit": "ls_fit", "engagement": "ls_eng", "grade": "ls_grade",
         "reasons": "ls_reasons", "scored_at": "ls_at", "inactive": "ls_inactive"}
POLICY = LifecyclePolicy()
SCORE = DesiredScore("7", total=61.25, fit=25.0, engagement=36.25, grade="A2",
                     stage="marketingqualifiedlead", inactive=False,
                     reasons=({"rule": "Senior title", "section": "fit", "points": 20.0},
                              {"rule": "Meeting booked", "section": "engagement", "points": 23.44},
                              {"rule": "Student", "section": "fit", "points": -30.0},
                              {"rule": "Opened email", "section": "engagement", "points": 2.0}),
                     changed_at="2026-11-20T08:00:00Z")
WRITTEN = {"ls_score": "61.3", "ls_fit": "25", "ls_eng": "36.3", "ls_grade": "A2",
           "ls_reasons": "Student -30; Meeting booked +23.4; Senior title +20",
           "ls_at": "2026-11-20T08:00:00.000Z", "ls_inactive": "false"}


@pytest.mark.parametrize("value, text", [(42, "42"), (42.0, "42"), (42.05, "42.1"), (42.04, "42"),
                                         (-0.04, "0"), (-3.25, "-3.3"), (100.0, "100"), (None, "")])
def test_numbers_are_written_in_one_canonical_form(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize("kind, raw, text", [
    ("number", "42.50", "42.5"), ("number", "1E+2", "100"), ("number", " 7 ", "7"),
    ("datetime", "2026-11-20T08:00:00Z", "2026-11-20T08:00:00.000Z"),
    ("datetime", "1763625600000", "2025-11-20T08:00:00.000Z"), ("bool", "TRUE", "true"),
    ("enumeration", "A1", "A1"), ("string", None, ""), ("number", "", "")])
def test_values_read_from_hubspot_compare_in_canonical_form(kind, raw, text):
    assert canonical(kind, raw) == text


def test_desired_values_of_a_score():
    assert desired_values(SCORE, NAMES) == WRITTEN


def test_reasons_keep_the_heaviest_three_and_stay_short():
    assert format_reasons([{"rule": "x" * 300, "points": 1}], max_chars=20) == "x" * 19 + "…"
    assert format_reasons([]) == ""
    assert format_datetime(None) == ""


def test_a_new_contact_gets_every_property_and_its_stage():
    change, held = plan_contact(SCORE, {"lifecyclestage": "lead"}, NAMES, POLICY)
    assert held is None
    assert change == ContactChange(
        "7", ({**WRITTEN, "lifecyclestage": "marketingqualifiedlead"},),
        old={**{k: "" for k in WRITTEN}, "lifecyclestage": "lead"},
        stage=StageChange("lead", "marketingqualifiedlead", "promote"))


def test_only_changed_properties_are_planned_and_equal_values_in_other_forms_are_unchanged():
    hubspot = {**WRITTEN, "ls_score": "61.30", "ls_fit": "25.0", "ls_at": "2026-11-20T08:00:00Z",
               "ls_inactive": "true", "ls_grade": "B1", "lifecyclestage": "marketingqualifiedlead"}
    change, _ = plan_contact(SCORE, hubspot, NAMES, POLICY)
    assert change.writes == ({"ls_inactive": "false", "ls_grade": "A2"},)
    assert change.old == {"ls_inactive": "true", "ls_grade": "B1"}
    unchanged, _ = plan_contact(SCORE, {**WRITTEN, "lifecyclestage": "marketingqualifiedlead"},
                                NAMES, POLICY)
    assert unchanged is None


def test_hubspot_has_the_newer_of_the_ledger_and_the_last_pull():
    pulled = {"ls_score": "10", "ls_fit": "5"}
    ledger = {"ls_score": ("11", "2026-11-20T10:00:00.000Z"), "ls_fit": ("6", "2026-11-20T08:00:00.000Z")}
    assert current_values(pulled, "2026-11-20T09:00:00.000Z", ledger) == {"ls_score": "11", "ls_fit": "5"}
    assert current_values({}, None, ledger) == {"ls_score": "11", "ls_fit": "6"}


@pytest.mark.parametrize("current, desired, demotable, expected", [
    ("lead", "marketingqualifiedlead", (), (StageChange("lead", "marketingqualifiedlead", "promote"), None)),
    ("", "lead", (), (StageChange("", "lead", "promote"), None)),
    (None, "subscriber", (), (StageChange("", "subscriber", "promote"), None)),
    ("marketingqualifiedlead", "lead", (), (None, "backward")),
    ("marketingqualifiedlead", "lead", ("marketingqualifiedlead",),
     (StageChange("marketingqualifiedlead", "lead", "demote"), None)),
    ("marketingqualifiedlead", "lead", ("lead",), (None, "backward")),
    ("customer", "marketingqualifiedlead", ("customer",), (None, "later-stage")),
    ("salesqualifiedlead", "marketingqualifiedlead", (), (None, "later-stage")),
    ("other", "lead", (), (None, "unknown-stage")),
    ("lead", "nurture", (), (None, "unknown-stage")),
    ("lead", "opportunity", (), (None, "unmanaged-stage")),
    ("lead", "lead", (), (None, None)),
    ("lead", None, (), (None, None)),
])
def test_stage_decisions(current, desired, demotable, expected):
    policy = LifecyclePolicy(demotable=frozenset(demotable))
    assert stage_decision(current, desired, policy) == expected


def test_a_demotion_is_a_clear_then_a_set():
    policy = LifecyclePolicy(demotable=frozenset({"marketingqualifiedlead"}))
    score = DesiredScore("7", 10, 5, 5, "C3", "lead", True, (), "2026-11-20T08:00:00.000Z")
    hubspot = {**desired_values(score, NAMES), "lifecyclestage": "marketingqualifiedlead"}
    change, _ = plan_contact(score, hubspot, NAMES, policy)
    assert change.writes == ({"lifecyclestage": ""}, {"lifecyclestage": "lead"})
    assert change.new == {"lifecyclestage": "lead"}


def test_without_a_policy_the_stage_is_never_written():
    change, held = plan_contact(SCORE, {"lifecyclestage": "lead"}, NAMES, None)
    assert "lifecyclestage" not in change.new and held is None


def test_stage_order_follows_the_portals_display_order_without_other():
    options = [{"value": "lead", "displayOrder": 2}, {"value": "subscriber", "displayOrder": 1},
               {"value": "other", "displayOrder": 0}, {"value": "nurture", "displayOrder": 3}]
    assert stage_order(options) == ("subscriber", "lead", "nurture")
    assert stage_order([])[0] == "subscriber"


def test_property_definitions_and_mismatches():
    definitions = {d["name"]: d for d in property_definitions(NAMES, "leadsync")}
    assert {n: (d["type"], d["fieldType"]) for n, d in definitions.items()} == {
        "ls_score": ("number", "number"), "ls_fit": ("number", "number"),
        "ls_eng": ("number", "number"), "ls_grade": ("enumeration", "select"),
        "ls_reasons": ("string", "text"), "ls_at": ("datetime", "date"),
        "ls_inactive": ("enumeration", "booleancheckbox")}
    assert [o["value"] for o in definitions["ls_grade"]["options"]] == [
        "A1", "A2", "A3", "B1", "B2", "B3", "C1", "C2", "C3"]
    assert all(d["groupName"] == "leadsync" for d in definitions.values())
    grade = definitions["ls_grade"]
    assert definition_mismatch(grade, grade) is None
    assert definition_mismatch(grade, {"type": "string", "fieldType": "text"}) == \
        "is string/text, needs enumeration/select"
    assert definition_mismatch(grade, {**grade, "options": grade["options"][:7]}) == \
        "lacks the option(s) C2, C3"


def test_plan_counts_per_property_and_transition():
    plan = Plan()
    plan.add(plan_contact(SCORE, {"lifecyclestage": "lead"}, NAMES, POLICY)[0], None)
    plan.add(None, "backward")
    plan.add(None, None)
    assert plan.contacts == 1 and plan.unchanged == 2 and plan.held == {"backward": 1}
    assert plan.by_property()["ls_score"] == 1 and plan.by_property()["lifecyclestage"] == 1
    assert plan.by_transition() == {"lead → marketingqualifiedlead": 1}
    assert plan.as_dict(sample=0)["changes"] == [] and len(plan.as_dict()["changes"]) == 1


def test_bounds_are_not_reasons_written_to_hubspot():
    stored = dumps([Reason("Free email", "fit", -5.0, 1), Reason("Webinar", "engagement", 2.0, 1),
                    Reason("total floored at 0", "total", 18.0, 0),
                    Reason("fit capped at 60", "fit", -4.0, 0)])
    assert format_reasons_json(stored) == "Free email -5; Webinar +2"
    score = DesiredScore("1", 0, 0, 2, "C3", "lead", False, stored, "2026-11-22T00:00:00Z")
    assert desired_values(score, NAMES)[NAMES["reasons"]] == "Free email -5; Webinar +2"
    assert format_reasons(as_dicts(stored), shown=1, more=True) == "Free email -5; +1 more"

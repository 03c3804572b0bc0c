"""Which inputs a whole-batch 400 names, from HubSpot's real body shapes (pure, no network)."""
from __future__ import annotations

import json

import pytest

from connector.rejections import findings, named_inputs


def validation_body(*results: dict, errors: list | None = None) -> dict:
    """HubSpot's shape: validation results as JSON inside `message`, plus `errors[]`."""
    body = {"status": "error", "correlationId": "ffbce914-a7be-4a80-a701-2e8bad686524",
            "category": "VALIDATION_ERROR",
            "message": "Property values were not valid: " + json.dumps(list(results))}
    if errors is not None:
        body["errors"] = errors
    return body


INPUTS = [
    {"id": "101", "properties": {"leadsync_grade": "A1", "leadsync_score": "40"}},
    {"id": "102", "properties": {"leadsync_grade": "C3", "leadsync_score": "41"}},
    {"id": "103", "properties": {"leadsync_score": "42"}},
    {"id": "104", "properties": {"leadsync_grade": "C3"}},
]


def test_a_missing_property_names_every_input_that_writes_it():
    # As captured from HubSpot (a contact create): both the message JSON and errors[].
    text = 'Property "leadsync_grade" does not exist'
    body = validation_body(
        {"isValid": False, "message": text, "error": "PROPERTY_DOESNT_EXIST",
         "name": "leadsync_grade", "localizedErrorMessage": text, "portalId": 244764782},
        errors=[{"message": text, "code": "PROPERTY_DOESNT_EXIST",
                 "context": {"propertyName": ["leadsync_grade"]}}])
    assert len(findings(body)) == 1
    reason = f"PROPERTY_DOESNT_EXIST: leadsync_grade: {text}"
    assert named_inputs(body, INPUTS) == {"101": reason, "102": reason, "104": reason}


def test_an_invalid_option_names_only_the_inputs_writing_that_value():
    text = "C3 was not one of the allowed options: [A1, A2, A3, B1, B2, B3, C1, C2]"
    body = validation_body({"isValid": False, "message": text, "error": "INVALID_OPTION",
                            "name": "leadsync_grade"})
    reason = f"INVALID_OPTION: leadsync_grade: {text}"
    assert named_inputs(body, INPUTS) == {"102": reason, "104": reason}


def test_an_option_list_spread_over_lines_is_one_line_in_the_reason():
    # The older wording lists options YAML-style, with newlines, in errors[] only.
    text = 'C3 was not one of the allowed options: [label: "A1"\nvalue: "A1"\n, label: "B2"\n]'
    body = {"status": "error", "message": "Property values were not valid",
            "category": "VALIDATION_ERROR",
            "errors": [{"message": text, "code": "INVALID_OPTION",
                        "context": {"propertyName": ["leadsync_grade"]}}]}
    named = named_inputs(body, INPUTS)
    assert sorted(named) == ["102", "104"]
    assert named["102"] == ('INVALID_OPTION: leadsync_grade: C3 was not one of the allowed '
                            'options: [label: "A1" value: "A1" , label: "B2" ]')


def test_a_bad_number_names_the_input_with_that_value():
    body = validation_body({"isValid": False, "message": "4x2 was not a valid number.",
                            "error": "INVALID_DECIMAL", "name": "leadsync_score"})
    inputs = INPUTS + [{"id": "105", "properties": {"leadsync_score": "4x2"}}]
    assert named_inputs(body, inputs) == {
        "105": "INVALID_DECIMAL: leadsync_score: 4x2 was not a valid number."}


def test_one_bad_option_of_a_multiple_checkbox_value_names_its_input():
    body = validation_body({"isValid": False, "message": "ZZ was not one of the allowed options: "
                            "[a, b]", "error": "INVALID_OPTION", "name": "tags"})
    inputs = [{"id": "1", "properties": {"tags": "a;ZZ"}},
              {"id": "2", "properties": {"tags": "a;b"}}]
    assert list(named_inputs(body, inputs)) == ["1"]


def test_duplicate_ids_are_named_by_context_ids():
    body = {"status": "error", "message": "Duplicate IDs found in batch input: [103]. IDs must "
            "be unique", "correlationId": "d24ec5cd", "context": {"ids": ["103"]},
            "category": "VALIDATION_ERROR"}
    assert named_inputs(body, INPUTS) == {
        "103": "VALIDATION_ERROR: Duplicate IDs found in batch input: [103]. IDs must be unique"}


@pytest.mark.parametrize("body", [
    # a rejection that depends on the record (the sandbox's strict lifecycle switch)
    validation_body({"isValid": False, "error": "INVALID_LIFECYCLE_STAGE", "name": "lifecyclestage",
                     "message": 'lifecyclestage cannot move backward from "salesqualifiedlead" '
                                'to "marketingqualifiedlead"; clear it with "" first'}),
    # an invalid option with no property name: which property is unknown
    validation_body({"isValid": False, "message": "C3 was not one of the allowed options: [A1]",
                     "error": "INVALID_OPTION"}),
    # an invalid option whose value no input writes
    validation_body({"isValid": False, "message": "D9 was not one of the allowed options: [A1]",
                     "error": "INVALID_OPTION", "name": "leadsync_grade"}),
    # a value error without the value in its text
    {"status": "error", "category": "VALIDATION_ERROR", "message": "Property values were not valid",
     "errors": [{"message": "Invalid value", "code": "INVALID_OPTION",
                 "context": {"propertyName": ["leadsync_grade"]}}]},
    # not JSON after the prefix, no errors[], nothing at all
    {"status": "error", "message": "Property values were not valid: [{\"isValid\":fal"},
    {"message": "Batch input size 101 exceeds the limit of 100"},
    {},
    None,
])
def test_answers_that_name_no_input_name_nothing(body):
    assert named_inputs(body, INPUTS) == {}

"""Reasons as the cache stores them (scoring/reasons.py)."""
from __future__ import annotations

import json

import pytest

from scoring import Reason
from scoring.reasons import as_dicts, dumps, fragment, parse

REASONS = (Reason('Title says "VP" — or Vice président', "fit", 20.0, 1),
           Reason("Meeting booked", "engagement", 12.3, 3),
           Reason("total capped at 100", "total", -0.1, 0))


def test_reasons_are_stored_as_arrays_and_read_back_exactly() -> None:
    text = dumps(REASONS)
    assert text == ('[["Title says \\"VP\\" \\u2014 or Vice pr\\u00e9sident","fit",20.0,1],'
                    '["Meeting booked","engagement",12.3,3],["total capped at 100","total",-0.1,0]]')
    assert json.loads(text)[1] == ["Meeting booked", "engagement", 12.3, 3]
    assert parse(text) == REASONS
    assert fragment(*REASONS[1]) == '["Meeting booked","engagement",12.3,3]'
    assert parse(None) == parse("") == parse("[]") == () and dumps(()) == "[]"


def test_the_object_form_of_older_caches_reads_the_same() -> None:
    old = json.dumps([r._asdict() for r in REASONS])
    assert parse(old) == REASONS
    assert as_dicts(old) == as_dicts(dumps(REASONS)) == [
        {"rule": r.rule, "section": r.section, "points": r.points, "occurrences": r.occurrences}
        for r in REASONS]


def test_a_malformed_reason_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError):
        parse('[["only", "three", 1.0]]')

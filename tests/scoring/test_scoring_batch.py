"""The column-at-a-time scorer gives exactly the per-contact engine's Score, field by field.

Randomised contacts (missing, empty, malformed and millisecond values included), events
(future ones, several per day, shared property dicts) and companies, scored by a model that
uses every operator, combinator, derived input, frequency, cap, bound, grade and stage rule.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from scoring import event, load, loads, score
from scoring.batch import batch_scorer, chunk_of

AS_OF = datetime(2026, 11, 22, 9, 30, tzinfo=timezone.utc)

MODEL = """
[model]
name = "everything"
version = "1"
min = -5
max = 70

[lists]
target = ["COMPUTER_SOFTWARE", "INTERNET"]
partners = ["partner.io", "co1.example.com"]

[properties.contacts]
tags = "multiselect"
score_hint = "number"

[fit]
max = 35
min = -12

[[fit.rules]]
name = "Leader"
when = { jobtitle = { matches = "(?i)\\\\b(vp|chief|head)\\\\b" } }
points = 20
[[fit.rules]]
name = "Not a student"
when = { not = { jobtitle = { contains = "student" } }, email = { exists = true } }
points = 3
[[fit.rules]]
name = "Country"
when = { any = [{ country = { in = ["Canada", "germany"] } }, { country = "France" }] }
points = 4.5
[[fit.rules]]
name = "Not listed country"
when = { country = { not_in = ["Canada", "Germany", "France"] } }
points = -2.25
[[fit.rules]]
name = "Target industry"
when = { company.industry = { in = "target" } }
points = 10
[[fit.rules]]
name = "Mid-size"
when = { company.numberofemployees = { between = [50, 5000] }, company.hs_is_target_account = true }
points = 7
[[fit.rules]]
name = "Free email"
when = { is_free_email = true }
points = -10
[[fit.rules]]
name = "Partner domain"
when = { email = { domain_in = "partners" } }
points = 6
[[fit.rules]]
name = "Domain equals"
when = { email_domain = "gmail.com" }
points = -1
[[fit.rules]]
name = "Tags"
when = { all = [{ tags = { in = ["beta", "gamma"] } }, { tags = { not_in = ["spam"] } }] }
points = 2
cap = 1.5
[[fit.rules]]
name = "Created early"
when = { createdate = { lt = "2025-06-01" } }
points = 1.1
[[fit.rules]]
name = "Recent signup"
when = { createdate = { within_days = 120 } }
points = 2.7
[[fit.rules]]
name = "Hint"
when = { score_hint = { gte = 3, lte = 9 }, annualrevenue = { gt = 1000 } }
points = 0.35
[[fit.rules]]
name = "Missing phone"
when = { phone = { missing = true } }
points = -0.05

[engagement]
max = 45
min = -10
half_life_days = 21
activity = ["meeting", "call", "email", "recent_conversion_date"]

[[engagement.rules]]
name = "Demo"
when = { recent_conversion_event_name = { matches = "(?i)demo" } }
dated_by = "recent_conversion_date"
window_days = 60
points = 25
[[engagement.rules]]
name = "Page views"
when = { hs_analytics_num_page_views = { gte = 1 } }
per = "hs_analytics_num_page_views"
count = "each"
points = 0.7
cap = 9
[[engagement.rules]]
name = "Clicks, dated"
when = { hs_email_click = { gte = 1 } }
per = "hs_email_click"
count = "each"
dated_by = "hs_email_last_click_date"
half_life_days = 9
points = 1.3
[[engagement.rules]]
name = "Opted out"
when = { hs_email_optout = true }
points = -7
[[engagement.rules]]
name = "Stale"
when = { days_since_last_engagement = { gt = 45 } }
points = -3
[[engagement.rules]]
name = "Meetings"
event = "meeting"
where = { hs_meeting_outcome = { in = ["SCHEDULED", "COMPLETED"] } }
points = 15
count = "each"
cap = 27
window_days = 180
[[engagement.rules]]
name = "No-show"
event = "meeting"
where = { hs_meeting_outcome = "NO_SHOW" }
points = -5
count = "once"
window_days = 90
[[engagement.rules]]
name = "Calls"
event = "call"
where = { hs_call_status = "COMPLETED", hs_call_duration = { gte = 60000 } }
points = 8
count = "daily"
cap = 16
half_life_days = 13
[[engagement.rules]]
name = "Any email"
event = "email"
points = 1.7
count = "each"
[[engagement.rules]]
name = "Replies"
event = "email"
where = { hs_email_direction = "INCOMING_EMAIL" }
points = 6
count = "daily"
window_days = 120
[[engagement.rules]]
name = "Latest note"
event = "note"
points = 2.2
count = "once"
half_life_days = 0

[grades]
fit = { A = 20, B = 5 }
engagement = { 1 = 25, 2 = 8 }

[stages]
managed = ["subscriber", "lead", "marketingqualifiedlead"]
allow_demotion = true

[stages.subscriber]
when = { email = { exists = true } }
[stages.lead]
when = { any = [{ engagement = { gte = 5 } }, { grade = { in = ["A1", "A2", "B1"] } }] }
[stages.marketingqualifiedlead]
when = { score = { gte = 40 }, fit = { gte = 10 }, inactive = false }

[inactive]
after_days = 60
"""

TITLES = ["VP Sales", "Chief of Staff", "Head of Growth", "Student", "MBA student", "Engineer",
          "", None, "vice president", "HEAD"]
COUNTRIES = ["Canada", "GERMANY", "France", "Spain", "", None, "canada "]
EMAILS = ["a@gmail.com", "b@partner.io", "c@co1.example.com", "d@acme.com", "", None,
          "no-at-sign", "E@GMAIL.COM"]
NUMBERS = ["0", "1", "2", "3.5", "7", "12", "abc", "", None, "1e3", "-4", "999999"]
STAGES = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "customer",
          "other", "", None]
OUTCOMES = ["SCHEDULED", "COMPLETED", "NO_SHOW", "CANCELED", None]
KINDS = ["meetings", "calls", "emails", "notes", "tasks"]


def moment(rng: random.Random) -> str | None:
    """A date in one of HubSpot's spellings, or something missing or malformed."""
    at = AS_OF - timedelta(days=rng.uniform(-20, 900), seconds=rng.randrange(86400))
    choice = rng.randrange(8)
    if choice == 0:
        return None
    if choice == 1:
        return "not a date"
    if choice == 2:
        return str(int(at.timestamp() * 1000))  # epoch milliseconds
    if choice == 3:
        return at.date().isoformat()
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def contact(rng: random.Random) -> dict:
    pick = rng.choice
    return {"jobtitle": pick(TITLES), "country": pick(COUNTRIES), "email": pick(EMAILS),
            "tags": pick(["alpha;beta", "gamma", "beta;spam", "", None]),
            "createdate": moment(rng), "score_hint": pick(NUMBERS), "annualrevenue": pick(NUMBERS),
            "phone": pick(["555", "", None]),
            "recent_conversion_event_name": pick(["Demo request", "Ebook", None]),
            "recent_conversion_date": moment(rng), "hs_analytics_num_page_views": pick(NUMBERS),
            "hs_email_click": pick(NUMBERS), "hs_email_last_click_date": moment(rng),
            "hs_email_optout": pick(["true", "false", "TRUE", "", None]),
            "lifecyclestage": pick(STAGES)}


def company(rng: random.Random) -> dict | None:
    if rng.random() < 0.2:
        return None
    return {"industry": rng.choice(["COMPUTER_SOFTWARE", "INTERNET", "RETAIL", None]),
            "numberofemployees": rng.choice(NUMBERS + ["50", "5000", "5001"]),
            "hs_is_target_account": rng.choice(["true", "false", None])}


def events(rng: random.Random, shapes: dict) -> list:
    found = []
    for _ in range(rng.choice([0, 1, 3, 8, 20])):
        kind = rng.choice(KINDS)
        days = rng.choice([rng.uniform(-5, 400), rng.uniform(0, 3), 30.0, 0.0])
        properties = shapes[kind][rng.randrange(len(shapes[kind]))]
        found.append(event(kind, AS_OF - timedelta(days=days), properties))
        if rng.random() < 0.2:  # a second event the same moment
            found.append(event(kind, AS_OF - timedelta(days=days), properties))
    return found


def shared_shapes(rng: random.Random) -> dict:
    return {"meetings": [{"hs_meeting_outcome": o} for o in OUTCOMES],
            "calls": [{"hs_call_status": s, "hs_call_duration": d}
                      for s in ("COMPLETED", "BUSY", None) for d in ("61000", "59999", "x", None)],
            "emails": [{"hs_email_direction": d} for d in ("INCOMING_EMAIL", "EMAIL", None)],
            "notes": [{}], "tasks": [{"hs_task_status": "COMPLETED"}]}


def population(seed: int, size: int) -> tuple[list, list, list]:
    rng = random.Random(seed)
    shapes = shared_shapes(rng)
    return ([contact(rng) for _ in range(size)], [events(rng, shapes) for _ in range(size)],
            [company(rng) for _ in range(size)])


@pytest.mark.parametrize("seed, as_of", [
    (1, AS_OF), (2, AS_OF + timedelta(days=40)), (3, AS_OF - timedelta(days=300, hours=5))])
def test_every_score_equals_the_engines(seed: int, as_of: datetime) -> None:
    model = loads(MODEL)
    contacts, events_, companies = population(seed, 1500)
    scores = batch_scorer(model, as_of).score(chunk_of(contacts, events_, companies))
    for i, (c, e, co) in enumerate(zip(contacts, events_, companies)):
        assert scores.score(i) == score(c, e, co, model, as_of), f"contact {i}: {c}, {e}, {co}"


def test_the_population_reaches_every_reason_and_stage_change() -> None:
    """The randomised data is only a proof if it exercises the rules: check that it does."""
    model = loads(MODEL)
    contacts, events_, companies = population(1, 1500)
    scores = batch_scorer(model, AS_OF).score(chunk_of(contacts, events_, companies))
    fired = {column.rule for column in scores.reasons}
    assert fired == {r.name for r in model.fit.rules} | {r.name for r in model.engagement.rules} | {
        "fit capped at 35", "fit floored at -12", "engagement capped at 45",
        "engagement floored at -10", "total capped at 70", "total floored at -5"}
    assert set(scores.stage_change) == {"none", "promote", "demote"}
    assert set(scores.grade) == {a + b for a in "ABC" for b in "123"}
    assert set(scores.inactive) == {True, False}


def test_the_starter_model_on_one_chunk_and_many() -> None:
    model = load(None)
    contacts, events_, companies = population(4, 900)
    whole = batch_scorer(model, AS_OF).score(chunk_of(contacts, events_, companies))
    start = 0
    for size in (1, 7, 300, 592):
        part = batch_scorer(model, AS_OF).score(chunk_of(
            contacts[start:start + size], events_[start:start + size], companies[start:start + size]))
        for i in range(size):
            assert part.score(i) == whole.score(start + i) == score(
                contacts[start + i], events_[start + i], companies[start + i], model, AS_OF)
        start += size


def test_an_empty_chunk_and_contacts_without_events() -> None:
    model = loads(MODEL)
    empty = batch_scorer(model, AS_OF).score(chunk_of([], [], []))
    assert empty.fit == [] and empty.reasons == []
    lone = batch_scorer(model, AS_OF).score(chunk_of([{}], [[]], [None]))
    assert lone.score(0) == score({}, [], None, model, AS_OF)


def test_daily_days_follow_python_floor_division() -> None:
    """A day boundary an event sits exactly on, and just before, stays the engine's."""
    model = loads(MODEL)
    midnight = datetime(2026, 11, 20, tzinfo=timezone.utc)
    calls = [event("call", midnight + timedelta(microseconds=us), {"hs_call_status": "COMPLETED",
                                                                    "hs_call_duration": "70000"})
             for us in (-1, 0, 1, 86_400_000_000 - 1)]
    scores = batch_scorer(model, AS_OF).score(chunk_of([{}], [calls], [None]))
    assert scores.score(0) == score({}, calls, None, model, AS_OF)
    assert [r.occurrences for r in scores.score(0).reasons if r.rule == "Calls"] == [2]
    assert np.array_equal(chunk_of([{}], [calls], [None]).events.owner, [0, 0, 0, 0])


def test_rounding_is_pythons_round_to_a_tenth() -> None:
    """Halves, values a bit either side of them, negatives, zeros and huge values."""
    from scoring.batch import _round
    rng = random.Random(7)
    values = [k / 20 for k in range(-400, 401)] + [0.15, 0.25, 0.35, 2.675, -0.05, -0.0, 1e13,
                                                     -1e15 - 0.5, 5e-324]
    values += [rng.uniform(-100, 100) for _ in range(20000)]
    values += [v + d for v in (0.05, 0.15, 12.45) for d in (1e-12, -1e-12, 1e-17)]
    rounded = _round(np.array(values)).tolist()
    assert [repr(v) for v in rounded] == [repr(round(v, 1)) for v in values]


def test_every_derived_input_and_outcome_has_a_column() -> None:
    from scoring.batch import BatchScorer
    from scoring.inputs import DERIVED, OUTCOMES
    scorer = BatchScorer(loads(MODEL), 0.0)
    assert set(scorer._derived(chunk_of([], [], []), {})) == set(DERIVED) | set(OUTCOMES)

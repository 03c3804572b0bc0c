"""Backtests see only what was known at the as-of date (pure functions, hand-made contacts)."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from scoring import event, loads
from scoring.backtest import (already_converted, backtest, converted_at, known_at, render,
                              stage_at, time_properties)
from scoring.engine import epoch
from scoring.metrics import conversions_to_separate

MODEL = loads("""
[model]
name = "asof"
version = "1"
[[fit.rules]]
name = "VP"
when = { jobtitle = { contains = "VP" } }
points = 20
[[engagement.rules]]
name = "Meetings"
event = "meeting"
points = 10
count = "each"
[[engagement.rules]]
name = "Demo request"
when = { recent_conversion_event_name = { contains = "Demo" } }
dated_by = "recent_conversion_date"
window_days = 90
points = 25
[grades]
fit = { A = 20, B = 10 }
engagement = { 1 = 20, 2 = 5 }
[stages]
managed = ["lead", "marketingqualifiedlead"]
[stages.lead]
when = { email = { exists = true } }
[stages.marketingqualifiedlead]
when = { score = { gte = 30 } }
""")
AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
NOW = epoch(AS_OF)
TIMES = time_properties(MODEL)


def contact(contact_id: str, **props: str) -> dict:
    return {"id": contact_id, "email": f"c{contact_id}@acme.io",
            "createdate": "2026-01-01T00:00:00.000Z", **props}


def meeting(day: str) -> tuple:
    return tuple(event("meeting", f"{day}T10:00:00Z", {"hs_meeting_outcome": "COMPLETED"}))


def population() -> list[tuple]:
    """(id, properties, events, company) as the cache reader yields them."""
    return [
        ("1", contact("1", jobtitle="VP Sales",
                      hs_v2_date_entered_opportunity="2026-06-15T09:00:00.000Z"),
         [meeting("2026-05-10")], None),
        ("2", contact("2", jobtitle="Engineer"), [meeting("2026-05-20")], None),
        ("4", contact("4", lifecyclestage="opportunity",
                      hs_v2_date_entered_opportunity="2026-05-01T00:00:00.000Z"), [], None),
        ("5", contact("5", lifecyclestage="customer",
                      hs_v2_date_entered_customer="2026-07-02T00:00:00.000Z"), [], None),
        ("8", contact("8", hs_v2_date_entered_opportunity="2026-07-01T00:00:00.000Z"), [], None),
        ("9", contact("9", hs_v2_date_entered_opportunity="2026-06-01T00:00:00.000Z"), [], None),
    ]


def run(rows: list[tuple], **options) -> dict:
    return backtest(rows, [MODEL], AS_OF, 30, **options).as_dict(with_scores=True)


def test_population_and_outcomes_follow_the_window():
    result = run(population())
    assert result["population"] == {"contacts": 6, "created_later": 0, "already_converted": 2,
                                    "evaluated": 4, "converted": 2}
    # 4 was an opportunity before as-of; 9 became one at the as-of instant itself.
    # 1 converts inside (as_of, as_of + 30 days]; 8 exactly at its end; 5 a day too late.
    assert result["scores"]["contact_ids"] == ["1", "2", "5", "8"]
    assert result["scores"]["converted"] == [True, False, False, True]
    assert result["scores"]["asof 1"] == [30, 10, 0, 0]
    assert result["window_end"] == "2026-07-01T00:00:00.000Z"


def test_a_planted_future_event_is_ignored():
    planted = population()
    planted[1] = (*planted[1][:2], [meeting("2026-05-20"), meeting("2026-06-10")], None)
    assert run(planted) == run(population())


def test_a_future_date_property_is_ignored():
    planted = population()
    planted[1][1].update(recent_conversion_event_name="Demo request",
                         recent_conversion_date="2026-06-05T00:00:00.000Z")
    assert run(planted) == run(population())
    # The same request before the as-of date counts: the rule itself works.
    earlier = population()
    earlier[1][1].update(recent_conversion_event_name="Demo request",
                         recent_conversion_date="2026-05-25T00:00:00.000Z")
    assert run(earlier)["scores"]["asof 1"] == [30, 35, 0, 0]


def test_a_contact_created_later_is_left_out():
    planted = population()
    planted.append(("3", contact("3", jobtitle="VP", createdate="2026-06-02T00:00:00.000Z",
                                 hs_v2_date_entered_opportunity="2026-06-20T00:00:00.000Z"),
                    [meeting("2026-06-03")], None))
    result, baseline = run(planted), run(population())
    assert result["population"]["created_later"] == 1
    assert result["population"]["contacts"] == 7
    result["population"] = baseline["population"]
    assert result == baseline


def test_known_at_removes_what_happened_after_the_as_of_date():
    props = contact("7", jobtitle="VP", hs_email_click="12",
                    recent_conversion_date="2026-06-05T00:00:00.000Z",
                    hs_email_last_open_date="2026-05-30T00:00:00.000Z",
                    lifecyclestage="marketingqualifiedlead",
                    hs_v2_date_entered_lead="2026-02-01T00:00:00.000Z",
                    hs_v2_date_entered_marketingqualifiedlead="2026-06-20T00:00:00.000Z")
    company = {"industry": "COMPUTER_SOFTWARE", "createdate": "2025-01-01T00:00:00.000Z",
               "lastmodifieddate": "2026-06-30T00:00:00.000Z"}
    snap = known_at(props, [*meeting("2026-05-31"), *meeting("2026-06-01")] and
                    [meeting("2026-05-31"), meeting("2026-06-02")], company, NOW, TIMES)
    assert snap is not None
    assert "recent_conversion_date" not in snap.contact
    assert "hs_v2_date_entered_marketingqualifiedlead" not in snap.contact
    assert snap.contact["hs_email_last_open_date"] == "2026-05-30T00:00:00.000Z"
    assert snap.contact["hs_email_click"] == "12"  # a counter: cannot be rolled back
    assert snap.contact["lifecyclestage"] == "lead"
    assert [e[1] for e in snap.events] == [epoch(datetime(2026, 5, 31, 10, tzinfo=timezone.utc))]
    assert snap.company == {"industry": "COMPUTER_SOFTWARE",
                            "createdate": "2025-01-01T00:00:00.000Z"}


def test_known_at_is_none_before_creation_and_drops_a_company_created_later():
    later = contact("1", createdate="2026-06-01T00:00:01.000Z")
    assert known_at(later, [], None, NOW, TIMES) is None
    snap = known_at(contact("1"), [], {"createdate": "2026-06-10T00:00:00.000Z"}, NOW, TIMES)
    assert snap is not None and snap.company is None


@pytest.mark.parametrize("props, expected", [
    ({}, None),
    ({"lifecyclestage": "subscriber"}, "subscriber"),  # undated: held since creation
    ({"lifecyclestage": "lead", "hs_v2_date_entered_lead": "2026-06-02T00:00:00.000Z"}, None),
    ({"lifecyclestage": "customer", "hs_v2_date_entered_lead": "2026-01-02T00:00:00.000Z",
      "hs_v2_date_entered_opportunity": "2026-05-02T00:00:00.000Z",
      "hs_v2_date_entered_customer": "2026-06-02T00:00:00.000Z"}, "opportunity"),
    ({"lifecyclestage": "other"}, "other"),
    ({"lifecyclestage": "customer", "hs_v2_date_entered_lead": "2026-01-02T00:00:00.000Z"},
     "customer"),  # an undated later stage outranks the dated lead
])
def test_stage_at_the_as_of_date(props: dict, expected: str | None):
    assert stage_at(props, NOW) == expected


def test_conversion_is_the_first_of_opportunity_and_customer():
    both = {"hs_v2_date_entered_opportunity": "2026-06-10T00:00:00.000Z",
            "hs_v2_date_entered_customer": "2026-06-05T00:00:00.000Z"}
    assert converted_at(both) == epoch(datetime(2026, 6, 5, tzinfo=timezone.utc))
    assert converted_at({}) is None
    assert already_converted({"lifecyclestage": "evangelist"}, NOW)
    assert not already_converted({"lifecyclestage": "salesqualifiedlead"}, NOW)


def test_mql_is_the_models_condition_or_a_score_threshold():
    result = backtest(population(), [MODEL], AS_OF, 30).evaluations[0]
    assert result.mql_rule == "marketingqualifiedlead condition"
    assert (result.mql.selected, result.mql.true_positives, result.mql.recall) == (1, 1, 0.5)
    by_score = backtest(population(), [MODEL], AS_OF, 30, mql_score=10).evaluations[0]
    assert by_score.mql_rule == "score >= 10"
    assert (by_score.mql.selected, by_score.mql.precision) == (2, 0.5)


def test_capacity_per_month_becomes_contacts_over_the_horizon():
    result = backtest(population(), [MODEL], AS_OF, 45, capacity=2).evaluations[0]
    assert result.capacity.wanted == 3  # 2 a month for 45 days
    assert result.capacity.threshold == 0


def test_evaluation_of_a_model_against_itself_and_a_random_baseline():
    result = backtest(population(), [MODEL, MODEL], AS_OF, 30, random_baseline=True)
    assert [e.model for e in result.evaluations] == ["asof 1", "asof 1 (2)", "random baseline"]
    assert result.evaluations[0].auc == result.evaluations[1].auc == 0.625


def test_backtest_text_defines_recall_explains_fractions_and_warns_about_close_aucs():
    result = backtest(population(), [MODEL], AS_OF, 30, random_baseline=True)
    text = render(result)
    mql = result.evaluations[0].mql
    assert mql.recall == mql.true_positives / result.population["converted"] == 0.5
    assert ("MQL: precision = converted among the selected / selected; "
            "recall = converted among the selected / all converted") in text
    assert "recall = selected / converted" not in text
    assert re.search(r"  recall +50\.0%", text)
    fractional = [b.converted for b in result.evaluations[0].deciles if b.converted % 1]
    assert fractional  # ties straddle deciles in this population
    assert "equal scores straddle two deciles" in text
    first, other = result.evaluations
    assert result.as_dict()["warnings"] == [line[len("Warning: "):] for line in text.splitlines()
                                            if line.startswith("Warning: ")]
    assert (f"Warning: AUC {first.auc:.3f} (asof 1) and {other.auc:.3f} (random baseline) are "
            f"too close to call with 2 conversions") in text
    needed = conversions_to_separate(first.auc, other.auc, 2, first.contacts - 2)
    assert f"about {needed:,} conversions at this rate would" in text

"""What counts as converting: stages, a dated condition, a static label; and bad tables."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from scoring import ModelError, load
from scoring.backtest import backtest
from scoring.engine import epoch
from scoring.outcomes import DEFAULT, outcome

NOW = epoch(datetime(2026, 9, 1, tzinfo=timezone.utc))
DAY = 86400.0
STARTER = load()


def at(day: str) -> str:
    return f"{day}T00:00:00.000Z"


def test_the_default_is_entering_opportunity_or_customer_whichever_comes_first() -> None:
    contact = {"hs_v2_date_entered_customer": at("2026-10-01"),
               "hs_v2_date_entered_opportunity": at("2026-09-15")}
    assert outcome(None, STARTER) is DEFAULT and outcome({}, STARTER) is DEFAULT
    assert DEFAULT.converted_at(contact) == epoch(datetime(2026, 9, 15, tzinfo=timezone.utc))
    assert DEFAULT.within(contact, NOW, NOW + 13.9 * DAY) is False
    assert DEFAULT.within(contact, NOW, NOW + 14 * DAY) is True  # the end is in
    assert DEFAULT.already(contact, NOW, "lead") is False
    assert DEFAULT.already({}, NOW, "customer") is True  # undated, but there already
    assert DEFAULT.description == "entered opportunity or customer"


def test_any_stage_can_be_the_conversion() -> None:
    sql = outcome({"stages": ["salesqualifiedlead"]}, STARTER)
    contact = {"hs_v2_date_entered_salesqualifiedlead": at("2026-08-01")}
    assert sql.description == "entered salesqualifiedlead"
    assert sql.properties == ("hs_v2_date_entered_salesqualifiedlead",)
    assert sql.already(contact, NOW, "salesqualifiedlead") is True
    assert sql.already({}, NOW, "opportunity") is True   # later than the stage: past it
    assert sql.already({}, NOW, "marketingqualifiedlead") is False


def test_a_condition_dated_by_a_property() -> None:
    deal = outcome({"when": {"hs_lead_status": "OPEN_DEAL"}, "dated_by": "first_deal_date"},
                   STARTER)
    open_deal = {"hs_lead_status": "open_deal", "first_deal_date": at("2026-09-10")}
    assert deal.description == "hs_lead_status = 'OPEN_DEAL', dated by first_deal_date"
    assert deal.properties == ("first_deal_date", "hs_lead_status")
    assert deal.within(open_deal, NOW, NOW + 10 * DAY) is True  # equals ignores case
    assert deal.within({**open_deal, "hs_lead_status": "NEW"}, NOW, NOW + 10 * DAY) is False
    assert deal.within({"hs_lead_status": "OPEN_DEAL"}, NOW, NOW + 10 * DAY) is False  # undated
    assert deal.already(open_deal, NOW + 9 * DAY + 1, None) is True


def test_a_static_label_ignores_dates_and_the_window() -> None:
    label = outcome({"label": {"converted": "yes"}}, STARTER)
    assert label.static and label.description == "the static label converted = 'yes'"
    assert label.within({"converted": "Yes"}, NOW, NOW + DAY) is True
    assert label.within({"converted": "no"}, NOW, NOW + DAY) is False
    assert label.already({"converted": "yes", "hs_v2_date_entered_customer": at("2020-01-01")},
                         NOW, "customer") is False


@pytest.mark.parametrize("raw, message", [
    ({"stages": ["opportunity"], "label": {"x": "y"}},
     "leadsync.toml: [conversion]: label: say one of: stages = [...], when = {...} with "
     "dated_by, or label = {...}"),
    ({"stages": ["oportunity"]},
     "leadsync.toml: [conversion]: stages: 'oportunity' not among the stages subscriber, lead, "
     "marketingqualifiedlead, salesqualifiedlead, opportunity, customer, evangelist"),
    ({"when": {"hs_lead_status": "OPEN_DEAL"}},
     "leadsync.toml: [conversion]: dated_by: is required with when: the date property that "
     "says when the condition became true (without one, write label = {...}: a static label)"),
    ({"label": {"converted": "yes"}, "dated_by": "createdate"},
     "leadsync.toml: [conversion]: dated_by: a label has no date; for a dated conversion write "
     "when = {...} with dated_by"),
    ({"when": {"jobtitel": "x"}, "dated_by": "createdate"},
     "leadsync.toml: [conversion]: when.jobtitel: unknown contact property 'jobtitel'; did you "
     "mean 'jobtitle'?"),
    ({"when": {"hs_lead_status": "x"}, "dated_by": "hs_email_click"},
     "leadsync.toml: [conversion]: dated_by: 'hs_email_click' is not a date property"),
])
def test_a_bad_conversion_table_names_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ModelError) as caught:
        outcome(raw, STARTER)
    assert str(caught.value).splitlines()[0] == message


def test_backtest_measures_the_configured_conversion() -> None:
    created = {"createdate": at("2026-01-01")}
    rows = [("1", {**created, "hs_v2_date_entered_salesqualifiedlead": at("2026-09-05")}, [],
             None),
            ("2", {**created, "hs_v2_date_entered_opportunity": at("2026-09-05")}, [], None),
            ("3", created, [], None)]
    moment = datetime(2026, 9, 1, tzinfo=timezone.utc)
    default = backtest(rows, [STARTER], moment, 30)
    sql = backtest(rows, [STARTER], moment, 30,
                   conversion=outcome({"stages": ["salesqualifiedlead"]}, STARTER))
    assert default.scores["converted"] == [False, True, False]
    assert sql.scores["converted"] == [True, False, False]
    assert sql.as_dict()["conversion"] == "entered salesqualifiedlead"
    label = backtest([(i, {**c, "converted": "yes" if i == "3" else "no"}, e, co)
                      for i, c, e, co in rows], [STARTER], moment, 30,
                     conversion=outcome({"label": {"converted": "yes"}}, STARTER))
    assert label.scores["converted"] == [False, False, True]
    assert label.limitations[-1].startswith("Conversion is a static label without a date")

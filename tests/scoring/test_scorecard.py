"""From coefficients to whole points on a stated scale, and the TOML a learned rule reads as."""
from __future__ import annotations

import math
from datetime import datetime, timezone

from scoring import loads
from scoring.batch import batch_scorer, chunk_of
from scoring.features import Candidate, current_only, frequent_values, nice, quantile_bands
from scoring.scorecard import Scale, points_from, rule_text, suggest, toml_value
from scoring.tables import Band

SOURCE = Candidate("Lead source", "fit", "generated", {"property": "hs_analytics_source"},
                   values=("ORGANIC_SEARCH", "PAID_SEARCH", "OFFLINE"), other=True, missing=True)
MEETINGS = Candidate("Meetings in the last 30 days", "engagement", "generated",
                     {"event": "meeting", "count": "each", "window_days": 30}, units=3)
AS_OF = datetime(2026, 9, 3, tzinfo=timezone.utc)


def test_twenty_points_double_the_odds() -> None:
    scale = Scale(20)
    assert scale.factor == 20 / math.log(2)
    assert scale.odds_ratio(20) == 2.0 and scale.odds_ratio(-40) == 0.25


def test_a_complete_value_map_is_shifted_so_else_is_worth_nothing() -> None:
    per = 1 / Scale(20).factor  # one point, in log-odds
    coefficients = {"Lead source: ORGANIC_SEARCH": 12.4 * per, "Lead source: PAID_SEARCH": 2 * per,
                    "Lead source: OFFLINE": 1.6 * per, "Lead source: (any other value)": 2 * per,
                    "Lead source: (missing)": -3 * per, "Meetings in the last 30 days": 7.5 * per}
    touched = {k: 10 for k in coefficients}
    points = points_from(coefficients, [SOURCE, MEETINGS], touched, Scale(20))
    assert points == {"Lead source: ORGANIC_SEARCH": 10, "Lead source: PAID_SEARCH": 0,
                      "Lead source: OFFLINE": 0, "Lead source: (any other value)": 0,
                      "Lead source: (missing)": -5, "Meetings in the last 30 days": 8}
    # A row no training contact fell in learned nothing: 0, whatever the shift.
    untouched = points_from(coefficients, [SOURCE], {**touched, "Lead source: OFFLINE": 0},
                            Scale(20))
    assert untouched["Lead source: OFFLINE"] == 0
    assert rule_text(SOURCE, points) == "\n".join([
        "[[fit.rules]]", 'name = "Lead source"', 'property = "hs_analytics_source"',
        "missing = -5", "[fit.rules.points_by_value]", "ORGANIC_SEARCH = 10"])
    assert rule_text(MEETINGS, points) == "\n".join([
        "[[engagement.rules]]", 'name = "Meetings in the last 30 days"', 'event = "meeting"',
        'count = "each"', "window_days = 30", "points = 8", "cap = 24  # 3 at most"])
    assert rule_text(MEETINGS, {}) is None  # worth nothing: dropped


def test_bands_keep_their_edges_and_a_gap_says_what_it_gets() -> None:
    age = Candidate("Contact age", "engagement", "generated", {"days_since": "createdate"},
                    bands=(Band(None, 30.0, 1), Band(30.0, 90.0, 1), Band(90.0, None, 1)),
                    missing=True)
    assert age.complete
    points = {"Contact age: under 30": 14, "Contact age: 30 to under 90": 0,
              "Contact age: 90 or more": -6}
    text = rule_text(age, points)
    assert text == "\n".join([
        "[[engagement.rules]]", 'name = "Contact age"', 'days_since = "createdate"',
        "# a value in no band gets nothing from this rule", "bands = [",
        "  { below = 30, points = 14 },", "  { from = 90, points = -6 },", "]"])
    model = loads('[model]\nname = "t"\nversion = "1"\n\n' + text)
    contacts = [{"createdate": "2026-08-20"}, {"createdate": "2026-07-01"},
                {"createdate": "2026-01-01"}, {"createdate": "2026-12-01"}, {}]
    scores = batch_scorer(model, AS_OF).score(chunk_of(contacts, [[]] * 5, [None] * 5))
    assert scores.total == [14.0, 0.0, -6.0, 0.0, 0.0]


def test_toml_values_round_trip_through_the_loader() -> None:
    when = {"jobtitle": {"matches": "(?i)\\b(vp|chief)\\b"}, "company": {"industry": ["A", "B"]},
            "any": [{"hs_email_optout": True}, {"createdate": {"gte": 1.5}}]}
    assert toml_value(when) == ('{ jobtitle = { matches = "(?i)\\\\b(vp|chief)\\\\b" }, '
                                'company = { industry = ["A", "B"] }, any = [{ hs_email_optout'
                                ' = true }, { createdate = { gte = 1.5 } }] }')
    assert toml_value({"Salt Lake City": 3, "a.b": 1}) == '{ "Salt Lake City" = 3, "a.b" = 1 }'


def test_thresholds_come_from_the_validation_scores() -> None:
    fit = list(range(10))
    t = suggest(fit, [0] * 10, list(range(100)), wanted=7)
    assert (t.fit_a, t.fit_b) == (8, 5)          # top 20%, next 30%
    assert (t.engagement_one, t.engagement_two) == (1, 0)  # A above B even when all tie
    assert t.mql == 93 and t.mql_basis == "the score of the 7th best validation contact"
    assert suggest(fit, fit, list(range(100)), None).mql == 90


def test_candidates_helpers() -> None:
    assert nice(1234) == 1200 and nice(0.4567) == 0.46 and nice(7) == 7
    bands = quantile_bands(list(range(100)))
    assert [(b.low, b.high) for b in bands] == [(None, 20.0), (20.0, 40.0), (40.0, 60.0),
                                                (60.0, 80.0), (80.0, None)]
    assert quantile_bands([5] * 100) is None
    from collections import Counter
    values = Counter({"Germany": 30, "germany": 25, "France": 21, "Spain": 3})
    assert frequent_values(values, rows=100) == ("Germany", "France")
    assert current_only("hs_email_click") and current_only("recent_conversion_date")
    assert current_only("company.num_associated_contacts")
    assert current_only("hs_email_last_open_date")
    assert not current_only("jobtitle") and not current_only("first_conversion_date")

"""The engine's arithmetic: decay, frequencies, caps in order, rounding, grades, inactivity."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from scoring import InputError, Reason, event, loads, score

AS_OF = datetime(2026, 11, 22, tzinfo=timezone.utc)
HEAD = '[model]\nname = "t"\nversion = "1"\n'


def ago(days: float) -> datetime:
    return AS_OF - timedelta(days=days)


def meeting(days: float, outcome: str = "COMPLETED"):
    return event("meeting", ago(days), {"hs_meeting_outcome": outcome})


def engagement_model(rule: str, section: str = "") -> str:
    return f"{HEAD}[engagement]\n{section}\n[[engagement.rules]]\nname = \"r\"\n{rule}\n"


def points(rule: str, events=(), contact=None, section: str = "") -> tuple[float, tuple]:
    model = loads(engagement_model(rule, section))
    result = score(contact or {}, list(events), None, model, AS_OF)
    return result.engagement, result.reasons


# --- decay ------------------------------------------------------------------------------

@pytest.mark.parametrize("age, expected", [(0, 20.0), (10, 10.0), (20, 5.0), (5, 14.1)])
def test_half_life_halves_points_every_half_life(age: float, expected: float) -> None:
    rule = 'event = "meeting"\npoints = 20\nhalf_life_days = 10'
    assert points(rule, [meeting(age)])[0] == expected


def test_section_half_life_is_the_default_and_zero_turns_decay_off() -> None:
    section = "half_life_days = 10"
    assert points('event = "meeting"\npoints = 20', [meeting(10)], section=section)[0] == 10.0
    assert points('event = "meeting"\npoints = 20\nhalf_life_days = 0', [meeting(10)],
                  section=section)[0] == 20.0
    assert points('event = "meeting"\npoints = 20\nhalf_life_days = 20', [meeting(20)],
                  section=section)[0] == 10.0


def test_negative_points_decay_towards_zero() -> None:
    rule = 'event = "meeting"\npoints = -8\nhalf_life_days = 7'
    assert points(rule, [meeting(14, "NO_SHOW")])[0] == -2.0


# --- frequencies and windows --------------------------------------------------------------

def test_once_counts_the_most_recent_matching_event() -> None:
    rule = 'event = "meeting"\npoints = 20\nhalf_life_days = 10\ncount = "once"'
    value, reasons = points(rule, [meeting(20), meeting(10), meeting(30)])
    assert value == 10.0
    assert reasons == (Reason("r", "engagement", 10.0, 1),)


def test_each_counts_every_matching_event() -> None:
    rule = 'event = "meeting"\npoints = 20\nhalf_life_days = 10\ncount = "each"'
    value, reasons = points(rule, [meeting(0), meeting(10), meeting(20)])
    assert value == 35.0
    assert reasons == (Reason("r", "engagement", 35.0, 3),)


def test_daily_counts_one_event_per_utc_day_the_latest_of_each() -> None:
    rule = 'event = "meeting"\npoints = 10\ncount = "daily"'
    day = [event("meeting", "2026-11-20T08:00:00Z"), event("meeting", "2026-11-20T17:00:00Z"),
           event("meeting", "2026-11-21T23:59:00Z")]
    assert points(rule, day) == (20.0, (Reason("r", "engagement", 20.0, 2),))


def test_daily_decay_uses_each_days_latest_event() -> None:
    rule = 'event = "meeting"\npoints = 16\ncount = "daily"\nhalf_life_days = 1'
    day = [event("meeting", "2026-11-20T00:00:00Z"), event("meeting", "2026-11-20T23:59:59Z")]
    # the later event is 1 day + 1 s old: 16 * 0.5 ** (86401 / 86400) = 7.9999
    assert points(rule, day)[0] == 8.0


def test_window_excludes_older_events_and_future_events_never_count() -> None:
    rule = 'event = "meeting"\npoints = 5\ncount = "each"\nwindow_days = 30'
    value, reasons = points(rule, [meeting(30), meeting(30.01), meeting(-1)])
    assert (value, reasons[0].occurrences) == (5.0, 1)


def test_where_filters_events_of_the_rules_kind_only() -> None:
    rule = 'event = "meeting"\nwhere = { hs_meeting_outcome = "COMPLETED" }\npoints = 5\ncount = "each"'
    events = [meeting(1), meeting(2, "NO_SHOW"), event("call", ago(1), {"hs_meeting_outcome": "COMPLETED"})]
    assert points(rule, events)[0] == 5.0


def test_property_rule_counts_once_without_decay() -> None:
    rule = 'when = { hs_email_click = { gte = 3 } }\npoints = 6'
    assert points(rule, contact={"hs_email_click": "7"}, section="half_life_days = 1")[0] == 6.0


def test_dated_property_rule_decays_and_respects_its_window() -> None:
    rule = ('when = { recent_conversion_event_name = { contains = "demo" } }\n'
            'dated_by = "recent_conversion_date"\nwindow_days = 30\nhalf_life_days = 10\npoints = 30')
    demo = {"recent_conversion_event_name": "Demo request"}
    assert points(rule, contact={**demo, "recent_conversion_date": "2026-11-12T00:00:00Z"})[0] == 15.0
    assert points(rule, contact={**demo, "recent_conversion_date": "2026-10-22T00:00:00Z"})[0] == 0
    assert points(rule, contact={**demo, "recent_conversion_date": "2026-11-23T00:00:00Z"})[0] == 0
    assert points(rule, contact=demo)[0] == 0


def test_each_on_a_property_rule_multiplies_by_the_per_property() -> None:
    rule = ('when = { hs_analytics_num_page_views = { gte = 1 } }\n'
            'per = "hs_analytics_num_page_views"\ncount = "each"\npoints = 0.5')
    value, reasons = points(rule, contact={"hs_analytics_num_page_views": "7"})
    assert (value, reasons) == (3.5, (Reason("r", "engagement", 3.5, 7),))


# --- caps, in their documented order --------------------------------------------------------

def test_rule_cap_bounds_the_rule_after_decay() -> None:
    rule = 'event = "meeting"\npoints = 10\ncount = "each"\ncap = 25\nhalf_life_days = 10'
    assert points(rule, [meeting(0), meeting(0), meeting(0)])[0] == 25.0
    assert points(rule, [meeting(10), meeting(10), meeting(10)])[0] == 15.0


def test_rule_cap_bounds_penalties_from_below() -> None:
    rule = 'event = "meeting"\npoints = -10\ncount = "each"\ncap = 15'
    assert points(rule, [meeting(0)] * 3)[0] == -15.0


def test_section_max_applies_after_rule_caps_and_is_reported() -> None:
    model = loads(HEAD + """
[fit]
max = 30
[[fit.rules]]
name = "a"
when = { jobtitle = { exists = true } }
points = 25
cap = 20
[[fit.rules]]
name = "b"
when = { country = { exists = true } }
points = 15
""")
    result = score({"jobtitle": "x", "country": "y"}, [], None, model, AS_OF)
    assert result.fit == 30
    assert result.reasons == (Reason("a", "fit", 20.0, 1), Reason("b", "fit", 15.0, 1),
                              Reason("fit capped at 30", "fit", -5.0, 0))


def test_section_min_and_total_bounds() -> None:
    model = loads(HEAD.replace('version = "1"\n', 'version = "1"\nmin = 0\nmax = 40\n') + """
[fit]
min = -10
[[fit.rules]]
name = "student"
when = { jobtitle = "student" }
points = -30
[[engagement.rules]]
name = "meetings"
event = "meeting"
points = 25
count = "each"
""")
    student = score({"jobtitle": "Student"}, [], None, model, AS_OF)
    assert (student.fit, student.total) == (-10, 0)
    assert student.reasons == (Reason("student", "fit", -30.0, 1),
                               Reason("fit floored at -10", "fit", 20.0, 0),
                               Reason("total floored at 0", "total", 10.0, 0))
    busy = score({}, [meeting(0), meeting(0)], None, model, AS_OF)
    assert (busy.engagement, busy.total) == (50, 40)
    assert busy.reasons[-1] == Reason("total capped at 40", "total", -10.0, 0)


def test_rules_are_rounded_before_summing_so_reasons_add_up() -> None:
    # each rule: 10 * 0.5 ** (1 / 7) = 9.057 -> 9.1; the section is 18.2, not round(18.11)
    rule = 'event = "meeting"\npoints = 10\nhalf_life_days = 7'
    model = loads(engagement_model(rule) + f'[[engagement.rules]]\nname = "r2"\n{rule}\n')
    result = score({}, [meeting(1)], None, model, AS_OF)
    assert [r.points for r in result.reasons] == [9.1, 9.1]
    assert result.engagement == result.total == 18.2


def test_score_does_not_depend_on_event_order() -> None:
    model = loads(engagement_model('event = "meeting"\npoints = 3.3\ncount = "each"\nhalf_life_days = 3'))
    events = [meeting(d) for d in (0.1, 0.7, 1.3, 2.9, 5.5, 8.1)]
    assert score({}, events, None, model, AS_OF) == score({}, events[::-1], None, model, AS_OF)


# --- grades --------------------------------------------------------------------------------

GRADED = HEAD + """
[[fit.rules]]
name = "fit"
when = { hs_email_open = { exists = true } }
points = 1
[[engagement.rules]]
name = "engaged"
when = { hs_email_click = { gte = 1 } }
per = "hs_email_click"
count = "each"
points = 1
[grades]
fit = { A = 30, B = 10 }
engagement = { 1 = 20, 2 = 5 }
"""


@pytest.mark.parametrize("fit, engagement, grade", [
    (30, 20, "A1"), (29, 19, "B2"), (10, 5, "B2"), (9, 4, "C3"), (0, 25, "C1"), (45, 0, "A3"),
])
def test_grade_is_fit_letter_times_engagement_number(fit: int, engagement: int, grade: str) -> None:
    model = loads(GRADED.replace("points = 1\n[[engagement", f"points = {fit}\n[[engagement"))
    contact = {"hs_email_open": "1", "hs_email_click": str(engagement)}
    assert score(contact, [], None, model, AS_OF).grade == grade


def test_no_grades_section_means_no_grade() -> None:
    assert score({}, [], None, loads(HEAD), AS_OF).grade is None


# --- inactivity -----------------------------------------------------------------------------

INACTIVE = HEAD + '[engagement]\nactivity = ["meeting", "recent_conversion_date"]\n[inactive]\nafter_days = 30\n'


@pytest.mark.parametrize("contact, events, inactive", [
    ({}, [meeting(31)], True),
    ({}, [meeting(29), meeting(40)], False),
    ({}, [event("note", ago(1)), meeting(31)], True),  # notes are not in `activity`
    ({"recent_conversion_date": "2026-11-01T00:00:00Z"}, [meeting(31)], False),
    ({"createdate": "2026-11-01T00:00:00Z"}, [], False),  # new, never engaged: not yet
    ({"createdate": "2026-01-01T00:00:00Z"}, [], True),
    ({}, [], True),
])
def test_inactive_after_n_days_without_engagement(contact: dict, events: list, inactive: bool) -> None:
    result = score(contact, events, None, loads(INACTIVE), AS_OF)
    assert result.inactive is inactive


def test_without_an_inactive_section_nobody_is_inactive() -> None:
    assert score({}, [], None, loads(HEAD), AS_OF).inactive is False


def test_days_since_last_engagement_is_reported() -> None:
    assert score({}, [meeting(2.25)], None, loads(INACTIVE), AS_OF).days_since_last_engagement == 2.2


# --- inputs ---------------------------------------------------------------------------------

def test_naive_as_of_is_refused() -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        score({}, [], None, loads(HEAD), datetime(2026, 11, 22))


def test_unknown_event_kind_is_refused() -> None:
    with pytest.raises(InputError, match="unknown event kind 'visit'"):
        event("visit", AS_OF)

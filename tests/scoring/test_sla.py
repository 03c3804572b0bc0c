"""Handoff SLAs, working hours and recycling: exact instants, engine and batch alike."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from scoring import ModelError, loads, score
from scoring.batch import batch_scorer, chunk_of
from scoring.engine import event
from scoring.hours import HoursError, parse_hours

UTC = timezone.utc
BERLIN = parse_hours({"start": "09:00", "end": "17:00", "days": "Mon-Fri",
                      "timezone": "Europe/Berlin"})


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


# ---- working hours ---------------------------------------------------------------------------

def test_friday_afternoon_plus_eight_working_hours_is_monday_afternoon() -> None:
    # Fri 2026-11-20 15:30 Berlin (14:30 UTC): 1.5 h left on Friday, 6.5 h on Monday.
    due = BERLIN.add(at("2026-11-20T14:30:00+00:00"), 8)
    assert iso(due) == "2026-11-23T14:30:00+00:00"  # Mon 15:30 Berlin


def test_a_saturday_start_waits_for_monday_opening() -> None:
    due = BERLIN.add(at("2026-11-21T10:00:00+00:00"), 2)
    assert iso(due) == "2026-11-23T10:00:00+00:00"  # Mon 11:00 Berlin


def test_ending_exactly_at_closing_time_stays_on_that_day() -> None:
    due = BERLIN.add(at("2026-11-20T07:00:00+00:00"), 8)  # Fri 08:00 Berlin: opens at 09:00
    assert iso(due) == "2026-11-20T16:00:00+00:00"  # Fri 17:00 Berlin, not Monday 09:00


def test_working_hours_follow_the_zone_across_the_clock_change() -> None:
    # Berlin leaves summer time on Sun 2026-10-25: 09:00 is 07:00 UTC on Fri, 08:00 UTC on Mon.
    due = BERLIN.add(at("2026-10-23T14:00:00+00:00"), 2)  # Fri 16:00 CEST
    assert iso(due) == "2026-10-26T09:00:00+00:00"  # Mon 10:00 CET


def test_working_time_between_two_instants_skips_the_weekend() -> None:
    spent = BERLIN.working_between(at("2026-11-20T14:30:00+00:00"),
                                   at("2026-11-23T14:30:00+00:00"))
    assert spent == timedelta(hours=8)


def test_days_read_ranges_lists_and_wrapping_weeks() -> None:
    assert parse_hours({"start": "08:00", "end": "12:00", "days": "Sun-Thu"}).days == \
        frozenset({6, 0, 1, 2, 3})
    assert parse_hours({"start": "08:00", "end": "12:00", "days": ["Mon", "Wed"]}).days == \
        frozenset({0, 2})


@pytest.mark.parametrize(("spec", "message"), [
    ({"start": "9", "end": "17:00"}, 'start: must be a time "HH:MM", got \'9\''),
    ({"start": "17:00", "end": "09:00"}, "end (09:00) must be after start (17:00)"),
    ({"start": "09:00", "end": "17:00", "days": "Mon-Fry"}, "days: 'fry' is not a day"),
    ({"start": "09:00", "end": "17:00", "timezone": "Mars/Olympus"}, "timezone: unknown time zone"),
])
def test_bad_working_hours_say_what_is_wrong(spec: dict, message: str) -> None:
    with pytest.raises(HoursError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_hours(spec)


# ---- the SLA on a contact --------------------------------------------------------------------

MODEL = """
[model]
name = "sla"
version = "1"

[fit]
[[fit.rules]]
name = "VP"
when = { jobtitle = { matches = "VP" } }
points = 60

[stages]
[stages.lead]
when = { email = { exists = true } }
[stages.marketingqualifiedlead]
when = { score = { gte = 50 } }
allow_demotion = true

[sla.marketingqualifiedlead]
within_hours = 8
working_hours = { start = "09:00", end = "17:00", days = "Mon-Fri", timezone = "Europe/Berlin" }

[[recycle]]
name = "Never touched by sales"
from = "marketingqualifiedlead"
to = "lead"
no_touch_within_days = 14

[[recycle]]
name = "Rejected by sales"
from = "marketingqualifiedlead"
to = "lead"
when = { hs_lead_status = "UNQUALIFIED" }
"""
ENTERED = "2026-11-20T14:30:00.000Z"  # Friday 15:30 in Berlin: due Monday 15:30 (14:30 UTC)


def mql(**extra: str) -> dict:
    return {"id": "1", "email": "vp@acme.io", "jobtitle": "VP Sales",
            "lifecyclestage": "marketingqualifiedlead", "hubspot_owner_id": "7",
            "hs_v2_date_entered_marketingqualifiedlead": ENTERED, **extra}


def both(contact: dict, events: list, as_of: datetime):
    """The engine's score, after checking the batch scorer gives the same, field by field."""
    model = loads(MODEL)
    single = score(contact, events, None, model, as_of)
    chunked = batch_scorer(model, as_of).score(chunk_of([contact], [events], [None])).score(0)
    assert chunked == single
    return single


def test_met_in_time_records_when_and_by_whom() -> None:
    call = event("call", "2026-11-23T09:15:00Z", {"hubspot_owner_id": "7"})
    result = both(mql(), [call], datetime(2026, 11, 24, tzinfo=UTC))
    f = result.followup
    assert (f.status, iso(f.started_at), iso(f.due_at), iso(f.met_at), f.met_by,
            f.breached_since) == ("met", "2026-11-20T14:30:00+00:00",
                                  "2026-11-23T14:30:00+00:00", "2026-11-23T09:15:00+00:00", "7",
                                  None)


def test_breached_since_the_deadline_when_nobody_touched_it() -> None:
    result = both(mql(), [], datetime(2026, 11, 23, 14, 30, 1, tzinfo=UTC))
    assert (result.followup.status, iso(result.followup.breached_since)) == (
        "breached", "2026-11-23T14:30:00+00:00")
    assert both(mql(), [], datetime(2026, 11, 23, 14, 30, tzinfo=UTC)).followup.status == "pending"


def test_met_late_keeps_the_breach_and_the_late_touch() -> None:
    email = event("email", "2026-11-24T08:00:00Z", {"hubspot_owner_id": "7",
                                                    "hs_email_direction": "EMAIL"})
    f = both(mql(), [email], datetime(2026, 11, 25, tzinfo=UTC)).followup
    assert (f.status, iso(f.met_at), f.met_by, iso(f.breached_since)) == (
        "met_late", "2026-11-24T08:00:00+00:00", "7", "2026-11-23T14:30:00+00:00")


def test_only_the_owners_outgoing_touches_count() -> None:
    events = [event("call", "2026-11-23T09:00:00Z", {"hubspot_owner_id": "8"}),      # not the owner
              event("email", "2026-11-23T09:00:00Z", {"hubspot_owner_id": "7",
                                                      "hs_email_direction": "INCOMING_EMAIL"}),
              event("note", "2026-11-23T09:00:00Z", {"hubspot_owner_id": "7"}),      # not a touch
              event("meeting", "2026-11-19T09:00:00Z", {"hubspot_owner_id": "7"})]   # before MQL
    assert both(mql(), events, datetime(2026, 11, 24, tzinfo=UTC)).followup.status == "breached"


def test_a_new_owner_gets_a_fresh_clock() -> None:
    contact = mql(hubspot_owner_id="9", hubspot_owner_assigneddate="2026-11-24T08:00:00Z")
    f = both(contact, [], datetime(2026, 11, 24, 9, tzinfo=UTC)).followup
    assert (f.owner, iso(f.started_at), iso(f.due_at), f.status) == (
        "9", "2026-11-24T08:00:00+00:00", "2026-11-24T16:00:00+00:00", "pending")


def test_no_sla_without_the_stage_entry_date_or_at_another_stage() -> None:
    as_of = datetime(2026, 11, 24, tzinfo=UTC)
    contact = mql()
    del contact["hs_v2_date_entered_marketingqualifiedlead"]
    assert both(contact, [], as_of).followup is None
    assert both(mql(lifecyclestage="customer"), [], as_of).followup is None


# ---- recycling -------------------------------------------------------------------------------

def test_an_mql_nobody_touched_in_14_days_goes_back_to_lead_with_the_reason() -> None:
    as_of = datetime(2026, 12, 4, 14, 31, tzinfo=UTC)  # 14 days and a minute after entering
    result = both(mql(), [], as_of)
    assert (result.stage, result.stage_change, result.followup) == ("lead", "demote", None)
    assert result.reasons[-1] == ("Recycled: Never touched by sales", "stage", 0.0, 1)
    before = both(mql(), [], as_of - timedelta(minutes=2))
    assert (before.stage, before.stage_change) == ("marketingqualifiedlead", "none")


def test_a_recycled_lead_is_not_promoted_again_until_it_engages() -> None:
    recycled = mql(lifecyclestage="lead")
    as_of = datetime(2026, 12, 10, tzinfo=UTC)
    held = both(recycled, [], as_of)
    assert (held.stage, held.stage_change, held.matched_stage) == ("lead", "none",
                                                                   "marketingqualifiedlead")
    assert held.reasons[-1].rule == "Recycled: Never touched by sales"
    replied = event("email", "2026-12-08T10:00:00Z", {"hs_email_direction": "INCOMING_EMAIL"})
    back = both(recycled, [replied], as_of)
    assert (back.stage, back.stage_change) == ("marketingqualifiedlead", "promote")


def test_a_touch_within_the_days_keeps_the_mql() -> None:
    call = event("call", "2026-12-01T10:00:00Z", {"hubspot_owner_id": "7"})
    result = both(mql(), [call], datetime(2026, 12, 20, tzinfo=UTC))
    assert (result.stage, result.stage_change) == ("marketingqualifiedlead", "none")


def test_unqualified_lead_status_recycles_at_once() -> None:
    result = both(mql(hs_lead_status="UNQUALIFIED"), [], datetime(2026, 11, 21, tzinfo=UTC))
    assert (result.stage, result.stage_change) == ("lead", "demote")
    assert result.reasons[-1].rule == "Recycled: Rejected by sales"


def test_recycling_never_touches_customers_or_later_stages() -> None:
    for stage in ("salesqualifiedlead", "customer"):
        result = both(mql(lifecyclestage=stage, hs_lead_status="UNQUALIFIED"), [],
                      datetime(2026, 12, 30, tzinfo=UTC))
        assert (result.stage, result.stage_change) == (stage, "none")
        assert not any(r.section == "stage" for r in result.reasons)


def test_recycling_needs_the_demotion_the_model_allows() -> None:
    text = MODEL.replace("allow_demotion = true\n", "")
    with pytest.raises(ModelError, match=r"recycle.*recycling moves contacts back from "
                                         r"marketingqualifiedlead: allow it with allow_demotion"):
        loads(text)


def test_sla_and_recycle_problems_name_the_field() -> None:
    text = MODEL.replace("within_hours = 8", "within_hours = -1").replace(
        'to = "lead"\nno_touch', 'to = "salesqualifiedlead"\nno_touch')
    with pytest.raises(ModelError) as caught:
        loads(text)
    message = str(caught.value)
    assert "[sla]: marketingqualifiedlead.within_hours: must be a positive number of hours, got -1" \
        in message
    assert "to: must be a stage leadsync manages" in message


def test_a_model_without_sla_scores_exactly_as_before() -> None:
    plain = loads(MODEL.split("[sla.marketingqualifiedlead]")[0])
    result = score(mql(), [], None, plain, datetime(2026, 12, 30, tzinfo=UTC))
    assert (result.stage, result.followup) == ("marketingqualifiedlead", None)
    assert plain.sla == () and plain.recycle == ()


def test_a_recycled_lead_keeps_the_reason_while_the_rule_holds() -> None:
    quiet = mql(lifecyclestage="lead", jobtitle="Analyst")  # scores too low to be promoted
    result = both(quiet, [], datetime(2026, 12, 10, tzinfo=UTC))
    assert (result.stage, result.stage_change) == ("lead", "none")
    assert result.reasons[-1].rule == "Recycled: Never touched by sales"

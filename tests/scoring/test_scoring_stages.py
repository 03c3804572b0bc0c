"""Lifecycle stages: forward only, never demote unless told, never touch later stages."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from scoring import loads, score

AS_OF = datetime(2026, 11, 22, tzinfo=timezone.utc)
BASE = """
[model]
name = "t"
version = "1"
[[engagement.rules]]
name = "opens"
when = { hs_email_open = { gte = 1 } }
per = "hs_email_open"
count = "each"
points = 1
[stages]
{stages}
[stages.subscriber]
when = { email = { exists = true } }
[stages.lead]
when = { score = { gte = 10 } }
[stages.marketingqualifiedlead]
when = { score = { gte = 50 }, grade = { in = ["C1", "C2"] } }
{mql}
[grades]
fit = { A = 40, B = 20 }
engagement = { 1 = 50, 2 = 10 }
"""


def model(stages: str = "", mql: str = ""):
    return loads(BASE.replace("{stages}", stages).replace("{mql}", mql))


def stage_of(current: str | None, opens: int, m=None) -> tuple[str | None, str, str | None]:
    contact = {"email": "a@b.co", "hs_email_open": str(opens)}
    if current is not None:
        contact["lifecyclestage"] = current
    result = score(contact, [], None, m or model(), AS_OF)
    return result.stage, result.stage_change, result.matched_stage


def test_outcome_names_are_usable_in_fit_rules_only_in_stages() -> None:
    with pytest.raises(Exception, match="score is only known after scoring"):
        loads('[model]\nname = "t"\nversion = "1"\n[[fit.rules]]\nname = "x"\n'
              'when = { score = { gte = 1 } }\npoints = 1\n')


@pytest.mark.parametrize("current, opens, expected", [
    (None, 0, ("subscriber", "promote", "subscriber")),      # empty stage gets the highest match
    ("", 60, ("marketingqualifiedlead", "promote", "marketingqualifiedlead")),
    ("subscriber", 15, ("lead", "promote", "lead")),
    ("lead", 50, ("marketingqualifiedlead", "promote", "marketingqualifiedlead")),
    ("lead", 15, ("lead", "none", "lead")),                    # unchanged
    ("marketingqualifiedlead", 15, ("marketingqualifiedlead", "none", "lead")),  # never demote
    ("lead", 0, ("lead", "none", "subscriber")),
    ("customer", 60, ("customer", "none", "marketingqualifiedlead")),  # customers stay customers
    ("salesqualifiedlead", 60, ("salesqualifiedlead", "none", "marketingqualifiedlead")),
    ("evangelist", 0, ("evangelist", "none", "subscriber")),
    ("other", 60, ("other", "none", "marketingqualifiedlead")),     # outside the order
    ("1234567", 60, ("1234567", "none", "marketingqualifiedlead")),  # a stage we do not know
])
def test_forward_only_by_default(current, opens, expected) -> None:
    assert stage_of(current, opens) == expected


def test_no_matching_condition_and_no_stage_stays_none() -> None:
    m = loads('[model]\nname = "t"\nversion = "1"\n[stages.lead]\nwhen = { email = { exists = true } }\n')
    result = score({}, [], None, m, AS_OF)
    assert (result.stage, result.stage_change, result.matched_stage) == (None, "none", None)


def test_model_wide_allow_demotion_demotes_within_managed_stages_only() -> None:
    m = model(stages="allow_demotion = true")
    assert stage_of("marketingqualifiedlead", 15, m) == ("lead", "demote", "lead")
    assert stage_of("lead", 0, m) == ("subscriber", "demote", "subscriber")
    assert stage_of("customer", 0, m) == ("customer", "none", "subscriber")


def test_per_stage_allow_demotion_only_lets_that_stage_go() -> None:
    m = model(mql="allow_demotion = true")
    assert stage_of("marketingqualifiedlead", 15, m) == ("lead", "demote", "lead")
    assert stage_of("lead", 0, m) == ("lead", "none", "subscriber")


def test_managed_stages_limit_what_is_set_and_what_is_touched() -> None:
    m = loads("""
[model]
name = "t"
version = "1"
[stages]
managed = ["lead", "salesqualifiedlead"]
allow_demotion = true
[stages.lead]
when = { email = { exists = true } }
[stages.salesqualifiedlead]
when = { hs_lead_status = "CONNECTED" }
""")
    def run(current, **props):
        result = score({"lifecyclestage": current, "email": "a@b.co", **props}, [], None, m, AS_OF)
        return result.stage, result.stage_change

    assert run("marketingqualifiedlead", hs_lead_status="CONNECTED") == ("salesqualifiedlead", "promote")
    assert run("marketingqualifiedlead") == ("lead", "demote")  # demotion was allowed model-wide
    assert run("opportunity", hs_lead_status="CONNECTED") == ("opportunity", "none")


def test_custom_stage_order_for_edited_portals() -> None:
    m = loads("""
[model]
name = "t"
version = "1"
[stages]
order = ["lead", "engaged", "marketingqualifiedlead", "customer"]
managed = ["lead", "engaged"]
[stages.engaged]
when = { hs_email_open = { gte = 1 } }
""")
    result = score({"lifecyclestage": "lead", "hs_email_open": "2"}, [], None, m, AS_OF)
    assert (result.stage, result.stage_change) == ("engaged", "promote")
    result = score({"lifecyclestage": "marketingqualifiedlead", "hs_email_open": "2"}, [], None, m, AS_OF)
    assert (result.stage, result.stage_change) == ("marketingqualifiedlead", "none")

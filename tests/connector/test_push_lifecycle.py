"""Lifecycle stage write-back: forward only, explicit demotions as clear-then-set, customers alone."""
from __future__ import annotations

import json

import pytest
from writeback_world import World, make_client

from cache.database import open_cache
from sandbox import Sandbox


@pytest.fixture(params=[False, True], ids=["backward-ignored", "backward-rejected"])
def world(tmp_path, request):
    with Sandbox(contacts=120, seed=4) as sb:
        sb.settings.reject_backward_lifecycle = request.param
        cache = open_cache(tmp_path / "leadsync.db")
        w = World(sb, cache, make_client(sb))
        w.setup()
        w.pull()
        yield w
        cache.close()


def at_stage(world: World, stage: str, count: int) -> list[str]:
    found = [i for i in world.live_ids() if world.stage(i) == stage][:count]
    assert len(found) == count, f"the seeded portal has fewer than {count} {stage}s"
    return found


def test_stages_move_forward_and_never_backward_without_the_model_saying_so(world):
    forward = at_stage(world, "lead", 3)
    backward = at_stage(world, "marketingqualifiedlead", 2)
    for contact_id in forward:
        world.score(contact_id, stage="marketingqualifiedlead")
    for contact_id in backward:
        world.score(contact_id, stage="lead")
    world.sb.reset_stats()
    summary = world.push()
    assert all(world.stage(i) == "marketingqualifiedlead" for i in forward + backward)
    assert summary.plan.by_transition() == {"lead → marketingqualifiedlead": 3}
    assert summary.plan.held["backward"] == 2
    assert summary.failed == [] and "400" not in world.sb.stats()["by_status"]
    sent = [json.loads(row[1]) for row in world.outbox()]
    assert [p.get("lifecyclestage") for p in sent if "lifecyclestage" in p] == ["marketingqualifiedlead"] * 3


def test_an_explicit_demotion_clears_then_sets_in_two_ordered_writes(world):
    world.demotable = ("marketingqualifiedlead",)
    demoted = at_stage(world, "marketingqualifiedlead", 2)
    for contact_id in demoted:
        world.score(contact_id, stage="lead")
    world.sb.reset_stats()
    summary = world.push()
    assert summary.plan.by_transition() == {
        "marketingqualifiedlead → lead (demote: clear, then set)": 2}
    assert [c.writes[1] for c in summary.plan.changes] == [{"lifecyclestage": "lead"}] * 2
    assert all(c.writes[0]["lifecyclestage"] == "" for c in summary.plan.changes)
    assert world.write_calls() == 2  # the clears in one batch, then the sets
    assert all(world.stage(i) == "lead" for i in demoted)
    rows = [(row[0], json.loads(row[1]).get("lifecyclestage"), row[2]) for row in world.outbox()]
    assert [r[1] for r in rows] == ["", "lead", "", "lead"]  # per contact: clear, then set
    assert {r[2] for r in rows} == {"done"}
    world.pull()
    world.sb.reset_stats()
    assert world.push().write_calls == 0


def test_customers_and_later_stages_are_never_touched(world):
    world.demotable = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
                       "opportunity", "customer", "evangelist")
    customers = at_stage(world, "customer", 2)
    for contact_id in customers:
        world.score(contact_id, stage="marketingqualifiedlead", total=12.0)
    summary = world.push()
    assert all(world.stage(i) == "customer" for i in customers)
    assert summary.plan.held["later-stage"] == 2
    assert all("lifecyclestage" not in json.loads(row[1]) for row in world.outbox())
    assert all(world.hubspot(i)["leadsync_score"] == "12" for i in customers)


def test_lifecycle_write_back_can_be_switched_off(world):
    lead = at_stage(world, "lead", 1)[0]
    world.score(lead, stage="marketingqualifiedlead")
    summary = world.push(policy=None)
    assert world.stage(lead) == "lead" and summary.plan.by_transition() == {}

"""Push plans only the contacts marked since their last push, and misses none (real HTTP)."""
from __future__ import annotations

import dataclasses

import pytest
from writeback_world import NAMES, SETTINGS, World, make_client

from cache import push_dirty
from cache.database import open_cache
from cache.write_plan import plan_push
from connector.push import push
from connector.setup import setup
from mappings.writeback import names_of
from sandbox import Sandbox


@pytest.fixture
def world(tmp_path):
    with Sandbox(contacts=120, seed=11) as sb:
        cache = open_cache(tmp_path / "leadsync.db")
        w = World(sb, cache, make_client(sb))
        w.setup()
        w.pull()
        for index, contact_id in enumerate(w.live_ids()):
            w.score(contact_id, total=30.0 + index % 40, grade=("A1", "B2", "C3")[index % 3])
        yield w
        cache.close()


def marked(world: World) -> set[str]:
    return {r[0] for r in world.cache.conn.execute("SELECT contact_id FROM push_dirty")}


def test_a_push_plans_only_contacts_marked_since_the_last_one(world):
    ids = world.live_ids()
    assert marked(world) == set(ids)  # every new score marks its contact
    world.push()
    assert marked(world) == set()
    world.pull()  # pulled rows changed (pulled_at): marked again, and planned to no change
    assert marked(world) == set(ids)
    world.sb.reset_stats()
    summary = world.push()
    assert (summary.plan.contacts, summary.plan.unchanged, world.write_calls()) == (0, len(ids), 0)
    assert marked(world) == set()
    changed = [ids[2], ids[40], ids[77]]
    for contact_id in changed:
        world.score(contact_id, total=99.0, grade="A1", changed_at="2026-11-03T00:00:00.000Z")
    assert marked(world) == set(changed)
    plan, _ = plan_push(world.cache, SETTINGS.write_back, world.policy())
    assert sorted(plan.dirty) == sorted(changed) and plan.unchanged == 0
    summary = world.push()
    assert sorted(c.contact_id for c in summary.plan.changes) == sorted(changed)
    assert world.write_calls() == 1 and marked(world) == set()
    world.assert_hubspot_has_desired_values()


def test_a_hubspot_edit_seen_by_a_pull_is_planned_and_corrected(world):
    ids = world.live_ids()
    world.push()
    world.pull()
    world.push()
    world.sb.portal.update("contacts", ids[5], {NAMES["grade"]: "C1"})  # a user edits HubSpot
    world.pull()  # (the pull's overlap re-reads our own recent writes too: marked, unchanged)
    assert ids[5] in marked(world)
    world.sb.reset_stats()
    summary = world.push()
    assert [c.contact_id for c in summary.plan.changes] == [ids[5]]
    assert world.hubspot(ids[5])[NAMES["grade"]] == world.scores[ids[5]].grade


def test_a_mark_renewed_while_its_contact_was_planned_survives(world):
    ids = world.live_ids()
    plan, _ = plan_push(world.cache, SETTINGS.write_back, world.policy())
    world.score(ids[0], total=77.0)  # rescored after the plan was read: a new mark
    with world.cache.transaction() as conn:
        push_dirty.clear(conn, plan.dirty.items())
    assert marked(world) == {ids[0]}


def test_new_property_names_from_setup_replan_every_contact(world):
    ids = world.live_ids()
    world.push()
    renamed = dataclasses.replace(SETTINGS.write_back, score="leadsync_score_v2")
    setup(world.cache, world.client, renamed, model_stages=world.managed)
    world.sb.reset_stats()
    summary = push(world.cache, world.client, renamed, world.policy())
    assert summary.contacts_written == len(ids)
    assert {c.contact_id for c in summary.plan.changes} == set(ids)
    assert all(set(c.new) == {"leadsync_score_v2"} for c in summary.plan.changes)
    assert all(world.hubspot(i)["leadsync_score_v2"] == world.hubspot(i)[NAMES["score"]]
               for i in ids)
    assert marked(world) == set()
    assert push_dirty.stored_plan_key(world.cache.conn) == push_dirty.plan_key(
        names_of(renamed), world.policy())


def test_full_check_finds_a_change_whose_mark_was_lost(world):
    ids = world.live_ids()
    world.push()
    world.score(ids[9], total=88.0)
    world.cache.conn.execute("DELETE FROM push_dirty")  # e.g. a hand edit of the cache
    world.sb.reset_stats()
    assert world.push().plan.contacts == 0 and world.write_calls() == 0
    summary = world.push(full_check=True)
    assert summary.full_check and [c.contact_id for c in summary.plan.changes] == [ids[9]]
    assert summary.plan.unchanged == len(ids) - 1
    assert world.hubspot(ids[9])[NAMES["score"]] == "88"


def test_a_dry_run_changes_no_mark(world):
    before = marked(world)
    plan, _ = plan_push(world.cache, SETTINGS.write_back, world.policy())
    assert plan.contacts == len(before) and marked(world) == before

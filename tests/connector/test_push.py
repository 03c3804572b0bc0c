"""Push against the sandbox over real HTTP: only what changed, exactly once, 207s and 400s."""
from __future__ import annotations

import json

import pytest
import requests
from writeback_world import NAMES, SETTINGS, World, make_client

from cache.database import open_cache
from cache.write_plan import plan_push
from foundation.errors import NotSetUp, TooManyChanges
from sandbox import Sandbox


@pytest.fixture
def world(tmp_path):
    with Sandbox(contacts=160, seed=5) as sb:
        cache = open_cache(tmp_path / "leadsync.db")
        w = World(sb, cache, make_client(sb))
        w.setup()
        w.pull()
        yield w
        cache.close()


def score_all(world: World, ids: list[str]) -> None:
    for index, contact_id in enumerate(ids):
        world.score(contact_id, total=40 + index % 9 + 0.25, fit=10 + index % 5,
                    engagement=30.25 + index % 4, grade=("A1", "B2", "C3")[index % 3],
                    inactive=index % 2 == 0)


def test_push_writes_exactly_the_desired_values_in_the_fewest_batches(world):
    ids = world.live_ids()
    score_all(world, ids)
    world.sb.reset_stats()
    summary = world.push()
    world.assert_hubspot_has_desired_values()
    assert summary.contacts_written == len(ids)
    assert world.write_calls() == -(-len(ids) // 100)
    assert world.sb.stats()["total"] == world.write_calls()
    assert summary.failed == [] and summary.unaccounted == 0
    assert {row[2] for row in world.outbox()} == {"done"}


def test_second_push_without_changes_makes_no_write_calls(world):
    score_all(world, world.live_ids())
    world.push()
    world.sb.reset_stats()
    assert world.push().write_calls == 0
    world.pull()  # now HubSpot's values come from the pull, not the ledger
    world.sb.reset_stats()
    summary = world.push()
    assert world.sb.stats()["total"] == 0
    assert summary.plan.contacts == 0


def test_three_changed_contacts_go_in_one_batch_with_only_their_changed_properties(world):
    ids = world.live_ids()
    score_all(world, ids)
    world.push()
    world.pull()
    a, b, c = ids[3], ids[10], ids[20]
    world.score(a, total=99.0, fit=10 + 3 % 5, engagement=30.25 + 3 % 4, grade="A1",
                inactive=False, changed_at="2026-11-02T00:00:00.000Z")
    world.sb.portal.update("contacts", b, {NAMES["grade"]: "C1"})  # someone edits HubSpot
    world.sb.portal.update("contacts", c, {NAMES["inactive"]: "false", NAMES["fit"]: "3"})
    world.pull()
    world.sb.reset_stats()
    world.push()
    assert world.write_calls() == 1
    rows = world.cache.conn.execute("SELECT contact_id, properties FROM outbox WHERE id > "
                                    "(SELECT MAX(id) - 3 FROM outbox) ORDER BY id").fetchall()
    sent = {contact: json.loads(props) for contact, props in rows}
    assert sent == {
        a: {NAMES["score"]: "99", NAMES["scored_at"]: "2026-11-02T00:00:00.000Z"},
        b: {NAMES["grade"]: world.scores[b].grade},
        c: {NAMES["inactive"]: "true", NAMES["fit"]: "10"},
    }
    world.assert_hubspot_has_desired_values()


def test_207_failures_are_listed_the_rest_written_and_retry_failed_sends_them(world):
    ids = world.live_ids()
    score_all(world, ids)
    bad = [ids[5], ids[42]]
    world.sb.faults.fail_records("contacts", bad, message="Contact is locked by an import")
    summary = world.push()
    assert sorted(f["contact_id"] for f in summary.failed) == sorted(bad)
    assert all(f["error"] == "VALIDATION_ERROR: Contact is locked by an import" and not f["retriable"]
               for f in summary.failed)
    assert summary.contacts_written == len(ids) - 2
    assert "2 contacts failed" in summary.render()
    for contact_id in bad:
        assert NAMES["score"] not in world.hubspot(contact_id)
    world.sb.reset_stats()
    again = world.push()  # without --retry-failed they wait: no call, and the plan says why
    assert world.write_calls() == 0 and again.plan.skipped["failed earlier"] == 2
    world.sb.faults.clear_records()
    retried = world.push(retry_failed=True)
    assert retried.contacts_written == 2 and retried.failed == []
    assert world.write_calls() == 1
    world.assert_hubspot_has_desired_values()


def test_retriable_per_input_errors_are_retried_in_the_same_run(world):
    ids = world.live_ids()[:10]
    score_all(world, ids)
    world.sb.faults.fail_records("contacts", [ids[0]], category="LOCKED", message="busy", status=423)
    summary = world.push()
    assert summary.failed == [{"contact_id": ids[0], "error": "LOCKED: busy", "retriable": True}]
    assert world.cache.conn.execute("SELECT attempts FROM outbox WHERE contact_id = ?",
                                    (ids[0],)).fetchone() == (3,)
    world.sb.faults.clear_records()
    # retriable failures need no flag: the next push resends them first
    assert world.push().contacts_written == 1
    world.assert_hubspot_has_desired_values()


def halvings(size: int, position: int) -> int:
    """How many times a batch of `size` is halved until the input at `position` is alone."""
    levels = 0
    while size > 1:
        levels += 1
        middle = size // 2
        if position < middle:
            size = middle
        else:
            size, position = size - middle, position - middle
    return levels


def test_a_batch_rejected_whole_naming_its_bad_values_costs_one_resend(world):
    grade = NAMES["grade"]
    # A portal admin deletes grade C3 after setup: every write of C3 now fails its whole batch,
    # and HubSpot's 400 names the property and the value, not the inputs.
    options = [o for o in world.sb.portal.catalogs["contacts"].get(grade).to_json()["options"]
               if o["value"] != "C3"]
    requests.patch(f"{world.sb.base_url}/crm/v3/properties/contacts/{grade}",
                   json={"options": options}, headers={"Authorization": f"Bearer {world.sb.token}"},
                   timeout=10).raise_for_status()
    ids = world.live_ids()
    score_all(world, ids)  # grades A1, B2, C3 in turn
    bad = sorted(c for index, c in enumerate(ids) if index % 3 == 2)
    world.sb.reset_stats()
    summary = world.push()
    batches = -(-len(ids) // 100)
    assert batches == 2 and world.write_calls() == 2 * batches  # rejected once, resent once
    assert (summary.rejected_named, summary.splits) == (batches, 0)
    reason = (f"INVALID_OPTION: {grade}: C3 was not one of the allowed options: "
              f"[A1, A2, A3, B1, B2, B3, C1, C2]")
    assert sorted(f["contact_id"] for f in summary.failed) == bad
    assert {(f["error"], f["retriable"]) for f in summary.failed} == {(reason, False)}
    lines = summary.render().splitlines()
    shown = [line for line in lines if line.startswith("  contact ") and reason in line]
    # the first ten failures in id order, whichever batch answered first
    assert shown == [f"  contact {c}: {reason}" for c in sorted(bad, key=int)[:10]]
    assert summary.contacts_written == len(ids) - len(bad)
    for contact_id in ids:
        have = world.hubspot(contact_id)
        if contact_id in bad:
            assert grade not in have and NAMES["score"] not in have
        else:
            assert have[grade] == world.scores[contact_id].grade
    # held back, without a call, until the cause is fixed and --retry-failed is given
    world.sb.reset_stats()
    assert world.push().plan.skipped["failed earlier"] == len(bad) and world.write_calls() == 0


def test_a_batch_rejected_whole_is_split_to_isolate_the_bad_record(world):
    world.sb.settings.reject_backward_lifecycle = True
    ids = [i for i in world.live_ids() if world.stage(i) in ("subscriber", "lead")][:40]
    score_all(world, ids)
    for contact_id in ids:
        world.score(contact_id, stage="marketingqualifiedlead")
    # A salesperson moves one contact on after our pull: our "forward" write is now backward.
    world.sb.portal.update("contacts", ids[17], {"lifecyclestage": "salesqualifiedlead"})
    world.sb.reset_stats()
    summary = world.push()
    assert [f["contact_id"] for f in summary.failed] == [ids[17]]
    assert "cannot move backward" in summary.failed[0]["error"]
    assert summary.contacts_written == 39
    assert world.stage(ids[17]) == "salesqualifiedlead"
    assert all(world.stage(i) == "marketingqualifiedlead" for i in ids if i != ids[17])
    # The 400 names the property and values every input writes, and the reason depends on the
    # contact's state in HubSpot: nothing names the bad input, so halves it is, down to one
    # record (40 → 20 → 10 → 5 → …), two calls per level after the first.
    levels = halvings(len(ids), sorted(ids).index(ids[17]))  # the plan goes in id-text order
    assert summary.rejected_named == 0 and summary.splits == levels
    assert world.write_calls() == 1 + 2 * levels


def test_guardrail_stops_before_anything_is_enqueued_or_sent(world):
    ids = world.live_ids()[:30]
    score_all(world, ids)
    world.sb.reset_stats()
    with pytest.raises(TooManyChanges, match=r"30 contacts, more than --max-changes 5;.*--max-changes 30"):
        world.push(max_changes=5)
    assert world.sb.stats()["total"] == 0 and world.outbox() == []
    assert world.push(max_changes=30).contacts_written == 30


def test_plan_makes_no_api_call(world):
    ids = world.live_ids()[:12]
    score_all(world, ids)
    world.sb.reset_stats()
    calls = world.client.counters.calls
    plan, backlog = plan_push(world.cache, SETTINGS.write_back, world.policy())
    assert world.sb.stats()["total"] == 0 and world.client.counters.calls == calls
    assert plan.contacts == 12 and backlog.resend == ()
    assert plan.by_property()[NAMES["score"]] == 12


def test_push_before_setup_explains_what_is_missing(tmp_path):
    with Sandbox(contacts=10, seed=1) as sb:
        cache = open_cache(tmp_path / "fresh.db")
        try:
            with pytest.raises(NotSetUp, match="run `leadsync setup` first"):
                World(sb, cache, make_client(sb)).push()
        finally:
            cache.close()


def test_contacts_archived_before_their_row_goes_out_are_skipped(world):
    from connector.push import PushSummary, contact_sender, entries

    ids = world.live_ids()[:5]
    score_all(world, ids)
    plan, _ = plan_push(world.cache, SETTINGS.write_back, world.policy())
    contact_sender(world.cache, world.client, PushSummary(plan), run_id=None,
                   concurrency=1).enqueue(entries(plan))  # a push that died right after enqueueing
    world.sb.portal.archive("contacts", ids[2])
    world.pull()
    world.sb.reset_stats()
    summary = world.push()
    assert summary.skipped == 1 and summary.contacts_written == 4
    assert [r[2] for r in world.outbox()] == ["done", "done", "skipped", "done", "done"]
    assert world.write_calls() == 1


def test_history_rows_get_pushed_at_when_their_values_arrive(world):
    ids = world.live_ids()[:3]
    score_all(world, ids)
    world.push()
    rows = world.cache.conn.execute("SELECT contact_id, pushed_at FROM score_history").fetchall()
    assert len(rows) == 3 and all(pushed for _, pushed in rows)
    world.score(ids[0], total=77.0, changed_at="2026-11-03T00:00:00.000Z")
    pending = world.cache.conn.execute("SELECT COUNT(*) FROM score_history WHERE pushed_at IS NULL").fetchone()
    assert pending == (1,)
    world.push()
    assert world.cache.conn.execute("SELECT COUNT(*) FROM score_history WHERE pushed_at IS NULL").fetchone() == (0,)


def test_a_write_stamps_only_the_history_rows_of_the_models_it_wrote(world):
    ids = world.live_ids()[:3]
    score_all(world, ids)
    # a shadow model with no properties scored the same contacts: its values are never written
    with world.cache.transaction() as conn:
        conn.executemany(
            "INSERT INTO score_history (contact_id, changed_at, as_of, model_name, model_version, "
            "trigger, new_total, model) VALUES (?, ?, ?, 'challenger', '1', 'score', 12, 'shadow')",
            [(c, "2026-11-01T09:00:00.000Z", "2026-11-01T09:00:00.000Z") for c in ids])
    world.push()
    rows = world.cache.conn.execute(
        "SELECT model, pushed_at IS NOT NULL, count(*) FROM score_history GROUP BY 1, 2 "
        "ORDER BY 1, 2").fetchall()
    assert rows == [("default", 1, 3), ("shadow", 0, 3)]
    stamped = world.cache.conn.execute("SELECT history_models FROM outbox").fetchall()
    assert stamped == [('["default"]',)] * 3

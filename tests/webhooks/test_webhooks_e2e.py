"""End to end over real HTTP: the sandbox's signed emitter → receiver → inbox → worker →
batch update in the sandbox. leadsync's own write comes back as webhooks and is dropped."""
from __future__ import annotations

import pytest
from webhook_world import WebhookWorld


def pushed_at(world: WebhookWorld, contact: str) -> str:
    return world.query("SELECT pushed_at FROM pushed WHERE contact_id = ? AND property = "
                       "'lifecyclestage'", (contact,))[0][0]


@pytest.fixture
def world(tmp_path):
    w = WebhookWorld.primed(str(tmp_path / "leadsync.db"))
    yield w
    w.close()


def test_demo_request_reaches_hubspot_as_new_score_and_stage_within_seconds(world):
    contact = world.candidates()[0]
    before = world.score(contact)
    world.emit_to(world.serve())
    world.start_worker()
    world.sb.reset_stats()

    world.sb.portal.demo_request(contact)
    took = world.wait_for(lambda: world.hubspot(contact).get("lifecyclestage")
                          == "marketingqualifiedlead", timeout=5)

    world.wait_for(world.settled)
    total, grade, stage = world.score(contact)
    assert stage == "marketingqualifiedlead" and total >= before[0] + 20
    assert world.hubspot(contact)["leadsync_score"] == f"{total:g}"
    assert world.hubspot(contact)["leadsync_grade"] == grade
    assert took < 3
    # One batch update: the echoes of leadsync's own write were recognised and dropped.
    assert world.write_calls() == 1
    assert {r[0] for r in world.query("SELECT object_id FROM inbox")} == {contact}
    rows = world.query("SELECT json_extract(payload, '$.propertyName'), status, error FROM inbox "
                       "ORDER BY id")
    form = {"recent_conversion_event_name", "recent_conversion_date", "num_conversion_events",
            "first_conversion_date", "first_conversion_event_name"}
    assert {name for name, status, _ in rows if status == "done"} <= form
    assert ("recent_conversion_event_name", "done", None) in rows
    echoes = [(name, status, error) for name, status, error in rows if name not in form]
    assert echoes == [
        (name, "dropped", f"echo: {name} is written only by leadsync")
        if name != "lifecyclestage" else
        (name, "dropped", "echo: leadsync pushed lifecyclestage='marketingqualifiedlead' at "
                          f"{pushed_at(world, contact)}")
        for name, _, _ in echoes]
    assert {"leadsync_score", "lifecyclestage"} <= {name for name, _, _ in echoes}
    assert world.history(contact) == [(before[0], total, "lead", "marketingqualifiedlead")]


def test_duplicated_deliveries_give_one_history_row_and_one_update(world):
    contact = world.candidates()[1]
    before = world.score(contact)
    world.emit_to(world.serve(), duplicate_rate=1.0)  # every delivery is sent twice
    world.start_worker()
    world.sb.reset_stats()

    world.sb.portal.demo_request(contact)
    world.wait_for(lambda: world.hubspot(contact).get("lifecyclestage") == "marketingqualifiedlead")
    world.wait_for(world.settled)

    assert [a.duplicate for a in world.sb.webhooks.attempts].count(True) >= 2
    total = world.score(contact)[0]
    assert world.history(contact) == [(before[0], total, "lead", "marketingqualifiedlead")]
    assert world.write_calls() == 1
    delivered = {e["eventId"] for e in world.sb.webhooks.delivered}
    assert world.query("SELECT count(*) FROM inbox") == [(len(delivered),)]  # each filed once

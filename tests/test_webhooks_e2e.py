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
    assert world.query("SELECT json_extract(payload, '$.propertyName'), status, error FROM inbox "
                       "ORDER BY id") == [
        ("recent_conversion_event_name", "done", None),
        ("recent_conversion_date", "done", None),
        ("num_conversion_events", "done", None),
        ("first_conversion_date", "done", None),
        ("first_conversion_event_name", "done", None),
        ("leadsync_engagement", "dropped", "echo: leadsync_engagement is written only by leadsync"),
        ("leadsync_grade", "dropped", "echo: leadsync_grade is written only by leadsync"),
        ("leadsync_reasons", "dropped", "echo: leadsync_reasons is written only by leadsync"),
        ("leadsync_score", "dropped", "echo: leadsync_score is written only by leadsync"),
        ("leadsync_scored_at", "dropped", "echo: leadsync_scored_at is written only by leadsync"),
        ("lifecyclestage", "dropped",
         f"echo: leadsync pushed lifecyclestage='marketingqualifiedlead' at {pushed_at(world, contact)}"),
    ]
    assert world.history(contact) == [(before[0], total, "lead", "marketingqualifiedlead")]

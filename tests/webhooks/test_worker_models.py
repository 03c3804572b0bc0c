"""The webhook worker with several models, against the sandbox: a contact's change rescores
it with every model, writes them in one call, and clears a segment it left."""
from __future__ import annotations

from dataclasses import replace

import pytest
from webhook_world import WebhookWorld, changed
from writeback_world import make_client

from flows.sync import run_setup, run_sync
from foundation import settings as settings_mod
from sandbox import Sandbox

CONFIG = """
[[models]]
name = "all"
prefix = "leadsync_all_"
drives_stages = true
[[models]]
name = "de"
prefix = "leadsync_de_"
applies_to = { country = { equals = "Germany" } }
[[models]]
name = "next"
prefix = "leadsync_next_"
shadow = true
write_back = true
"""


@pytest.fixture
def world(tmp_path):
    path = tmp_path / "leadsync.toml"
    path.write_text(CONFIG)
    sb = Sandbox(contacts=100, seed=11).start()
    settings = replace(settings_mod.load(path), base_url=sb.base_url)
    db = str(tmp_path / "leadsync.db")
    client = make_client(sb)
    run_setup(db, settings, lambda: client)
    run_sync(db, settings, lambda: client, quiet=True)
    w = WebhookWorld(sb, db, settings)
    w.open_worker()
    yield w
    w.close()


def scored_by(world: WebhookWorld, model: str) -> set[str]:
    return {r[0] for r in world.query("SELECT contact_id FROM scores WHERE model = ?", (model,))}


def test_a_contact_moving_into_and_out_of_a_segment_is_rescored_by_every_model(world):
    german = sorted(scored_by(world, "de"), key=int)[0]
    other = sorted(scored_by(world, "all") - scored_by(world, "de"), key=int)[0]
    world.sb.portal.update("contacts", other, {"country": "Germany"})
    world.sb.portal.update("contacts", german, {"country": "Spain"})
    world.sb.reset_stats()
    world.file(changed(other, "country", "Germany"), changed(german, "country", "Spain"))

    [report] = world.worker.drain()

    assert (report.done, report.read, report.scored, report.written) == (2, 2, 2, 2)
    assert world.write_calls() == 1  # every model's properties of both contacts: one call
    assert other in scored_by(world, "de") and german not in scored_by(world, "de")
    moved_in, moved_out = world.hubspot(other), world.hubspot(german)
    total = world.query("SELECT total FROM scores WHERE contact_id = ? AND model = 'de'",
                        (other,))[0][0]
    assert moved_in["leadsync_de_score"] == f"{total:g}"
    # cleared: HubSpot keeps no value for a property written as ""
    assert [moved_out.get(f"leadsync_de_{key}") or "" for key in ("score", "grade", "reasons")] \
        == ["", "", ""]
    assert moved_out["leadsync_all_score"] not in ("", None)
    assert moved_out["leadsync_next_score"] not in ("", None)
    rows = world.query("SELECT contact_id, model, old_total IS NULL, new_total IS NULL, trigger "
                       "FROM score_history WHERE trigger = 'webhook' AND model = 'de' ORDER BY id")
    assert sorted(rows) == sorted([(other, "de", 1, 0, "webhook"),
                                   (german, "de", 0, 1, "webhook")])



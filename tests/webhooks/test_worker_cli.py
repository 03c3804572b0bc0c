"""`leadsync worker`: one-line errors, and --once processing what is due."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from webhook_world import WebhookWorld, changed

from cli import cli


@pytest.fixture
def world(tmp_path):
    w = WebhookWorld.primed(str(tmp_path / "leadsync.db"))
    yield w
    w.close()


def test_worker_before_setup_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "l.db"), "worker", "--once"],
                                env={"HUBSPOT_ACCESS_TOKEN": "t", "LEADSYNC_DB": None})
    assert result.exit_code == 2
    assert result.output == ("Error: the write-back properties are not set up in HubSpot; run "
                             "`leadsync setup` first (it creates them and reads the property "
                             "catalog)\n")


def test_worker_once_processes_what_is_due_and_exits(world, tmp_path):
    contact = world.candidates()[0]
    world.sb.portal.demo_request(contact)
    world.open_worker()
    world.file(changed(contact, "recent_conversion_event_name", "Demo request"),
               changed(contact, "leadsync_score", "1"))
    world.worker.close()
    world.worker = None

    result = CliRunner().invoke(cli, ["--db", world.db_path, "worker", "--once"], env={
        "HUBSPOT_ACCESS_TOKEN": world.sb.token, "LEADSYNC_BASE_URL": world.sb.base_url,
        "LEADSYNC_DB": None})

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "processed 2 events in 1 batches"
    assert lines[1].startswith("  2 events: 1 done, 1 dropped, 0 failed; 1 contacts read, ")
    assert world.hubspot(contact)["lifecyclestage"] == "marketingqualifiedlead"

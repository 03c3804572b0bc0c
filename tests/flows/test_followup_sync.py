"""Handoff SLAs and recycling through `leadsync setup` + `sync` against the sandbox over HTTP:
exact SLA timestamps in HubSpot, recycling only as the model says, a second sync writes nothing,
and a call logged by the owner clears a breach through the webhook worker within seconds."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from webhook_world import WebhookWorld
from writeback_world import BATCH_ROUTE, make_client

from cli import cli
from flows.sync import run_setup, run_sync
from foundation.settings import Settings
from sandbox import Sandbox

UTC = timezone.utc
MODEL = """
[model]
name = "handoff"
version = "1"

[fit]
[[fit.rules]]
name = "Leader"
when = { jobtitle = { matches = "(?i)\\\\b(vp|chief|head of|director)\\\\b" } }
points = 60

[stages]
[stages.subscriber]
when = { email = { exists = true } }
[stages.marketingqualifiedlead]
when = { score = { gte = 60 } }
allow_demotion = true

[sla.marketingqualifiedlead]
within_hours = {hours}
{working}

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
BERLIN = ('working_hours = { start = "09:00", end = "17:00", days = "Mon-Fri", '
          'timezone = "Europe/Berlin" }')
OWNER, OTHER = "41629701", "41629704"
ENTERED = "2026-11-20T14:30:00.000Z"  # Friday 15:30 in Berlin: 8 working hours → Mon 15:30
AS_OF = "2026-11-25T12:00:00+00:00"
STATUS = ("leadsync_sla_status", "leadsync_followup_due_at", "leadsync_sla_met_at",
          "leadsync_sla_breached", "lifecyclestage")


def model_file(tmp_path, hours: int = 8, working: str = BERLIN) -> str:
    path = tmp_path / "model.toml"
    path.write_text(MODEL.replace("{hours}", str(hours)).replace("{working}", working))
    return str(path)


def mql(sb: Sandbox, name: str, entered: str, **extra: str) -> str:
    """A VP at MQL since `entered`, owned by OWNER since then (an admin's edit: trusted)."""
    props = {"email": f"{name}@followup.example", "firstname": name, "jobtitle": "VP Sales",
             "lifecyclestage": "marketingqualifiedlead", "hubspot_owner_id": OWNER,
             "hs_v2_date_entered_marketingqualifiedlead": entered,
             "hubspot_owner_assigneddate": entered, **extra}
    return str(sb.portal.create("contacts", props).id)


def touch(sb: Sandbox, contact: str, kind: str, at: str, owner: str = OWNER, **extra: str) -> None:
    record = sb.portal.create(kind, {"hs_timestamp": at, "hubspot_owner_id": owner, **extra})
    sb.portal.associate(kind, record.id, "contacts", int(contact))


def hubspot(sb: Sandbox, contact: str) -> tuple:
    props = sb.portal.get("contacts", contact).properties
    return tuple(props.get(name, "") for name in STATUS)


def leadsync(sb: Sandbox, tmp_path, *args: str):
    config = tmp_path / "leadsync.toml"
    config.write_text(f'[scoring]\nmodel = "{tmp_path / "model.toml"}"\n')
    env = {"LEADSYNC_BASE_URL": sb.base_url, "HUBSPOT_ACCESS_TOKEN": sb.token}
    return CliRunner().invoke(cli, ["--config", str(config), "--db", str(tmp_path / "l.db"),
                                    *args], env=env, catch_exceptions=False)


@pytest.fixture
def sb():
    with Sandbox(contacts=120, seed=5, anchor=datetime(2026, 11, 23, tzinfo=UTC)) as sandbox:
        yield sandbox


def test_sla_met_breached_and_met_late_reach_hubspot_and_a_second_sync_writes_nothing(
        sb, tmp_path):
    model_file(tmp_path)
    met, breached, late = (mql(sb, n, ENTERED) for n in ("met", "breached", "late"))
    touch(sb, met, "calls", "2026-11-23T09:15:00.000Z", hs_call_status="NO_ANSWER")
    touch(sb, met, "calls", "2026-11-23T08:00:00.000Z", owner=OTHER)  # someone else's call
    touch(sb, breached, "emails", "2026-11-23T09:00:00.000Z", hs_email_direction="INCOMING_EMAIL")
    touch(sb, late, "emails", "2026-11-24T08:00:00.000Z", hs_email_direction="EMAIL")
    recycled = mql(sb, "recycled", "2026-11-01T10:00:00.000Z")
    rejected = mql(sb, "rejected", "2026-11-24T10:00:00.000Z", hs_lead_status="UNQUALIFIED")
    customer = mql(sb, "customer", "2026-10-01T10:00:00.000Z", lifecyclestage="customer",
                   hs_lead_status="UNQUALIFIED")

    assert leadsync(sb, tmp_path, "setup").exit_code == 0
    first = leadsync(sb, tmp_path, "sync", "--as-of", AS_OF, "--json")
    assert first.exit_code == 0, first.output

    due = "2026-11-23T14:30:00.000Z"
    assert hubspot(sb, met) == ("met", due, "2026-11-23T09:15:00.000Z", "false",
                                "marketingqualifiedlead")
    assert hubspot(sb, breached) == ("breached", due, "", "true", "marketingqualifiedlead")
    assert hubspot(sb, late) == ("met_late", due, "2026-11-24T08:00:00.000Z", "false",
                                 "marketingqualifiedlead")
    # Recycled: back to lead (HubSpot's clear-then-set), the SLA properties emptied.
    assert hubspot(sb, recycled) == ("", "", "", "", "lead")
    assert hubspot(sb, rejected) == ("", "", "", "", "lead")
    assert hubspot(sb, customer)[4] == "customer"
    history = leadsync(sb, tmp_path, "history", recycled, "--json")
    rows = json.loads(history.output)
    reasons = [r["rule"] for row in rows for r in row["reasons"]]
    assert "Recycled: Never touched by sales" in reasons
    # The first score is a change from nothing; HubSpot had the contact at MQL.
    assert [row["new_stage"] for row in rows] == ["lead"]

    sb.reset_stats()
    second = leadsync(sb, tmp_path, "sync", "--as-of", AS_OF, "--json")
    assert second.exit_code == 0, second.output
    assert sb.stats()["by_route"].get(BATCH_ROUTE, 0) == 0, json.loads(second.output)["push"]["plan"]["changes"]
    assert json.loads(second.output)["score"]["changed"] == 0
    assert hubspot(sb, recycled)[4] == "lead"  # not promoted back: it has not engaged since


def test_a_call_logged_by_the_owner_clears_the_breach_within_seconds(tmp_path):
    sb = Sandbox(contacts=60, seed=3).start()
    now = datetime.now(UTC)
    entered = (now - timedelta(days=2)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    contact = mql(sb, "waiting", entered)
    db = str(tmp_path / "leadsync.db")
    settings = Settings(base_url=sb.base_url, model_path=model_file(tmp_path, hours=4, working=""))
    client = make_client(sb)
    run_setup(db, settings, lambda: client)
    run_sync(db, settings, lambda: client, quiet=True)
    world = WebhookWorld(sb, db, settings)
    try:
        props = sb.portal.get("contacts", contact).properties
        assert (props["leadsync_sla_status"], props["leadsync_sla_breached"]) == ("breached",
                                                                                 "true")
        world.emit_to(world.serve())
        world.start_worker()
        called = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        touch(sb, contact, "calls", called, hs_call_status="COMPLETED")
        took = world.wait_for(lambda: world.hubspot(contact).get("leadsync_sla_breached")
                              == "false", timeout=5)
        assert took < 3
        props = world.hubspot(contact)
        assert (props["leadsync_sla_status"], props["leadsync_sla_met_at"]) == ("met_late",
                                                                               called)
    finally:
        world.close()

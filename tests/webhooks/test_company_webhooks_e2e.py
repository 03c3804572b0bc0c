"""Company scores through webhooks, end to end over real HTTP: a meeting booked by one
contact rescores that contact and its company, writes both to the sandbox, and leaves
history rows for both with the trigger; a company's own change rescores the company."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from webhook_world import WebhookWorld
from writeback_world import make_client

from flows.sync import run_setup, run_sync
from foundation.settings import Settings
from sandbox import Sandbox

COMPANY_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "company_model.toml"
COMPANY_ROUTE = "POST /crm/v3/objects/companies/batch/update"
# A contact whose engagement is low and whose primary company's roll-up has room to grow.
CANDIDATES = """
    SELECT s.contact_id, a.to_id FROM scores s
    JOIN associations a ON a.from_type = 'contacts' AND a.from_id = s.contact_id
      AND a.to_type = 'companies' AND a.type_id = 1
    JOIN company_scores cs ON cs.company_id = a.to_id
    WHERE s.engagement < 5 AND cs.engagement < 20 AND s.reasons NOT LIKE '%Meeting%'
    ORDER BY CAST(s.contact_id AS INTEGER)"""


@pytest.fixture
def world(tmp_path):
    sb = Sandbox(contacts=100, seed=11).start()
    settings = Settings(base_url=sb.base_url, company_model_path=str(COMPANY_MODEL))
    db = str(tmp_path / "leadsync.db")
    client = make_client(sb)
    run_setup(db, settings, lambda: client)
    run_sync(db, settings, lambda: client, quiet=True)
    w = WebhookWorld(sb, db, settings)
    yield w
    w.close()


def company_score(world: WebhookWorld, company: str) -> tuple:
    return world.query("SELECT total, grade FROM company_scores WHERE company_id = ?",
                       (company,))[0]


def test_a_booked_meeting_updates_the_contact_and_its_company_in_hubspot(world):
    contact, company = world.query(CANDIDATES)[0]
    before, company_before = world.score(contact), company_score(world, company)
    world.emit_to(world.serve())
    world.start_worker()
    world.sb.reset_stats()

    now = int(time.time() * 1000)
    world.sb.portal.create("meetings", {"hs_meeting_outcome": "SCHEDULED",
                                        "hs_timestamp": str(now), "hs_meeting_title": "Demo"},
                           associations=[("contacts", int(contact), False)])
    world.wait_for(lambda: company_score(world, company) != company_before, timeout=10)
    world.wait_for(world.settled)

    total, grade, _ = world.score(contact)
    assert total > before[0]
    company_total, company_grade = company_score(world, company)
    assert company_total > company_before[0]
    hubspot = dict(world.sb.portal.get("companies", company).properties)
    assert hubspot["leadsync_company_score"] == f"{company_total:g}"
    assert hubspot.get("leadsync_company_grade", "") == (company_grade or "")
    assert world.hubspot(contact)["leadsync_score"] == f"{total:g}"
    assert world.history(contact)[-1][:2] == (before[0], total)
    rows = world.query("SELECT old_total, new_total, trigger, pushed_at IS NOT NULL "
                       "FROM company_score_history WHERE company_id = ? AND trigger = 'webhook'",
                       (company,))
    assert rows == [(company_before[0], company_total, "webhook", 1)]
    assert world.sb.stats()["by_route"][COMPANY_ROUTE] == 1


def test_a_company_property_change_rescores_the_company(world):
    company = world.query("SELECT company_id FROM company_scores WHERE fit < 20 "
                          "ORDER BY CAST(company_id AS INTEGER)")[0][0]
    before = company_score(world, company)
    world.emit_to(world.serve(), subscriptions=["contact.propertyChange",
                                                "contact.associationChange",
                                                "company.propertyChange"])
    world.start_worker()
    world.sb.reset_stats()

    world.sb.portal.update("companies", company, {"hs_is_target_account": "true"})
    world.wait_for(lambda: company_score(world, company)[0] == before[0] + 15, timeout=10)
    world.wait_for(world.settled)

    hubspot = dict(world.sb.portal.get("companies", company).properties)
    assert hubspot["leadsync_company_score"] == f"{before[0] + 15:g}"
    statuses = world.query("SELECT json_extract(payload, '$.propertyName'), status, error "
                           "FROM inbox WHERE subscription_type = 'company.propertyChange'")
    assert ("hs_is_target_account", "done", None) in statuses
    echoes = [s for s in statuses if s[0].startswith("leadsync_company_")]
    assert echoes and all(s[1:] == ("dropped", f"echo: {s[0]} is written only by leadsync")
                          for s in echoes)

"""`/_sandbox/*`: change the portal as a user would, read the truth, turn the knobs."""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest
import requests

from sandbox import Sandbox

ANCHOR = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture
def sb():
    with Sandbox(contacts=60, seed=6, anchor=ANCHOR) as sandbox:
        yield sandbox


def admin(sb: Sandbox, method: str, path: str, **kw) -> requests.Response:
    return requests.request(method, f"{sb.base_url}/_sandbox{path}", **kw)


def api(sb: Sandbox, method: str, path: str, **kw) -> requests.Response:
    return requests.request(method, sb.base_url + path,
                            headers={"Authorization": f"Bearer {sb.token}"}, **kw)


def first_live(sb: Sandbox, object_type: str = "contacts") -> dict:
    return next(r for r in sb.portal.truth(object_type)
                if not r["archived"] and not r["mergedInto"])


def test_admin_calls_need_no_token_and_are_not_counted(sb):
    assert admin(sb, "GET", "/health").json()["ok"] is True
    assert sb.stats()["total"] == 0


def test_truth_lists_archived_and_merged_records_with_associations(sb):
    truth = admin(sb, "GET", "/truth/contacts").json()["results"]
    assert len(truth) == 60
    assert {"id", "properties", "createdAt", "updatedAt", "archived", "mergedInto",
            "associations"} <= set(truth[0])
    assert set(truth[0]["associations"]) == {"companies", "calls", "emails", "meetings",
                                             "notes", "tasks"}
    assert truth == sb.portal.truth("contacts")


def test_create_contact_with_company_then_edit_like_a_user(sb):
    company = first_live(sb, "companies")["id"]
    created = admin(sb, "POST", "/objects/contacts", json={
        "properties": {"email": "ada@example.com", "firstname": "Ada"},
        "associations": [{"type": "companies", "id": company, "primary": True}]}).json()
    contact = created["id"]
    assert created["properties"]["associatedcompanyid"] == company
    got = api(sb, "GET", f"/crm/v3/objects/contacts/{contact}",
              params={"associations": "companies"}).json()
    assert got["associations"]["companies"]["results"][0]["id"] == company
    before = created["properties"]["lastmodifieddate"]
    time.sleep(0.002)
    edited = admin(sb, "PATCH", f"/objects/contacts/{contact}",
                   json={"properties": {"jobtitle": "VP of Sales"}}).json()
    assert edited["properties"]["jobtitle"] == "VP of Sales"
    assert edited["properties"]["lastmodifieddate"] > before


def test_create_engagement_linked_to_a_contact(sb):
    contact = first_live(sb)["id"]
    meeting = admin(sb, "POST", "/objects/meetings", json={
        "properties": {"hs_timestamp": "2026-10-30T10:00:00Z",
                       "hs_meeting_outcome": "COMPLETED", "hs_meeting_title": "Demo"},
        "associations": [{"type": "contacts", "id": contact}]}).json()
    assert meeting["properties"]["hs_timestamp"] == "2026-10-30T10:00:00.000Z"
    links = api(sb, "POST", "/crm/v4/associations/contacts/meetings/batch/read",
                json={"inputs": [{"id": contact}]}).json()
    assert int(meeting["id"]) in [t["toObjectId"] for t in links["results"][0]["to"]]


def test_archive_restore_and_merge(sb):
    first, second = [r["id"] for r in sb.portal.truth("contacts")
                     if not r["archived"] and not r["mergedInto"]][:2]
    assert admin(sb, "POST", f"/objects/contacts/{first}/archive").json()["archived"] is True
    assert api(sb, "GET", f"/crm/v3/objects/contacts/{first}").status_code == 404
    assert admin(sb, "POST", f"/objects/contacts/{first}/restore").json()["archived"] is False
    survivor = admin(sb, "POST", "/objects/contacts/merge",
                     json={"primaryId": first, "mergedId": second}).json()
    assert survivor["properties"]["hs_merged_object_ids"] == second
    assert api(sb, "GET", f"/crm/v3/objects/contacts/{second}").json()["id"] == first


def test_associate_and_disassociate(sb):
    contact, company = first_live(sb)["id"], first_live(sb, "companies")["id"]
    body = {"fromType": "contacts", "fromId": contact, "toType": "companies", "toId": company}
    assert admin(sb, "POST", "/associations", json=body).json() in ({"changed": True},
                                                                     {"changed": False})
    assert int(company) in sb.portal.links.targets("contacts", int(contact), "companies")
    assert admin(sb, "DELETE", "/associations", json=body).json() == {"changed": True}
    assert int(company) not in sb.portal.links.targets("contacts", int(contact), "companies")


def test_demo_request_acts_like_a_form_submission(sb):
    contact = first_live(sb)
    before = int(contact["properties"].get("num_conversion_events", "0"))
    after = admin(sb, "POST", f"/contacts/{contact['id']}/demo-request").json()["properties"]
    assert after["recent_conversion_event_name"] == "Demo request"
    assert after["num_conversion_events"] == str(before + 1)
    assert after["recent_conversion_date"] == after["lastmodifieddate"]


def test_bulk_touch_gives_many_records_one_modified_date(sb):
    reply = admin(sb, "POST", "/objects/contacts/touch",
                  json={"count": 40, "at": "2026-11-01T12:00:00Z"}).json()
    assert reply["touched"] == 40
    found = api(sb, "POST", "/crm/v3/objects/contacts/search", json={
        "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "EQ",
                                       "value": "2026-11-01T12:00:00Z"}]}]}).json()
    assert found["total"] == 40


def test_settings_and_faults_over_http(sb):
    assert admin(sb, "PATCH", "/settings", json={"rate_limit": 5}).json()["rate_limit"] == 5
    assert api(sb, "GET", "/crm/v3/objects/contacts").headers["X-HubSpot-RateLimit-Max"] == "5"
    assert admin(sb, "PATCH", "/settings", json={"nope": 1}).status_code == 400
    rule = admin(sb, "POST", "/faults", json={"status": 502, "times": 1}).json()
    assert rule["status"] == 502
    assert api(sb, "GET", "/crm/v3/objects/contacts").status_code == 502
    assert admin(sb, "GET", "/faults").json()["rules"][0]["fired"] == 1
    contact = first_live(sb)["id"]
    admin(sb, "POST", "/faults/records", json={"objectType": "contacts", "ids": [contact],
                                                "category": "CONFLICT"})
    reply = api(sb, "POST", "/crm/v3/objects/contacts/batch/update",
                json={"inputs": [{"id": contact, "properties": {"jobtitle": "x"}}]})
    assert reply.status_code == 207 and reply.json()["errors"][0]["category"] == "CONFLICT"
    assert admin(sb, "DELETE", "/faults/records").status_code == 204
    assert admin(sb, "DELETE", "/faults").status_code == 204


def test_unknown_routes_and_types(sb):
    assert api(sb, "GET", "/crm/v3/nothing").status_code == 404
    assert api(sb, "GET", "/crm/v3/objects/widgets").status_code == 400
    assert api(sb, "PUT", "/crm/v3/objects/contacts").status_code == 405


def test_python_dash_m_sandbox_serves_until_interrupted():
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--contacts", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("sandbox listening on http://127.0.0.1:")
        url = line.split()[3]
        assert line.rstrip().endswith("token: sandbox-token")
        assert requests.get(url + "/_sandbox/health").json()["ok"] is True
    finally:
        process.terminate()
        process.wait(timeout=5)
        process.stdout.close()
        process.stderr.close()

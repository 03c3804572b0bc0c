"""The endpoints open-source extractors read besides CRM v3: legacy property lists, companies
v2, engagements v1, v3 association reads, custom-object schemas, and HubSpot's 403 for object
types the token has no scope for. Over real HTTP, with exact shapes."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests

from sandbox import Sandbox
from sandbox.clock import parse_ms

ANCHOR = datetime(2026, 11, 1, tzinfo=timezone.utc)
ENGAGEMENTS = ("calls", "emails", "meetings", "notes", "tasks")
SCOPES_MESSAGE = ("This app hasn't been granted all required scopes to make this call. Read "
                  "more about required scopes here: https://developers.hubspot.com/scopes.")


@pytest.fixture(scope="module")
def shared():
    """Read-only tests share one portal."""
    with Sandbox(contacts=160, seed=6, anchor=ANCHOR) as sb:
        yield sb


@pytest.fixture
def sb():
    with Sandbox(contacts=60, seed=8, anchor=ANCHOR) as sandbox:
        yield sandbox


def get(sb: Sandbox, path: str, **params) -> requests.Response:
    return requests.get(sb.base_url + path, params=params, timeout=10,
                        headers={"Authorization": f"Bearer {sb.token}"})


def post(sb: Sandbox, path: str, body: dict) -> requests.Response:
    return requests.post(sb.base_url + path, json=body, timeout=10,
                         headers={"Authorization": f"Bearer {sb.token}"})


def live(sb: Sandbox, object_type: str) -> list:
    return list(sb.portal.live(object_type))


def engagement_order(sb: Sandbox) -> list:
    return [r for kind in ENGAGEMENTS for r in sb.portal.live(kind)]


# ---- property definitions, v2 ----------------------------------------------------------------

def test_v2_property_list_is_a_bare_array_of_the_v3_catalog(shared):
    v2 = get(shared, "/properties/v2/contacts/properties")
    v3 = get(shared, "/crm/v3/properties/contacts").json()["results"]
    assert v2.status_code == 200
    assert [p["name"] for p in v2.json()] == [p["name"] for p in v3]
    by_name = {p["name"]: p for p in v2.json()}
    stage = by_name["lifecyclestage"]
    assert (stage["type"], stage["fieldType"], stage["groupName"]) == \
        ("enumeration", "radio", v3[[p["name"] for p in v3].index("lifecyclestage")]["groupName"])
    assert [o["value"] for o in stage["options"]][:3] == \
        ["subscriber", "lead", "marketingqualifiedlead"]
    assert stage["options"][0] == {"label": "Subscriber", "value": "subscriber",
                                   "displayOrder": 0, "hidden": False, "description": "",
                                   "readOnly": False, "doubleData": None}
    assert (stage["readOnlyValue"], stage["readOnlyDefinition"], stage["optionsAreMutable"]) \
        == (False, False, True)
    record_id = by_name["hs_object_id"]
    assert (record_id["type"], record_id["readOnlyValue"], record_id["readOnlyDefinition"],
            record_id["hubspotDefined"], record_id["deleted"]) == \
        ("number", True, True, True, False)
    assert record_id["createdAt"] == parse_ms("2019-08-06T02:41:52.015Z")


def test_v2_property_list_takes_singular_names_and_companies_have_their_own_path(shared):
    singular = get(shared, "/properties/v2/company/properties").json()
    assert get(shared, "/companies/v2/properties").json() == singular
    assert get(shared, "/properties/v1/companies/properties").json() == singular
    assert {p["name"]: p["type"] for p in singular}["numberofemployees"] == "number"
    calls = get(shared, "/properties/v2/calls/properties").json()
    assert "hs_call_duration" in [p["name"] for p in calls]


def test_custom_object_schemas_are_empty(shared):
    response = get(shared, "/crm/v3/schemas")
    assert (response.status_code, response.json()) == (200, {"results": []})


# ---- 403 for object types the token may not read ----------------------------------------------

@pytest.mark.parametrize("method,path,scope", [
    ("GET", "/crm/v3/objects/deals", "crm.objects.deals.read"),
    ("GET", "/crm/v3/objects/0-5", "tickets"),
    ("GET", "/crm/v3/properties/deals", "crm.objects.deals.read"),
    ("GET", "/properties/v1/deals/properties", "crm.objects.deals.read"),
    ("GET", "/properties/v2/line_item/properties", "crm.objects.line_items.read"),
    ("POST", "/crm/v3/objects/tickets/search", "tickets"),
    ("POST", "/crm/v4/associations/calls/deals/batch/read", "crm.objects.deals.read"),
])
def test_types_without_a_scope_answer_hubspots_403(shared, method, path, scope):
    response = requests.request(method, shared.base_url + path, json={"inputs": []},
                                headers={"Authorization": f"Bearer {shared.token}"},
                                timeout=10)
    body = response.json()
    assert response.status_code == 403
    assert body["status"] == "error" and body["category"] == "MISSING_SCOPES"
    assert body["message"] == SCOPES_MESSAGE
    assert body["errors"] == [{"message": "One or more of the following scopes are required.",
                               "context": {"requiredGranularScopes": [scope]}}]
    assert body["links"] == {"scopes": "https://developers.hubspot.com/scopes"}


def test_a_403_is_counted_under_its_type_and_comes_after_auth(sb):
    sb.reset_stats()
    assert get(sb, "/crm/v3/objects/deals").status_code == 403
    bad = requests.get(sb.base_url + "/crm/v3/objects/deals", timeout=10,
                       headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401
    stats = sb.stats()
    assert stats["by_route"] == {"GET /crm/v3/objects/deals": 2}
    assert stats["by_status"] == {"403": 1, "401": 1}


def test_a_type_hubspot_does_not_know_is_still_a_400(shared):
    response = get(shared, "/crm/v3/objects/widgets")
    assert (response.status_code, response.json()["category"]) == (400, "VALIDATION_ERROR")
    assert response.json()["message"] == "Unable to infer object type from: widgets"


# ---- companies v2 --------------------------------------------------------------------------

def test_companies_paged_lists_every_live_company_with_only_the_asked_properties(shared):
    seen, offset, pages = [], 0, 0
    while True:
        body = get(shared, "/companies/v2/companies/paged", limit=7, offset=offset,
                   properties=["createdate", "hs_lastmodifieddate"]).json()
        pages += 1
        seen += body["companies"]
        offset = body["offset"]
        if not body["has-more"]:
            break
    companies = live(shared, "companies")
    assert [c["companyId"] for c in seen] == [r.id for r in companies]
    assert pages == -(-len(companies) // 7)
    first, record = seen[0], companies[0]
    assert set(first) == {"portalId", "companyId", "isDeleted", "properties",
                          "additionalDomains", "stateChanges", "mergeAudits"}
    assert (first["portalId"], first["isDeleted"]) == (62515, False)
    assert set(first["properties"]) == {"createdate", "hs_lastmodifieddate"}
    modified = first["properties"]["hs_lastmodifieddate"]
    assert modified["value"] == str(record.updated_ms) == \
        str(parse_ms(record.properties["hs_lastmodifieddate"]))
    assert modified == {"value": str(record.updated_ms), "timestamp": record.updated_ms,
                        "source": "CALCULATED", "sourceId": None,
                        "versions": [{"name": "hs_lastmodifieddate",
                                      "value": str(record.updated_ms),
                                      "timestamp": record.updated_ms, "source": "CALCULATED",
                                      "sourceVid": []}]}


def test_companies_paged_caps_the_page_at_250_and_leaves_out_archived(sb):
    gone = live(sb, "companies")[1]
    sb.portal.archive("companies", gone.id)
    body = get(sb, "/companies/v2/companies/paged", limit=1000).json()
    assert [c["companyId"] for c in body["companies"]] == [r.id for r in live(sb, "companies")]
    assert gone.id not in [c["companyId"] for c in body["companies"]]
    assert body["has-more"] is False and body["offset"] == live(sb, "companies")[-1].id
    assert all(c["properties"] == {} for c in body["companies"])


def test_company_detail_has_every_set_property_in_v2_form(shared):
    record = live(shared, "companies")[3]
    body = get(shared, f"/companies/v2/companies/{record.id}").json()
    assert body["companyId"] == record.id
    assert set(body["properties"]) == set(record.properties)
    assert body["properties"]["name"]["value"] == record.properties["name"]
    assert body["properties"]["name"]["source"] == "CRM_UI"
    assert body["properties"]["createdate"]["value"] == str(record.created_ms)
    assert body["properties"]["numberofemployees"]["value"] == \
        record.properties["numberofemployees"]


def test_company_detail_of_an_archived_company_is_a_404(sb):
    record = live(sb, "companies")[0]
    sb.portal.archive("companies", record.id)
    response = get(sb, f"/companies/v2/companies/{record.id}")
    assert (response.status_code, response.json()["category"]) == (404, "OBJECT_NOT_FOUND")


# ---- engagements v1 ------------------------------------------------------------------------

def test_engagements_paged_lists_all_five_types_in_id_order(shared):
    seen, offset = [], 0
    while True:
        body = get(shared, "/engagements/v1/engagements/paged", limit=250, offset=offset).json()
        seen += body["results"]
        offset = body["offset"]
        if not body["hasMore"]:
            break
    expected = engagement_order(shared)
    assert [e["engagement"]["id"] for e in seen] == [r.id for r in expected]
    v1_types = {"calls": "CALL", "meetings": "MEETING", "notes": "NOTE", "tasks": "TASK"}
    assert [e["engagement"]["type"] for e in seen] == [
        r.properties["hs_email_direction"] if r.object_type == "emails"
        else v1_types[r.object_type] for r in expected]


def test_an_engagement_in_v1_form(shared):
    call = live(shared, "calls")[0]
    body = get(shared, "/engagements/v1/engagements/paged", limit=1).json()
    item = body["results"][0]
    contacts = [i for i, _ in shared.portal.associated("calls", call.id, "contacts")]
    companies = [i for i, _ in shared.portal.associated("calls", call.id, "companies")]
    assert item["engagement"] == {
        "id": call.id, "portalId": 62515, "active": True, "createdAt": call.created_ms,
        "lastUpdated": call.updated_ms, "type": "CALL",
        "timestamp": parse_ms(call.properties["hs_timestamp"])}
    assert item["associations"] == {"contactIds": contacts, "companyIds": companies,
                                    "dealIds": [], "ownerIds": [], "workflowIds": [],
                                    "ticketIds": []}
    assert item["attachments"] == []
    assert item["metadata"]["status"] == call.properties["hs_call_status"]
    assert item["metadata"]["durationMilliseconds"] == int(call.properties["hs_call_duration"])
    assert body["hasMore"] is True and body["offset"] == call.id


def test_email_direction_is_the_v1_engagement_type(shared):
    email = next(r for r in live(shared, "emails")
                 if r.properties["hs_email_direction"] == "INCOMING_EMAIL")
    body = get(shared, "/engagements/v1/engagements/paged", limit=1, offset=email.id - 1).json()
    assert body["results"][0]["engagement"]["id"] == email.id
    assert body["results"][0]["engagement"]["type"] == "INCOMING_EMAIL"


def test_modified_after_reads_oldest_change_first_and_resumes_from_its_cursor(sb):
    seen, after, pages = [], "0", 0
    while True:
        body = get(sb, "/engagements/v1/engagements/modified/after", limit=300,
                   after=after).json()
        pages += 1
        seen += body["results"]
        after = body["after"]
        if not body["hasMore"]:
            break
    expected = sorted(engagement_order(sb), key=lambda r: (r.updated_ms, r.id))
    assert [e["engagement"]["id"] for e in seen] == [r.id for r in expected]
    assert pages == -(-len(expected) // 300)
    empty = get(sb, "/engagements/v1/engagements/modified/after", after=after).json()
    assert empty == {"results": [], "hasMore": False, "after": after}
    edited = live(sb, "notes")[2]
    sb.portal.update("notes", edited.id, {"hs_note_body": "changed"})
    again = get(sb, "/engagements/v1/engagements/modified/after", after=after).json()
    assert [e["engagement"]["id"] for e in again["results"]] == [edited.id]
    assert again["results"][0]["metadata"] == {"body": "changed"}
    assert again["hasMore"] is False and again["after"] != after


def test_modified_after_a_timestamp_includes_changes_at_that_instant(shared):
    ordered = sorted(engagement_order(shared), key=lambda r: (r.updated_ms, r.id))
    pivot = ordered[len(ordered) // 2]
    body = get(shared, "/engagements/v1/engagements/modified/after", limit=1000,
               after=pivot.updated_ms).json()
    expected = [r.id for r in ordered if r.updated_ms >= pivot.updated_ms][:1000]
    assert [e["engagement"]["id"] for e in body["results"]] == expected


def test_modified_after_rejects_a_made_up_cursor(shared):
    response = get(shared, "/engagements/v1/engagements/modified/after", after="not-a-cursor")
    assert (response.status_code, response.json()["category"]) == (400, "VALIDATION_ERROR")


def test_archived_engagements_are_left_out_of_v1(sb):
    gone = live(sb, "tasks")[0]
    sb.portal.archive("tasks", gone.id)
    body = get(sb, "/engagements/v1/engagements/paged", limit=250, offset=gone.id - 1).json()
    assert gone.id not in [e["engagement"]["id"] for e in body["results"]]


# ---- associations --------------------------------------------------------------------------

def test_v3_association_batch_read_lists_type_names_and_207s_inputs_without_links(shared):
    company = live(shared, "companies")[0]
    lonely = next(r for r in live(shared, "contacts")
                  if not shared.portal.associated("contacts", r.id, "calls"))
    links = shared.portal.associated("companies", company.id, "contacts")
    body = post(shared, "/crm/v3/associations/company/contact/batch/read",
                {"inputs": [{"id": str(company.id)}]})
    assert body.status_code == 200
    expected = []
    for to_id, primary in links:  # as v3 `?associations=` names them: primary twice
        if primary:
            expected.append({"id": str(to_id), "type": "company_to_contact"})
        expected.append({"id": str(to_id), "type": "company_to_contact_unlabeled"})
    assert body.json()["results"] == [{"from": {"id": str(company.id)}, "to": expected}]
    missing = post(shared, "/crm/v3/associations/contacts/calls/batch/read",
                   {"inputs": [{"id": str(lonely.id)}]})
    assert missing.status_code == 207
    assert missing.json()["errors"][0]["subCategory"] == \
        "crm.associations.NO_ASSOCIATIONS_FOUND"


def test_v4_contact_to_contact_is_a_valid_pair_with_no_links(shared):
    response = post(shared, "/crm/v4/associations/contact/contacts/batch/read",
                    {"inputs": [{"id": "1"}, {"id": "2"}]})
    body = response.json()
    assert response.status_code == 207 and body["results"] == []
    assert [e["context"]["fromObjectId"] for e in body["errors"]] == [["1"], ["2"]]
    assert {e["subCategory"] for e in body["errors"]} == \
        {"crm.associations.NO_ASSOCIATIONS_FOUND"}


# ---- search: the top-level `filters` form --------------------------------------------------

def test_search_accepts_a_top_level_filters_list_as_one_group(shared):
    ordered = sorted(live(shared, "calls"), key=lambda r: r.updated_ms)
    pivot = ordered[len(ordered) // 2].updated_ms
    body = post(shared, "/crm/v3/objects/calls/search", {
        "limit": 200, "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                     "value": str(pivot)},
                    {"propertyName": "hs_object_id", "operator": "GTE", "value": "0"}]}).json()
    expected = sorted(r.id for r in ordered if r.updated_ms >= pivot)
    assert body["total"] == len(expected)
    assert [int(r["id"]) for r in body["results"]] == expected[:200]


# ---- activity types the portal never holds -------------------------------------------------

@pytest.mark.parametrize("name,canonical,body_property", [
    ("communications", "communications", "hs_communication_body"),
    ("0-18", "communications", "hs_communication_body"),
    ("postal_mail", "postal_mail", "hs_postal_mail_body"),
])
def test_unseeded_activity_types_have_properties_and_no_records(shared, name, canonical,
                                                                body_property):
    names = [p["name"] for p in get(shared, f"/crm/v3/properties/{name}").json()["results"]]
    assert names[:4] == ["hs_object_id", "hs_createdate", "hs_lastmodifieddate", "hs_timestamp"]
    assert body_property in names
    listing = get(shared, f"/crm/v3/objects/{name}", limit=100)
    assert (listing.status_code, listing.json()) == (200, {"results": []})
    found = post(shared, f"/crm/v3/objects/{name}/search", {"limit": 10}).json()
    assert (found["total"], found["results"]) == (0, [])
    assert list(shared.portal.live(canonical)) == []


def test_deal_splits_need_the_deals_scope(shared):
    response = get(shared, "/properties/v2/deal_split/properties")
    assert response.status_code == 403
    assert response.json()["errors"][0]["context"] == \
        {"requiredGranularScopes": ["crm.objects.deals.read"]}

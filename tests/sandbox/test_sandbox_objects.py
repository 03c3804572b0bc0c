"""The sandbox speaks HubSpot's CRM objects API well enough for the official SDK, unchanged."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import hubspot
import pytest
import requests
import urllib3
from hubspot.crm.contacts import (BatchInputSimplePublicObjectBatchInput,
                                  BatchInputSimplePublicObjectBatchInputUpsert,
                                  BatchReadInputSimplePublicObjectId, PublicMergeInput,
                                  SimplePublicObjectBatchInput, SimplePublicObjectBatchInputUpsert,
                                  SimplePublicObjectId, SimplePublicObjectInput,
                                  SimplePublicObjectInputForCreate)
from hubspot.crm.contacts.exceptions import ApiException, NotFoundException

from sandbox import Sandbox
from sandbox.catalog import Property

ANCHOR = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def shared():
    """Read-only tests share one portal."""
    with Sandbox(contacts=300, seed=3, anchor=ANCHOR) as sb:
        yield sb


@pytest.fixture
def sb():
    with Sandbox(contacts=120, seed=5, anchor=ANCHOR) as sandbox:
        yield sandbox


def client(sb: Sandbox) -> hubspot.Client:
    return hubspot.Client.create(access_token=sb.token, host=sb.base_url,
                                 retry=urllib3.Retry(0))


def live_contacts(sb: Sandbox) -> list[dict]:
    return [r for r in sb.portal.truth("contacts") if not r["archived"] and not r["mergedInto"]]


def update(sb: Sandbox, inputs: list[SimplePublicObjectBatchInput]):
    return client(sb).crm.contacts.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(inputs=inputs))


def test_list_pages_through_every_live_contact_in_id_order(shared):
    api = client(shared).crm.contacts.basic_api
    seen, after, pages = [], None, 0
    while True:
        page = api.get_page(limit=100, after=after, properties=["email", "lifecyclestage"])
        seen += [r.id for r in page.results]
        pages += 1
        if page.paging is None:
            break
        after = page.paging.next.after
    expected = [r["id"] for r in live_contacts(shared)]
    assert seen == expected
    assert pages == -(-len(expected) // 100)


def test_list_defaults_to_ten_and_returns_default_properties(shared):
    page = client(shared).crm.contacts.basic_api.get_page()
    assert len(page.results) == 10
    assert set(page.results[0].properties) == {"firstname", "lastname", "email", "hs_object_id",
                                               "createdate", "lastmodifieddate"}


def test_properties_accept_comma_separated_and_repeated_keys(shared):
    first = live_contacts(shared)[0]["id"]
    url = f"{shared.base_url}/crm/v3/objects/contacts/{first}"
    headers = {"Authorization": f"Bearer {shared.token}"}
    comma = requests.get(url, params={"properties": "jobtitle,country"}, headers=headers).json()
    repeated = requests.get(url, params=[("properties", "jobtitle"), ("properties", "country")],
                            headers=headers).json()
    assert comma["properties"] == repeated["properties"]
    assert {"jobtitle", "country", "hs_object_id"} <= set(comma["properties"])


def test_requested_but_unset_properties_come_back_null(shared):
    record = next(r for r in live_contacts(shared) if "hs_lead_status" not in r["properties"])
    got = client(shared).crm.contacts.basic_api.get_by_id(record["id"],
                                                         properties=["hs_lead_status"])
    assert got.properties["hs_lead_status"] is None


def test_get_by_id_and_by_email(shared):
    record = live_contacts(shared)[5]
    api = client(shared).crm.contacts.basic_api
    by_id = api.get_by_id(record["id"], properties=["email"])
    by_email = api.get_by_id(record["properties"]["email"], id_property="email")
    assert by_id.id == by_email.id == record["id"]
    assert by_id.properties["email"] == record["properties"]["email"]
    with pytest.raises(NotFoundException):
        api.get_by_id("987654321")


def test_list_with_associations_returns_primary_company(shared):
    record = next(r for r in live_contacts(shared) if r["associations"]["companies"])
    company = record["associations"]["companies"][0]["id"]
    got = client(shared).crm.contacts.basic_api.get_by_id(record["id"],
                                                         associations=["companies"])
    results = got.associations["companies"].results
    assert [(a.id, a.type) for a in results] == [(company, "contact_to_company"),
                                                 (company, "contact_to_company_unlabeled")]


def test_engagements_list_through_the_generic_objects_api(shared):
    page = client(shared).crm.objects.basic_api.get_page(
        "meetings", limit=3, properties=["hs_meeting_outcome", "hs_timestamp"])
    assert len(page.results) == 3
    assert {"hs_meeting_outcome", "hs_timestamp", "hs_createdate", "hs_lastmodifieddate",
            "hs_object_id"} <= set(page.results[0].properties)


def test_unauthenticated_requests_get_401(shared):
    reply = requests.get(f"{shared.base_url}/crm/v3/objects/contacts",
                         headers={"Authorization": "Bearer wrong"})
    assert reply.status_code == 401
    assert reply.json()["category"] == "INVALID_AUTHENTICATION"


def test_batch_read_reports_unknown_ids_in_a_207(shared):
    known = live_contacts(shared)[:2]
    reply = client(shared).crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=known[0]["id"]), SimplePublicObjectId(id="999999"),
                SimplePublicObjectId(id=known[1]["id"])],
        properties=["email"], properties_with_history=[]))
    assert sorted(r.id for r in reply.results) == sorted(r["id"] for r in known)
    assert reply.num_errors == 1
    assert reply.errors[0].category == "OBJECT_NOT_FOUND"
    assert reply.errors[0].context == {"ids": ["999999"]}


def test_batch_read_by_email(shared):
    record = live_contacts(shared)[7]
    reply = client(shared).crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=record["properties"]["email"])], id_property="email",
        properties=["email"], properties_with_history=[]))
    assert [r.id for r in reply.results] == [record["id"]]


def test_batch_read_rejects_more_than_100_inputs(shared):
    with pytest.raises(ApiException) as err:
        client(shared).crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=str(i)) for i in range(1, 102)],
            properties=["email"], properties_with_history=[]))
    assert err.value.status == 400


def test_batch_update_writes_and_reports_unknown_ids_per_input(sb):
    target = live_contacts(sb)[0]["id"]
    reply = update(sb, [SimplePublicObjectBatchInput(id=target, properties={"jobtitle": "CTO"}),
                        SimplePublicObjectBatchInput(id="999999",
                                                     properties={"jobtitle": "CEO"})])
    assert [(r.id, r.properties["jobtitle"]) for r in reply.results] == [(target, "CTO")]
    assert [(e.category, e.context) for e in reply.errors] == [
        ("OBJECT_NOT_FOUND", {"ids": ["999999"]})]
    assert sb.portal.get("contacts", target).properties["jobtitle"] == "CTO"


@pytest.mark.parametrize("properties, code, text", [
    ({"no_such_property": "x"}, "PROPERTY_DOESNT_EXIST", 'Property "no_such_property" does not exist'),
    ({"createdate": "2020-01-01T00:00:00Z"}, "READ_ONLY_VALUE",
     'Property "createdate" is read-only; its value cannot be set'),
    ({"hs_lead_status": "MAYBE"}, "INVALID_OPTION",
     "MAYBE was not one of the allowed options: [NEW, OPEN, IN_PROGRESS, OPEN_DEAL, UNQUALIFIED, "
     "ATTEMPTED_TO_CONTACT, CONNECTED, BAD_TIMING]"),
    ({"associatedcompanyid": "lots"}, "INVALID_DECIMAL", "lots was not a valid number."),
])
def test_one_bad_property_fails_the_whole_batch_in_hubspots_shape(sb, properties, code, text):
    """HubSpot's body names the property and (in the text) the value, never input or id."""
    ids = [r["id"] for r in live_contacts(sb)[:2]]
    before = sb.portal.get("contacts", ids[0]).properties["jobtitle"]
    with pytest.raises(ApiException) as err:
        update(sb, [SimplePublicObjectBatchInput(id=ids[0], properties={"jobtitle": "New"}),
                    SimplePublicObjectBatchInput(id=ids[1], properties=properties)])
    body = json.loads(err.value.body)
    name = next(iter(properties))
    assert err.value.status == 400
    assert set(body) == {"status", "message", "correlationId", "category", "errors"}
    assert (body["status"], body["category"]) == ("error", "VALIDATION_ERROR")
    prefix = "Property values were not valid: "
    assert body["message"].startswith(prefix)
    assert json.loads(body["message"][len(prefix):]) == [
        {"isValid": False, "message": text, "error": code, "name": name,
         "localizedErrorMessage": text, "portalId": sb.portal.portal_id}]
    assert body["errors"] == [{"message": text, "code": code, "context": {"propertyName": [name]}}]
    assert sb.portal.get("contacts", ids[0]).properties["jobtitle"] == before


def test_batch_update_rejects_duplicate_ids_naming_them(sb):
    target = live_contacts(sb)[0]["id"]
    with pytest.raises(ApiException) as err:
        update(sb, [SimplePublicObjectBatchInput(id=target, properties={"jobtitle": "A"}),
                    SimplePublicObjectBatchInput(id=target, properties={"jobtitle": "B"})])
    body = json.loads(err.value.body)
    assert err.value.status == 400
    assert body["message"] == f"Duplicate IDs found in batch input: [{target}]. IDs must be unique"
    assert body["context"] == {"ids": [target]} and body["category"] == "VALIDATION_ERROR"


def test_write_failure_knob_fails_those_ids_until_cleared(sb):
    ids = [r["id"] for r in live_contacts(sb)[:2]]
    sb.faults.fail_records("contacts", [ids[1]], category="LOCKED", message="Record is locked")
    reply = update(sb, [SimplePublicObjectBatchInput(id=i, properties={"jobtitle": "X"})
                        for i in ids])
    assert [r.id for r in reply.results] == [ids[0]]
    assert [(e.category, e.message, e.context) for e in reply.errors] == [
        ("LOCKED", "Record is locked", {"ids": [ids[1]]})]
    sb.faults.clear_records()
    assert update(sb, [SimplePublicObjectBatchInput(id=ids[1], properties={"jobtitle": "X"})
                       ]).results[0].id == ids[1]


def test_property_write_bumps_modified_date_only_when_a_value_changes(sb):
    record = live_contacts(sb)[0]
    before = record["properties"]["lastmodifieddate"]
    same = record["properties"]["firstname"]
    update(sb, [SimplePublicObjectBatchInput(id=record["id"], properties={"firstname": same})])
    assert sb.portal.get("contacts", record["id"]).properties["lastmodifieddate"] == before
    reply = update(sb, [SimplePublicObjectBatchInput(id=record["id"],
                                                     properties={"firstname": same + "x"})])
    after = sb.portal.get("contacts", record["id"])
    assert after.properties["lastmodifieddate"] > before
    assert reply.results[0].updated_at == datetime.fromisoformat(
        after.properties["lastmodifieddate"])


def test_datetime_writes_accept_epoch_ms_and_come_back_iso(sb):
    target = live_contacts(sb)[0]["id"]
    sb.portal.catalogs["contacts"].add(Property(
        "leadsync_scored_at", "Scored at", "datetime", "date", "contactinformation",
        hubspot_defined=False))
    update(sb, [SimplePublicObjectBatchInput(id=target, properties={
        "leadsync_scored_at": "1761955200000"})])
    assert sb.portal.get("contacts", target).properties["leadsync_scored_at"] == \
        "2025-11-01T00:00:00.000Z"


def test_lifecycle_stage_moves_forward_only(sb):
    target = next(r for r in live_contacts(sb)
                  if r["properties"].get("lifecyclestage") == "lead")["id"]
    update(sb, [SimplePublicObjectBatchInput(id=target,
                                             properties={"lifecyclestage": "opportunity"})])
    record = sb.portal.get("contacts", target)
    assert record.properties["lifecyclestage"] == "opportunity"
    entered = record.properties["hs_v2_date_entered_opportunity"]
    modified = record.properties["lastmodifieddate"]
    reply = update(sb, [SimplePublicObjectBatchInput(id=target,
                                                     properties={"lifecyclestage": "lead"})])
    assert reply.results[0].properties["lifecyclestage"] == "opportunity"   # silently kept
    assert record.properties["lastmodifieddate"] == modified
    update(sb, [SimplePublicObjectBatchInput(id=target, properties={"lifecyclestage": ""})])
    update(sb, [SimplePublicObjectBatchInput(id=target, properties={"lifecyclestage": "lead"})])
    assert record.properties["lifecyclestage"] == "lead"
    assert record.properties["hs_v2_date_entered_opportunity"] == entered


def test_backward_lifecycle_write_can_be_made_a_400(sb):
    sb.portal.settings.reject_backward_lifecycle = True
    target = next(r for r in live_contacts(sb)
                  if r["properties"].get("lifecyclestage") == "customer")["id"]
    with pytest.raises(ApiException) as err:
        update(sb, [SimplePublicObjectBatchInput(id=target,
                                                 properties={"lifecyclestage": "lead"})])
    assert err.value.status == 400
    assert "lifecyclestage" in json.loads(err.value.body)["message"]


def test_entering_a_stage_sets_its_date_entered(sb):
    target = next(r for r in live_contacts(sb)
                  if r["properties"].get("lifecyclestage") == "lead")
    assert "hs_v2_date_entered_salesqualifiedlead" not in target["properties"]
    update(sb, [SimplePublicObjectBatchInput(id=target["id"], properties={
        "lifecyclestage": "salesqualifiedlead"})])
    record = sb.portal.get("contacts", target["id"])
    assert record.properties["hs_v2_date_entered_salesqualifiedlead"] == \
        record.properties["lastmodifieddate"]


def test_archiving_hides_the_record_without_bumping_modified_date(sb):
    record = live_contacts(sb)[3]
    api = client(sb).crm.contacts.basic_api
    api.archive(record["id"])
    stored = sb.portal.get("contacts", record["id"])
    assert stored.properties["lastmodifieddate"] == record["properties"]["lastmodifieddate"]
    with pytest.raises(NotFoundException):
        api.get_by_id(record["id"])
    archived_ids = []
    after = None
    while True:
        page = api.get_page(limit=100, after=after, archived=True)
        archived_ids += [r.id for r in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert record["id"] in archived_ids
    got = api.get_by_id(record["id"], archived=True)
    assert got.archived is True and got.archived_at is not None


def test_merged_away_id_resolves_to_the_survivor(sb):
    primary, merged = [r["id"] for r in live_contacts(sb)[:2]]
    merged_meetings = set(sb.portal.links.targets("contacts", int(merged), "meetings"))
    sb.portal.merge("contacts", primary, merged)
    api = client(sb).crm.contacts.basic_api
    got = api.get_by_id(merged, properties=["hs_merged_object_ids"])
    assert got.id == primary
    assert got.properties["hs_merged_object_ids"] == merged
    read = client(sb).crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=merged)], properties=["email"],
        properties_with_history=[]))
    assert [r.id for r in read.results] == [primary]
    listed = [r.id for r in api.get_page(limit=100).results]
    assert merged not in listed and primary in listed
    reply = update(sb, [SimplePublicObjectBatchInput(id=merged, properties={"jobtitle": "x"})])
    assert reply.results == [] and reply.errors[0].context == {"ids": [merged]}
    assert merged_meetings <= set(sb.portal.links.targets("contacts", int(primary), "meetings"))


def test_single_patch_follows_a_merge(sb):
    primary, merged = [r["id"] for r in live_contacts(sb)[:2]]
    sb.portal.merge("contacts", primary, merged)
    got = client(sb).crm.contacts.basic_api.update(
        merged, SimplePublicObjectInput(properties={"jobtitle": "Merged CTO"}))
    assert got.id == primary
    assert sb.portal.get("contacts", primary).properties["jobtitle"] == "Merged CTO"


def test_merge_endpoint(sb):
    primary, merged = [r["id"] for r in live_contacts(sb)[2:4]]
    got = client(sb).crm.contacts.basic_api.merge(
        PublicMergeInput(primary_object_id=primary, object_id_to_merge=merged))
    assert got.id == primary
    assert sb.portal.get("contacts", merged).merged_into == int(primary)


def test_upsert_by_email_creates_or_updates(sb):
    existing = live_contacts(sb)[0]
    reply = client(sb).crm.contacts.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
            SimplePublicObjectBatchInputUpsert(id=existing["properties"]["email"],
                                               id_property="email",
                                               properties={"jobtitle": "Upserted"}),
            SimplePublicObjectBatchInputUpsert(id="new.person@example.com", id_property="email",
                                               properties={"firstname": "New"})]))
    by_new = {r.new: r for r in reply.results}
    assert by_new[False].id == existing["id"]
    assert by_new[True].properties["email"] == "new.person@example.com"
    assert sb.portal.find_contact_by_email("new.person@example.com").properties["firstname"] \
        == "New"


def test_create_with_association_and_duplicate_email_conflict(sb):
    company = next(r for r in sb.portal.truth("companies") if not r["archived"])["id"]
    api = client(sb).crm.contacts.basic_api
    created = api.create(SimplePublicObjectInputForCreate(
        properties={"email": "fresh@example.com", "firstname": "Fresh"},
        associations=[{"to": {"id": company}, "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]))
    assert sb.portal.links.targets("contacts", int(created.id), "companies") == \
        {int(company): False}
    with pytest.raises(ApiException) as err:
        api.create(SimplePublicObjectInputForCreate(properties={"email": "FRESH@example.com"}))
    assert err.value.status == 409

"""Properties API (catalog, custom properties, groups) and associations v4."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import hubspot
import pytest
import urllib3
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInput
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException

from sandbox import Sandbox

ANCHOR = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture
def sb():
    with Sandbox(contacts=80, seed=4, anchor=ANCHOR) as sandbox:
        yield sandbox


def client(sb: Sandbox) -> hubspot.Client:
    return hubspot.Client.create(access_token=sb.token, host=sb.base_url,
                                 retry=urllib3.Retry(0))


def score_property(**overrides) -> PropertyCreate:
    spec = dict(name="leadsync_score", label="Score", group_name="leadsync", type="number",
                field_type="number")
    spec.update(overrides)
    return PropertyCreate(**spec)


def test_catalog_types_match_hubspot(sb):
    catalog = {p.name: p for p in client(sb).crm.properties.core_api.get_all("contacts").results}
    assert (catalog["numemployees"].type, catalog["numemployees"].field_type) == \
        ("enumeration", "select")
    assert [o.value for o in catalog["lifecyclestage"].options] == [
        "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
        "customer", "evangelist", "other"]
    assert [o.value for o in catalog["hs_lead_status"].options] == [
        "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT",
        "CONNECTED", "BAD_TIMING"]
    assert catalog["industry"].type == catalog["annualrevenue"].type == "string"
    for name in ("hs_object_id", "createdate", "lastmodifieddate", "hs_merged_object_ids",
                 "hs_v2_date_entered_customer"):
        assert catalog[name].modification_metadata.read_only_value is True, name
    assert catalog["jobtitle"].modification_metadata.read_only_value is False
    companies = {p.name: p for p in
                 client(sb).crm.properties.core_api.get_all("companies").results}
    assert companies["numberofemployees"].type == "number"
    assert companies["annualrevenue"].type == "number"
    assert companies["industry"].type == "enumeration"
    assert "COMPUTER_SOFTWARE" in {o.value for o in companies["industry"].options}
    assert companies["hs_lastmodifieddate"].modification_metadata.read_only_value is True


def test_custom_property_lifecycle_with_409_on_duplicate(sb):
    api = client(sb).crm.properties
    group = api.groups_api.create("contacts", PropertyGroupCreate(name="leadsync",
                                                                  label="leadsync"))
    assert group.name == "leadsync"
    with pytest.raises(PropertiesApiException) as err:
        api.groups_api.create("contacts", PropertyGroupCreate(name="leadsync", label="x"))
    assert err.value.status == 409
    created = api.core_api.create("contacts", score_property())
    assert (created.name, created.type, created.hubspot_defined) == \
        ("leadsync_score", "number", False)
    with pytest.raises(PropertiesApiException) as err:
        api.core_api.create("contacts", score_property())
    body = json.loads(err.value.body)
    assert err.value.status == 409 and body["category"] == "CONFLICT"
    assert "leadsync_score" in body["message"]
    assert api.core_api.get_by_name("contacts", "leadsync_score").label == "Score"


def test_custom_enumeration_is_enforced_on_writes(sb):
    api = client(sb)
    api.crm.properties.groups_api.create("contacts", PropertyGroupCreate(name="leadsync",
                                                                         label="leadsync"))
    api.crm.properties.core_api.create("contacts", score_property(
        name="leadsync_grade", type="enumeration", field_type="select",
        options=[{"label": "A", "value": "A", "hidden": False},
                 {"label": "B", "value": "B", "hidden": False}]))
    target = next(r for r in sb.portal.truth("contacts") if not r["archived"]
                  and not r["mergedInto"])["id"]
    batch = api.crm.contacts.batch_api
    batch.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        {"id": target, "properties": {"leadsync_grade": "A"}}]))
    assert sb.portal.get("contacts", target).properties["leadsync_grade"] == "A"
    with pytest.raises(ContactsApiException) as err:
        batch.update(BatchInputSimplePublicObjectBatchInput(inputs=[
            {"id": target, "properties": {"leadsync_grade": "Z"}}]))
    assert err.value.status == 400
    assert "leadsync_grade" in json.loads(err.value.body)["message"]


def test_property_batch_read_and_patch_options(sb):
    api = client(sb).crm.properties
    read = api.batch_api.read("contacts", {"inputs": [{"name": "email"},
                                                      {"name": "jobtitle"}],
                                           "archived": False, "propertiesWithHistory": []})
    assert sorted(p.name for p in read.results) == ["email", "jobtitle"]
    updated = api.core_api.update("contacts", "hs_lead_status", {"options": [
        {"label": "New", "value": "NEW", "hidden": False, "displayOrder": 0},
        {"label": "Nurture", "value": "NURTURE", "hidden": False, "displayOrder": 1}]})
    assert [o.value for o in updated.options] == ["NEW", "NURTURE"]


def test_association_batch_read_pages_per_input(sb):
    sb.settings.association_page_size = 2
    busy = max((r for r in sb.portal.truth("contacts") if not r["archived"]
                and not r["mergedInto"]), key=lambda r: len(r["associations"]["emails"]))
    live_emails = {r["id"] for r in sb.portal.truth("emails") if not r["archived"]}
    want = [a["id"] for a in busy["associations"]["emails"] if a["id"] in live_emails]
    assert len(want) > 2
    api = client(sb).crm.associations.v4.batch_api
    got, after = [], None
    while True:
        reply = api.get_page("contacts", "emails", BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[{"id": busy["id"], "after": after}]))
        result = reply.results[0]
        got += [t.to_object_id for t in result.to]
        assert all(t.association_types[0].type_id == 197 for t in result.to)
        if result.paging is None:
            break
        after = result.paging.next.after
    assert got == want


def test_association_batch_read_flags_unknown_and_unlinked_ids(sb):
    lonely = sb.portal.create("contacts", {"email": "lonely@example.com"})
    linked = next(r for r in sb.portal.truth("contacts") if not r["archived"]
                  and not r["mergedInto"] and r["associations"]["companies"])
    reply = client(sb).crm.associations.v4.batch_api.get_page(
        "contacts", "companies", BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[{"id": linked["id"]}, {"id": str(lonely.id)}, {"id": "999999"}]))
    assert [r._from.id for r in reply.results] == [linked["id"]]
    types = [(t.type_id, t.label) for t in reply.results[0].to[0].association_types]
    assert types == [(1, "Primary"), (279, None)]
    assert [(e.category, e.sub_category, e.context) for e in reply.errors] == [
        ("OBJECT_NOT_FOUND", "crm.associations.NO_ASSOCIATIONS_FOUND",
         {"fromObjectId": [str(lonely.id)], "toObjectType": ["company"]}),
        ("OBJECT_NOT_FOUND", None, {"ids": ["999999"]})]


def test_association_changes_do_not_bump_modified_dates(sb):
    contact = next(r for r in sb.portal.truth("contacts") if not r["archived"]
                   and not r["mergedInto"])
    meeting = next(r for r in sb.portal.truth("meetings") if not r["archived"])
    sb.portal.associate("contacts", contact["id"], "meetings", meeting["id"])
    sb.portal.disassociate("contacts", contact["id"], "meetings", meeting["id"])
    assert sb.portal.get("contacts", contact["id"]).properties["lastmodifieddate"] == \
        contact["properties"]["lastmodifieddate"]
    assert sb.portal.get("meetings", meeting["id"]).properties["hs_lastmodifieddate"] == \
        meeting["properties"]["hs_lastmodifieddate"]


def test_v4_create_and_archive_associations(sb):
    contact = sb.portal.create("contacts", {"email": "linkme@example.com"})
    call = next(r for r in sb.portal.truth("calls") if not r["archived"])["id"]
    api = client(sb).crm.associations.v4.batch_api
    api.create("contacts", "calls", {"inputs": [{"from": {"id": str(contact.id)},
                                                 "to": {"id": call},
                                                 "types": [{"associationCategory":
                                                            "HUBSPOT_DEFINED",
                                                            "associationTypeId": 193}]}]})
    assert int(call) in sb.portal.links.targets("contacts", contact.id, "calls")
    assert contact.id in sb.portal.links.targets("calls", int(call), "contacts")
    api.archive("contacts", "calls", {"inputs": [{"from": {"id": str(contact.id)},
                                                  "to": [{"id": call}]}]})
    assert sb.portal.links.targets("contacts", contact.id, "calls") == {}

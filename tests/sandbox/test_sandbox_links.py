"""Link changes in the sandbox move no modified date, as in HubSpot: admin routes, `move`,
and the v4 batch create/archive endpoints, over real HTTP."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests

from sandbox import Sandbox

ANCHOR = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture
def sb():
    with Sandbox(contacts=60, seed=8, anchor=ANCHOR) as sandbox:
        yield sandbox


def admin(sb: Sandbox, method: str, path: str, **kw) -> requests.Response:
    return requests.request(method, f"{sb.base_url}/_sandbox{path}", timeout=10, **kw)


def api(sb: Sandbox, method: str, path: str, **kw) -> requests.Response:
    return requests.request(method, sb.base_url + path, timeout=10,
                            headers={"Authorization": f"Bearer {sb.token}"}, **kw)


def dates(sb: Sandbox, object_type: str, record_id: str) -> tuple[str, str]:
    modified = "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"
    got = api(sb, "GET", f"/crm/v3/objects/{object_type}/{record_id}",
              params={"properties": modified}).json()
    return got["updatedAt"], got["properties"][modified]


def linked_contact(sb: Sandbox) -> tuple[str, str]:
    """A live contact with exactly one (primary) company, and that company."""
    for record in sb.portal.truth("contacts"):
        companies = record["associations"]["companies"]
        if not record["archived"] and not record["mergedInto"] and len(companies) == 1 \
                and companies[0]["primary"]:
            return record["id"], companies[0]["id"]
    raise AssertionError("no contact with one primary company")


def other_company(sb: Sandbox, not_this: str) -> str:
    return next(r["id"] for r in sb.portal.truth("companies")
                if not r["archived"] and not r["mergedInto"] and r["id"] != not_this)


def changed_since(sb: Sandbox, object_type: str, since: str) -> int:
    modified = "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"
    ms = str(int(datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp() * 1000))
    body = {"filterGroups": [{"filters": [{"propertyName": modified, "operator": "GT", "value": ms}]}],
            "limit": 1}
    return api(sb, "POST", f"/crm/v3/objects/{object_type}/search", json=body).json()["total"]


def test_moving_a_contact_to_another_company_moves_no_modified_date(sb):
    contact, old = linked_contact(sb)
    new = other_company(sb, old)
    before = {("contacts", contact): dates(sb, "contacts", contact),
              ("companies", old): dates(sb, "companies", old),
              ("companies", new): dates(sb, "companies", new)}
    newest = {t: max(r["properties"]["lastmodifieddate" if t == "contacts" else "hs_lastmodifieddate"]
                     for r in sb.portal.truth(t)) for t in ("contacts", "companies")}
    answer = admin(sb, "POST", "/associations/move", json={
        "fromType": "contacts", "fromId": contact, "toType": "companies", "toId": new})
    assert answer.status_code == 200 and answer.json() == {"removed": [old]}
    truth = next(r for r in sb.portal.truth("contacts") if r["id"] == contact)
    assert truth["associations"]["companies"] == [{"id": new, "primary": True}]
    assert truth["properties"]["associatedcompanyid"] == new
    read = api(sb, "POST", "/crm/v4/associations/contacts/companies/batch/read",
               json={"inputs": [{"id": contact}]}).json()
    assert [t["toObjectId"] for t in read["results"][0]["to"]] == [int(new)]
    for (object_type, record_id), was in before.items():
        assert dates(sb, object_type, record_id) == was, f"{object_type} {record_id} moved"
    # so a modified-date search (what an incremental pull runs) cannot see the move
    assert changed_since(sb, "contacts", newest["contacts"]) == 0
    assert changed_since(sb, "companies", newest["companies"]) == 0


def test_link_and_unlink_by_admin_or_v4_api_move_no_modified_date(sb):
    contact, company = linked_contact(sb)
    other = other_company(sb, company)
    call = next(r["id"] for r in sb.portal.truth("calls") if not r["archived"])
    before = [dates(sb, "contacts", contact), dates(sb, "companies", other),
              dates(sb, "calls", call)]
    link = {"fromType": "contacts", "fromId": contact, "toType": "calls", "toId": call}
    assert admin(sb, "POST", "/associations", json=link).json() in ({"changed": True},
                                                                    {"changed": False})
    assert admin(sb, "DELETE", "/associations", json=link).json() == {"changed": True}
    created = api(sb, "POST", "/crm/v4/associations/contacts/companies/batch/create", json={
        "inputs": [{"from": {"id": contact}, "to": {"id": other},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]})
    assert created.status_code == 201
    assert int(other) in sb.portal.links.targets("contacts", int(contact), "companies")
    archived = api(sb, "POST", "/crm/v4/associations/contacts/companies/batch/archive", json={
        "inputs": [{"from": {"id": contact}, "to": [{"id": company}]}]})
    assert archived.status_code == 204
    assert list(sb.portal.links.targets("contacts", int(contact), "companies")) == [int(other)]
    assert [dates(sb, "contacts", contact), dates(sb, "companies", other),
            dates(sb, "calls", call)] == before


def test_move_of_an_unknown_or_archived_record_is_a_404_and_changes_nothing(sb):
    contact, company = linked_contact(sb)
    answer = admin(sb, "POST", "/associations/move", json={
        "fromType": "contacts", "fromId": contact, "toType": "companies", "toId": "999999999"})
    assert answer.status_code == 404
    sb.portal.archive("contacts", contact)
    answer = admin(sb, "POST", "/associations/move", json={
        "fromType": "contacts", "fromId": contact, "toType": "companies",
        "toId": other_company(sb, company)})
    assert answer.status_code == 404
    assert list(sb.portal.links.targets("contacts", int(contact), "companies")) == [int(company)]


def test_move_to_the_company_it_already_has_removes_nothing(sb):
    contact, company = linked_contact(sb)
    answer = admin(sb, "POST", "/associations/move", json={
        "fromType": "contacts", "fromId": contact, "toType": "companies", "toId": company})
    assert answer.json() == {"removed": []}
    assert sb.portal.links.targets("contacts", int(contact), "companies") == {int(company): True}

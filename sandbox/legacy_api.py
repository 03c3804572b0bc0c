"""HubSpot's legacy v1/v2 endpoints that open-source extractors still read: property
definitions (`/properties/v2/{type}/properties`, `/companies/v2/properties`) and companies v2
(`/companies/v2/companies/paged`, `/companies/v2/companies/{id}`).

v2 shapes differ from v3: properties are `{"value", "timestamp", "source", "sourceId",
"versions"}` objects, datetimes and dates are epoch-millisecond strings, ids are numbers. The
sandbox keeps no history, so each property has one version, stamped with the record's last
modification (which is also its `hs_lastmodifieddate`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .catalog import Property, PropertyCatalog
from .clock import parse_ms
from .errors import invalid, not_found
from .records import Record
from .router import Route
from .wire import Request, Response, json_response

if TYPE_CHECKING:
    from .backend import Backend

MAX_COMPANY_PAGE = 250        # legacy docs: "defaults to 100, maximum 250"


def list_properties_v2(b: Backend, req: Request, type: str) -> Response:
    """A bare JSON array, as the v1/v2 property endpoints answer."""
    with b.portal.lock:
        body = [property_v2(p) for p in b.portal.catalogs[type].properties.values()]
    return json_response(200, body)


def list_company_properties(b: Backend, req: Request) -> Response:
    return list_properties_v2(b, req, "companies")


def property_v2(prop: Property) -> dict[str, Any]:
    """One definition in the v2 shape (read-only flags at the top level, times in ms)."""
    created = parse_ms(prop.created_at)
    return {
        "name": prop.name, "label": prop.label, "description": prop.description,
        "groupName": prop.group_name, "type": prop.type, "fieldType": prop.field_type,
        "options": [{"label": o.label, "value": o.value, "displayOrder": o.display_order,
                     "hidden": o.hidden, "description": o.description, "readOnly": False,
                     "doubleData": None} for o in prop.options],
        "displayOrder": prop.display_order, "calculated": prop.calculated,
        "externalOptions": False, "hasUniqueValue": prop.has_unique_value,
        "hidden": prop.hidden, "hubspotDefined": prop.hubspot_defined,
        "formField": prop.form_field, "readOnlyValue": prop.read_only,
        "readOnlyDefinition": prop.hubspot_defined and not prop.options_editable,
        "mutableDefinitionNotDeletable": prop.hubspot_defined, "deleted": False,
        "favorited": False, "favoritedOrder": -1, "displayMode": "current_value",
        "searchableInGlobalSearch": False, "optionsAreMutable": prop.options_editable,
        "createdAt": created, "updatedAt": parse_ms(prop.updated_at),
        "createdUserId": None, "updatedUserId": None, "referencedObjectType": None,
    }


def v2_value(prop: Property | None, value: str) -> str:
    """v2 writes datetimes and dates as epoch-ms strings; everything else as stored."""
    if prop is not None and prop.type in ("datetime", "date"):
        moment = parse_ms(value)
        return str(moment) if moment is not None else value
    return value


def properties_v2(record: Record, catalog: PropertyCatalog,
                  names: list[str] | None) -> dict[str, Any]:
    """`{"name": {"value", "timestamp", "source", "sourceId", "versions"}}` for the set
    properties among `names` (all set ones when None); unset ones are left out, as in v2."""
    chosen = record.properties if names is None else \
        {n: record.properties[n] for n in names if n in record.properties}
    block = {}
    for name, raw in chosen.items():
        prop = catalog.get(name)
        value = v2_value(prop, raw)
        source = "CALCULATED" if prop is not None and prop.read_only else "CRM_UI"
        version = {"name": name, "value": value, "timestamp": record.updated_ms,
                   "source": source, "sourceVid": []}
        block[name] = {"value": value, "timestamp": record.updated_ms, "source": source,
                       "sourceId": None, "versions": [version]}
    return block


def company_v2(b: Backend, record: Record, names: list[str] | None) -> dict[str, Any]:
    return {"portalId": b.portal.portal_id, "companyId": record.id, "isDeleted": False,
            "properties": properties_v2(record, b.portal.catalogs["companies"], names),
            "additionalDomains": [], "stateChanges": [], "mergeAudits": []}


def companies_paged(b: Backend, req: Request) -> Response:
    """Live companies in id order; `offset` is the last companyId of the previous page.
    Only the requested `properties` are returned (none when none are asked for)."""
    limit = min(max(req.int_param("limit", 100), 1), MAX_COMPANY_PAGE)
    offset = req.int_param("offset", 0)
    if offset < 0:
        raise invalid(f"Invalid offset: {offset}")
    names = req.params("properties") + req.params("propertiesWithHistory")
    with b.portal.lock:
        page: list[Record] = []
        more = False
        for record in b.portal.live("companies", offset + 1):
            if len(page) == limit:
                more = True
                break
            page.append(record)
        companies = [company_v2(b, record, names) for record in page]
    last = page[-1].id if page else offset
    return json_response(200, {"companies": companies, "has-more": more, "offset": last})


def get_company(b: Backend, req: Request, id: str) -> Response:
    with b.portal.lock:
        record = b.portal.resolve("companies", id)
        if record is None or record.archived_ms is not None:
            raise not_found(f"resource not found: company {id}")
        body = company_v2(b, record, None)
    return json_response(200, body)


ROUTES = [
    Route("GET", "/properties/v2/{type}/properties", list_properties_v2),
    Route("GET", "/properties/v1/{type}/properties", list_properties_v2),
    Route("GET", "/companies/v2/properties", list_company_properties),
    Route("GET", "/companies/v2/companies/paged", companies_paged),
    Route("GET", "/companies/v2/companies/{id}", get_company),
]

"""`/crm/v3/properties/{type}`: the catalog, custom properties and groups."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .catalog import Option, Property, PropertyGroup
from .clock import iso_ms
from .errors import ApiError, invalid, not_found
from .router import Route
from .wire import Request, Response, batch_error, batch_response, json_response

if TYPE_CHECKING:
    from .backend import Backend

TYPES = ("string", "number", "date", "datetime", "enumeration", "bool")
FIELD_TYPES = ("textarea", "text", "date", "file", "number", "select", "radio", "checkbox",
               "booleancheckbox", "calculation_equation", "html", "phonenumber")
_UPDATABLE = {"label": "label", "description": "description", "groupName": "group_name",
              "hidden": "hidden", "displayOrder": "display_order", "type": "type",
              "fieldType": "field_type", "formField": "form_field"}


def list_properties(b: Backend, req: Request, type: str) -> Response:
    with b.portal.lock:
        results = [p.to_json() for p in b.portal.catalogs[type].properties.values()]
    return json_response(200, {"results": results})


def get_property(b: Backend, req: Request, type: str, name: str) -> Response:
    prop = b.portal.catalogs[type].get(name)
    if prop is None:
        raise not_found(f"Unable to find property {name} on object type {type}")
    return json_response(200, prop.to_json())


def create_property(b: Backend, req: Request, type: str) -> Response:
    with b.portal.lock:
        prop = _create(b, type, req.json_object())
    return json_response(201, prop.to_json())


def batch_create_properties(b: Backend, req: Request, type: str) -> Response:
    inputs = req.json_object().get("inputs") or []
    results, errors = [], []
    with b.portal.lock:
        for spec in inputs:
            try:
                results.append(_create(b, type, spec).to_json())
            except ApiError as exc:
                errors.append(batch_error(exc.category, exc.message,
                                          {"name": [str(spec.get("name"))]}))
    return batch_response(201, results, errors)


def batch_read_properties(b: Backend, req: Request, type: str) -> Response:
    inputs = req.json_object().get("inputs") or []
    catalog = b.portal.catalogs[type]
    names = [str(i.get("name")) for i in inputs]
    results = [catalog.properties[n].to_json() for n in names if n in catalog.properties]
    missing = [n for n in names if n not in catalog.properties]
    errors = [batch_error("OBJECT_NOT_FOUND", f"Unable to find properties on {type}",
                          {"names": missing})] if missing else []
    return batch_response(200, results, errors)


def update_property(b: Backend, req: Request, type: str, name: str) -> Response:
    body = req.json_object()
    with b.portal.lock:
        catalog = b.portal.catalogs[type]
        prop = catalog.get(name)
        if prop is None:
            raise not_found(f"Unable to find property {name} on object type {type}")
        if prop.hubspot_defined and not (prop.options_editable and set(body) <= {"options"}):
            raise invalid(f"Property {name} is HubSpot-defined; its definition is read-only")
        changes: dict[str, Any] = {_UPDATABLE[k]: v for k, v in body.items() if k in _UPDATABLE}
        if "options" in body:
            changes["options"] = _options(body["options"])
        _check_types(changes.get("type", prop.type), changes.get("field_type", prop.field_type),
                     changes.get("options", prop.options))
        updated = catalog.replace(name, updated_at=iso_ms(b.portal.clock()), **changes)
    return json_response(200, updated.to_json())


def archive_property(b: Backend, req: Request, type: str, name: str) -> Response:
    with b.portal.lock:
        catalog = b.portal.catalogs[type]
        prop = catalog.get(name)
        if prop is None:
            raise not_found(f"Unable to find property {name} on object type {type}")
        if prop.hubspot_defined:
            raise invalid(f"Property {name} is HubSpot-defined and cannot be archived")
        del catalog.properties[name]
    return Response(204)


def list_groups(b: Backend, req: Request, type: str) -> Response:
    groups = b.portal.catalogs[type].groups.values()
    return json_response(200, {"results": [g.to_json() for g in groups]})


def create_group(b: Backend, req: Request, type: str) -> Response:
    body = req.json_object()
    name, label = body.get("name"), body.get("label")
    if not name or not label:
        raise invalid("Property group needs name and label")
    with b.portal.lock:
        groups = b.portal.catalogs[type].groups
        if name in groups:
            raise ApiError(409, "CONFLICT", f"A property group named '{name}' already exists.",
                           extra={"subCategory": "PropertyGroupError.GROUP_EXISTS"})
        group = PropertyGroup(name, label, int(body.get("displayOrder", -1)))
        groups[name] = group
    return json_response(201, group.to_json())


def list_schemas(b: Backend, req: Request) -> Response:
    """Custom object schemas: the sandbox portal has none."""
    return json_response(200, {"results": []})


def _create(b: Backend, type: str, body: dict[str, Any]) -> Property:
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
    if missing:
        raise invalid(f"Property definition is missing required field(s): {', '.join(missing)}")
    catalog = b.portal.catalogs[type]
    name = body["name"]
    if catalog.get(name) is not None:
        raise ApiError(409, "CONFLICT", f"A property named '{name}' already exists.",
                       extra={"subCategory": "PropertyValidationError.PROPERTY_EXISTS"})
    if body["groupName"] not in catalog.groups:
        raise invalid(f"Property group {body['groupName']} does not exist on {type}")
    opts = _options(body.get("options") or [])
    _check_types(body["type"], body["fieldType"], opts)
    now = iso_ms(b.portal.clock())
    prop = Property(name=name, label=body["label"], type=body["type"],
                    field_type=body["fieldType"], group_name=body["groupName"], options=opts,
                    hubspot_defined=False, description=body.get("description") or "",
                    display_order=int(body.get("displayOrder", -1)),
                    has_unique_value=bool(body.get("hasUniqueValue", False)),
                    hidden=bool(body.get("hidden", False)),
                    form_field=bool(body.get("formField", False)),
                    created_at=now, updated_at=now)
    catalog.add(prop)
    return prop


def _options(raw: list[Any]) -> tuple[Option, ...]:
    built = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not item.get("value") or "label" not in item:
            raise invalid(f"Option {index} needs a label and a value")
        built.append(Option(label=str(item["label"]), value=str(item["value"]),
                            display_order=int(item.get("displayOrder", index)),
                            hidden=bool(item.get("hidden", False)),
                            description=str(item.get("description") or "")))
    return tuple(built)


def _check_types(type_: str, field_type: str, opts: tuple[Option, ...]) -> None:
    if type_ not in TYPES:
        raise invalid(f"Invalid property type {type_!r}; expected one of {', '.join(TYPES)}")
    if field_type not in FIELD_TYPES:
        raise invalid(f"Invalid fieldType {field_type!r}")
    if type_ == "enumeration" and not opts and field_type != "checkbox":
        raise invalid("Enumeration properties need options")


ROUTES = [
    Route("GET", "/crm/v3/schemas", list_schemas),
    Route("POST", "/crm/v3/properties/{type}/batch/create", batch_create_properties),
    Route("POST", "/crm/v3/properties/{type}/batch/read", batch_read_properties),
    Route("GET", "/crm/v3/properties/{type}/groups", list_groups),
    Route("POST", "/crm/v3/properties/{type}/groups", create_group),
    Route("GET", "/crm/v3/properties/{type}", list_properties),
    Route("POST", "/crm/v3/properties/{type}", create_property),
    Route("GET", "/crm/v3/properties/{type}/{name}", get_property),
    Route("PATCH", "/crm/v3/properties/{type}/{name}", update_property),
    Route("DELETE", "/crm/v3/properties/{type}/{name}", archive_property),
]

"""`/crm/v3/objects/{type}`: list, read, write and batch endpoints."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .associations import TYPE_IDS
from .errors import ApiError, PropertyValueError, invalid, not_found
from .records import Record
from .router import Route
from .shapes import associations_json, history_json, record_json
from .values import as_text
from .wire import Request, Response, batch_error, batch_response, json_response

if TYPE_CHECKING:
    from .backend import Backend

API_SOURCE = "INTEGRATION"  # webhooks' changeSource for writes made through the API
MAX_BATCH = 100
MAX_LIST_LIMIT = 100


# ---- single-record endpoints ---------------------------------------------------------------

def list_objects(b: Backend, req: Request, type: str) -> Response:
    limit = min(max(req.int_param("limit", 10), 1), MAX_LIST_LIMIT)
    start = _cursor(req.param("after"))
    source = b.portal.archived if req.flag("archived") else b.portal.live
    requested, wanted_links = req.params("properties"), req.params("associations")
    with b.portal.lock:
        page: list[Record] = []
        following: Record | None = None
        for record in source(type, start):
            if len(page) == limit:
                following = record
                break
            page.append(record)
        results = [_with_extras(b, record, requested, wanted_links, req) for record in page]
    body: dict[str, Any] = {"results": results}
    if following is not None:
        body["paging"] = {"next": {"after": str(following.id),
                                   "link": f"?after={following.id}"}}
    return json_response(200, body)


def get_object(b: Backend, req: Request, type: str, id: str) -> Response:
    with b.portal.lock:
        record = _lookup(b, type, id, req.param("idProperty"), req.flag("archived"))
        if record is None:
            raise not_found(f"No {type} record with {req.param('idProperty') or 'id'} {id}")
        body = _with_extras(b, record, req.params("properties"), req.params("associations"),
                            req)
    return json_response(200, body)


def create_object(b: Backend, req: Request, type: str) -> Response:
    body = req.json_object()
    record = _create(b, type, body, 0)
    return json_response(201, record_json(record, list(body.get("properties") or {})))


def update_object(b: Backend, req: Request, type: str, id: str) -> Response:
    body = req.json_object()
    properties = _properties_of(body, 0)
    with b.portal.lock:
        record = _lookup(b, type, id, req.param("idProperty"), False)
        if record is None:
            raise not_found(f"Object not found.  objectId are usually numeric. id={id}")
        failure = b.faults.record_failure(type, record.id)
        if failure is not None:
            raise ApiError(failure.status, failure.category, failure.message)
        try:
            b.portal.update(type, record.id, properties, source=API_SOURCE, trusted=False)
        except PropertyValueError as exc:
            raise _property_error([(0, str(record.id), exc)], b.portal.portal_id) from None
        return json_response(200, record_json(record, list(properties)))


def archive_object(b: Backend, req: Request, type: str, id: str) -> Response:
    with b.portal.lock:
        record = b.portal.get(type, id)
        if record is not None and record.live:
            b.portal.archive(type, record.id, source=API_SOURCE)
    return Response(204)


def merge_objects(b: Backend, req: Request, type: str) -> Response:
    body = req.json_object()
    try:
        primary, merged = body["primaryObjectId"], body["objectIdToMerge"]
    except KeyError:
        raise invalid("primaryObjectId and objectIdToMerge are required") from None
    with b.portal.lock:
        survivor = b.portal.merge(type, primary, merged, source=API_SOURCE)
        return json_response(200, record_json(survivor))


def gdpr_delete(b: Backend, req: Request, type: str) -> Response:
    body = req.json_object()
    with b.portal.lock:
        record = _lookup(b, type, str(body.get("objectId", "")), body.get("idProperty"), False)
        if record is None:
            raise not_found(f"No {type} record matches {body.get('objectId')!r}")
        b.portal.archive(type, record.id, source=API_SOURCE, privacy=True)
    return Response(204)


# ---- batch endpoints -----------------------------------------------------------------------

def batch_read(b: Backend, req: Request, type: str) -> Response:
    body = req.json_object()
    inputs = _inputs(body)
    id_property = body.get("idProperty")
    requested = body.get("properties") or []
    history = body.get("propertiesWithHistory") or []
    results, missing, seen = [], [], set()
    with b.portal.lock:
        for item in inputs:
            key = as_text(item.get("id"))
            record = _lookup(b, type, key, id_property, req.flag("archived"))
            if record is None:
                missing.append(key)
            elif record.id not in seen:
                seen.add(record.id)
                view = record_json(record, requested)
                if history:
                    view["propertiesWithHistory"] = history_json(record, history)
                results.append(view)
    errors = []
    if missing:
        errors.append(batch_error(
            "OBJECT_NOT_FOUND", f"Could not get some {type.upper()} objects, they may be "
            "deleted or not exist. Check that ids are valid.", {"ids": missing}))
    return batch_response(200, results, errors)


def batch_update(b: Backend, req: Request, type: str) -> Response:
    body = req.json_object()
    if "inputs" not in body:  # HubSpot answers COMPLETE with nothing done (§7)
        return batch_response(200, [], [])
    inputs = _inputs(body)
    ids = [as_text(item.get("id")) for item in inputs]
    _reject_duplicates(ids)
    if any(item.get("idProperty") not in (None, "hs_object_id") for item in inputs) or \
            body.get("idProperty") not in (None, "hs_object_id"):
        raise invalid("Batch update identifies records by id only; idProperty is not "
                      "supported here (use batch/upsert)")
    with b.portal.lock:
        targets, errors = _update_targets(b, type, inputs, ids)
        problems = []
        for index, (item, record) in enumerate(zip(inputs, targets)):
            try:
                b.portal.validate(type, _properties_of(item, index), record)
            except PropertyValueError as exc:
                problems.append((index, ids[index], exc))
        if problems:
            raise _property_error(problems, b.portal.portal_id)
        results = []
        for index, (item, record) in enumerate(zip(inputs, targets)):
            if record is None:
                continue
            properties = _properties_of(item, index)
            b.portal.update(type, record.id, properties, source=API_SOURCE, trusted=False)
            results.append(record_json(record, list(properties)))
    return batch_response(200, results, errors)


def _update_targets(b: Backend, type: str, inputs: list[dict[str, Any]],
                    ids: list[str]) -> tuple[list[Record | None], list[dict[str, Any]]]:
    """The record each input writes to, or None plus a per-input error (a 207)."""
    targets: list[Record | None] = []
    errors = []
    for key in ids:
        record = b.portal.get(type, key)
        failure = b.faults.record_failure(type, record.id) if record else None
        if record is None or not record.live:
            # Merged-away ids fail here although a single PATCH follows the merge (§1).
            targets.append(None)
            errors.append(batch_error("OBJECT_NOT_FOUND", f"Object not found.  objectId are "
                                      f"usually numeric. id={key}", {"ids": [key]}))
        elif failure is not None:
            targets.append(None)
            errors.append(batch_error(failure.category, failure.message, {"ids": [key]}))
        else:
            targets.append(record)
    return targets, errors


def batch_upsert(b: Backend, req: Request, type: str) -> Response:
    body = req.json_object()
    inputs = _inputs(body)
    results = []
    with b.portal.lock:
        plans = []
        for index, item in enumerate(inputs):
            id_property = item.get("idProperty") or body.get("idProperty")
            if not id_property or id_property == "hs_object_id":
                raise invalid(f"Input {index}: upsert needs idProperty naming a unique "
                              "property such as email")
            key = as_text(item.get("id"))
            record = b.portal.find(type, id_property, key)
            properties = {**_properties_of(item, index), id_property: key}
            plans.append((index, key, record, properties))
        problems = []
        for index, key, record, properties in plans:
            try:
                b.portal.validate(type, properties, record)
            except PropertyValueError as exc:
                problems.append((index, key, exc))
        if problems:
            raise _property_error(problems, b.portal.portal_id)
        for index, key, record, properties in plans:
            is_new = record is None
            if is_new:
                record = b.portal.create(type, properties, source=API_SOURCE, trusted=False)
            else:
                b.portal.update(type, record.id, properties, source=API_SOURCE, trusted=False)
            results.append({**record_json(record, list(properties)), "new": is_new})
    return batch_response(200, results, [])


def batch_create(b: Backend, req: Request, type: str) -> Response:
    inputs = _inputs(req.json_object())
    with b.portal.lock:
        problems = []
        for index, item in enumerate(inputs):
            try:
                b.portal.validate(type, _properties_of(item, index), None)
            except PropertyValueError as exc:
                problems.append((index, "", exc))
        if problems:
            raise _property_error(problems, b.portal.portal_id)
        results = [record_json(_create(b, type, item, i), list(_properties_of(item, i)))
                   for i, item in enumerate(inputs)]
    return batch_response(201, results, [])


def batch_archive(b: Backend, req: Request, type: str) -> Response:
    inputs = _inputs(req.json_object())
    with b.portal.lock:
        for item in inputs:
            record = b.portal.get(type, as_text(item.get("id")))
            if record is not None and record.live:
                b.portal.archive(type, record.id, source=API_SOURCE)
    return Response(204)


# ---- shared pieces -------------------------------------------------------------------------

def _lookup(b: Backend, type: str, key: str, id_property: str | None,
            archived: bool) -> Record | None:
    """Find by id (following merges) or idProperty; archived records only when asked."""
    record = b.portal.find(type, id_property or "hs_object_id", key)
    if record is None:
        return None
    return record if (record.archived_ms is not None) == archived else None


def _with_extras(b: Backend, record: Record, requested: list[str], links: list[str],
                 req: Request) -> dict[str, Any]:
    body = record_json(record, requested)
    history = req.params("propertiesWithHistory")
    if history:
        body["propertiesWithHistory"] = history_json(record, history)
    if links:
        block = associations_json(b.portal, record, links)
        if block:
            body["associations"] = block
    return body


def _create(b: Backend, type: str, body: dict[str, Any], index: int) -> Record:
    links = []
    for link in body.get("associations") or []:
        to_id = as_text((link.get("to") or {}).get("id"))
        type_ids = {t.get("associationTypeId") for t in link.get("types") or []}
        to_type = _target_type(type, type_ids)
        if to_type is None:
            raise invalid(f"Input {index}: unknown association type ids {sorted(type_ids)}")
        links.append((to_type, int(to_id), 1 in type_ids))
    try:
        return b.portal.create(type, _properties_of(body, index), source=API_SOURCE,
                               trusted=False, associations=links)
    except PropertyValueError as exc:
        raise _property_error([(index, "", exc)], b.portal.portal_id) from None


def _target_type(from_type: str, type_ids: set[Any]) -> str | None:
    for (frm, to), type_id in TYPE_IDS.items():
        if frm == from_type and type_id in type_ids:
            return to
    if 1 in type_ids and from_type == "contacts":
        return "companies"
    return None


def _inputs(body: dict[str, Any], limit: int = MAX_BATCH) -> list[dict[str, Any]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise invalid("Invalid input JSON: inputs must be a list of objects")
    if len(inputs) > limit:
        raise invalid(f"Batch input size {len(inputs)} exceeds the limit of {limit}")
    return inputs


def _properties_of(item: dict[str, Any], index: int) -> dict[str, Any]:
    properties = item.get("properties") or {}
    if not isinstance(properties, dict):
        raise invalid(f"Input {index}: properties must be an object")
    return properties


def _reject_duplicates(ids: list[str]) -> None:
    seen, dupes = set(), []
    for key in ids:
        if key in seen:
            dupes.append(key)
        seen.add(key)
    if dupes:
        # HubSpot's wording and shape: the ids in brackets, and again in `context.ids`.
        named = sorted(set(dupes), key=lambda key: (len(key), key))
        raise invalid(f"Duplicate IDs found in batch input: [{', '.join(named)}]. IDs must "
                      "be unique", context={"ids": named})


def _property_error(problems: list[tuple[int, str, PropertyValueError]],
                    portal_id: int) -> ApiError:
    """Whole-batch 400 in HubSpot's shape: the property validation results as JSON inside
    `message`, and one `errors[]` entry per problem with `context.propertyName`.

    Like HubSpot it names the property and (in the message text) the rejected value, never
    the input's index or record id: a caller must match them back to its inputs itself.
    """
    details = [{"isValid": False, "message": exc.message, "error": exc.code,
                "name": exc.property_name, "localizedErrorMessage": exc.message,
                "portalId": portal_id}
               for _, _, exc in problems]
    return invalid(
        "Property values were not valid: " + json.dumps(details, separators=(",", ":")),
        errors=[{"message": exc.message, "code": exc.code,
                 "context": {"propertyName": [exc.property_name]}}
                for _, _, exc in problems])


def _cursor(after: str | None) -> int:
    if not after:
        return 0
    try:
        return int(after)
    except ValueError:
        raise invalid(f"Invalid after cursor: {after!r}") from None


ROUTES = [
    Route("POST", "/crm/v3/objects/{type}/batch/read", batch_read),
    Route("POST", "/crm/v3/objects/{type}/batch/update", batch_update),
    Route("POST", "/crm/v3/objects/{type}/batch/upsert", batch_upsert),
    Route("POST", "/crm/v3/objects/{type}/batch/create", batch_create),
    Route("POST", "/crm/v3/objects/{type}/batch/archive", batch_archive),
    Route("POST", "/crm/v3/objects/{type}/merge", merge_objects),
    Route("POST", "/crm/v3/objects/{type}/gdpr-delete", gdpr_delete),
    Route("GET", "/crm/v3/objects/{type}", list_objects),
    Route("POST", "/crm/v3/objects/{type}", create_object),
    Route("GET", "/crm/v3/objects/{type}/{id}", get_object),
    Route("PATCH", "/crm/v3/objects/{type}/{id}", update_object),
    Route("DELETE", "/crm/v3/objects/{type}/{id}", archive_object),
]

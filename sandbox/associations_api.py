"""`/crm/v4/associations/{from}/{to}/batch/*`: read with per-input paging, create, archive;
and the older `/crm/v3/associations/{from}/{to}/batch/read` that tap-hubspot still reads."""
from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, Iterator

from .associations import (PRIMARY_TYPE_IDS, SINGULAR, TYPE_IDS, association_types,
                           v3_type_names)
from .errors import invalid
from .router import Route
from .values import as_text
from .wire import Request, Response, batch_error, batch_response

if TYPE_CHECKING:
    from .backend import Backend

MAX_READ_INPUTS = 1_000
# Pairs HubSpot defines that this portal never links: reading them is valid and finds nothing
# (airbyte-source-hubspot reads contact→contact links on every contacts page).
UNLINKED_PAIRS = {("contacts", "contacts"), ("companies", "companies")}
OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "calls": "0-48", "emails": "0-49",
                   "meetings": "0-47", "notes": "0-46", "tasks": "0-27"}


def batch_read(b: Backend, req: Request, from_type: str, to_type: str) -> Response:
    _require_pair(from_type, to_type, readable=UNLINKED_PAIRS)
    inputs = _read_inputs(req)
    page_size = max(1, b.portal.settings.association_page_size)
    results, errors = [], []
    with b.portal.lock:
        for item, key, links in _linked(b, inputs, from_type, to_type, errors):
            offset = _offset(item.get("after"))
            chunk = links[offset:offset + page_size]
            result: dict[str, Any] = {"from": {"id": key}, "to": [
                {"toObjectId": to_id,
                 "associationTypes": [t.to_v4() for t in
                                      association_types(from_type, to_type, primary)]}
                for to_id, primary in chunk]}
            if offset + page_size < len(links):
                result["paging"] = {"next": {"after": _token(offset + page_size)}}
            results.append(result)
    return batch_response(200, results, errors)


def batch_read_v3(b: Backend, req: Request, from_type: str, to_type: str) -> Response:
    """v3 shape: `to` is `[{"id": "57", "type": "company_to_contact"}]`, one entry per type
    name (a primary company link twice, as v3 `?associations=` lists it), no paging."""
    _require_pair(from_type, to_type, readable=UNLINKED_PAIRS)
    inputs = _read_inputs(req)
    results, errors = [], []
    with b.portal.lock:
        for item, key, links in _linked(b, inputs, from_type, to_type, errors):
            results.append({"from": {"id": key}, "to": [
                {"id": str(to_id), "type": name} for to_id, primary in links
                for name in v3_type_names(from_type, to_type, primary)]})
    return batch_response(200, results, errors)


def _linked(b: Backend, inputs: list[dict], from_type: str, to_type: str,
            errors: list[dict]) -> Iterator[tuple[dict, str, list]]:
    """Each input with its id and links; an unknown id or one without links becomes an error
    (as HubSpot reports them) instead. Call with the portal lock held."""
    for item in inputs:
        key = as_text(item.get("id"))
        record = b.portal.resolve(from_type, key)
        if record is None or record.archived_ms is not None:
            errors.append(batch_error("OBJECT_NOT_FOUND", f"No {SINGULAR[from_type]} with id {key}",
                                      {"ids": [key]}))
            continue
        links = _links(b, from_type, record.id, to_type)
        if not links:
            errors.append(_no_associations(from_type, to_type, key))
            continue
        yield item, key, links


def _read_inputs(req: Request) -> list[Any]:
    inputs = req.json_object().get("inputs")
    if not isinstance(inputs, list):
        raise invalid("Invalid input JSON: inputs must be a list")
    if len(inputs) > MAX_READ_INPUTS:
        raise invalid(f"Batch input size {len(inputs)} exceeds the limit of {MAX_READ_INPUTS}")
    return inputs


def _links(b: Backend, from_type: str, from_id: int, to_type: str) -> list[tuple[int, bool]]:
    if (from_type, to_type) not in TYPE_IDS:
        return []
    return b.portal.associated(from_type, from_id, to_type)


def _no_associations(from_type: str, to_type: str, key: str) -> dict[str, Any]:
    """HubSpot reports an input without associations as a per-input error."""
    return batch_error(
        "OBJECT_NOT_FOUND",
        f"No {SINGULAR[to_type]} is associated with {SINGULAR[from_type]} {key}.",
        {"fromObjectId": [key], "toObjectType": [SINGULAR[to_type]]},
        sub_category="crm.associations.NO_ASSOCIATIONS_FOUND")


def batch_create(b: Backend, req: Request, from_type: str, to_type: str) -> Response:
    _require_pair(from_type, to_type)
    results, errors = [], []
    with b.portal.lock:
        for item in req.json_object().get("inputs") or []:
            from_id = as_text((item.get("from") or {}).get("id"))
            to_id = as_text((item.get("to") or {}).get("id"))
            type_ids = {t.get("associationTypeId") for t in item.get("types") or []}
            primary = PRIMARY_TYPE_IDS.get((from_type, to_type)) in type_ids
            left, right = b.portal.resolve(from_type, from_id), b.portal.resolve(to_type, to_id)
            if left is None or right is None or not left.live or not right.live:
                errors.append(batch_error("OBJECT_NOT_FOUND", f"Cannot associate {from_type} "
                                          f"{from_id} with {to_type} {to_id}: not found",
                                          {"ids": [from_id, to_id]}))
                continue
            b.portal.associate(from_type, left.id, to_type, right.id, primary=primary,
                               source="INTEGRATION")
            results.append({"fromObjectTypeId": OBJECT_TYPE_IDS[from_type],
                            "fromObjectId": str(left.id),
                            "toObjectTypeId": OBJECT_TYPE_IDS[to_type],
                            "toObjectId": str(right.id),
                            "labels": ["Primary"] if primary else []})
    return batch_response(201, results, errors)


def batch_archive(b: Backend, req: Request, from_type: str, to_type: str) -> Response:
    _require_pair(from_type, to_type)
    with b.portal.lock:
        for item in req.json_object().get("inputs") or []:
            from_id = as_text((item.get("from") or {}).get("id"))
            for target in item.get("to") or []:
                left = b.portal.resolve(from_type, from_id)
                right = b.portal.resolve(to_type, as_text(target.get("id")))
                if left is not None and right is not None:
                    b.portal.disassociate(from_type, left.id, to_type, right.id,
                                          source="INTEGRATION")
    return Response(204)


def _require_pair(from_type: str, to_type: str,
                  readable: set[tuple[str, str]] | None = None) -> None:
    if (from_type, to_type) not in TYPE_IDS and (from_type, to_type) not in (readable or ()):
        raise invalid(f"Associations from {from_type} to {to_type} are not supported")


def _token(offset: int) -> str:
    """Opaque paging cursor (clients must echo it, never build it)."""
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _offset(after: Any) -> int:
    if not after:
        return 0
    try:
        text = str(after)
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        return int(decoded.removeprefix("offset:"))
    except ValueError:
        raise invalid(f"Invalid after cursor: {after!r}") from None


ROUTES = [
    Route("POST", "/crm/v3/associations/{from_type}/{to_type}/batch/read", batch_read_v3),
    Route("POST", "/crm/v4/associations/{from_type}/{to_type}/batch/read", batch_read),
    Route("POST", "/crm/v4/associations/{from_type}/{to_type}/batch/create", batch_create),
    Route("POST", "/crm/v4/associations/{from_type}/{to_type}/batch/archive", batch_archive),
]

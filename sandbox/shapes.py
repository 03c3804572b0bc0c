"""How records look on the wire: which properties a response carries, and their associations."""
from __future__ import annotations

from typing import Any, Iterable

from .associations import TYPE_IDS, v3_type_names
from .catalog import CREATED_DATE, DEFAULT_PROPERTIES, MODIFIED_DATE
from .portal import Portal
from .records import Record
from .router import TYPE_ALIASES


def property_view(record: Record, requested: Iterable[str] | None) -> dict[str, str | None]:
    """Requested properties (null when unset) or the type's defaults, always with the id and
    the created/modified dates, as HubSpot does."""
    t = record.object_type
    names = list(requested or DEFAULT_PROPERTIES[t])
    names += ["hs_object_id", CREATED_DATE[t], MODIFIED_DATE[t]]
    values = record.properties
    return {name: values.get(name) for name in names}


def record_json(record: Record, requested: Iterable[str] | None = None) -> dict[str, Any]:
    return record.envelope(property_view(record, requested))


def history_json(record: Record, names: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The sandbox keeps no history: the current value is the only version."""
    updated = record.envelope({})["updatedAt"]
    return {name: ([{"value": record.properties[name], "timestamp": updated,
                     "sourceType": "API"}] if name in record.properties else [])
            for name in names}


def associations_json(portal: Portal, record: Record,
                      to_types: Iterable[str]) -> dict[str, Any]:
    """v3 `?associations=` block: `{"companies": {"results": [{"id", "type"}]}}`."""
    block: dict[str, Any] = {}
    for name in to_types:
        to_type = TYPE_ALIASES.get(name.lower(), name.lower())
        if (record.object_type, to_type) not in TYPE_IDS:
            continue
        results = [{"id": str(to_id), "type": type_name}
                   for to_id, primary in portal.associated(record.object_type, record.id,
                                                           to_type)
                   for type_name in v3_type_names(record.object_type, to_type, primary)]
        if results:
            block[to_type] = {"results": results}
    return block

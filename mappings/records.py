"""HubSpot records (the API's JSON) ⇄ canonical cache rows. Pure: no I/O, no clock."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from mappings.streams import Stream

# Association type ids leadsync stores (hubspot-api.md §2): contact → company/engagement.
CONTACT_TO = {"companies": 279, "calls": 193, "emails": 197, "meetings": 199, "notes": 201,
              "tasks": 203}
PRIMARY_COMPANY = 1


@dataclass(frozen=True)
class RecordRow:
    """One record as the cache stores it: the table and its column values."""

    table: str
    values: dict[str, Any]


def record_row(stream: Stream, record: Mapping[str, Any], pulled_at: str) -> RecordRow:
    """The cache row for one HubSpot record of `stream` (values kept as HubSpot's strings)."""
    props = {k: v for k, v in (record.get("properties") or {}).items() if v is not None}
    common = {
        "id": str(record["id"]),
        "properties": json.dumps(props, sort_keys=True, separators=(",", ":")),
        "created_at": record.get("createdAt"),
        "updated_at": record.get("updatedAt"),
        "archived": 1 if record.get("archived") else 0,
        "pulled_at": pulled_at,
    }
    if stream.name == "contacts":
        return RecordRow("contacts", {**common, "email": _lower(props.get("email"))})
    if stream.name == "companies":
        return RecordRow("companies", {**common, "domain": _lower(props.get("domain"))})
    return RecordRow("engagements", {**common, "type": stream.name,
                                     "occurred_at": props.get("hs_timestamp")})


def merged_ids(record: Mapping[str, Any]) -> list[str]:
    """Ids merged into this record (HubSpot's `hs_merged_object_ids`, `;`-joined)."""
    raw = (record.get("properties") or {}).get("hs_merged_object_ids") or ""
    return [part.strip() for part in raw.split(";") if part.strip()]


def association_rows(from_type: str, from_id: str, to_type: str,
                     targets: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, str, str, int]]:
    """Rows for the associations table from a v4 batch-read result's `to` list."""
    rows = set()
    for target in targets:
        to_id = str(target["toObjectId"])
        for kind in target.get("associationTypes") or [{"typeId": CONTACT_TO.get(to_type, 0)}]:
            rows.add((from_type, str(from_id), to_type, to_id, int(kind["typeId"])))
    return sorted(rows)


PRIMARY_COMPANY_TYPE_ID = 1


def primary_company(targets: Iterable[Mapping[str, Any]]) -> str | None:
    """The contact's primary company (its `associatedcompanyid`) in a v4 contact→company
    result's `to` list, or None."""
    for target in targets:
        if any(int(kind.get("typeId", 0)) == PRIMARY_COMPANY_TYPE_ID
               for kind in target.get("associationTypes") or []):
            return str(target["toObjectId"])
    return None


def _lower(value: str | None) -> str | None:
    return value.strip().lower() if isinstance(value, str) and value.strip() else None

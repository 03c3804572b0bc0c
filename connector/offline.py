"""`pull --from-json`: save exported HubSpot records through the same mapping → cache code."""
from __future__ import annotations

import json
from pathlib import Path

from cache.database import Cache, utcnow
from cache.records import Tally, save_associations, save_records
from foundation.errors import ConfigError
from mappings.records import CONTACT_TO, PRIMARY_COMPANY
from mappings.streams import Stream

# v3 list responses name association types instead of numbering them.
_NAMED_TYPES = {"contact_to_company": PRIMARY_COMPANY, "contact_to_company_unlabeled": 279}


def load_export(cache: Cache, path: str | Path, streams: dict[str, Stream]) -> dict[str, Tally]:
    """Save every record of `path` ({"contacts": [records…], "calls": […], …}) into the cache.

    Records look exactly like the API's (`id`, `properties`, `createdAt`, `updatedAt`,
    `archived`); contacts may carry v3 `associations`. Watermarks are not moved: the next
    online pull still reads everything changed since its own last run.
    """
    export = _read(Path(path))
    tallies: dict[str, Tally] = {}
    with cache.transaction() as conn:
        for name, records in export.items():
            if name not in streams:
                raise ConfigError(f"{path}: unknown stream {name!r}; expected some of "
                                  f"{', '.join(streams)}")
            if not isinstance(records, list) or not all(_is_record(r) for r in records):
                raise ConfigError(f"{path}: {name} must be a list of records with an id and "
                                  f"properties, as HubSpot's API returns them")
            tallies[name] = Tally()
            save_records(conn, streams[name], records, utcnow(), tallies[name])
            if name == "contacts":
                for to_type, found in _associations(records).items():
                    save_associations(conn, "contacts", to_type, found)
    return tallies


def _associations(contacts: list[dict]) -> dict[str, dict[str, list[dict]]]:
    """v3 inline associations, turned into the v4 shape save_associations takes."""
    by_type: dict[str, dict[str, list[dict]]] = {}
    for contact in contacts:
        for to_type, block in (contact.get("associations") or {}).items():
            targets = by_type.setdefault(to_type, {}).setdefault(str(contact["id"]), [])
            for item in block.get("results") or []:
                type_id = _NAMED_TYPES.get(item.get("type"), CONTACT_TO.get(to_type, 0))
                targets.append({"toObjectId": item["id"], "associationTypes": [{"typeId": type_id}]})
    return by_type


def _read(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such export file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable JSON export ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a JSON object of stream name → list of records")
    return doc


def _is_record(record: object) -> bool:
    return isinstance(record, dict) and "id" in record and isinstance(record.get("properties", {}), dict)

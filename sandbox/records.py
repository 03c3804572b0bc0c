"""Records and the change events they produce."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .clock import iso_ms

# Distinct id ranges per type make a wrongly-typed id obvious in tests.
ID_BASES = {"contacts": 1, "companies": 10_000_001, "calls": 20_000_001,
            "emails": 30_000_001, "meetings": 40_000_001, "notes": 50_000_001,
            "tasks": 60_000_001, "communications": 70_000_001, "postal_mail": 80_000_001}


class Record:
    """One CRM object; `properties` holds HubSpot's string values, unset ones absent."""

    __slots__ = ("object_type", "id", "properties", "created_ms", "updated_ms",
                 "archived_ms", "merged_into")

    def __init__(self, object_type: str, record_id: int, properties: dict[str, str],
                 created_ms: int, updated_ms: int) -> None:
        self.object_type = object_type
        self.id = record_id
        self.properties = properties
        self.created_ms = created_ms
        self.updated_ms = updated_ms
        self.archived_ms: int | None = None
        self.merged_into: int | None = None

    @property
    def live(self) -> bool:
        """Visible to list and search: neither archived nor merged away."""
        return self.archived_ms is None and self.merged_into is None

    def envelope(self, properties: dict[str, str | None]) -> dict[str, Any]:
        """The JSON object HubSpot returns for a record, with the given properties."""
        body: dict[str, Any] = {
            "id": str(self.id), "properties": properties,
            "createdAt": iso_ms(self.created_ms), "updatedAt": iso_ms(self.updated_ms),
            "archived": self.archived_ms is not None,
        }
        if self.archived_ms is not None:
            body["archivedAt"] = iso_ms(self.archived_ms)
        return body


@dataclass(frozen=True)
class ChangeEvent:
    """Something a webhook subscriber may hear about (`contact.propertyChange`, …)."""

    kind: str                   # creation | propertyChange | deletion | privacyDeletion
    #                             | restore | merge | associationChange
    object_type: str            # plural, e.g. "contacts"
    object_id: int
    occurred_at: int            # epoch ms
    change_source: str          # INTEGRATION | CRM | FORM | …
    property_name: str | None = None
    property_value: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

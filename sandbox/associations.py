"""Associations between records, stored both ways, with HubSpot's v4 type ids."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .catalog import ENGAGEMENT_TYPES

_ENGAGEMENT_IDS = {"calls": 193, "emails": 197, "meetings": 199, "notes": 201, "tasks": 203}
_COMPANY_ENGAGEMENT_IDS = {"calls": 181, "emails": 185, "meetings": 187, "notes": 189,
                           "tasks": 191}

TYPE_IDS: dict[tuple[str, str], int] = {("contacts", "companies"): 279,
                                        ("companies", "contacts"): 280}
for _kind in ENGAGEMENT_TYPES:
    TYPE_IDS[("contacts", _kind)] = _ENGAGEMENT_IDS[_kind]
    TYPE_IDS[(_kind, "contacts")] = _ENGAGEMENT_IDS[_kind] + 1
    TYPE_IDS[("companies", _kind)] = _COMPANY_ENGAGEMENT_IDS[_kind]
    TYPE_IDS[(_kind, "companies")] = _COMPANY_ENGAGEMENT_IDS[_kind] + 1
PRIMARY_TYPE_IDS = {("contacts", "companies"): 1, ("companies", "contacts"): 2}

SINGULAR = {"contacts": "contact", "companies": "company", "calls": "call", "emails": "email",
            "meetings": "meeting", "notes": "note", "tasks": "task"}
PLURAL = {v: k for k, v in SINGULAR.items()}


@dataclass(frozen=True)
class AssociationType:
    """One association label between two object types."""

    type_id: int
    category: str = "HUBSPOT_DEFINED"
    label: str | None = None

    def to_v4(self) -> dict[str, Any]:
        return {"category": self.category, "typeId": self.type_id, "label": self.label}


def association_types(from_type: str, to_type: str, primary: bool) -> list[AssociationType]:
    """The types a link carries; a primary company link carries both "Primary" and unlabeled."""
    unlabeled = AssociationType(TYPE_IDS[(from_type, to_type)])
    if primary and (from_type, to_type) in PRIMARY_TYPE_IDS:
        return [AssociationType(PRIMARY_TYPE_IDS[(from_type, to_type)], label="Primary"),
                unlabeled]
    return [unlabeled]


def v3_type_names(from_type: str, to_type: str, primary: bool) -> list[str]:
    """The `type` strings v3 `?associations=` results carry for one link."""
    base = f"{SINGULAR[from_type]}_to_{SINGULAR[to_type]}"
    if (from_type, to_type) in PRIMARY_TYPE_IDS:
        return [base, f"{base}_unlabeled"] if primary else [f"{base}_unlabeled"]
    return [base]


def is_supported(from_type: str, to_type: str) -> bool:
    return (from_type, to_type) in TYPE_IDS


class AssociationStore:
    """Links kept in both directions; insertion order is the paging order."""

    def __init__(self) -> None:
        self._links: dict[tuple[str, str], dict[int, dict[int, bool]]] = {
            pair: {} for pair in TYPE_IDS}

    def add(self, from_type: str, from_id: int, to_type: str, to_id: int,
            primary: bool = False) -> bool:
        """Link two records; returns False when nothing changed."""
        forward = self._links[(from_type, to_type)].setdefault(from_id, {})
        if forward.get(to_id) == primary:
            return False
        if primary:
            self._clear_primary(from_type, from_id, to_type)
        forward[to_id] = primary
        self._links[(to_type, from_type)].setdefault(to_id, {})[from_id] = primary
        return True

    def remove(self, from_type: str, from_id: int, to_type: str, to_id: int) -> bool:
        forward = self._links[(from_type, to_type)].get(from_id, {})
        if to_id not in forward:
            return False
        del forward[to_id]
        self._links[(to_type, from_type)].get(to_id, {}).pop(from_id, None)
        return True

    def targets(self, from_type: str, from_id: int, to_type: str) -> dict[int, bool]:
        """to_id → primary flag (a live view; copy before mutating the store)."""
        return self._links[(from_type, to_type)].get(from_id, {})

    def primary_target(self, from_type: str, from_id: int, to_type: str) -> int | None:
        for to_id, primary in self.targets(from_type, from_id, to_type).items():
            if primary:
                return to_id
        return None

    def linked_types(self, from_type: str) -> list[str]:
        return [to for (frm, to) in self._links if frm == from_type]

    def _clear_primary(self, from_type: str, from_id: int, to_type: str) -> None:
        forward = self._links[(from_type, to_type)].get(from_id, {})
        for to_id, primary in forward.items():
            if primary:
                forward[to_id] = False
                self._links[(to_type, from_type)][to_id][from_id] = False

"""Company scores → the HubSpot company values leadsync writes, and what must change. Pure.

The contact write-back's value forms (mappings/writeback.py): numbers to one decimal, grades
from the A1…C3 options, the top reasons by weight; compared in canonical form, so a value
HubSpot already holds never causes a write.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from mappings.writeback import (GRADES, _option, canonical, format_number,
                                format_reasons_json)

KEYS = ("score", "grade", "reasons")
KINDS = {"score": "number", "grade": "enumeration", "reasons": "string"}
LABELS = {"score": "leadsync company score", "grade": "leadsync company grade",
          "reasons": "leadsync company top reasons"}


def company_names(write_back: object) -> dict[str, str]:
    """Write-back key → HubSpot company property name, from the settings."""
    return {key: getattr(write_back, key) for key in KEYS}


def company_property_definitions(names: Mapping[str, str], group: str) -> list[dict]:
    """HubSpot property definitions of the company write-back properties."""
    shapes = {"number": {"type": "number", "fieldType": "number"},
              "string": {"type": "string", "fieldType": "text"},
              "enumeration": {"type": "enumeration", "fieldType": "select",
                              "options": [_option(g, i) for i, g in enumerate(GRADES)]}}
    return [{"name": names[key], "label": LABELS[key], "groupName": group,
             "description": f"Written by leadsync (company {key}).", **shapes[KINDS[key]]}
            for key in KEYS]


@dataclass(frozen=True)
class CompanyChange:
    """What to write to one company: one write, and HubSpot's values before it."""

    company_id: str
    write: dict[str, str]
    old: dict[str, str]

    def as_dict(self) -> dict:
        return {"company_id": self.company_id, "write": self.write, "old": self.old}


def desired_company_values(total: float, grade: str | None, reasons: str,
                           names: Mapping[str, str]) -> dict[str, str]:
    """The company write-back properties for one score, as HubSpot strings."""
    return {names["score"]: format_number(total),
            names["grade"]: grade if grade in GRADES else "",
            names["reasons"]: format_reasons_json(reasons)}


def plan_company(company_id: str, total: float, grade: str | None, reasons: str,
                 current: Mapping[str, str], names: Mapping[str, str]) -> CompanyChange | None:
    """One company's change, or None when HubSpot already has every value."""
    kinds = {names[key]: KINDS[key] for key in KEYS}
    write = {name: value for name, value in
             desired_company_values(total, grade, reasons, names).items()
             if canonical(kinds[name], current.get(name)) != value}
    if not write:
        return None
    return CompanyChange(company_id, write, {name: current.get(name, "") for name in write})

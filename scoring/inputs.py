"""What a rule can test: contact and company properties, derived inputs, engagement properties.

Name resolution lives here so that validation (at load) and the engine (per as-of) resolve
names the same way: a name becomes a `Field` (type + reader) or an `Invalid` with a
"did you mean" suggestion.
"""
from __future__ import annotations

import difflib
from typing import Any, Callable, Mapping

from scoring.conditions import Field, Invalid, email_domain
from scoring.properties import (BOOL, ENUMERATION, KNOWN_PROPERTIES, NUMBER, STRING, Catalog)

# Computed per contact; usable in every contact condition.
DERIVED = {"days_since_last_engagement": NUMBER, "email_domain": STRING, "is_free_email": BOOL}
# Known only once points are added up; usable in [stages] conditions only.
OUTCOMES = {"score": NUMBER, "fit": NUMBER, "engagement": NUMBER, "grade": ENUMERATION,
            "inactive": BOOL}
COMPANY_PREFIX = "company."
SINGULAR = {"contacts": "contact", "companies": "company", "calls": "call", "emails": "email",
            "meetings": "meeting", "notes": "note", "tasks": "task"}


class Facts:
    """One contact as conditions see it: its properties, its company, and derived values."""

    __slots__ = ("contact", "company", "days_since", "fit", "engagement", "score", "grade",
                 "inactive")

    def __init__(self, contact: Mapping[str, Any], company: Mapping[str, Any],
                 days_since: float | None) -> None:
        self.contact = contact
        self.company = company
        self.days_since = days_since
        self.fit = self.engagement = self.score = self.grade = self.inactive = None


class PropertyTypes:
    """Looks up a property's type: model declarations, then the catalog, then known HubSpot ones;
    and its placeholder values: the property's own list, else the model's."""

    def __init__(self, declared: Mapping[str, Mapping[str, str]], catalog: Catalog | None,
                 missing: frozenset[str] = frozenset(),
                 property_missing: Mapping[str, Mapping[str, frozenset[str]]] | None = None
                 ) -> None:
        self.declared = declared
        self.catalog = catalog or {}
        self.missing = missing
        self.property_missing = property_missing or {}
        self.used: dict[str, set[str]] = {}

    def placeholders(self, object_type: str, name: str) -> frozenset[str]:
        """Values of `name` that count as missing (stripped, casefolded)."""
        return self.property_missing.get(object_type, {}).get(name, self.missing)

    def type_of(self, object_type: str, name: str, path: str) -> str:
        """The type of `name` on `object_type`, or Invalid when it looks misspelt or unknown."""
        self.used.setdefault(object_type, set()).add(name)
        declared = self.declared.get(object_type, {})
        if name in declared:
            return declared[name]
        cataloged = self.catalog.get(object_type)
        if cataloged:
            if name in cataloged:
                return cataloged[name]
            # The cached catalog is the portal's truth: an unknown name is an error.
            raise Invalid(path, _unknown(object_type, name, [*cataloged, *declared], strict=True))
        known = KNOWN_PROPERTIES[object_type]
        if name in known:
            return known[name]
        if difflib.get_close_matches(name, known, n=1, cutoff=0.8):
            raise Invalid(path, _unknown(object_type, name, list(known), strict=False))
        return STRING  # a custom property we cannot check without the catalog

    def knows(self, object_type: str, name: str) -> bool:
        """Whether `name` is declared, cataloged or a well-known HubSpot property."""
        return (name in self.declared.get(object_type, {})
                or name in (self.catalog.get(object_type) or KNOWN_PROPERTIES[object_type]))


def _unknown(object_type: str, name: str, candidates: list[str], *, strict: bool) -> str:
    message = f"unknown {SINGULAR[object_type]} property {name!r}"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    where = "the cached property catalog" if strict else "HubSpot's known properties"
    return (f"{message} (not in {where}; declare a custom property under "
            f"[properties.{object_type}])")


def contact_resolver(types: PropertyTypes, free_email: frozenset[str], *,
                     outcomes: bool) -> Callable[[str, str], Field]:
    """Resolve names in contact conditions (`outcomes`: also score, fit, grade… for stages)."""

    def resolve(name: str, path: str) -> Field:
        if name in DERIVED:
            return Field(name, DERIVED[name], _derived(name, free_email))
        if name in OUTCOMES:
            if not outcomes:
                raise Invalid(path, f"{name} is only known after scoring; use it in [stages]")
            return Field(name, OUTCOMES[name], _outcome(name))
        if name.startswith(COMPANY_PREFIX):
            prop = name[len(COMPANY_PREFIX):]
            kind = types.type_of("companies", prop, path)
            return Field(name, kind, lambda facts: facts.company.get(prop), "company", prop,
                         types.placeholders("companies", prop))
        kind = types.type_of("contacts", name, path)
        if not types.knows("contacts", name):
            close = difflib.get_close_matches(name, [*DERIVED, *OUTCOMES], n=1, cutoff=0.8)
            if close:
                raise Invalid(path, f"unknown contact property {name!r}; did you mean {close[0]!r}?")
        return Field(name, kind, lambda facts: facts.contact.get(name), "contact", name,
                     types.placeholders("contacts", name))
    return resolve


def contact_field(types: PropertyTypes, name: str, kind: str) -> Field:
    """A contact's own property, by that name even where a derived input shares it
    (`dated_by` reads the contact's date property, never a computed value)."""
    return Field(name, kind, lambda facts: facts.contact.get(name), "contact", name,
                 types.placeholders("contacts", name))


def event_resolver(types: PropertyTypes, kind: str) -> Callable[[str, str], Field]:
    """Resolve names in an engagement rule's `where`: the event's own properties."""

    def resolve(name: str, path: str) -> Field:
        prop_type = types.type_of(kind, name, path)
        return Field(name, prop_type, lambda properties: properties.get(name), "self", name,
                     types.placeholders(kind, name))
    return resolve


def _derived(name: str, free_email: frozenset[str]) -> Callable[[Facts], Any]:
    if name == "days_since_last_engagement":
        return lambda facts: facts.days_since
    if name == "email_domain":
        return lambda facts: email_domain(facts.contact.get("email"))

    def is_free(facts: Facts) -> bool | None:
        domain = email_domain(facts.contact.get("email"))
        return None if domain is None else domain in free_email
    return is_free


def _outcome(name: str) -> Callable[[Facts], Any]:
    return {"score": lambda f: f.score, "fit": lambda f: f.fit,
            "engagement": lambda f: f.engagement, "grade": lambda f: f.grade,
            "inactive": lambda f: f.inactive}[name]

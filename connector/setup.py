"""`leadsync setup`: the property group and write-back properties, idempotently; the catalog.

Creates only what is missing (a 409 from a concurrent creator counts as "exists"), then reads
every definition back and refuses properties that exist with the wrong type. Checks the
model's lifecycle stages against the portal's options before writing anything, and stores the
contact and company property catalogs for model validation and the push plan.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable, Mapping, Sequence

from cache.catalog import definitions, store_catalog
from cache.database import Cache
from connector.client import HubSpot
from foundation.errors import ConfigError, Conflict, NotSetUp
from foundation.settings import WriteBack
from mappings.company_writeback import company_property_definitions
from mappings.writeback import (LIFECYCLE, definition_mismatch, stage_order)

CATALOG_TYPES = ("contacts", "companies")


@dataclass
class SetupReport:
    """What setup found and did: 'created' or 'exists' per group and property."""

    group: str = ""
    properties: dict[str, str] = field(default_factory=dict)
    stages: list[str] = field(default_factory=list)
    catalog: dict[str, int] = field(default_factory=dict)
    api_calls: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    def render(self) -> str:
        made = [n for n, s in self.properties.items() if s == "created"]
        lines = [f"property group: {self.group}",
                 f"properties: {len(made)} created, {len(self.properties) - len(made)} already there"
                 + (f" (created {', '.join(made)})" if made else ""),
                 f"lifecycle stages in the portal: {' < '.join(self.stages)}",
                 "catalog stored: " + ", ".join(f"{n:,} {t} properties" for t, n in self.catalog.items())]
        return "\n".join(lines)


def setup(cache: Cache, client: HubSpot, write_back: WriteBack | Sequence[WriteBack], *,
          model_stages: Iterable[str] = (),
          company_names: Mapping[str, str] | None = None) -> SetupReport:
    """Create the group and write-back properties (of one model or several) where missing;
    store the property catalog. With `company_names` (a company model is configured) the
    company score properties too."""
    calls = client.counters.calls
    report = SetupReport()
    catalog = {"contacts": client.properties("contacts")}
    check_stages(catalog["contacts"], model_stages)
    report.stages = list(stage_order(_options(catalog["contacts"], LIFECYCLE)))
    existing = {p["name"]: p for p in catalog["contacts"]}
    wanted = definitions(write_back)
    group = write_back.group if isinstance(write_back, WriteBack) else write_back[0].group
    report.group = _ensure_group(client, group, existing)
    created = False
    for definition in wanted:
        if definition["name"] in existing:
            report.properties[definition["name"]] = "exists"
            continue
        try:
            client.create_property("contacts", definition)
            report.properties[definition["name"]] = "created"
            created = True
        except Conflict:
            report.properties[definition["name"]] = "exists"
            created = True  # someone else made it meanwhile: read it back below
    if created:
        catalog["contacts"] = client.properties("contacts")
        existing = {p["name"]: p for p in catalog["contacts"]}
    _check_definitions(wanted, existing)
    for object_type in CATALOG_TYPES[1:]:
        catalog[object_type] = client.properties(object_type)
    if company_names:
        catalog["companies"] = ensure_company_properties(
            client, company_names, group, catalog["companies"], report)
    with cache.transaction() as conn:
        for object_type, properties in catalog.items():
            store_catalog(conn, object_type, properties)
    report.catalog = {t: len(p) for t, p in catalog.items()}
    report.api_calls = client.counters.calls - calls
    return report


def ensure_company_properties(client: HubSpot, names: Mapping[str, str], group: str,
                              existing_list: list[dict], report: SetupReport) -> list[dict]:
    """The company score properties (and their group on companies), created where missing
    and checked; returns the companies' property catalog as it is afterwards."""
    existing = {p["name"]: p for p in existing_list}
    if not any(p.get("groupName") == group for p in existing.values()):
        try:
            client.create_property_group("companies", {"name": group, "label": group})
        except Conflict:
            pass
    wanted = company_property_definitions(names, group)
    created = False
    for definition in wanted:
        key = f"companies.{definition['name']}"
        if definition["name"] in existing:
            report.properties[key] = "exists"
            continue
        try:
            client.create_property("companies", definition)
            report.properties[key] = "created"
        except Conflict:
            report.properties[key] = "exists"
        created = True
    if created:
        existing_list = client.properties("companies")
        existing = {p["name"]: p for p in existing_list}
    _check_definitions(wanted, existing)
    return existing_list


def check_stages(contact_properties: list[dict], model_stages: Iterable[str]) -> None:
    """Refuse a model whose lifecycle stages the portal does not have."""
    values = [str(o.get("value")) for o in _options(contact_properties, LIFECYCLE)]
    missing = [s for s in dict.fromkeys(model_stages) if s not in values]
    if missing:
        raise ConfigError(f"the model uses lifecycle stage(s) {', '.join(missing)} that this portal "
                          f"does not have (its stages: {', '.join(values) or 'none'}); fix the "
                          f"model's [stages] or add the stage in HubSpot")


def _ensure_group(client: HubSpot, group: str, existing: dict[str, dict]) -> str:
    if any(p.get("groupName") == group for p in existing.values()):
        return "exists"
    try:
        client.create_property_group("contacts", {"name": group, "label": group})
        return "created"
    except Conflict:
        return "exists"


def _check_definitions(wanted: list[dict], existing: dict[str, dict]) -> None:
    for definition in wanted:
        found = existing.get(definition["name"])
        if found is None:
            raise NotSetUp(f"HubSpot property {definition['name']} was created but cannot be read "
                           f"back; run `leadsync setup` again")
        why = definition_mismatch(definition, found)
        if why:
            raise ConfigError(f"HubSpot property {definition['name']} already exists but {why}; "
                              f"rename it in [push.properties] of leadsync.toml or fix it in HubSpot")


def _options(properties: list[dict], name: str) -> list[dict]:
    for prop in properties:
        if prop.get("name") == name:
            return list(prop.get("options") or [])
    return []


# ---- what push needs from the stored catalog ----------------------------------------------


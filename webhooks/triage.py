"""What each inbox event asks the worker to do, decided from the cache alone (no API call).

    contact.creation / restore        re-read the contact and its associations
    contact.propertyChange            re-read the contact, unless it is an echo (dropped)
    contact.associationChange         re-read the contact and its associations of that type
    contact.deletion                  re-read the contact: absent from HubSpot ⇒ tombstone
    contact.privacyDeletion           erase the cached personal properties, tombstone
    contact.merge                     re-point merged ids at the survivor, re-read the survivor
    company.creation / propertyChange / deletion / restore / merge
                                      re-read the company (a change of a property leadsync
                                      writes is an echo, dropped); it and, where contact rules
                                      read its score, its contacts are rescored
    company.associationChange         as contact.associationChange (the contact side)
    anything else                     dropped, with the reason

Generic `object.*` events for contacts (`objectTypeId` "0-1") count as `contact.*`. An
association change names the contact on either side (`CONTACT_TO_COMPANY` or
`MEETING_TO_CONTACT`), so both of HubSpot's one-per-side events lead to the same contact.
"""
from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from cache.inbox import InboxEntry

CONTACT_TYPE_ID = "0-1"
COMPANY_TYPE_ID = "0-2"
COMPANY_KINDS = ("creation", "propertyChange", "restore", "deletion", "merge")
# associationType words (CONTACT_TO_<WORD>) → the stream that holds the other side
ASSOCIATED = {"COMPANY": "companies", "CALL": "calls", "EMAIL": "emails", "MEETING": "meetings",
              "NOTE": "notes", "TASK": "tasks"}
REREAD = ("creation", "propertyChange", "restore", "deletion", "associationChange", "merge")


@dataclass
class Triage:
    """A claimed batch sorted into work. Entry ids are kept per contact so a contact's
    failure fails only its own events."""

    read: dict[str, list[int]] = field(default_factory=dict)  # contact → its events
    # contact → the associated types (companies, meetings, …) to re-read
    links: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    erase: set[str] = field(default_factory=set)
    merges: list[tuple[str, list[str]]] = field(default_factory=list)
    dropped: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    companies: dict[str, list[int]] = field(default_factory=dict)  # company → its events

    @property
    def work_ids(self) -> list[int]:
        return sorted({i for ids in [*self.read.values(), *self.companies.values()] for i in ids})

    def add(self, contact_id: str, entry_id: int) -> None:
        self.read.setdefault(contact_id, []).append(entry_id)


class EchoFilter:
    """Recognises a propertyChange caused by leadsync's own write.

    Echo: the property is one leadsync writes (HubSpot announces our writes like anyone's), or
    the contact's (property, value) is what leadsync pushed to it since `since` — the pushed
    ledger's value, or any value of a write completed since then (a demotion's clear).
    """

    def __init__(self, conn: sqlite3.Connection, own: Iterable[str], since: str) -> None:
        self.conn, self.own, self.since = conn, frozenset(own), since

    def reason(self, contact_id: str, name: str, value: str) -> str | None:
        if name in self.own:
            return f"echo: {name} is written only by leadsync"
        row = self.conn.execute(
            "SELECT value, pushed_at FROM pushed WHERE contact_id = ? AND property = ? "
            "AND pushed_at >= ?", (contact_id, name, self.since)).fetchone()
        if row is not None and (row[0] or "") == value:
            return f"echo: leadsync pushed {name}={value!r} at {row[1]}"
        row = self.conn.execute(
            "SELECT updated_at FROM outbox WHERE contact_id = ? AND status = 'done' "
            "AND updated_at >= ? AND json_extract(properties, ?) = ? ORDER BY id DESC LIMIT 1",
            (contact_id, self.since, f'$."{name}"', value)).fetchone()
        if row is not None:
            return f"echo: leadsync wrote {name}={value!r} at {row[0]}"
        return None


def triage(entries: Sequence[InboxEntry], echo: EchoFilter, streams: Iterable[str], *,
           companies: bool = False) -> Triage:
    """Sort `entries` (oldest first, as claimed) into the work they need. Company events
    are work only with a company model (`companies`); else dropped as not contact events."""
    pulled = set(streams)
    work = Triage()
    for entry in entries:
        company = _company_event(entry) if companies else None
        if company is not None:
            company_id, name = company
            if name is not None and name in echo.own:
                work.dropped[f"echo: {name} is written only by leadsync"].append(entry.id)
            elif "companies" not in pulled:
                work.dropped["companies are not pulled"].append(entry.id)
            else:
                work.companies.setdefault(company_id, []).append(entry.id)
            continue
        kind, contact_id, reason = _classify(entry, pulled)
        if reason is None and kind == "propertyChange":
            payload = entry.payload
            reason = echo.reason(contact_id, str(payload.get("propertyName") or ""),
                                 _text(payload.get("propertyValue")))
        if reason is not None:
            work.dropped[reason].append(entry.id)
            continue
        if kind == "privacyDeletion":
            work.erase.add(contact_id)
            work.add(contact_id, entry.id)
        elif kind == "merge":
            merged = [str(i) for i in entry.payload.get("mergedObjectIds") or []]
            work.merges.append((contact_id, merged))
            work.add(contact_id, entry.id)
            work.links[contact_id].update(t for t in ASSOCIATED.values() if t in pulled)
        else:
            work.add(contact_id, entry.id)
            if kind in ("creation", "restore"):
                work.links[contact_id].update(t for t in ASSOCIATED.values() if t in pulled)
            elif kind == "associationChange":
                work.links[contact_id].add(_other_side(entry.payload))
    return work


def _classify(entry: InboxEntry, pulled: set[str]) -> tuple[str, str, str | None]:
    """(kind, contact id, reason to drop or None)."""
    prefix, _, kind = entry.subscription_type.partition(".")
    payload = entry.payload
    if kind == "associationChange":
        left, _, right = str(payload.get("associationType") or "").upper().partition("_TO_")
        if "CONTACT" not in (left, right):
            return kind, "", f"association {payload.get('associationType')} has no contact"
        contact = payload.get("fromObjectId") if left == "CONTACT" else payload.get("toObjectId")
        other = ASSOCIATED.get(right if left == "CONTACT" else left)
        if other is None or other not in pulled:
            return kind, "", f"association {payload.get('associationType')} does not affect scores"
        if contact is None:
            return kind, "", "association change names no contact"
        return kind, str(contact), None
    if prefix == "object" and payload.get("objectTypeId") != CONTACT_TYPE_ID:
        return kind, "", f"not a contact event (objectTypeId {payload.get('objectTypeId')})"
    if prefix not in ("contact", "object"):
        return kind, "", f"not a contact event ({entry.subscription_type})"
    if kind == "merge":
        primary = payload.get("primaryObjectId", payload.get("newObjectId", entry.object_id))
        return kind, str(primary), None
    if kind not in REREAD and kind != "privacyDeletion":
        return kind, "", f"{entry.subscription_type} is not an event leadsync handles"
    return kind, entry.object_id, None


def _company_event(entry: InboxEntry) -> tuple[str, str | None] | None:
    """(company id, property name or None) of an event about a company itself; None for
    anything else (association changes go the contact's way)."""
    prefix, _, kind = entry.subscription_type.partition(".")
    payload = entry.payload
    if kind not in COMPANY_KINDS or not (
            prefix == "company" or prefix == "object"
            and payload.get("objectTypeId") == COMPANY_TYPE_ID):
        return None
    company_id = entry.object_id
    if kind == "merge":
        company_id = str(payload.get("primaryObjectId", payload.get("newObjectId", company_id)))
    name = payload.get("propertyName") if kind == "propertyChange" else None
    return company_id, None if name is None else str(name)


def _other_side(payload: dict) -> str:
    left, _, right = str(payload.get("associationType") or "").upper().partition("_TO_")
    return ASSOCIATED[right if left == "CONTACT" else left]


def _text(value: object) -> str:
    return "" if value is None else str(value)

"""Owners: the portal's sales team, and how each owner follows up on leads (API: owners_api).

Eight owners in three teams. Seeding (after the rest of the portal, from a `random.Random` of
its own, so every other seeded value stays what it was) gives each contact that became an MQL
an owner, assigned when it entered that stage, and the owner's first touch: the "fast" owners
call or email within a couple of working hours, the "slow" ones after a day or three, the
"never" owner not at all. The owner's later engagements with the contact carry their id.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .clock import iso_ms
from .records import Record

if TYPE_CHECKING:
    from .portal import Portal

HOUR_MS = 3_600_000
CREATED = "2024-01-08T09:00:00.000Z"
SALES_KINDS = ("calls", "emails", "meetings", "notes", "tasks")


@dataclass(frozen=True)
class Owner:
    id: str
    first: str
    last: str
    team: str
    team_id: str
    follow_up: str  # "fast", "slow" or "never"

    @property
    def email(self) -> str:
        return f"{self.first.lower()}.{self.last.lower()}@sandbox-sales.example"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "type": "PERSON", "firstName": self.first,
                "lastName": self.last, "userId": int(self.id) - 40_000_000,
                "userIdIncludingInactive": int(self.id) - 40_000_000, "createdAt": CREATED,
                "updatedAt": CREATED, "archived": False,
                "teams": [{"id": self.team_id, "name": self.team, "primary": True}]}


ROSTER = (
    Owner("41629701", "Maya", "Lindqvist", "Inbound SDR", "3101", "fast"),
    Owner("41629702", "Jonas", "Weber", "Inbound SDR", "3101", "fast"),
    Owner("41629703", "Priya", "Raman", "Inbound SDR", "3101", "slow"),
    Owner("41629704", "Tom", "Okafor", "Outbound SDR", "3102", "slow"),
    Owner("41629705", "Lena", "Fischer", "Outbound SDR", "3102", "never"),
    Owner("41629706", "Carlos", "Mendes", "Account Executives", "3103", "fast"),
    Owner("41629707", "Aiko", "Tanaka", "Account Executives", "3103", "slow"),
    Owner("41629708", "Sam", "Novak", "Account Executives", "3103", "fast"),
)
BY_ID = {owner.id: owner for owner in ROSTER}
_WEIGHTS = (18, 16, 14, 12, 10, 12, 10, 8)


# ---- seeding ---------------------------------------------------------------------------------

def seed_owners(portal: Portal, rng: random.Random, anchor_ms: int) -> None:
    """Assign owners to the seeded MQLs (and some leads) and log their follow-up."""
    for contact in list(portal.records["contacts"].values()):
        if contact.merged_into is not None:
            continue
        props = contact.properties
        entered = props.get("hs_v2_date_entered_marketingqualifiedlead")
        if entered is None and rng.random() > 0.25:
            continue
        owner = rng.choices(ROSTER, weights=_WEIGHTS)[0]
        assigned = _ms(entered) if entered else contact.created_ms
        props["hubspot_owner_id"] = owner.id
        props["hubspot_owner_assigneddate"] = iso_ms(assigned)
        _own_later_engagements(portal, contact, owner, assigned)
        if entered is not None and owner.follow_up != "never":
            delay = (rng.expovariate(1 / 1.5) if owner.follow_up == "fast"
                     else 20 + rng.expovariate(1 / 40))
            at = assigned + int(delay * HOUR_MS)
            if at < anchor_ms - HOUR_MS:
                _first_touch(portal, rng, contact, owner, at)


def _own_later_engagements(portal: Portal, contact: Record, owner: Owner, since: int) -> None:
    if owner.follow_up == "never":
        return
    for kind in SALES_KINDS:
        for engagement_id in portal.links.targets("contacts", contact.id, kind):
            record = portal.records[kind].get(engagement_id)
            if record is None or _ms(record.properties.get("hs_timestamp")) < since:
                continue
            if record.properties.get("hs_email_direction") == "INCOMING_EMAIL":
                continue
            record.properties["hubspot_owner_id"] = owner.id


def _first_touch(portal: Portal, rng: random.Random, contact: Record, owner: Owner,
                 at: int) -> None:
    """An unanswered call or a sales email: a touch that scores nothing in the starter model."""
    if rng.random() < 0.5:
        kind, props = "calls", {"hs_call_direction": "OUTBOUND", "hs_call_status": "NO_ANSWER",
                                "hs_call_duration": "0", "hs_call_title": "First call"}
    else:
        kind, props = "emails", {"hs_email_direction": "EMAIL", "hs_email_status": "SENT",
                                 "hs_email_subject": "Following up on your request"}
    record_id = portal.allocate_id(kind)
    stamp = iso_ms(at)
    props.update(hs_timestamp=stamp, hs_createdate=stamp, hs_lastmodifieddate=stamp,
                 hubspot_owner_id=owner.id, hs_object_id=str(record_id))
    portal.insert(Record(kind, record_id, props, at, at))
    portal.links.add("contacts", contact.id, kind, record_id)
    company = contact.properties.get("associatedcompanyid")
    if company:
        portal.links.add("companies", int(company), kind, record_id)


def _ms(text: str | None) -> int:
    if not text:
        return 0
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)

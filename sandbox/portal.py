"""The portal: the sandbox's ground truth (records, properties, associations) and every way to
change it. The HTTP API and the admin endpoints are thin layers over these methods."""
from __future__ import annotations

import bisect
import threading
from typing import Any, Callable, Iterable, Iterator

from .associations import SINGULAR, AssociationStore, is_supported
from .catalog import (CREATED_DATE, MODIFIED_DATE, OBJECT_TYPES, UNSEEDED_TYPES,
                      PropertyCatalog)
from .clock import Clock, iso_ms, system_clock
from .errors import ApiError, PropertyValueError, invalid, not_found
from .records import ID_BASES, ChangeEvent, Record
from .settings import Settings
from .values import normalize

Listener = Callable[[list[ChangeEvent]], None]

# Never copied onto a merge survivor: identity, system and bookkeeping values.
_NOT_MERGED = {"hs_object_id", "createdate", "lastmodifieddate", "hs_createdate",
               "hs_lastmodifieddate", "hs_merged_object_ids", "email", "associatedcompanyid"}


class Portal:
    """A HubSpot portal in memory. All methods are thread-safe (one re-entrant lock)."""

    def __init__(self, clock: Clock = system_clock, settings: Settings | None = None,
                 portal_id: int = 62515) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.settings = settings or Settings()
        self.portal_id = portal_id
        self.catalogs = {t: PropertyCatalog(t) for t in OBJECT_TYPES + UNSEEDED_TYPES}
        self.records: dict[str, dict[int, Record]] = {t: {} for t in
                                                      OBJECT_TYPES + UNSEEDED_TYPES}
        self.links = AssociationStore()
        self._ids: dict[str, list[int]] = {t: [] for t in OBJECT_TYPES + UNSEEDED_TYPES}
        self._next_id = dict(ID_BASES)
        self._emails: dict[str, int] = {}
        self._listeners: list[Listener] = []
        # Seeded contacts' hidden propensity (0–1): ground truth for scoring tests, never
        # served over HTTP.
        self.propensity: dict[int, float] = {}

    # ---- reading -------------------------------------------------------------------------

    def get(self, object_type: str, record_id: int | str) -> Record | None:
        """The stored record, archived or merged-away ones included."""
        try:
            return self.records[object_type].get(int(record_id))
        except (TypeError, ValueError):
            return None

    def resolve(self, object_type: str, record_id: int | str) -> Record | None:
        """Follow merges to the survivor; None for unknown ids."""
        record = self.get(object_type, record_id)
        while record is not None and record.merged_into is not None:
            record = self.records[object_type].get(record.merged_into)
        return record

    def find_contact_by_email(self, email: str) -> Record | None:
        record_id = self._emails.get(email.strip().lower())
        return self.resolve("contacts", record_id) if record_id is not None else None

    def find(self, object_type: str, property_name: str, value: str) -> Record | None:
        """Resolve an `idProperty` lookup (email, or hs_object_id)."""
        if property_name in ("hs_object_id", "id", ""):
            return self.resolve(object_type, value)
        if object_type == "contacts" and property_name == "email":
            return self.find_contact_by_email(value)
        for record in self.live(object_type):
            if record.properties.get(property_name) == value:
                return record
        return None

    def live(self, object_type: str, start_id: int = 0) -> Iterator[Record]:
        """Live records in id order, from `start_id` on."""
        ids, records = self._ids[object_type], self.records[object_type]
        for index in range(bisect.bisect_left(ids, start_id), len(ids)):
            record = records[ids[index]]
            if record.live:
                yield record

    def archived(self, object_type: str, start_id: int = 0) -> Iterator[Record]:
        ids, records = self._ids[object_type], self.records[object_type]
        for index in range(bisect.bisect_left(ids, start_id), len(ids)):
            record = records[ids[index]]
            if record.archived_ms is not None and record.merged_into is None:
                yield record

    def associated(self, from_type: str, from_id: int, to_type: str) -> list[tuple[int, bool]]:
        """(to_id, primary) for live targets, in link order."""
        targets = self.records[to_type]
        return [(to_id, primary)
                for to_id, primary in self.links.targets(from_type, from_id, to_type).items()
                if (target := targets.get(to_id)) is not None and target.live]

    # ---- validation ----------------------------------------------------------------------

    def validate(self, object_type: str, properties: dict[str, Any], record: Record | None,
                 *, trusted: bool = False) -> dict[str, str]:
        """Normalised values for a write, or PropertyValueError / ApiError(409)."""
        catalog = self.catalogs[object_type]
        clean = {name: normalize(catalog.get(name), name, raw, trusted=trusted)
                 for name, raw in properties.items()}
        if "lifecyclestage" in clean and record is not None and not trusted:
            if self._is_backward(object_type, record, clean["lifecyclestage"]):
                if self.settings.reject_backward_lifecycle:
                    old = record.properties.get("lifecyclestage")
                    raise PropertyValueError(
                        "INVALID_LIFECYCLE_STAGE", "lifecyclestage",
                        f'lifecyclestage cannot move backward from "{old}" to '
                        f'"{clean["lifecyclestage"]}"; clear it with "" first')
        if object_type == "contacts" and clean.get("email"):
            owner = self.find_contact_by_email(clean["email"])
            if owner is not None and (record is None or owner.id != record.id):
                raise ApiError(409, "CONFLICT",
                               f"Contact already exists. Existing ID: {owner.id}")
        return clean

    def _is_backward(self, object_type: str, record: Record, new: str) -> bool:
        old = record.properties.get("lifecyclestage")
        ladder = self.catalogs[object_type].ladder()
        if not new or not old or new not in ladder or old not in ladder:
            return False
        return ladder.index(new) < ladder.index(old)

    # ---- writing -------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def insert(self, record: Record) -> Record:
        """Store a fully-built record (seeding): no validation, no events."""
        self.records[record.object_type][record.id] = record
        self._ids[record.object_type].append(record.id)
        self._next_id[record.object_type] = max(self._next_id[record.object_type],
                                                record.id + 1)
        if record.object_type == "contacts" and record.properties.get("email"):
            self._emails[record.properties["email"].lower()] = record.id
        return record

    def allocate_id(self, object_type: str) -> int:
        with self.lock:
            record_id = self._next_id[object_type]
            self._next_id[object_type] = record_id + 1
            return record_id

    def create(self, object_type: str, properties: dict[str, Any], *,
               source: str = "CRM", trusted: bool = True,
               associations: Iterable[tuple[str, int, bool]] = (),
               created_ms: int | None = None) -> Record:
        """Create a record (validated), link it, announce `creation` and its properties."""
        with self.lock:
            clean = self.validate(object_type, properties, None, trusted=trusted)
            now = self.clock() if created_ms is None else created_ms
            record_id = self.allocate_id(object_type)
            stored = {k: v for k, v in clean.items() if v != ""}
            stored.update({"hs_object_id": str(record_id),
                           CREATED_DATE[object_type]: iso_ms(now),
                           MODIFIED_DATE[object_type]: iso_ms(now)})
            record = self.insert(Record(object_type, record_id, stored, now, now))
            self._enter_stage(record, stored.get("lifecyclestage"), now)
            events = [ChangeEvent("creation", object_type, record_id, now, source,
                                  extra={"changeFlag": "NEW"})]
            events += [ChangeEvent("propertyChange", object_type, record_id, now, source,
                                   name, value) for name, value in stored.items()
                       if name != MODIFIED_DATE[object_type]]
            self._emit(events)
            for to_type, to_id, primary in associations:
                self.associate(object_type, record_id, to_type, to_id, primary=primary,
                               source=source)
            return record

    def update(self, object_type: str, record_id: int | str, properties: dict[str, Any], *,
               source: str = "CRM", trusted: bool = True, at_ms: int | None = None) -> Record:
        """Write properties (merged ids write to the survivor); bumps the modified date
        only when a value really changed."""
        with self.lock:
            record = self.resolve(object_type, record_id)
            if record is None or record.archived_ms is not None:
                raise not_found(f"Object not found.  objectId are usually numeric. "
                                f"id={record_id}")
            clean = self.validate(object_type, properties, record, trusted=trusted)
            return self._apply(record, clean, source, trusted, at_ms)

    def _apply(self, record: Record, clean: dict[str, str], source: str, trusted: bool,
               at_ms: int | None = None) -> Record:
        stage = clean.get("lifecyclestage")
        if stage and not trusted and self._is_backward(record.object_type, record, stage):
            del clean["lifecyclestage"]  # HubSpot keeps the old stage (sandbox choice §8)
        changed = {k: v for k, v in clean.items() if record.properties.get(k, "") != v}
        if not changed:
            return record
        now = self.clock() if at_ms is None else at_ms
        for name, value in changed.items():
            if value == "":
                record.properties.pop(name, None)
            else:
                record.properties[name] = value
        if "email" in changed and changed["email"]:
            self._emails[changed["email"].lower()] = record.id
        self._enter_stage(record, changed.get("lifecyclestage"), now)
        if changed.get("hubspot_owner_id") and record.object_type == "contacts":
            record.properties["hubspot_owner_assigneddate"] = iso_ms(now)  # as HubSpot does
        self._touch(record, now)
        self._emit([ChangeEvent("propertyChange", record.object_type, record.id, now, source,
                                name, value) for name, value in changed.items()])
        if changed.get("associatedcompanyid"):
            company = self.get("companies", changed["associatedcompanyid"])
            if company is not None:
                self.associate("contacts", record.id, "companies", company.id,
                               primary=True, source=source)
        return record

    def _enter_stage(self, record: Record, stage: str | None, now: int) -> None:
        """Record when a stage was first entered (HubSpot's `hs_v2_date_entered_*`)."""
        if stage and record.object_type in ("contacts", "companies"):
            record.properties.setdefault(f"hs_v2_date_entered_{stage}", iso_ms(now))

    def _touch(self, record: Record, now: int) -> None:
        record.updated_ms = now
        record.properties[MODIFIED_DATE[record.object_type]] = iso_ms(now)

    def archive(self, object_type: str, record_id: int | str, *, source: str = "CRM",
                privacy: bool = False) -> Record:
        """Archive (soft-delete). Deliberately leaves the modified date alone, like HubSpot."""
        with self.lock:
            record = self._require_live(object_type, record_id)
            now = self.clock()
            record.archived_ms = now
            kinds = ["privacyDeletion", "deletion"] if privacy else ["deletion"]
            self._emit([ChangeEvent(k, object_type, record.id, now, source) for k in kinds])
            return record

    def restore(self, object_type: str, record_id: int | str, *, source: str = "CRM") -> Record:
        with self.lock:
            record = self.get(object_type, record_id)
            if record is None or record.archived_ms is None or record.merged_into is not None:
                raise not_found(f"No archived {object_type} record with id {record_id}")
            record.archived_ms = None
            self._emit([ChangeEvent("restore", object_type, record.id, self.clock(), source)])
            return record

    def merge(self, object_type: str, primary_id: int | str, merged_id: int | str, *,
              source: str = "CRM") -> Record:
        """Merge `merged_id` into `primary_id`: blanks filled, links moved, old id resolves
        to the survivor."""
        with self.lock:
            primary = self._require_live(object_type, primary_id)
            merged = self._require_live(object_type, merged_id)
            if primary.id == merged.id:
                raise invalid("Cannot merge a record into itself")
            moved = {k: v for k, v in merged.properties.items()
                     if k not in _NOT_MERGED and not k.startswith("hs_v2_")
                     and k not in primary.properties}
            primary.properties.update(moved)
            previous = [i for i in primary.properties.get("hs_merged_object_ids", "")
                        .split(";") if i]
            inherited = [i for i in merged.properties.get("hs_merged_object_ids", "")
                         .split(";") if i]
            primary.properties["hs_merged_object_ids"] = ";".join(
                previous + [str(merged.id)] + inherited)
            self._move_links(object_type, merged.id, primary.id)
            merged.merged_into = primary.id
            email = merged.properties.get("email")
            if object_type == "contacts" and email:
                self._emails[email.lower()] = primary.id
            now = self.clock()
            self._touch(primary, now)
            self._emit([ChangeEvent("merge", object_type, primary.id, now, source, extra={
                "primaryObjectId": primary.id, "mergedObjectIds": [merged.id],
                "newObjectId": primary.id, "numberOfPropertiesMoved": len(moved)})])
            return primary

    def _move_links(self, object_type: str, old_id: int, new_id: int) -> None:
        # Links move quietly: HubSpot reports a merge as one `merge` event.
        for to_type in self.links.linked_types(object_type):
            for to_id, primary in list(self.links.targets(object_type, old_id, to_type).items()):
                self.links.remove(object_type, old_id, to_type, to_id)
                keep_primary = primary and self.links.primary_target(
                    object_type, new_id, to_type) is None
                if to_id not in self.links.targets(object_type, new_id, to_type):
                    self.links.add(object_type, new_id, to_type, to_id, primary=keep_primary)
                    if keep_primary and (object_type, to_type) == ("contacts", "companies"):
                        # the property is the primary link: it moves with it
                        self.records[object_type][new_id].properties["associatedcompanyid"] = str(to_id)

    def associate(self, from_type: str, from_id: int | str, to_type: str, to_id: int | str,
                  *, primary: bool = False, source: str = "CRM") -> bool:
        """Link two live records (both directions). Does not bump modified dates."""
        with self.lock:
            if not is_supported(from_type, to_type):
                raise invalid(f"Associations from {from_type} to {to_type} are not supported")
            left = self._require_live(from_type, from_id)
            right = self._require_live(to_type, to_id)
            if not self.links.add(from_type, left.id, to_type, right.id, primary=primary):
                return False
            if primary and from_type == "contacts" and to_type == "companies":
                left.properties["associatedcompanyid"] = str(right.id)
            self._emit_association(from_type, left.id, to_type, right.id, primary, False,
                                   source)
            return True

    def disassociate(self, from_type: str, from_id: int | str, to_type: str,
                     to_id: int | str, *, source: str = "CRM") -> bool:
        with self.lock:
            left = self.resolve(from_type, from_id)
            right = self.resolve(to_type, to_id)
            if left is None or right is None:
                raise not_found(f"Unknown {from_type} {from_id} or {to_type} {to_id}")
            primary = self.links.targets(from_type, left.id, to_type).get(right.id, False)
            if not self.links.remove(from_type, left.id, to_type, right.id):
                return False
            if primary and from_type == "contacts" and to_type == "companies":
                left.properties.pop("associatedcompanyid", None)
            self._emit_association(from_type, left.id, to_type, right.id, primary, True,
                                   source)
            return True

    def move(self, from_type: str, from_id: int | str, to_type: str, to_id: int | str, *,
             primary: bool = True, source: str = "CRM") -> list[int]:
        """Link a record to `to_id` instead of whatever `to_type` records it is linked to now
        (a contact moving to another company). Like every link change, it leaves both sides'
        modified dates alone. Returns the ids unlinked."""
        with self.lock:
            left = self._require_live(from_type, from_id)
            right = self._require_live(to_type, to_id)
            old = [i for i in self.links.targets(from_type, left.id, to_type) if i != right.id]
            for target in old:
                self.disassociate(from_type, left.id, to_type, target, source=source)
            self.associate(from_type, left.id, to_type, right.id, primary=primary, source=source)
            return old

    def _emit_association(self, from_type: str, from_id: int, to_type: str, to_id: int,
                          primary: bool, removed: bool, source: str) -> None:
        now = self.clock()
        events = []
        for a_type, a_id, b_type, b_id in ((from_type, from_id, to_type, to_id),
                                           (to_type, to_id, from_type, from_id)):
            events.append(ChangeEvent("associationChange", a_type, a_id, now, source, extra={
                "associationType": f"{SINGULAR[a_type]}_TO_{SINGULAR[b_type]}".upper(),
                "fromObjectId": a_id, "toObjectId": b_id, "associationRemoved": removed,
                "isPrimaryAssociation": primary}))
        self._emit(events)

    # ---- what a HubSpot user does ----------------------------------------------------------

    def demo_request(self, contact_id: int | str) -> Record:
        """What a demo-request form submission does to a contact."""
        with self.lock:
            record = self._require_live("contacts", contact_id)
            at = self.clock()
            now = iso_ms(at)
            count = int(record.properties.get("num_conversion_events", "0") or 0) + 1
            changes = {"recent_conversion_event_name": "Demo request",
                       "recent_conversion_date": now, "num_conversion_events": str(count)}
            if "first_conversion_date" not in record.properties:
                changes.update(first_conversion_date=now,
                               first_conversion_event_name="Demo request")
            return self.update("contacts", record.id, changes, source="FORM", trusted=True,
                               at_ms=at)

    def touch(self, object_type: str, ids: Iterable[int] | None = None,
              count: int | None = None, at_ms: int | None = None) -> list[int]:
        """Bump the modified date of many records to one instant (a bulk edit); no events."""
        with self.lock:
            at = self.clock() if at_ms is None else at_ms
            if ids is None:
                chosen = [r for _, r in zip(range(count or 0), self.live(object_type))]
            else:
                chosen = [self._require_live(object_type, i) for i in ids]
            for record in chosen:
                self._touch(record, at)
            return [r.id for r in chosen]

    def truth(self, object_type: str) -> list[dict[str, Any]]:
        """Everything about every record of a type, archived and merged-away included."""
        with self.lock:
            dump = []
            for record_id in self._ids[object_type]:
                record = self.records[object_type][record_id]
                body = record.envelope(dict(record.properties))
                body["mergedInto"] = (str(record.merged_into)
                                      if record.merged_into is not None else None)
                body["associations"] = {
                    to_type: [{"id": str(i), "primary": p} for i, p in
                              self.links.targets(object_type, record.id, to_type).items()]
                    for to_type in self.links.linked_types(object_type)}
                dump.append(body)
            return dump

    # ---- internals -----------------------------------------------------------------------

    def _require_live(self, object_type: str, record_id: int | str) -> Record:
        record = self.get(object_type, record_id)
        if record is None or not record.live:
            raise not_found(f"No live {object_type} record with id {record_id}")
        return record

    def _emit(self, events: list[ChangeEvent]) -> None:
        if events:
            for listener in self._listeners:
                listener(events)

"""Scores → the HubSpot values leadsync writes, and the plan of what must change. Pure.

Values are compared as HubSpot stores them (strings) in one canonical form per type, so
"42.0" in HubSpot and 42 in a score are the same value and never cause a write.
Lifecycle stage follows HubSpot's rule: forward only; a demotion the model explicitly allows
is two ordered writes (clear with "", then set); contacts at a stage later than the model
manages (customers) are never touched.

One module at about the usual size on purpose: the canonical forms, the stage rule and the
plan that applies them are one decision (a value is written only where they all agree).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

from scoring.reasons import as_dicts as reason_dicts
from scoring.reasons import is_bound

LIFECYCLE = "lifecyclestage"
# HubSpot's default order; "other" sits outside the forward-only ladder (hubspot-api.md §3).
DEFAULT_STAGE_ORDER = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
                       "opportunity", "customer", "evangelist")
DEFAULT_MANAGED_STAGES = ("subscriber", "lead", "marketingqualifiedlead")
GRADES = tuple(f"{letter}{number}" for letter in "ABC" for number in "123")
NUMBER_DECIMALS = 1  # scores are shown to one decimal: finer digits would churn writes daily
REASONS_SHOWN = 3
REASONS_MAX_CHARS = 250
# Keys of the write-back names (Settings.write_back) that are contact properties.
VALUE_KEYS = ("score", "fit", "engagement", "grade", "reasons", "scored_at", "inactive")
# Keys of the handoff-SLA properties, written when the model has an [sla] (scoring/sla.py).
SLA_KEYS = ("sla_status", "followup_due_at", "sla_met_at", "sla_breached")
SLA_STATUSES = ("pending", "met", "met_late", "breached")
KINDS = {"score": "number", "fit": "number", "engagement": "number", "grade": "enumeration",
         "reasons": "string", "scored_at": "datetime", "inactive": "bool",
         "sla_status": "status", "followup_due_at": "datetime", "sla_met_at": "datetime",
         "sla_breached": "bool"}

# Why a contact's stage was left alone (plan summary keys).
HELD_BACKWARD = "backward"          # the model's stage is earlier and it allows no demotion
HELD_LATER = "later-stage"          # HubSpot has a stage later than the model manages
HELD_UNKNOWN = "unknown-stage"      # a stage the portal does not have (or "other")
HELD_UNMANAGED = "unmanaged-stage"  # the model's stage is not one leadsync may set


# ---- definitions of the properties `leadsync setup` creates --------------------------------

def names_of(write_back: object) -> dict[str, str]:
    """Write-back key → HubSpot property name (score, fit, … inactive, and the SLA ones when
    `write_back.followup`), from the settings."""
    keys = VALUE_KEYS + (SLA_KEYS if getattr(write_back, "followup", False) else ())
    return {key: getattr(write_back, key) for key in keys}


def property_definitions(names: Mapping[str, str], group: str) -> list[dict]:
    """HubSpot property definitions for the write-back properties (POST /properties body)."""
    labels = {"score": "leadsync score", "fit": "leadsync fit", "engagement": "leadsync engagement",
              "grade": "leadsync grade", "reasons": "leadsync top reasons",
              "scored_at": "leadsync score changed at", "inactive": "leadsync inactive",
              "sla_status": "leadsync follow-up SLA status",
              "followup_due_at": "leadsync follow-up due at",
              "sla_met_at": "leadsync follow-up SLA met at",
              "sla_breached": "leadsync follow-up SLA breached"}
    shapes = {
        "number": {"type": "number", "fieldType": "number"},
        "string": {"type": "string", "fieldType": "text"},
        "datetime": {"type": "datetime", "fieldType": "date"},
        "enumeration": {"type": "enumeration", "fieldType": "select",
                        "options": [_option(g, i) for i, g in enumerate(GRADES)]},
        "bool": {"type": "enumeration", "fieldType": "booleancheckbox",
                 "options": [_option("true", 0, "Yes"), _option("false", 1, "No")]},
        "status": {"type": "enumeration", "fieldType": "select",
                   "options": [_option(s, i, s.replace("_", " ").capitalize())
                               for i, s in enumerate(SLA_STATUSES)]},
    }
    return [{"name": names[key], "label": labels[key], "groupName": group,
             "description": f"Written by leadsync ({key}).", **shapes[KINDS[key]]}
            for key in VALUE_KEYS + SLA_KEYS if key in names]


def _option(value: str, order: int, label: str | None = None) -> dict:
    return {"label": label or value, "value": value, "displayOrder": order, "hidden": False}


def definition_mismatch(wanted: dict, existing: dict) -> str | None:
    """Why an existing property cannot hold what leadsync writes, or None when it can."""
    for key in ("type", "fieldType"):
        if existing.get(key) != wanted[key]:
            return f"is {existing.get('type')}/{existing.get('fieldType')}, " \
                   f"needs {wanted['type']}/{wanted['fieldType']}"
    have = {str(o.get("value")) for o in existing.get("options") or []}
    missing = [o["value"] for o in wanted.get("options") or [] if o["value"] not in have]
    if missing:
        return f"lacks the option(s) {', '.join(missing)}"
    return None


# ---- values ---------------------------------------------------------------------------------

@lru_cache(maxsize=1 << 16)  # scores repeat: a plan formats each distinct value once
def format_number(value: float | int | str | None, decimals: int = NUMBER_DECIMALS) -> str:
    """A score as HubSpot text: rounded half-up, no trailing zeros ("42", "42.5", "-3")."""
    if value is None or value == "":
        return ""
    quantum = Decimal(1).scaleb(-decimals)
    rounded = Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)
    return _plain(rounded)


def _plain(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


@lru_cache(maxsize=1 << 14)
def format_datetime(value: str | None) -> str:
    """An ISO/epoch-ms time as HubSpot writes it: `2026-11-22T14:38:01.651Z` ("" if none)."""
    moment = _parse_time(value)
    if moment is None:
        return ""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(value: str | None) -> datetime | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        if text.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(text) / 1000, timezone.utc)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def format_reasons(reasons: Iterable, shown: int = REASONS_SHOWN,
                   max_chars: int | None = REASONS_MAX_CHARS, *, more: bool = False) -> str:
    """The top rules by weight: `Meeting booked +25; Senior decision maker +20`.

    Bounds ("total floored at 0") are not rules and are left out. `more` adds how many
    rules are not shown (`; +4 more`)."""
    items = []
    for reason in reasons or ():
        if isinstance(reason, Mapping):
            if is_bound(reason):
                continue
            name = reason.get("rule") or reason.get("name") or reason.get("reason") or ""
            points = reason.get("points")
        else:
            name, points = str(reason), None
        if name:
            items.append((str(name), points))
    items.sort(key=lambda item: -abs(_float(item[1])))
    parts = [name if points is None else f"{name} {_signed(points)}" for name, points in items[:shown]]
    if more and len(items) > shown:
        parts.append(f"+{len(items) - shown} more")
    text = "; ".join(parts)
    return text if max_chars is None or len(text) <= max_chars else text[:max_chars - 1].rstrip() + "…"


@lru_cache(maxsize=1 << 14)
def format_reasons_json(text: str) -> str:
    """`format_reasons` of reasons stored as JSON text (the `scores.reasons` column)."""
    return format_reasons(reason_dicts(text))


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def _signed(points: object) -> str:
    text = format_number(_float(points))
    return text if text.startswith("-") else f"+{text}"


@lru_cache(maxsize=1 << 16)
def canonical(kind: str, value: str | None) -> str:
    """A value read from HubSpot (or the ledger) in the form leadsync compares."""
    if value is None:
        return ""
    text = str(value).strip()
    if not text:
        return ""
    if kind == "number":
        try:
            return _plain(Decimal(text))
        except InvalidOperation:
            return text
    if kind == "datetime":
        return format_datetime(text) or text
    if kind == "bool":
        return text.lower()
    return text


# ---- what scoring decided, and what HubSpot has -------------------------------------------

@dataclass(frozen=True)
class DesiredScore:
    """One contact's score as the write-back reads it."""

    contact_id: str
    total: float
    fit: float
    engagement: float
    grade: str | None
    stage: str | None
    inactive: bool
    reasons: tuple | str = ()      # reasons, or their JSON text as `scores.reasons` holds them
    changed_at: str | None = None  # when the score last changed: written as scored_at
    followup: str | None = None    # the SLA state as `scores.followup` holds it (JSON), or None


@dataclass(frozen=True)
class LifecyclePolicy:
    """The portal's stage order and what the model may do with it."""

    order: tuple[str, ...] = DEFAULT_STAGE_ORDER
    managed: frozenset[str] = frozenset(DEFAULT_MANAGED_STAGES)
    demotable: frozenset[str] = frozenset()  # stages the model explicitly lets a contact leave backwards

    @property
    def ceiling(self) -> int:
        """Index of the latest managed stage: contacts beyond it are never touched."""
        ranks = [self.order.index(s) for s in self.managed if s in self.order]
        return max(ranks) if ranks else -1


def stage_order(options: Iterable[Mapping]) -> tuple[str, ...]:
    """Forward order of lifecycle stages from the property's options (by displayOrder)."""
    ranked = sorted(((int(o.get("displayOrder", i) if o.get("displayOrder") is not None else i), i,
                      str(o.get("value"))) for i, o in enumerate(options)
                     if o.get("value") and o.get("value") != "other"))
    return tuple(value for _, _, value in ranked) or DEFAULT_STAGE_ORDER


def desired_values(score: DesiredScore, names: Mapping[str, str]) -> dict[str, str]:
    """The write-back properties for one score, as HubSpot strings (lifecycle excluded)."""
    return {
        names["score"]: format_number(score.total),
        names["fit"]: format_number(score.fit),
        names["engagement"]: format_number(score.engagement),
        names["grade"]: score.grade if score.grade in GRADES else "",
        names["reasons"]: (format_reasons_json(score.reasons) if isinstance(score.reasons, str)
                           else format_reasons(score.reasons)),
        names["scored_at"]: format_datetime(score.changed_at),
        names["inactive"]: "true" if score.inactive else "false",
    } | (followup_values(score.followup, names) if "sla_status" in names else {})


def followup_values(followup: str | None, names: Mapping[str, str]) -> dict[str, str]:
    """The SLA properties of one contact: all empty when no SLA applies to its stage."""
    state = json.loads(followup) if followup else None
    if not state:
        return {names[key]: "" for key in SLA_KEYS}
    return {names["sla_status"]: state["status"],
            names["followup_due_at"]: format_datetime(state.get("due_at")),
            names["sla_met_at"]: format_datetime(state.get("met_at")),
            names["sla_breached"]: "true" if state["status"] == "breached" else "false"}


def current_values(pulled: Mapping[str, str], pulled_at: str | None,
                   ledger: Mapping[str, tuple[str | None, str]]) -> dict[str, str]:
    """What HubSpot has: per property, the newer of the last pulled value and the ledger's."""
    current = {k: v for k, v in pulled.items() if v is not None}
    for name, (value, pushed_at) in ledger.items():
        if pulled_at is None or pushed_at > pulled_at:
            current[name] = value or ""
    return current


# ---- the plan -------------------------------------------------------------------------------

@dataclass(frozen=True)
class StageChange:
    """A lifecycle transition: `promote` (one write) or `demote` (clear, then set)."""

    old: str
    new: str
    kind: str

    @property
    def label(self) -> str:
        return f"{self.old or '(none)'} → {self.new}" + (" (demote: clear, then set)"
                                                        if self.kind == "demote" else "")


@dataclass(frozen=True)
class ContactChange:
    """What to write to one contact: ordered writes (two for a demotion)."""

    contact_id: str
    writes: tuple[dict[str, str], ...]
    old: dict[str, str]  # HubSpot's current values of the properties that change
    stage: StageChange | None = None

    @property
    def new(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for write in self.writes:
            merged.update(write)
        return merged

    def as_dict(self) -> dict:
        return {"contact_id": self.contact_id, "writes": list(self.writes), "old": self.old,
                "stage": None if self.stage is None else
                {"old": self.stage.old, "new": self.stage.new, "kind": self.stage.kind}}


def stage_decision(current: str | None, desired: str | None,
                   policy: LifecyclePolicy) -> tuple[StageChange | None, str | None]:
    """(the transition to write, or None) and (why the stage was held, or None)."""
    current = current or ""
    if not desired or desired == current:
        return None, None
    if desired not in policy.order:
        return None, HELD_UNKNOWN
    if desired not in policy.managed:
        return None, HELD_UNMANAGED
    if not current:
        return StageChange("", desired, "promote"), None
    if current not in policy.order:
        return None, HELD_UNKNOWN
    have, want = policy.order.index(current), policy.order.index(desired)
    if have > policy.ceiling:
        return None, HELD_LATER
    if want > have:
        return StageChange(current, desired, "promote"), None
    if current not in policy.demotable:
        return None, HELD_BACKWARD
    return StageChange(current, desired, "demote"), None


@lru_cache(maxsize=8)
def _kinds(names: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {name: KINDS[key] for key, name in names if key in KINDS}


def plan_contact(score: DesiredScore, current: Mapping[str, str], names: Mapping[str, str],
                 policy: LifecyclePolicy | None) -> tuple[ContactChange | None, str | None]:
    """One contact's change (None when HubSpot already has it) and why its stage was held."""
    return plan_models(score.contact_id, [(score, names)], current, score.stage, policy)


def plan_models(contact_id: str, scores: Sequence[tuple[DesiredScore | None, Mapping[str, str]]],
                current: Mapping[str, str], stage: str | None,
                policy: LifecyclePolicy | None) -> tuple[ContactChange | None, str | None]:
    """One contact's change across several models, in one write (None when HubSpot already
    has it), and why its stage was held. Each model's properties carry its score; a model
    with no score for the contact (outside its segment) has them cleared (""). `stage` is
    the stage-driving model's."""
    first: dict[str, str] = {}
    for score, names in scores:
        kinds = _kinds(tuple(names.items()))
        wanted = desired_values(score, names) if score is not None else cleared_values(names)
        first.update({name: value for name, value in wanted.items()
                      if canonical(kinds[name], current.get(name)) != value})
    old = {name: current.get(name, "") for name in first}
    writes: list[dict[str, str]] = [first]
    change = held = None
    if policy is not None:
        change, held = stage_decision(current.get(LIFECYCLE), stage, policy)
        if change is not None:
            old[LIFECYCLE] = change.old
            first[LIFECYCLE] = change.new if change.kind == "promote" else ""
            if change.kind == "demote":
                writes.append({LIFECYCLE: change.new})
    if not first:
        return None, held
    return ContactChange(contact_id, tuple(writes), old, change), held


def cleared_values(names: Mapping[str, str]) -> dict[str, str]:
    """A model's properties emptied: the contact is outside its segment."""
    return {name: "" for name in names.values()}


@dataclass
class Plan:
    """Every change a push would make, and what it left alone and why."""

    changes: list[ContactChange] = field(default_factory=list)
    held: Counter = field(default_factory=Counter)     # stage held: reason → contacts
    skipped: Counter = field(default_factory=Counter)  # archived / merged / unknown / failed
    unchanged: int = 0
    # contact → newest score-history row id a change covers (the caller's bookkeeping)
    history_upto: dict = field(default_factory=dict, repr=False)
    # contact → the models whose values the change writes: only their history rows are
    # stamped `pushed_at` when it lands (the caller's bookkeeping)
    history_models: dict = field(default_factory=dict, repr=False)
    # contact → the `push_dirty` mark it was planned from, if any (the caller's bookkeeping)
    dirty: dict = field(default_factory=dict, repr=False)

    def add(self, change: ContactChange | None, held: str | None) -> None:
        if held:
            self.held[held] += 1
        if change is None:
            self.unchanged += 1
        else:
            self.changes.append(change)

    @property
    def contacts(self) -> int:
        return len(self.changes)

    def by_property(self) -> dict[str, int]:
        counts: Counter = Counter(name for c in self.changes for name in c.new)
        return dict(sorted(counts.items()))

    def by_transition(self) -> dict[str, int]:
        counts: Counter = Counter(c.stage.label for c in self.changes if c.stage)
        return dict(sorted(counts.items()))

    def as_dict(self, sample: int | None = None) -> dict:
        shown = self.changes if sample is None else self.changes[:sample]
        return {"contacts": self.contacts, "writes": sum(len(c.writes) for c in self.changes),
                "unchanged": self.unchanged, "by_property": self.by_property(),
                "by_transition": self.by_transition(), "held": dict(sorted(self.held.items())),
                "skipped": dict(sorted(self.skipped.items())),
                "changes": [c.as_dict() for c in shown]}

    def render(self, sample: int = 10) -> str:
        lines = [f"{self.contacts:,} contacts to update ({self.unchanged:,} already up to date)"]
        for name, count in self.by_property().items():
            lines.append(f"  {name:<28} {count:>8,}")
        if self.by_transition():
            lines.append("lifecycle stage transitions:")
            lines += [f"  {label:<50} {count:>8,}" for label, count in self.by_transition().items()]
        if self.held:
            lines.append("stages left alone: " + ", ".join(
                f"{count:,} {reason}" for reason, count in sorted(self.held.items())))
        if self.skipped:
            lines.append("contacts not written: " + ", ".join(
                f"{count:,} {reason}" for reason, count in sorted(self.skipped.items())))
        for change in self.changes[:sample]:
            diffs = ", ".join(f"{k}: {change.old.get(k, '')!r} → {v!r}" for k, v in change.new.items())
            lines.append(f"  contact {change.contact_id}: {diffs}"
                         + (" (stage: clear, then set)" if change.stage and change.stage.kind == "demote" else ""))
        if self.contacts > sample:
            lines.append(f"  … and {self.contacts - sample:,} more (--json shows all)")
        return "\n".join(lines)


def batches(items: Sequence, size: int = 100) -> list[Sequence]:
    """`items` in consecutive slices of at most `size`."""
    return [items[i:i + size] for i in range(0, len(items), size)]

"""What `leadsync learn` may fit on: candidate rules, each a feature. Pure.

A candidate is an ordinary rule of the model language with its points left open: a rule of
the current model, or one generated from a profile of the portal's contacts as they were at
the training dates (frequent values of a text property, quantile bands of a number or of an
age in days, engagement counts per kind in 7/30/90-day windows, email domain type, primary
company properties, the stage reached so far). Written with 1 point per row and no decay,
the candidates form a *feature model*; its reasons for one contact are that contact's
features: 1 for the row or rule that fired, or the number of units of a count rule (capped).
The learned model is the same rules with fitted points, so it scores exactly what the fit
computed (scoring/scorecard.py writes both files).

What is left out, so that no feature reads the future or the model's own output:
- values HubSpot keeps only as today's (counters such as hs_email_open, dates and names of
  the *latest* something, which a later event overwrites), unless `allow_current` says so;
- the funnel's own state (lead status, owner, today's lifecycle stage; the company's stage),
  the conversion definition's properties, leadsync's write-back properties;
- stages the current model sets itself (a model never feeds on its own output).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from scoring.conditions import OPERATORS, email_domain
from scoring.inputs import COMPANY_PREFIX, PropertyTypes
from scoring.model import FREE_EMAIL, Model
from scoring.properties import (BOOL, DATE, DATETIME, ENGAGEMENT_KINDS, ENUMERATION,
                                NUMBER, STRING, to_epoch, to_number)
from scoring.tables import MISSING, OTHER_BAND, OTHER_VALUE, Band, number_text

DAY = 86400.0
WINDOWS = (7, 30, 90)
BANDS = 5
MAX_VALUES = 25
MIN_SHARE = 0.01   # a value becomes a row of its own from 1% of the profiled contacts...
MIN_COUNT = 20     # ...and at least 20 of them; rarer ones are pooled in `else`
SINGULAR = {"calls": "call", "emails": "email", "meetings": "meeting", "notes": "note",
            "tasks": "task"}

# Counters HubSpot keeps only as today's value: they cannot be rolled back to an as-of date.
COUNTERS = frozenset("""
    hs_email_open hs_email_click hs_email_delivered hs_email_bounce hs_email_replied
    hs_email_sends_since_last_engagement hs_analytics_num_page_views hs_analytics_num_visits
    hs_analytics_num_event_completions num_conversion_events num_unique_conversion_events
    num_contacted_notes num_notes num_associated_deals num_associated_contacts
    hs_social_num_broadcast_clicks hs_sequences_enrolled_count
""".split())
# The funnel's own state, identities and free text: never features.
EXCLUDED = frozenset("""
    id hs_object_id hs_merged_object_ids associatedcompanyid email firstname lastname phone
    company name domain website city hs_lead_status lifecyclestage hubspot_owner_id
    createdate lastmodifieddate hs_lastmodifieddate hs_createdate
""".split())
_LATEST_WORDS = ("last", "recent", "latest", "modified", "_event_name")


def current_only(name: str) -> bool:
    """Whether HubSpot keeps only today's value of `name`: a counter, or the date or name
    of the latest something (overwritten by each new one)."""
    bare = name[len(COMPANY_PREFIX):] if name.startswith(COMPANY_PREFIX) else name
    return (bare in COUNTERS or bare.startswith("num_") or "_num_" in bare
            or any(word in bare for word in _LATEST_WORDS))


@dataclass(frozen=True)
class Candidate:
    """One rule the fit may give points to. `spec` holds the rule's keys but its points (a
    table's `bands` as Band values; `points_by_value` as its values in order)."""

    name: str
    section: str  # fit | engagement
    origin: str  # said in the learned model's comment
    spec: Mapping[str, Any]
    values: tuple[str, ...] = ()
    bands: tuple[Band, ...] = ()
    other: bool = False  # has an `else` row
    missing: bool = False  # has a `missing` row
    units: int | None = None  # a count rule: at most this many units count (its cap)

    @property
    def is_table(self) -> bool:
        return bool(self.values or self.bands)

    def keys(self) -> tuple[str, ...]:
        """The feature names this candidate produces: its reasons' rule texts."""
        if not self.is_table:
            return (self.name,)
        rows = [f"{self.name}: {v}" for v in self.values]
        rows += [f"{self.name}: {b.label}" for b in self.bands]
        if self.other:
            rows.append(f"{self.name}: {OTHER_BAND if self.bands else OTHER_VALUE}")
        if self.missing:
            rows.append(f"{self.name}: {MISSING}")
        return tuple(rows)

    @property
    def complete(self) -> bool:
        """Every contact falls in exactly one row (so shifting all rows by one number
        changes every total by the same amount)."""
        if self.bands:
            return (self.missing and self.bands[0].low is None and self.bands[-1].high is None
                    and all(a.high == b.low for a, b in zip(self.bands, self.bands[1:])))
        return bool(self.values) and self.other and self.missing


# ---- profiling ----------------------------------------------------------------------------

@dataclass
class Profile:
    """What the contacts looked like at the training dates: the sample candidates come from."""

    rows: int = 0
    contact: dict[str, Counter] = field(default_factory=dict)
    company: dict[str, Counter] = field(default_factory=dict)
    ages: list[float] = field(default_factory=list)  # days since createdate
    idle: list[float] = field(default_factory=list)  # days since the last activity
    counts: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    stages: Counter = field(default_factory=Counter)
    free_email: Counter = field(default_factory=Counter)


def profile(snapshots: Iterable[tuple[Mapping, Sequence, Mapping | None, float]],
            activity: Sequence[str]) -> Profile:
    """Profile (contact, events, company, as_of seconds) snapshots, as known_at gives them."""
    found = Profile()
    kinds = tuple(k for k in activity if k in ENGAGEMENT_KINDS)
    for contact, events, company, now in snapshots:
        found.rows += 1
        for name, value in contact.items():
            if value is not None and value != "" and isinstance(value, str):
                found.contact.setdefault(name, Counter())[value] += 1
        for name, value in (company or {}).items():
            if value is not None and value != "" and isinstance(value, str):
                found.company.setdefault(name, Counter())[value] += 1
        created = to_epoch(contact.get("createdate"))
        if created is not None and created <= now:
            found.ages.append((now - created) / DAY)
        latest = max((e[1] for e in events if e[0] in kinds), default=None)
        if latest is not None:
            found.idle.append((now - latest) / DAY)
        for kind in ENGAGEMENT_KINDS:
            ages = [(now - e[1]) / DAY for e in events if e[0] == kind]
            for window in WINDOWS:
                found.counts.setdefault((kind, window), []).append(
                    sum(1 for age in ages if 0 <= age <= window))
        found.stages[contact.get("lifecyclestage")] += 1
        domain = email_domain(contact.get("email"))
        found.free_email[None if domain is None else domain in FREE_EMAIL] += 1
    return found


# ---- candidates ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    """What may become a feature."""

    allow_current: bool = False  # --allow-current-counters
    excluded: frozenset[str] = frozenset()  # e.g. the conversion definition's properties
    activity: tuple[str, ...] = ("calls", "emails", "meetings")


@dataclass(frozen=True)
class Candidates:
    """The candidates, and the current model's rules left out (with why)."""

    rules: tuple[Candidate, ...]
    left_out: tuple[tuple[str, str], ...]  # (rule name, reason)
    declared: Mapping[str, Mapping[str, str]]  # types to declare: object -> property -> type


def candidates(found: Profile, model: Model, raw_rules: Mapping[str, Sequence[Mapping]],
               choice: Choice) -> Candidates:
    """Every candidate rule: the current model's (`raw_rules`: its rule tables as written,
    per section), then the generated ones."""
    types = model.types()
    rules: list[Candidate] = []
    left_out: list[tuple[str, str]] = []
    for section in ("fit", "engagement"):
        for raw in raw_rules.get(section, ()):
            made, why = _current_rule(section, raw, choice)
            if made is None:
                left_out.append((raw.get("name", "?"), why))
            else:
                rules.append(made)
    declared: dict[str, dict[str, str]] = {}
    taken = {r.name for r in rules}

    def add(candidate: Candidate | None) -> None:
        if candidate is not None and candidate.name not in taken:
            taken.add(candidate.name)
            rules.append(candidate)

    for object_type, values in (("contacts", found.contact), ("companies", found.company)):
        for name in sorted(values):
            add(_property_candidate(object_type, name, values[name], found.rows, types,
                                    choice, declared))
    add(_age_candidate(found))
    add(_idle_candidate(found))
    if found.free_email[True] and found.free_email[False]:
        add(Candidate("Email domain type", "fit", "generated: free or company email address",
                      {"property": "is_free_email"}, values=("true", "false"), missing=True))
    add(_stage_candidate(found, model))
    for kind in ENGAGEMENT_KINDS:
        for window in WINDOWS:
            add(_count_candidate(kind, window, found.counts.get((kind, window), [])))
    return Candidates(tuple(rules), tuple(left_out), declared)


def _reads(spec: Any) -> set[str]:
    """The input names a condition reads (keys that are not combinators or operators)."""
    names: set[str] = set()
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key in ("all", "any"):
                for item in value if isinstance(value, list) else ():
                    names |= _reads(item)
            elif key == "not":
                names |= _reads(value)
            elif key == "company" and isinstance(value, dict) and all(
                    isinstance(v, dict) for v in value.values()) and not _operators(value):
                names |= {f"{COMPANY_PREFIX}{k}" for k in value}
            else:
                names.add(key)
    return names


def _operators(value: dict) -> bool:
    return any(k in OPERATORS for k in value)


def _current_rule(section: str, raw: Mapping[str, Any], choice: Choice
                  ) -> tuple[Candidate | None, str]:
    reads = _reads(raw.get("when")) | {raw[k] for k in ("per", "dated_by", "property",
                                                         "days_since") if k in raw}
    if not choice.allow_current:
        stale = sorted(n for n in reads if current_only(n))
        if stale:
            return None, (f"reads {', '.join(stale)}, which HubSpot keeps only as today's "
                          f"value (--allow-current-counters puts it in)")
    touched = sorted(n for n in reads if n in choice.excluded)
    if touched:
        return None, f"reads {', '.join(touched)}, which defines conversion"
    spec = {k: v for k, v in raw.items()
            if k not in ("name", "description", "points", "cap", "half_life_days",
                         "points_by_value", "bands", "else", "missing")}
    name = raw["name"]
    origin = "current model"
    if "points_by_value" in raw or "bands" in raw:
        values = tuple(raw.get("points_by_value", {}))
        bands = tuple(Band(b.get("from"), b.get("below"), 1.0) for b in raw.get("bands", ()))
        bands = tuple(Band(None if b.low is None else float(b.low),
                           None if b.high is None else float(b.high), 1.0) for b in bands)
        return Candidate(name, section, origin, spec, values, bands, "else" in raw,
                         "missing" in raw), ""
    units = None
    if raw.get("count", "once") in ("each", "daily") and raw.get("cap") is not None:
        units = max(1, math.floor(float(raw["cap"]) / abs(float(raw["points"])) + 1e-9)) \
            if raw.get("points") else None
    return Candidate(name, section, origin, spec, units=units), ""


def _property_candidate(object_type: str, name: str, values: Counter, rows: int,
                        types: PropertyTypes, choice: Choice,
                        declared: dict[str, dict[str, str]]) -> Candidate | None:
    key = name if object_type == "contacts" else f"{COMPANY_PREFIX}{name}"
    if (name in EXCLUDED or name.startswith(("hs_v2_date_", "leadsync_"))
            or key in choice.excluded or (not choice.allow_current and current_only(name))):
        return None
    kind = _type(object_type, name, values, types, declared)
    placeholders = types.placeholders(object_type, name)
    present = Counter({v: n for v, n in values.items()
                       if v.strip().casefold() not in placeholders})
    if not present:
        return None
    section = "fit"
    if kind == NUMBER:
        numbers = [x for v, n in present.items() if (x := to_number(v)) is not None
                   for _ in range(n)]
        bands = quantile_bands(numbers)
        if bands is None:
            return None
        return Candidate(key, section, f"generated: quantile bands of {key}", {"property": key},
                         bands=bands, missing=True)
    if kind in (DATE, DATETIME):
        return None  # ages need the as-of: only createdate's is generated (contact age)
    if kind in (STRING, ENUMERATION, BOOL):
        frequent = frequent_values(present, rows, kind == BOOL)
        if not frequent:
            return None
        return Candidate(key, section,
                         f"generated: frequent values of {key} (rare ones pooled in else)",
                         {"property": key}, values=frequent, other=kind != BOOL, missing=True)
    return None


def _type(object_type: str, name: str, values: Counter, types: PropertyTypes,
          declared: dict[str, dict[str, str]]) -> str:
    """The property's type as the model sees it; inferred (and declared) when unknown."""
    if types.knows(object_type, name):
        return types.type_of(object_type, name, name)
    total = sum(values.values())
    numeric = sum(n for v, n in values.items() if to_number(v) is not None)
    kind = NUMBER if numeric >= 0.95 * total else STRING
    declared.setdefault(object_type, {})[name] = kind
    return kind


def frequent_values(values: Counter, rows: int, flags: bool = False) -> tuple[str, ...]:
    """Values frequent enough for a row of their own, most common first (merged ignoring
    case, as value maps compare; spelled as most contacts spell them)."""
    if flags:
        return tuple(v for v in ("true", "false")
                     if sum(n for raw, n in values.items() if raw.strip().lower() == v))
    folded: dict[str, Counter] = {}
    for value, n in values.items():
        if value.strip():
            folded.setdefault(value.casefold(), Counter())[value] += n
    ranked = sorted(folded.values(), key=lambda c: (-sum(c.values()), c.most_common(1)[0][0]))
    least = max(MIN_COUNT, MIN_SHARE * rows)
    return tuple(c.most_common(1)[0][0] for c in ranked[:MAX_VALUES]
                 if sum(c.values()) >= least)


def nice(value: float) -> float:
    """Two significant digits: 1234 -> 1200, 0.4567 -> 0.46, 7 -> 7."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    digits = 1 - int(math.floor(math.log10(abs(value))))
    return float(round(value, digits))


def quantile_bands(values: Sequence[float], bands: int = BANDS) -> tuple[Band, ...] | None:
    """About equally full bands with round edges; None when the values hardly vary."""
    if len(values) < 2 * MIN_COUNT:
        return None
    ordered = sorted(values)
    edges: list[float] = []
    for i in range(1, bands):
        edge = nice(ordered[min(len(ordered) - 1, i * len(ordered) // bands)])
        if edge > ordered[0] and (not edges or edge > edges[-1]):
            edges.append(edge)
    if not edges:
        return None
    lows = [None, *edges]
    highs = [*edges, None]
    return tuple(Band(low, high, 1.0) for low, high in zip(lows, highs))


def _age_candidate(found: Profile) -> Candidate | None:
    bands = quantile_bands(found.ages)
    if bands is None:
        return None
    return Candidate("Contact age in days", "engagement",
                     "generated: quantile bands of the days since createdate",
                     {"days_since": "createdate"}, bands=bands, missing=True)


def _idle_candidate(found: Profile) -> Candidate | None:
    bands = quantile_bands(found.idle)
    if bands is None:
        return None
    return Candidate("Days since last activity", "engagement",
                     "generated: quantile bands of days_since_last_engagement (none: missing)",
                     {"property": "days_since_last_engagement"}, bands=bands, missing=True)


def _stage_candidate(found: Profile, model: Model) -> Candidate | None:
    order = model.stages.order
    stages = tuple(s for s in order if s in found.stages and s not in model.stages.managed)
    if not stages:
        return None
    return Candidate("Stage reached so far", "engagement",
                     "generated: lifecycle stages the model does not set itself",
                     {"property": "lifecyclestage"}, values=stages)


def _count_candidate(kind: str, window: int, counts: Sequence[int]) -> Candidate | None:
    present = sorted(c for c in counts if c > 0)
    if len(present) < MIN_COUNT:
        return None
    units = max(1, present[min(len(present) - 1, int(0.99 * len(present)))])
    noun = SINGULAR[kind]
    return Candidate(f"{noun.capitalize()}s in the last {window} days", "engagement",
                     f"generated: {kind} counted, up to {units}",
                     {"event": noun, "count": "each", "window_days": window}, units=units)


def band_text(band: Band) -> str:
    """A band as its TOML inline table without points: { from = 7, below = 30 }."""
    parts = []
    if band.low is not None:
        parts.append(f"from = {number_text(band.low)}")
    if band.high is not None:
        parts.append(f"below = {number_text(band.high)}")
    return ", ".join(parts)

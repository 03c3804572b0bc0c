"""Handoff SLAs and recycling: what sales owes a contact after a stage, computed purely.

    [sla.marketingqualifiedlead]         a touch by the contact's owner within 24 hours
    within_hours = 24                    (working hours, when given) of entering the stage
    touch = ["call", "meeting", "email"]
    working_hours = { start = "09:00", end = "17:00", days = "Mon-Fri", timezone = "Europe/Berlin" }

    [[recycle]]                          back to `to` when sales did not accept the contact
    name = "Never touched by sales"
    from = "marketingqualifiedlead"
    to = "lead"
    no_touch_within_days = 14            and/or when = { hs_lead_status = "UNQUALIFIED" }

A *touch* is an engagement of a listed kind whose `hubspot_owner_id` is the contact's owner,
at or after the clock started; an email the lead sent (`INCOMING_EMAIL`) is not a touch.
The clock starts when the contact entered its current stage (`hs_v2_date_entered_<stage>`),
or when its current owner was assigned (`hubspot_owner_assigneddate`), whichever is later.
docs/model.md has the rules in full; the engine and the batch scorer both call this module.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, NamedTuple

from scoring.hours import HoursError, WorkingHours, parse_hours
from scoring.properties import to_epoch

DAY = 86400.0
OWNER = "hubspot_owner_id"
ASSIGNED = "hubspot_owner_assigneddate"
ENTERED = "hs_v2_date_entered_"
DEFAULT_TOUCH = ("calls", "meetings", "emails")
PENDING, MET, MET_LATE, BREACHED = "pending", "met", "met_late", "breached"
STATUSES = (PENDING, MET, MET_LATE, BREACHED)
_SLA_KEYS = ("within_hours", "touch", "working_hours")
_RECYCLE_KEYS = ("name", "description", "from", "to", "no_touch_within_days", "when", "touch")


@dataclass(frozen=True)
class Sla:
    """A stage's follow-up promise: a touch by the owner within `within_hours`."""

    stage: str
    within_hours: float
    touch: tuple[str, ...] = DEFAULT_TOUCH
    hours: WorkingHours | None = None

    def due(self, start: float) -> float:
        if self.hours is None:
            return start + self.within_hours * 3600.0
        return self.hours.add(start, self.within_hours)


@dataclass(frozen=True)
class Recycle:
    """Send a contact at `source` back to `target` when sales did not accept it."""

    name: str
    source: str
    target: str
    no_touch_days: float | None = None
    when: Mapping[str, Any] | None = None
    touch: tuple[str, ...] = DEFAULT_TOUCH
    description: str | None = None


class FollowUp(NamedTuple):
    """A contact's SLA state as of one instant; times are POSIX seconds.

    `breached_since` is the deadline once it passed untouched (kept when met late)."""

    stage: str
    owner: str | None
    started_at: float
    due_at: float
    status: str  # pending, met, met_late or breached
    met_at: float | None = None
    met_by: str | None = None
    breached_since: float | None = None


Touch = tuple[float, str, str]  # (when, owner id, kind)


def touches(events: Iterable[Any], kinds: Iterable[str], now: float,
            parse: Callable[[Any], Mapping[str, Any]] | None = None) -> list[Touch]:
    """(time, owner, kind) of the events that can count as a sales touch, up to `now`:
    of a listed kind, with an owner, and not an email the lead sent."""
    wanted = frozenset(kinds)
    found = []
    for kind, at, properties in events:
        if kind not in wanted or at > now:
            continue
        props = parse(properties) if parse is not None else properties
        owner = props.get(OWNER)
        if not owner:
            continue
        if kind == "emails" and str(props.get("hs_email_direction") or "").upper() == "INCOMING_EMAIL":
            continue
        found.append((at, str(owner), kind))
    return found


def first_touch(found: Iterable[Touch], kinds: frozenset[str], owner: str | None,
                since: float, until: float = math.inf) -> Touch | None:
    """The earliest touch of `kinds` by `owner` in [since, until]."""
    if not owner:
        return None
    best = None
    for touch in found:
        at = touch[0]
        if touch[1] == owner and touch[2] in kinds and since <= at <= until and (
                best is None or at < best[0]):
            best = touch
    return best


def follow_up(slas: Mapping[str, Sla], stage: str | None, contact: Mapping[str, Any],
              found: Iterable[Touch], now: float) -> FollowUp | None:
    """The SLA state of a contact at `stage`, or None (no SLA for it, or no entry date)."""
    sla = slas.get(stage or "")
    if sla is None:
        return None
    entered = to_epoch(contact.get(ENTERED + sla.stage))
    if entered is None or entered > now:
        return None
    owner = contact.get(OWNER) or None
    assigned = to_epoch(contact.get(ASSIGNED)) if owner else None
    start = max(entered, assigned) if assigned is not None and assigned <= now else entered
    due = sla.due(start)
    hit = first_touch(found, frozenset(sla.touch), owner, start, now)
    if hit is not None and hit[0] <= due:
        return FollowUp(sla.stage, owner, start, due, MET, hit[0], hit[1])
    if hit is not None:
        return FollowUp(sla.stage, owner, start, due, MET_LATE, hit[0], hit[1], due)
    if now > due:
        return FollowUp(sla.stage, owner, start, due, BREACHED, None, None, due)
    return FollowUp(sla.stage, owner, start, due, PENDING)


def not_accepted(rule: Recycle, contact: Mapping[str, Any], found: Iterable[Touch],
                 last_activity: float | None, now: float) -> bool:
    """The no-touch half of a recycle rule: the contact entered `source`, its owner logged no
    touch within `no_touch_days`, the days are over, and it has not engaged since then."""
    if rule.no_touch_days is None:
        return True
    entered = to_epoch(contact.get(ENTERED + rule.source))
    if entered is None:
        return False
    deadline = entered + rule.no_touch_days * DAY
    if now <= deadline or (last_activity is not None and last_activity > deadline):
        return False
    owner = contact.get(OWNER) or None
    return first_touch(found, frozenset(rule.touch), owner, entered, deadline) is None


def touch_kinds(slas: Iterable[Sla], rules: Iterable[Recycle]) -> frozenset[str]:
    """Every engagement kind an SLA or recycle rule counts as a touch."""
    return frozenset(k for item in (*slas, *rules) for k in item.touch)


def contact_properties(slas: Iterable[Sla], rules: Iterable[Recycle]) -> set[str]:
    """The contact properties SLAs and recycle rules read."""
    stages = {s.stage for s in slas} | {r.source for r in rules}
    return {OWNER, ASSIGNED} | {ENTERED + s for s in stages} if stages else set()


def iso_state(state: FollowUp | None, iso: Callable[[float], str]) -> dict | None:
    """A FollowUp as JSON-ready values (times through `iso`)."""
    if state is None:
        return None
    data = state._asdict()
    for key in ("started_at", "due_at", "met_at", "breached_since"):
        if data[key] is not None:
            data[key] = iso(data[key])
    return data


# ---- reading the model file's [sla] and [[recycle]] -----------------------------------------

Complain = Callable[[str, str, str | None], None]  # (message, section, field)


def parse_slas(raw: object, order: tuple[str, ...], kind_of: Callable[[Any], str | None],
               complain: Complain) -> tuple[Sla, ...]:
    """The `[sla]` table: defaults (`touch`, `working_hours`) and one table per stage."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        complain("must be a table: [sla.<stage>] within_hours = 24", "sla", None)
        return ()
    default_touch = _touch(raw.get("touch"), kind_of, complain, "sla", "touch")
    default_hours = _hours(raw.get("working_hours"), complain, "sla", "working_hours")
    slas = []
    for key, spec in raw.items():
        if key in ("touch", "working_hours"):
            continue
        if key not in order:
            complain(f"{key!r} is not a lifecycle stage; use [sla.<stage>] with one of "
                     f"{', '.join(order)}", "sla", key)
            continue
        if not isinstance(spec, dict):
            complain("must be a table: within_hours = 24", "sla", key)
            continue
        for name in spec:
            if name not in _SLA_KEYS:
                complain(f"unknown key {name!r}; expected {', '.join(_SLA_KEYS)}", "sla",
                         f"{key}.{name}")
        within = spec.get("within_hours")
        if isinstance(within, bool) or not isinstance(within, (int, float)) or within <= 0:
            complain(f"must be a positive number of hours, got {within!r}" if within is not None
                     else "is required: hours within which the owner must touch the contact",
                     "sla", f"{key}.within_hours")
            continue
        touch = (_touch(spec["touch"], kind_of, complain, "sla", f"{key}.touch")
                 if "touch" in spec else default_touch)
        hours = (_hours(spec["working_hours"], complain, "sla", f"{key}.working_hours")
                 if "working_hours" in spec else default_hours)
        slas.append(Sla(key, float(within), touch, hours))
    return tuple(sorted(slas, key=lambda s: order.index(s.stage)))


def parse_recycles(raw: object, order: tuple[str, ...], managed: tuple[str, ...],
                   demotable: Callable[[str], bool], kind_of: Callable[[Any], str | None],
                   check_when: Callable[[Any, str], str | None],
                   complain: Complain) -> tuple[Recycle, ...]:
    """The `[[recycle]]` rules; `check_when(spec, field)` validates a condition (message)."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        complain("must be [[recycle]] tables", "recycle", None)
        return ()
    rules, names = [], set()
    for index, spec in enumerate(raw):
        label = spec.get("name") if isinstance(spec.get("name"), str) and spec.get("name") \
            else f"#{index + 1}"
        where = f"{label}"

        def bad(message: str, field: str, _where: str = where) -> None:
            complain(message, "recycle", f"{_where}.{field}")

        problems: list[int] = []

        def fail(message: str, field: str) -> None:
            problems.append(1)
            bad(message, field)

        for key in spec:
            if key not in _RECYCLE_KEYS:
                fail(f"unknown key {key!r}; expected {', '.join(_RECYCLE_KEYS)}", key)
        if label != spec.get("name"):
            fail("is required (a short text naming the rule)", "name")
        elif label in names:
            fail("another recycle rule already has this name", "name")
        names.add(label)
        source, target = spec.get("from"), spec.get("to")
        if source not in managed:
            fail(f"must be a stage leadsync manages ({', '.join(managed)}), got {source!r}", "from")
        elif not demotable(source):
            fail(f"recycling moves contacts back from {source}: allow it with allow_demotion = "
                 f"true in [stages.{source}] (or [stages] allow_demotion = true)", "from")
        if target not in managed:
            fail(f"must be a stage leadsync manages ({', '.join(managed)}), got {target!r}", "to")
        elif source in order and order.index(target) >= order.index(source):
            fail(f"must be a stage before {source}", "to")
        days = spec.get("no_touch_within_days")
        if days is not None and (isinstance(days, bool) or not isinstance(days, (int, float))
                                 or days <= 0):
            fail(f"must be a positive number of days, got {days!r}", "no_touch_within_days")
        if days is None and "when" not in spec:
            fail("needs no_touch_within_days = N, a when = {...} condition, or both",
                 "no_touch_within_days")
        if "when" in spec:
            message = check_when(spec["when"], "when")
            if message:
                fail(message, "when")
        touch = (_touch(spec["touch"], kind_of, fail_complain(fail), "recycle", "touch")
                 if "touch" in spec else DEFAULT_TOUCH)
        if problems:
            continue
        rules.append(Recycle(label, source, target, None if days is None else float(days),
                             spec.get("when"), touch, spec.get("description")))
    return tuple(rules)


def fail_complain(fail: Callable[[str, str], None]) -> Complain:
    return lambda message, section, field: fail(message, (field or "").rpartition(".")[2])


def _touch(raw: object, kind_of: Callable[[Any], str | None], complain: Complain,
           section: str, field: str) -> tuple[str, ...]:
    if raw is None:
        return DEFAULT_TOUCH
    kinds = [kind_of(item) for item in raw] if isinstance(raw, list) and raw else [None]
    if None in kinds:
        complain('must be a list of engagement kinds, e.g. ["call", "meeting", "email"]',
                 section, field)
        return DEFAULT_TOUCH
    return tuple(dict.fromkeys(k for k in kinds if k))


def _hours(raw: object, complain: Complain, section: str, field: str) -> WorkingHours | None:
    if raw is None:
        return None
    try:
        return parse_hours(raw)
    except HoursError as exc:
        complain(str(exc), section, field)
        return None

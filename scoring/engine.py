"""The scoring engine: a model compiled once per as-of into closures, then applied per contact.

Pure: no I/O, no clock. `score(contact, events, company, model, as_of)` scores one contact;
`scorer(model, as_of)` returns the compiled function to score many (what the cache's rescore
uses). docs/model.md describes the arithmetic; the order is:

    occurrence points × decay → combined per rule (once/each/daily) → rule cap → rounded to
    0.1 → section sum → section min/max → total = fit + engagement → model min/max →
    grade (from the capped fit and engagement) → stage (conditions may use all of the above).

A table rule's occurrence is the row its input's value falls in (`scoring/tables.py`); its
reason is named after the rule and the row ("Lead source: ORGANIC_SEARCH").
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from scoring.conditions import Context, Test, compile_condition, placeholders_as_missing
from scoring.errors import InputError
from scoring.inputs import Facts, contact_field, contact_resolver, event_resolver
from scoring.model import FREE_EMAIL, Model, Rule, event_kind
from scoring.properties import to_epoch, to_number
from scoring.sla import ENTERED, FollowUp, follow_up, not_accepted, touch_kinds, touches
from scoring.tables import compile_table

DAY = 86400.0
NO_CHANGE, PROMOTE, DEMOTE = "none", "promote", "demote"
_EMPTY: Mapping[str, Any] = {}


# Tuples rather than dataclasses: one Score and a few Reasons are built per contact in the
# hot path, and NamedTuple construction is several times cheaper than a frozen dataclass.
class Event(NamedTuple):
    """One engagement: kind is the plural stream name ("calls", "emails", "meetings",
    "notes", "tasks"); occurred_at is POSIX seconds (UTC); properties are HubSpot's strings."""

    kind: str
    occurred_at: float
    properties: Mapping[str, Any]


class Reason(NamedTuple):
    """A rule that fired (or a cap that bit): its points after decay and caps."""

    rule: str
    section: str  # "fit", "engagement" or "total"
    points: float
    occurrences: int


class Score(NamedTuple):
    """What a contact scores as of one instant. Numbers are rounded to 0.1."""

    fit: float
    engagement: float
    total: float
    grade: str | None
    stage: str | None
    stage_change: str  # "none", "promote" or "demote"
    inactive: bool
    reasons: tuple[Reason, ...]
    days_since_last_engagement: float | None = None
    matched_stage: str | None = None  # highest managed stage whose condition held
    followup: FollowUp | None = None  # the current stage's SLA state (scoring/sla.py)

    def to_dict(self) -> dict[str, Any]:
        data = self._asdict()
        data["reasons"] = [r._asdict() for r in self.reasons]
        data["followup"] = None if self.followup is None else self.followup._asdict()
        return data


def event(kind: str, occurred_at: datetime | str | float,
          properties: Mapping[str, Any] | None = None) -> Event:
    """An Event from friendlier input: "meeting" or "meetings", a datetime or ISO text."""
    plural = event_kind(kind)
    if plural is None:
        raise InputError(f"unknown event kind {kind!r}; use call, email, meeting, note or task")
    if isinstance(occurred_at, datetime):
        seconds = epoch(occurred_at)
    elif isinstance(occurred_at, str):
        parsed = to_epoch(occurred_at)
        if parsed is None:
            raise InputError(f"cannot read {occurred_at!r} as a date or time")
        seconds = parsed
    else:
        seconds = float(occurred_at)
    return Event(plural, seconds, properties or {})


def epoch(moment: datetime) -> float:
    """POSIX seconds of an aware datetime (naive ones are refused: scores must not drift)."""
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InputError(f"as_of must be a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(timezone.utc).timestamp()


def score(contact: Mapping[str, Any], events: Sequence[Event] | Iterable[Event],
          company: Mapping[str, Any] | None, model: Model, as_of: datetime) -> Score:
    """Score one contact (HubSpot property name -> string) as of `as_of`."""
    return scorer(model, as_of)(contact, events, company)


@lru_cache(maxsize=16)
def scorer(model: Model, as_of: datetime) -> Callable[..., Score]:
    """The model compiled for `as_of`: call it as f(contact, events, company) -> Score."""
    return _Compiled(model, epoch(as_of)).score


class _Compiled:
    """Closures for one (model, as_of); `score` is the only entry point."""

    def __init__(self, model: Model, now: float) -> None:
        self.model, self.now = model, now
        self.types = types = model.types()
        free = model.lists.get("free_email", FREE_EMAIL)
        contact_ctx = Context(contact_resolver(types, free, outcomes=False), model.lists, now)
        stage_ctx = Context(contact_resolver(types, free, outcomes=True), model.lists, now)
        # (test, Reason, None) for a plain fit rule, whose Reason is constant and built once,
        # here; (None, None, run) for one whose points vary (per, tables): see _property_rule.
        self.fit_rules: list[tuple[Test | None, Reason | None, Callable | None]] = [
            (compile_condition(r.when, rule_context(contact_ctx, r), "when"),
             Reason(r.name, "fit", round(_capped(r.points, r.points, r.cap), 1), 1), None)
            if r.per is None and r.table is None else
            (None, None, self._property_rule(r, contact_ctx)) for r in model.fit.rules]
        self.event_rules: dict[str, list[tuple[str, Callable]]] = {}
        # (name, kind or None, run) in the model's order: reasons read like the file.
        self.engagement_rules: list[tuple[str, str | None, Callable]] = []
        for rule in model.engagement.rules:
            if rule.event is None:
                self.engagement_rules.append((rule.name, None,
                                              self._property_rule(rule, contact_ctx)))
                continue
            where_ctx = Context(event_resolver(types, rule.event), model.lists, now)
            where = (compile_condition(rule.where, rule_context(where_ctx, rule), "where")
                     if rule.where is not None else None)
            run = _event_rule(rule, where, now)
            self.event_rules.setdefault(rule.event, []).append((rule.name, run))
            self.engagement_rules.append((rule.name, rule.event, run))
        self.activity_kinds = frozenset(a for a in model.activity if event_kind(a) == a)
        self.activity_dates = tuple(a for a in model.activity if a not in self.activity_kinds)
        stages = model.stages
        self.stage_rules = [(s.name, compile_condition(s.when, stage_ctx, "when"))
                            for s in reversed(stages.rules)]
        self.rank = {name: i for i, name in enumerate(stages.order)}
        self.top = max((self.rank[s] for s in stages.managed), default=-1)
        # Stages a contact may be moved down from: any up to the highest managed one when the
        # model allows demotion, else only those whose own table says allow_demotion = true.
        self.demotable = frozenset(stages.order[:self.top + 1] if stages.allow_demotion else
                                   (s.name for s in stages.rules if s.allow_demotion))
        self.slas = {sla.stage: sla for sla in model.sla}
        self.recycles = [(rule, compile_condition(rule.when, stage_ctx, "when")
                          if rule.when is not None else None) for rule in model.recycle]
        self.touch_kinds = touch_kinds(model.sla, model.recycle)

    def _property_rule(self, rule: Rule, ctx: Context) -> Callable:
        """run(facts) -> (points, occurrences, reason name) | None, for a rule on the contact."""
        ctx = rule_context(ctx, rule)
        if rule.table is not None:
            return self._table_rule(rule, ctx)
        test, now, name = compile_condition(rule.when, ctx, "when"), self.now, rule.name
        points, cap, unit = rule.points, rule.cap, rule.unit
        window = rule.window_days * DAY if rule.window_days else math.inf
        base = 0.5 ** (1.0 / rule.half_life_days) if rule.half_life_days else None
        per = dated = None
        if rule.per is not None:
            field = ctx.resolve(rule.per, "per")
            per, per_clean = field.get, placeholders_as_missing(field)
        if rule.dated_by is not None:
            field = contact_field(self.types, rule.dated_by, "datetime")
            dated, dated_clean = field.get, placeholders_as_missing(field)

        def run(facts: Facts) -> tuple[float, int, str] | None:
            if not test(facts):
                return None
            value, occurrences = points, 1
            if per is not None:
                units = to_number(per_clean(per(facts)))
                if units is None or units / unit < 1:
                    return None
                occurrences = int(units / unit)
                value = points * occurrences
            if dated is not None:
                at = to_epoch(dated_clean(dated(facts)))
                if at is None or not 0.0 <= now - at <= window:
                    return None
                if base is not None:
                    value *= base ** ((now - at) / DAY)
            return _capped(value, points, cap), occurrences, name
        return run

    def _table_rule(self, rule: Rule, ctx: Context) -> Callable:
        guard = compile_condition(rule.when, ctx, "when") if rule.when is not None else None
        field = ctx.resolve(rule.table.input, rule.table.reads)
        lookup, get = compile_table(rule.name, rule.table, field, self.now), field.get

        def run(facts: Facts) -> tuple[float, int, str] | None:
            if guard is not None and not guard(facts):
                return None
            row = lookup(get(facts))
            return None if row is None else (row[1], 1, row[0])
        return run

    def score(self, contact: Mapping[str, Any], events: Iterable[Event],
              company: Mapping[str, Any] | None) -> Score:
        now, rules_by_kind, activity = self.now, self.event_rules, self.activity_kinds
        found: list = []
        if self.touch_kinds:
            events = list(events)
            found = touches(events, self.touch_kinds, now)
        buckets: dict[str, list] = {}
        last = None
        for item in events:
            kind, at = item[0], item[1]
            if at > now:
                continue  # not yet happened as of `now`: backtests depend on this
            if kind in activity and (last is None or at > last):
                last = at
            if kind in rules_by_kind:
                bucket = buckets.get(kind)
                if bucket is None:
                    buckets[kind] = [item]
                else:
                    bucket.append(item)
        for name in self.activity_dates:
            at = to_epoch(contact.get(name))
            if at is not None and at <= now and (last is None or at > last):
                last = at
        days_since = None if last is None else (now - last) / DAY
        facts = Facts(contact, company if company is not None else _EMPTY, days_since)
        reasons: list[Reason] = []
        fit = self._fit(facts, reasons)
        engagement = self._engagement(facts, buckets, reasons)
        return self._finish(facts, fit, engagement, reasons, last, found)

    def _fit(self, facts: Facts, reasons: list[Reason]) -> float:
        total = 0.0
        for test, reason, run in self.fit_rules:
            if run is not None:
                result = run(facts)
                if result is not None:
                    reason = Reason(result[2], "fit", round(result[0], 1), result[1])
                    total += reason.points
                    reasons.append(reason)
            elif test(facts):
                total += reason.points
                reasons.append(reason)
        fit = self.model.fit
        return _bounded(round(total, 1), "fit", fit.min, fit.max, reasons)

    def _engagement(self, facts: Facts, buckets: dict[str, list], reasons: list[Reason]) -> float:
        total = 0.0
        for name, kind, run in self.engagement_rules:
            if kind is None:
                result = run(facts)
                if result is not None:
                    name = result[2]  # a table rule's reason names its row
            else:
                bucket = buckets.get(kind)
                result = run(bucket) if bucket is not None else None
            if result is not None:
                value = round(result[0], 1)
                total += value
                reasons.append(Reason(name, "engagement", value, result[1]))
        section = self.model.engagement
        return _bounded(round(total, 1), "engagement", section.min, section.max, reasons)

    def _finish(self, facts: Facts, fit: float, engagement: float, reasons: list[Reason],
                last: float | None = None, found: list | None = None) -> Score:
        model = self.model
        total = _bounded(round(fit + engagement, 1), "total", model.min, model.max, reasons)
        grades = model.grades
        grade = None
        if grades is not None:
            letter = "A" if fit >= grades.a else "B" if fit >= grades.b else "C"
            number = "1" if engagement >= grades.one else "2" if engagement >= grades.two else "3"
            grade = letter + number
        inactive = self._inactive(facts)
        facts.fit, facts.engagement, facts.score = fit, engagement, total
        facts.grade, facts.inactive = grade, inactive
        matched = None
        for name, test in self.stage_rules:  # highest stage first
            if test(facts):
                matched = name
                break
        current = facts.contact.get("lifecyclestage") or None
        stage, change = self._stage(current, matched)
        followup = None
        if self.recycles or self.slas:
            whens = [when for _, when in self.recycles]
            stage, change, recycled = self.recycle(
                facts.contact, current, stage, change, found or [], last,
                lambda k: whens[k] is None or whens[k](facts))
            if recycled is not None:
                reasons.append(recycled)
            if stage == current:
                followup = follow_up(self.slas, current, facts.contact, found or [], self.now)
        days = facts.days_since
        return Score(fit, engagement, total, grade, stage, change, inactive, tuple(reasons),
                     None if days is None else round(days, 1), matched, followup)

    def recycle(self, contact: Mapping[str, Any], current: str | None, stage: str | None,
                change: str, found: list, last: float | None,
                when_holds: Callable[[int], bool]) -> tuple[str | None, str, Reason | None]:
        """Recycle rules after the stage decision: a contact at a rule's `from` stage whose
        rule holds goes back to its `to` stage (a demotion, with a reason); one before `from`
        is not promoted into it or beyond while the rule holds (it stays, with the reason),
        and one that was at `from` once keeps the reason while the rule holds."""
        rank = self.rank
        for k, (rule, _) in enumerate(self.recycles):
            source = rank[rule.source]
            if current == rule.source:
                result = (rule.target, DEMOTE)
            elif current is None or rank.get(current, source) < source:
                if stage is not None and rank.get(stage, -1) >= source:
                    result = (current, NO_CHANGE)  # held back while the rule holds
                elif contact.get(ENTERED + rule.source):
                    result = (stage, change)  # recycled earlier: the reason stays
                else:
                    continue
            else:
                continue
            if when_holds(k) and not_accepted(rule, contact, found, last, self.now):
                return result[0], result[1], Reason(f"Recycled: {rule.name}", "stage", 0.0, 1)
        return stage, change, None

    def _inactive(self, facts: Facts) -> bool:
        after = self.model.inactive_after_days
        if after is None:
            return False
        if facts.days_since is not None:
            return facts.days_since > after
        # Never engaged: inactive once the contact has existed longer than the threshold.
        created = to_epoch(facts.contact.get("createdate"))
        return created is None or (self.now - created) / DAY > after

    def _stage(self, current: str | None, matched: str | None) -> tuple[str | None, str]:
        """Forward only; demote only where the model allows; never touch later stages."""
        if current is not None:
            rank = self.rank.get(current)
            if rank is None or rank > self.top:  # "other", a custom stage, or beyond our remit
                return current, NO_CHANGE
        if matched is None:
            return current, NO_CHANGE
        if current is None or self.rank[matched] > self.rank[current]:
            return matched, PROMOTE
        if self.rank[matched] < self.rank[current] and current in self.demotable:
            return matched, DEMOTE
        return current, NO_CHANGE


def rule_context(ctx: Context, rule: Rule) -> Context:
    """The context a rule's conditions compile in: the rule's case sensitivity."""
    return ctx._replace(case_sensitive=True) if rule.case_sensitive else ctx


def _bounded(value: float, section: str, low: float | None, high: float | None,
             reasons: list[Reason]) -> float:
    """Apply a section's (or the total's) max, then min, recording the cut as a reason."""
    if high is not None and value > high:
        reasons.append(Reason(f"{section} capped at {high:g}", section, round(high - value, 1), 0))
        value = high
    if low is not None and value < low:
        reasons.append(Reason(f"{section} floored at {low:g}", section, round(low - value, 1), 0))
        value = low
    return value


def _capped(value: float, points: float, cap: float | None) -> float:
    """A rule's cap bounds its contribution's size: ≤ cap for rewards, ≥ -cap for penalties."""
    if cap is None:
        return value
    return min(value, cap) if points >= 0 else max(value, -cap)


def _event_rule(rule: Rule, where: Test | None, now: float) -> Callable:
    """Points of one event rule over the contact's events of its kind: (points, occurrences)."""
    points, cap, count = rule.points, rule.cap, rule.count
    window = rule.window_days * DAY if rule.window_days else math.inf
    # Decay as base ** age_days with base = 0.5 ** (1 / half_life): one pow per occurrence.
    base = 0.5 ** (1.0 / rule.half_life_days) if rule.half_life_days else 1.0
    pow_ = math.pow

    def matching(bucket: list) -> list[float]:
        """Ages (seconds) of the events that count, in the window and passing `where`."""
        ages = []
        for _, at, properties in bucket:
            age = now - at
            if age <= window and (where is None or where(properties)):
                ages.append(age)
        return ages

    def once(bucket: list) -> tuple[float, int] | None:
        ages = matching(bucket)
        if not ages:
            return None
        return _capped(points * pow_(base, min(ages) / DAY), points, cap), 1

    def each(bucket: list) -> tuple[float, int] | None:
        ages = matching(bucket)
        if not ages:
            return None
        # fsum is exactly rounded, so the result does not depend on the events' order.
        total = math.fsum([points * pow_(base, age / DAY) for age in ages])
        return _capped(total, points, cap), len(ages)

    def daily(bucket: list) -> tuple[float, int] | None:
        days: dict[float, float] = {}
        for _, at, properties in bucket:
            age = now - at
            if age <= window and (where is None or where(properties)):
                day = at // DAY
                if day not in days or age < days[day]:
                    days[day] = age
        if not days:
            return None
        total = math.fsum([points * pow_(base, age / DAY) for age in days.values()])
        return _capped(total, points, cap), len(days)

    return {"once": once, "each": each, "daily": daily}[count]

"""Scoring many contacts at once, a column at a time, with exactly engine.py's arithmetic.

The per-contact engine (`engine.scorer`) spends most of its time calling small closures. A
rescore of a whole cache instead hands a chunk of contacts over as columns (one list per
property, one array per engagement attribute) and each rule runs once per chunk:

- A condition on one property is the engine's own compiled test, applied to each distinct
  value of the column (job titles, enumerations and domains repeat), then spread back with
  numpy. So a rule means the same thing here as in `explain`, by construction.
- Event rules select their events with array masks; the arithmetic that decides a score's
  last bit stays in Python floats, in the engine's order: `math.pow` for decay (numpy's
  power may use other approximations), `math.fsum` per contact. numpy only selects, groups,
  compares, takes minima and adds in the engine's order (element-wise + - * / are exact IEEE
  arithmetic); rounding to 0.1 is rint(10 x) / 10 only where that provably equals Python's
  `round(x, 1)`, and Python's round elsewhere (`_round`).

- Table rules (value maps, bands) use the engine's own compiled lookup
  (`tables.compile_table`), once per distinct value of the input's column.

tests/scoring/test_scoring_batch.py checks that every result equals `engine.score`'s, field
by field (tests/scoring/test_scoring_tables.py for table rules, placeholders and case rules).
One module over the usual size on purpose: it mirrors engine.py step for step, and keeping the
column twin of each step side by side is what keeps the two bit for bit equal.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from scoring.conditions import (Context, Field, Test, compile_condition, compile_leaf,
                                email_domain, is_namespace, placeholders_as_missing)
from scoring.engine import DAY, Event, Reason, Score, _capped, _Compiled, epoch, rule_context
from scoring.inputs import contact_field, contact_resolver, event_resolver
from scoring.model import FREE_EMAIL, Model, Rule
from scoring.properties import ENGAGEMENT_KINDS, to_epoch, to_number
from scoring.sla import ENTERED, contact_properties, follow_up, touches
from scoring.tables import compile_table

KIND_CODE = {kind: code for code, kind in enumerate(ENGAGEMENT_KINDS)}
_MEMO_SIZE = 100_000


class Events(NamedTuple):
    """A chunk's engagements as parallel arrays, ordered by owner."""

    owner: np.ndarray  # intp: the contact's position in the chunk
    kind: np.ndarray  # int8: position in ENGAGEMENT_KINDS (KIND_CODE)
    at: np.ndarray  # float64: POSIX seconds
    properties: Sequence[Any]  # each event's properties: a dict, or a text `parse` reads
    parse: Callable[[Any], Mapping[str, Any]] | None = None  # None: they are dicts


class Chunk(NamedTuple):
    """Contacts as columns: property name -> one raw value per contact."""

    size: int
    contacts: Mapping[str, Sequence[Any]]
    companies: Mapping[str, Sequence[Any]]  # the primary company's properties (None: none)
    events: Events
    # Each contact's latest activity event at or before as-of (NaN: none), when the reader
    # knows it; then `events` need only hold the events some rule can count.
    latest: np.ndarray | None = None


def chunk_of(contacts: Sequence[Mapping[str, Any]], events: Sequence[Iterable[Event]],
             companies: Sequence[Mapping[str, Any] | None]) -> Chunk:
    """A Chunk from the engine's per-contact inputs (tests, and callers holding dicts)."""
    names = sorted({name for contact in contacts for name in contact})
    company_names = sorted({name for company in companies if company for name in company})
    owners, kinds, ats, properties = [], [], [], []
    for position, items in enumerate(events):
        for kind, at, values in items:
            owners.append(position)
            kinds.append(KIND_CODE[kind])
            ats.append(at)
            properties.append(values)
    return Chunk(len(contacts),
                 {n: [c.get(n) for c in contacts] for n in names},
                 {n: [c.get(n) if c else None for c in companies] for n in company_names},
                 Events(np.array(owners, np.intp), np.array(kinds, np.int8),
                        np.array(ats, np.float64), properties))


class ReasonColumn(NamedTuple):
    """One reason's values across a chunk: who it fired for, with what points and count."""

    rule: str
    section: str
    who: np.ndarray  # intp, ascending
    points: list  # Python floats, one per `who`
    occurrences: list  # ints, one per `who`


class Scores(NamedTuple):
    """A chunk's scores as columns (same values as engine.Score, field by field)."""

    fit: list
    engagement: list
    total: list
    grade: list
    stage: list
    stage_change: list
    inactive: list
    matched_stage: list
    days_since: np.ndarray  # unrounded, NaN: never engaged
    reasons: list  # ReasonColumns, in the order the engine lists reasons
    followup: list | None = None  # FollowUp or None per contact (None: no SLA in the model)

    def score(self, i: int) -> Score:
        """Contact i's Score, as engine.score returns it."""
        reasons = []
        for column in self.reasons:
            at = int(np.searchsorted(column.who, i))
            if at < len(column.who) and column.who[at] == i:
                reasons.append(Reason(column.rule, column.section, column.points[at],
                                      column.occurrences[at]))
        days = float(self.days_since[i])
        return Score(self.fit[i], self.engagement[i], self.total[i], self.grade[i],
                     self.stage[i], self.stage_change[i], self.inactive[i], tuple(reasons),
                     None if days != days else round(days, 1), self.matched_stage[i],
                     None if self.followup is None else self.followup[i])

    def reason_lists(self, fragment: Callable[[str, str, float, int], str]) -> list[list[str]]:
        """Per contact, `fragment(rule, section, points, occurrences)` of each of its reasons."""
        lists: list[list[str]] = [[] for _ in self.fit]
        for rule, section, who, points, occurrences in self.reasons:
            if points.count(points[0]) == len(points) and occurrences.count(occurrences[0]) == len(
                    occurrences) and points[0]:  # one text for all (0.0 and -0.0 print apart)
                text = fragment(rule, section, points[0], occurrences[0])
                for i in who.tolist():
                    lists[i].append(text)
                continue
            for i, p, n in zip(who.tolist(), points, occurrences):
                lists[i].append(fragment(rule, section, p, n))
        return lists


def batch_scorer(model: Model, as_of: Any) -> "BatchScorer":
    """The model compiled for `as_of`, to score whole chunks."""
    return BatchScorer(model, epoch(as_of))


class Frame:
    """What condition masks read in one chunk: raw columns, factorized once per column."""

    def __init__(self, chunk: Chunk, derived: Mapping[str, Callable[[], list]]) -> None:
        self.chunk = chunk
        self.derived = derived
        self._columns: dict[tuple[str | None, str], list] = {}
        self._factorized: dict[tuple[str | None, str], tuple[np.ndarray, list] | None] = {}
        self._epochs: dict[str, np.ndarray | None] = {}

    def epochs(self, name: str) -> np.ndarray | None:
        """to_epoch of a contact property (NaN: missing); None when the column is absent."""
        if name not in self._epochs:
            self._epochs[name] = _epochs(self.chunk.contacts.get(name))
        return self._epochs[name]

    def column(self, field: Field) -> list:
        key = (field.source, field.key or field.name)
        values = self._columns.get(key)
        if values is None:
            if field.source == "contact":
                values = self.chunk.contacts.get(field.key) or [None] * self.chunk.size
            elif field.source == "company":
                values = self.chunk.companies.get(field.key) or [None] * self.chunk.size
            else:
                values = self.derived[field.name]()
            self._columns[key] = values
        return values

    def factorized(self, field: Field) -> tuple[np.ndarray, list] | None:
        """(codes, distinct values) of a column; None when its values are not hashable."""
        key = (field.source, field.key or field.name)
        if key not in self._factorized:
            self._factorized[key] = factorize(self.column(field))
        return self._factorized[key]


def factorize(values: Sequence[Any]) -> tuple[np.ndarray, list] | None:
    """(code of each value, the distinct values); None when values are not hashable."""
    try:
        distinct = list(set(values))
    except TypeError:
        return None
    index = {value: code for code, value in enumerate(distinct)}
    return np.fromiter(map(index.__getitem__, values), np.intp, len(values)), distinct


Mask = Callable[[Frame], np.ndarray]
# What a rule on the contact gives for a chunk: per reason name, (who, points, occurrences).
Groups = list[tuple[str, np.ndarray, list, list]]


def compile_mask(spec: Any, ctx: Context, path: str) -> Mask:
    """A condition as a function of a Frame -> one bool per contact (compile_condition's twin)."""
    return _every([_entry(key, value, ctx, f"{path}.{key}") for key, value in spec.items()])


def _entry(key: str, value: Any, ctx: Context, path: str) -> Mask:
    if key in ("all", "any"):
        masks = [compile_mask(item, ctx, f"{path}[{i}]") for i, item in enumerate(value)]
        return _every(masks) if key == "all" else _some(masks)
    if key == "not":
        inner = compile_mask(value, ctx, path)
        return lambda frame: ~inner(frame)
    if is_namespace(key, value):
        return _every([_entry(f"{key}.{sub}", inner, ctx, f"{path}.{sub}")
                       for sub, inner in value.items()])
    field, test = compile_leaf(key, value, ctx, path)
    return _leaf(field, test)


def _leaf(field: Field, test: Test) -> Mask:
    """test(raw) once per distinct value of the column (remembered across chunks)."""
    memo: dict[Any, bool] = {}

    def mask(frame: Frame) -> np.ndarray:
        factorized = frame.factorized(field)
        if factorized is None:
            return np.fromiter((bool(test(v)) for v in frame.column(field)), bool,
                               frame.chunk.size)
        codes, distinct = factorized
        truth = np.empty(len(distinct), bool)
        for position, value in enumerate(distinct):
            answer = memo.get(value)
            if answer is None:
                answer = bool(test(value))
                if len(memo) < _MEMO_SIZE:
                    memo[value] = answer
            truth[position] = answer
        return truth[codes]
    return mask


def _every(masks: list[Mask]) -> Mask:
    if len(masks) == 1:
        return masks[0]

    def every(frame: Frame) -> np.ndarray:
        result = masks[0](frame)
        for mask in masks[1:]:
            result = result & mask(frame)
        return result
    return every


def _some(masks: list[Mask]) -> Mask:
    def some(frame: Frame) -> np.ndarray:
        result = masks[0](frame)
        for mask in masks[1:]:
            result = result | mask(frame)
        return result
    return some


class BatchScorer:
    """Closures for one (model, as_of) over chunks; `score(chunk)` is the entry point."""

    def __init__(self, model: Model, now: float) -> None:
        self.model, self.now = model, now
        self.engine = engine = _Compiled(model, now)  # stage order, fit reasons, where tests
        types = model.types()
        free = model.lists.get("free_email", FREE_EMAIL)
        self.free = free
        contact_ctx = Context(contact_resolver(types, free, outcomes=False), model.lists, now)
        stage_ctx = Context(contact_resolver(types, free, outcomes=True), model.lists, now)
        # (mask, constant Reason, None), or (None, None, run) as in engine._Compiled.fit_rules
        self.fit_rules: list[tuple[Mask | None, Reason | None, Callable | None]] = [
            (compile_mask(rule.when, rule_context(contact_ctx, rule), "when"), reason, None)
            if reason is not None else (None, None, self._contact_rule(rule, contact_ctx))
            for rule, (_, reason, _) in zip(model.fit.rules, engine.fit_rules)]
        self.engagement_rules: list[tuple[Rule, Any]] = []
        for rule in model.engagement.rules:
            if rule.event is None:
                self.engagement_rules.append((rule, self._contact_rule(rule, contact_ctx)))
            else:
                where_ctx = Context(event_resolver(types, rule.event), model.lists, now)
                where = (compile_condition(rule.where, rule_context(where_ctx, rule), "where")
                         if rule.where is not None else None)
                self.engagement_rules.append((rule, _WhereTest(where)))
        self.stage_rules = [(name, compile_mask(spec, stage_ctx, "when")) for name, spec in
                            ((s.name, s.when) for s in reversed(model.stages.rules))]
        self.activity_kinds = np.array(sorted(KIND_CODE[k] for k in engine.activity_kinds), np.int8)
        self.activity_dates = engine.activity_dates
        self._stages: dict[tuple[Any, Any], tuple[Any, str]] = {}
        self.recycle_masks = [None if rule.when is None else compile_mask(rule.when, stage_ctx,
                                                                            "when")
                              for rule in model.recycle]
        self.followup_names = tuple(sorted(contact_properties(model.sla, model.recycle)))
        self.followup_stages = frozenset(s.stage for s in model.sla) | frozenset(
            r.source for r in model.recycle)
        self.recycled_dates = tuple(sorted({ENTERED + r.source for r in model.recycle}))

    def score(self, chunk: Chunk) -> Scores:
        n, now, events = chunk.size, self.now, chunk.events
        happened = events.at <= now  # later events have not happened as of `now`
        frame_values: dict[str, Any] = {}  # filled as they become known: derived inputs read it
        frame = Frame(chunk, self._derived(chunk, frame_values))
        last = self._last_activity(frame, happened)
        days = frame_values["days"] = (self.now - last) / DAY
        reasons: list[ReasonColumn] = []
        fit = np.zeros(n)
        for mask, reason, run in self.fit_rules:
            if run is not None:
                _add(fit, "fit", run(frame), reasons)
                continue
            who = np.flatnonzero(mask(frame))
            if len(who):
                fit[who] += reason.points
                reasons.append(ReasonColumn(reason.rule, "fit", who, [reason.points] * len(who),
                                            [1] * len(who)))
        section = self.model.fit
        fit = _bounded(_round(fit), "fit", section.min, section.max, reasons)
        engagement = np.zeros(n)
        for rule, test in self.engagement_rules:
            if rule.event is None:
                _add(engagement, "engagement", test(frame), reasons)
            else:
                who, values, counts = self._event_rule(rule, test, events, happened)
                _add(engagement, "engagement", [(rule.name, who, values, counts)], reasons)
        section = self.model.engagement
        engagement = _bounded(_round(engagement), "engagement", section.min, section.max, reasons)
        model = self.model
        total = _bounded(_round(fit + engagement), "total", model.min, model.max, reasons)
        grades = self._grades(fit, engagement)
        inactive = self._inactive(chunk, days)
        frame_values.update(fit=fit, engagement=engagement, total=total, grade=grades,
                            inactive=inactive)
        matched = self._matched(frame, n)
        stage, change = self._stage(chunk, matched)
        followups = None
        if self.engine.slas or self.engine.recycles:
            followups = self._followups(frame, stage, change, last, reasons)
        return Scores(fit.tolist(), engagement.tolist(), total.tolist(), grades, stage, change,
                      inactive.tolist(), matched, days, reasons, followups)

    def _followups(self, frame: Frame, stage: list, change: list, last: np.ndarray,
                   reasons: list[ReasonColumn]) -> list:
        """Recycling and SLA states, per contact, by the engine's own functions (`recycle`,
        `follow_up`); only contacts at an SLA or recycle stage, or being promoted, need them."""
        chunk, engine, now = frame.chunk, self.engine, self.now
        current = chunk.contacts.get("lifecyclestage") or [None] * chunk.size
        columns = {name: chunk.contacts.get(name) or [None] * chunk.size
                   for name in self.followup_names}
        masks = [None if mask is None else mask(frame) for mask in self.recycle_masks]
        events = chunk.events
        starts = np.searchsorted(events.owner, np.arange(chunk.size + 1))
        followups: list = [None] * chunk.size
        recycled: dict[str, list[int]] = {}
        for i in range(chunk.size):
            here = current[i] or None
            if here not in self.followup_stages and change[i] != "promote" and not any(
                    columns[name][i] for name in self.recycled_dates):
                continue
            contact = {name: column[i] for name, column in columns.items()}
            lo, hi = int(starts[i]), int(starts[i + 1])
            mine = [(ENGAGEMENT_KINDS[events.kind[j]], float(events.at[j]), events.properties[j])
                    for j in range(lo, hi)]
            found = touches(mine, engine.touch_kinds, now, events.parse)
            at = float(last[i])
            stage[i], change[i], reason = engine.recycle(
                contact, here, stage[i], change[i], found, None if at != at else at,
                lambda k: masks[k] is None or bool(masks[k][i]))
            if reason is not None:
                recycled.setdefault(reason.rule, []).append(i)
            if stage[i] == here:
                followups[i] = follow_up(engine.slas, here, contact, found, now)
        for rule, who in recycled.items():
            reasons.append(ReasonColumn(rule, "stage", np.array(who, np.intp), [0.0] * len(who),
                                        [1] * len(who)))
        return followups

    # --- derived inputs ---------------------------------------------------------------------

    def _last_activity(self, frame: Frame, happened: np.ndarray) -> np.ndarray:
        """Each contact's last activity (NaN: never), as the engine finds it."""
        chunk = frame.chunk
        if chunk.latest is not None:
            last = chunk.latest.copy()
        else:
            events = chunk.events
            last = np.full(chunk.size, np.nan)
            chosen = happened & np.isin(events.kind, self.activity_kinds)
            owners = events.owner[chosen]
            if len(owners):
                starts = _starts(owners)
                last[owners[starts]] = np.maximum.reduceat(events.at[chosen], starts)
        return later_dates(frame, last, self.activity_dates, self.now)

    def _derived(self, chunk: Chunk, values: dict) -> dict[str, Callable[[], list]]:
        emails = chunk.contacts.get("email") or [None] * chunk.size
        free = self.free

        def domains() -> list:
            if "domains" not in values:
                values["domains"] = [email_domain(e) for e in emails]
            return values["domains"]

        derived: dict[str, Callable[[], list]] = {
            "days_since_last_engagement": lambda: [None if d != d else d
                                                   for d in values["days"].tolist()],
            "email_domain": domains,
            "is_free_email": lambda: [None if d is None else d in free for d in domains()],
            "score": lambda: values["total"].tolist(),
            "fit": lambda: values["fit"].tolist(),
            "engagement": lambda: values["engagement"].tolist(),
            "grade": lambda: values["grade"],
            "inactive": lambda: values["inactive"].tolist(),
        }
        return derived

    # --- rules on the contact (fit and engagement) ----------------------------------------

    def _contact_rule(self, rule: Rule, ctx: Context) -> Callable[[Frame], Groups]:
        """run(frame) -> Groups for a rule on the contact (engine._Compiled._property_rule)."""
        ctx = rule_context(ctx, rule)
        if rule.table is not None:
            return self._table_rule(rule, ctx)
        mask = compile_mask(rule.when, ctx, "when")
        per = ctx.resolve(rule.per, "per") if rule.per is not None else None
        dated = (contact_field(self.engine.types, rule.dated_by, "datetime")
                 if rule.dated_by is not None else None)

        def run(frame: Frame) -> Groups:
            who, values, counts = self._property_rule(rule, mask, per, dated, frame)
            return [(rule.name, who, values, counts)]
        return run

    def _table_rule(self, rule: Rule, ctx: Context) -> Callable[[Frame], Groups]:
        """A value map or bands: the engine's lookup once per distinct value of the input."""
        guard = compile_mask(rule.when, ctx, "when") if rule.when is not None else None
        field = ctx.resolve(rule.table.input, rule.table.reads)
        lookup = compile_table(rule.name, rule.table, field, self.now)

        def run(frame: Frame) -> Groups:
            factorized = frame.factorized(field)
            if factorized is None:
                column = frame.column(field)
                codes, distinct = np.arange(len(column)), column
            else:
                codes, distinct = factorized
            found = [lookup(value) for value in distinct]
            rows = list(dict.fromkeys(row for row in found if row is not None))
            position = {row: i for i, row in enumerate(rows)}
            of_value = np.array([-1 if row is None else position[row] for row in found], np.intp)
            chosen = of_value[codes] if len(codes) else np.zeros(0, np.intp)
            if guard is not None:
                chosen = np.where(guard(frame), chosen, -1)
            groups: Groups = []
            for i, (name, points) in enumerate(rows):
                who = np.flatnonzero(chosen == i)
                groups.append((name, who, [points] * len(who), [1] * len(who)))
            return groups
        return run

    def _property_rule(self, rule: Rule, mask: Mask, per: Field | None, dated: Field | None,
                       frame: Frame) -> tuple[np.ndarray, list, list]:
        """A rule on contact counters (engine._Compiled._property_rule, a column at a time)."""
        chunk, now = frame.chunk, self.now
        fired = mask(frame)
        points = rule.points
        value = np.full(chunk.size, points)
        counts = np.ones(chunk.size, np.int64)
        if per is not None:
            clean = placeholders_as_missing(per)
            units = _coerced(frame.column(per), chunk.size,
                             lambda raw: to_number(clean(raw))) / rule.unit
            fired &= units >= 1  # NaN (missing) compares false
            whole = np.trunc(np.where(fired, units, 1.0))
            counts = whole.astype(np.int64)
            value = points * whole
        who = np.flatnonzero(fired)
        values = value[who].tolist()
        if dated is not None:
            if dated.missing:
                clean_date = placeholders_as_missing(dated)
                at = _coerced(frame.column(dated), chunk.size,
                              lambda raw: to_epoch(clean_date(raw)))
            else:
                at = frame.epochs(rule.dated_by)
            if at is None:
                return who[:0], [], []
            window = rule.window_days * DAY if rule.window_days else math.inf
            age = now - at[who]
            inside = (age >= 0.0) & (age <= window)  # NaN (no date) compares false
            who, age, values = who[inside], age[inside], [v for v, ok in zip(values, inside) if ok]
            if rule.half_life_days:
                base = 0.5 ** (1.0 / rule.half_life_days)
                values = [v * base ** (a / DAY) for v, a in zip(values, age.tolist())]
        cap = rule.cap
        if cap is not None:
            values = [_capped(v, points, cap) for v in values]
        return who, values, counts[who].tolist()

    def _event_rule(self, rule: Rule, where: "_WhereTest", events: Events, happened: np.ndarray
                    ) -> tuple[np.ndarray, list, list]:
        """Points of one event rule for every contact (engine._event_rule, a chunk at a time)."""
        now, points, cap = self.now, rule.points, rule.cap
        chosen = happened & (events.kind == KIND_CODE[rule.event])
        age = now - events.at
        if rule.window_days:
            chosen &= age <= rule.window_days * DAY
        if where.test is not None:
            candidates = np.flatnonzero(chosen)
            properties = events.properties
            chosen[candidates] = where.truth([properties[i] for i in candidates.tolist()],
                                             events.parse)
        owners = events.owner[chosen]
        if not len(owners):
            return owners, [], []
        ages = age[chosen]
        base = 0.5 ** (1.0 / rule.half_life_days) if rule.half_life_days else 1.0
        pow_, fsum = math.pow, math.fsum
        if rule.count == "once":
            starts = _starts(owners)
            youngest = np.minimum.reduceat(ages, starts).tolist()
            values = [_capped(points * pow_(base, a / DAY), points, cap) for a in youngest]
            return owners[starts], values, [1] * len(values)
        if rule.count == "daily":
            # The youngest event of each (contact, day), then those days as occurrences.
            day = np.array([at // DAY for at in events.at[chosen].tolist()])
            order = np.lexsort((day, owners))
            owners, day, ages = owners[order], day[order], ages[order]
            moved = (owners[1:] != owners[:-1]) | (day[1:] != day[:-1])
            firsts = np.flatnonzero(np.r_[True, moved])
            ages = np.minimum.reduceat(ages, firsts)
            owners = owners[firsts]
        terms = [points * pow_(base, a / DAY) for a in ages.tolist()]
        starts = _starts(owners)
        ends = [*starts[1:].tolist(), len(terms)]
        values = [_capped(fsum(terms[s:e]), points, cap) for s, e in zip(starts.tolist(), ends)]
        return owners[starts], values, np.diff(np.r_[starts, len(terms)]).tolist()

    # --- outcomes -------------------------------------------------------------------------

    def _grades(self, fit: np.ndarray, engagement: np.ndarray) -> list:
        grades = self.model.grades
        if grades is None:
            return [None] * len(fit)
        letter = np.where(fit >= grades.a, 0, np.where(fit >= grades.b, 1, 2))
        number = np.where(engagement >= grades.one, 0, np.where(engagement >= grades.two, 1, 2))
        names = [a + b for a in "ABC" for b in "123"]
        return [names[i] for i in (letter * 3 + number).tolist()]

    def _inactive(self, chunk: Chunk, days: np.ndarray) -> np.ndarray:
        after = self.model.inactive_after_days
        if after is None:
            return np.zeros(chunk.size, bool)
        inactive = days > after
        never = np.flatnonzero(np.isnan(days))
        if len(never):
            created = chunk.contacts.get("createdate") or [None] * chunk.size
            for i in never.tolist():
                at = to_epoch(created[i])
                inactive[i] = at is None or (self.now - at) / DAY > after
        return inactive

    def _matched(self, frame: Frame, n: int) -> list:
        """The highest managed stage whose condition holds, per contact (None: none)."""
        matched: list = [None] * n
        open_ = np.ones(n, bool)
        for name, mask in self.stage_rules:  # highest stage first
            hit = np.flatnonzero(open_ & mask(frame))
            for i in hit.tolist():
                matched[i] = name
            open_[hit] = False
        return matched

    def _stage(self, chunk: Chunk, matched: list) -> tuple[list, list]:
        current = chunk.contacts.get("lifecyclestage") or [None] * chunk.size
        known, decide = self._stages, self.engine._stage
        stages, changes = [], []
        for now_at, wanted in zip(current, matched):
            key = (now_at or None, wanted)
            result = known.get(key)
            if result is None:
                result = known[key] = decide(*key)
            stages.append(result[0])
            changes.append(result[1])
        return stages, changes


class _WhereTest:
    """An event rule's `where` over events' properties: texts are parsed and tested once per
    distinct text (remembered across chunks); dicts are tested as they come. Only events the
    rule could count get here, so texts of events outside every window are never parsed."""

    def __init__(self, test: Test | None) -> None:
        self.test = test
        self.memo: dict[str, bool] = {}

    def truth(self, properties: Sequence[Any], parse: Callable[[Any], Mapping[str, Any]] | None
              ) -> np.ndarray:
        test = self.test
        if parse is None:
            return np.fromiter((bool(test(p)) for p in properties), bool, len(properties))
        memo = self.memo
        answers = np.empty(len(properties), bool)
        for position, text in enumerate(properties):
            known = memo.get(text)
            if known is None:
                known = bool(test(parse(text)))
                if len(memo) < _MEMO_SIZE:
                    memo[text] = known
            answers[position] = known
        return answers


def _add(totals: np.ndarray, section: str, groups: Groups, reasons: list[ReasonColumn]) -> None:
    """Add a rule's rounded points to the section's totals and record them as reasons."""
    for name, who, values, counts in groups:
        if len(who):
            rounded = _round(np.array(values, np.float64)).tolist()
            totals[who] += rounded
            reasons.append(ReasonColumn(name, section, who, rounded, counts))


def _starts(owners: np.ndarray) -> np.ndarray:
    """Where each run of equal owners begins (owners are grouped)."""
    return np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])


def _round(values: np.ndarray) -> np.ndarray:
    """round(v, 1) of each value, exactly as Python rounds (correctly, half to even).

    rint(10 v) / 10 is the same double unless 10 v lies within rounding error of a half
    (or v is huge): those few values go through Python's round."""
    tens = values * 10.0
    rounded = np.rint(tens) / 10.0
    doubtful = np.flatnonzero(~(np.abs(np.abs(tens - np.floor(tens)) - 0.5) > 1e-6)
                              | ~(np.abs(values) < 1e12))
    if len(doubtful):
        rounded[doubtful] = [round(v, 1) for v in values[doubtful].tolist()]
    return rounded


def _bounded(values: np.ndarray, section: str, low: float | None, high: float | None,
             reasons: list[ReasonColumn]) -> np.ndarray:
    """engine._bounded for a column: max, then min, each cut recorded as a reason."""
    if high is not None:
        values = _cut(values, values > high, high, f"{section} capped at {high:g}", section,
                      reasons)
    if low is not None:
        values = _cut(values, values < low, low, f"{section} floored at {low:g}", section, reasons)
    return values


def _cut(values: np.ndarray, beyond: np.ndarray, limit: float, name: str, section: str,
         reasons: list[ReasonColumn]) -> np.ndarray:
    who = np.flatnonzero(beyond)
    if not len(who):
        return values
    points = [round(limit - v, 1) for v in values[who].tolist()]
    reasons.append(ReasonColumn(name, section, who, points, [0] * len(who)))
    values = values.copy()
    values[who] = limit
    return values


def later_dates(frame: Frame, last: np.ndarray, names: Sequence[str], now: float) -> np.ndarray:
    """`last` (each contact's latest activity event, NaN: none) moved to the later of it and
    the contact's date properties `names` at or before `now`; in place, and returned."""
    for name in names:
        at = frame.epochs(name)
        if at is None:
            continue
        later = (at <= now) & (np.isnan(last) | (at > last))  # NaN compares false
        last[later] = at[later]
    return last


def _epochs(raw: Sequence[Any] | None) -> np.ndarray | None:
    """to_epoch of each value (NaN when missing); None when the column is absent."""
    if raw is None:
        return None
    return _coerced(raw, len(raw), to_epoch)


def _coerced(raw: Sequence[Any] | None, size: int, coerce: Callable[[Any], float | None]
             ) -> np.ndarray:
    if raw is None:
        return np.full(size, np.nan)
    factorized = factorize(raw)
    if factorized is None:
        return np.array([_nan(coerce(v)) for v in raw], np.float64)
    codes, distinct = factorized
    return np.array([_nan(coerce(v)) for v in distinct], np.float64)[codes]


def _nan(value: float | None) -> float:
    return math.nan if value is None else value

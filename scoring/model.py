"""The rule model: one TOML file, loaded and validated into frozen values.

`load(path)` / `loads(text)` return a `Model` or raise `ModelError` listing every problem
with file, line (where it can be found), rule and field. docs/model.md is the reference.

One module over the usual size on purpose: `_Loader` walks the whole file once and collects
every problem before raising, and splitting its readers apart would scatter that one pass.
Tables of points (value maps, bands) are validated in `scoring/tables.py`.
"""
from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from scoring.conditions import Context, Invalid, compile_condition
from scoring.errors import ModelError, Problem
from scoring.inputs import SINGULAR, PropertyTypes, contact_resolver, event_resolver
from scoring.properties import ENGAGEMENT_KINDS, OBJECT_TYPES, TIME_TYPES, TYPES, NUMBER, Catalog
from scoring.sla import OWNER, Recycle, Sla, contact_properties, parse_recycles, parse_slas
from scoring.source import Locator
from scoring.tables import TABLE_KEYS, Table, parse_table

STAGE_ORDER = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
               "opportunity", "customer", "evangelist")
DEFAULT_MANAGED = ("subscriber", "lead", "marketingqualifiedlead")
COUNTS = ("once", "each", "daily")
DEFAULT_ACTIVITY = ("calls", "emails", "meetings", "recent_conversion_date")
STARTER = "starter_model.toml"

FREE_EMAIL = frozenset("""
    gmail.com googlemail.com yahoo.com yahoo.co.uk yahoo.fr yahoo.de ymail.com rocketmail.com
    hotmail.com hotmail.co.uk hotmail.fr hotmail.de outlook.com live.com msn.com
    windowslive.com icloud.com me.com mac.com aol.com gmx.com gmx.de gmx.net web.de
    mail.com email.com protonmail.com proton.me pm.me zoho.com yandex.com yandex.ru mail.ru
    qq.com 163.com 126.com sina.com naver.com hanmail.net free.fr orange.fr laposte.net
    libero.it tutanota.com fastmail.com hey.com inbox.com
""".split())

# Past these a value is a slip (a sign, a stray zero), not a model: points are at most
# MAX_POINTS either way; caps, score bounds and grade thresholds at most MAX_SCORE; day
# counts at most MAX_DAYS. Half-lives are never negative (scores would grow with age).
MAX_POINTS = 10_000
MAX_SCORE = 100_000
MAX_DAYS = 3_650
_LIMITS = {"cap": MAX_SCORE, "min": MAX_SCORE, "max": MAX_SCORE, "half_life_days": MAX_DAYS,
           "window_days": MAX_DAYS, "after_days": MAX_DAYS}

_TOP = ("model", "lists", "properties", "fit", "engagement", "grades", "stages", "inactive",
        "sla", "recycle")
_SECTION_KEYS = {"fit": ("max", "min", "rules"),
                 "engagement": ("max", "min", "half_life_days", "activity", "rules")}
_RULE_KEYS = {
    "fit": ("name", "description", "when", "points", "count", "per", "unit", "cap",
            "case_sensitive"),
    "engagement": ("name", "description", "when", "event", "where", "dated_by", "per", "unit",
                   "points", "count", "cap", "window_days", "half_life_days", "case_sensitive"),
}
# Rules whose points come from a table (either section): see scoring/tables.py.
_TABLE_RULE_KEYS = ("name", "description", "when", "property", "days_since", "points_by_value",
                    "bands", "else", "missing", "case_sensitive")
_HEAD_KEYS = ("name", "version", "description", "min", "max", "missing_values")


@dataclass(frozen=True)
class Rule:
    """One scoring rule, validated. `half_life_days` is effective (rule, else section default).

    A table rule (`table` set) takes its points from the table's rows; its `points` is 0."""

    name: str
    section: str
    points: float
    when: Mapping[str, Any] | None = None
    event: str | None = None  # the plural engagement kind, e.g. "meetings"
    where: Mapping[str, Any] | None = None
    dated_by: str | None = None
    per: str | None = None
    count: str = "once"
    cap: float | None = None
    window_days: float | None = None
    half_life_days: float | None = None
    description: str | None = None
    unit: float = 1.0  # with `per`: points per `unit` of the input
    case_sensitive: bool = False
    table: Table | None = None


@dataclass(frozen=True)
class Section:
    """Fit or engagement: its rules and the bounds applied to their sum."""

    name: str
    rules: tuple[Rule, ...] = ()
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Grades:
    """Thresholds: fit ≥ a → A, ≥ b → B, else C; engagement ≥ one → 1, ≥ two → 2, else 3."""

    a: float
    b: float
    one: float
    two: float


@dataclass(frozen=True)
class StageRule:
    name: str
    when: Mapping[str, Any]
    allow_demotion: bool


@dataclass(frozen=True)
class Stages:
    """Which lifecycle stages leadsync may set, in which order, and under what conditions."""

    order: tuple[str, ...] = STAGE_ORDER
    managed: tuple[str, ...] = DEFAULT_MANAGED
    rules: tuple[StageRule, ...] = ()
    allow_demotion: bool = False


# eq=False: models compare (and hash) by identity, so a compiled model can be cached per as_of.
@dataclass(frozen=True, eq=False)
class Model:
    """A validated model. Score = f(model name + version, contact data, as_of)."""

    name: str
    version: str
    source: str
    text: str
    fit: Section
    engagement: Section
    min: float | None = None
    max: float | None = None
    grades: Grades | None = None
    stages: Stages = Stages()
    inactive_after_days: float | None = None
    activity: tuple[str, ...] = DEFAULT_ACTIVITY
    lists: Mapping[str, frozenset[str]] = field(default_factory=dict)
    declared: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    catalog: Catalog | None = field(default=None, repr=False, compare=False)
    # object type -> property names the rules read (for pulls and for the cache reader)
    properties_used: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    description: str | None = None
    # placeholder values that count as missing: the model's, and per object and property
    missing_values: frozenset[str] = frozenset()
    property_missing: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)
    # handoff SLAs by stage, and recycle rules (scoring/sla.py)
    sla: tuple[Sla, ...] = ()
    recycle: tuple[Recycle, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    def types(self) -> PropertyTypes:
        return PropertyTypes(self.declared, self.catalog, self.missing_values,
                             self.property_missing)


def starter_path() -> Path:
    """Where the starter model shipped with leadsync lives."""
    return Path(str(resources.files("scoring").joinpath(STARTER)))


def load(path: str | os.PathLike | None = None, *, catalog: Catalog | None = None) -> Model:
    """Read and validate the model at `path` (None: the starter model)."""
    path = Path(path) if path is not None else starter_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError([Problem(str(path), "no such model file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError([Problem(str(path), f"cannot read the model ({exc.__class__.__name__})")]) from None
    return loads(text, source=str(path), catalog=catalog)


def loads(text: str, *, source: str = "<model>", catalog: Catalog | None = None) -> Model:
    """Parse and validate model text; `catalog` (cached HubSpot properties) makes names strict."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError([Problem(source, f"not valid TOML: {exc}")]) from None
    return _Loader(raw, text, source, catalog).model()


class _Loader:
    """Builds a Model from parsed TOML, collecting every problem before raising."""

    def __init__(self, raw: dict, text: str, source: str, catalog: Catalog | None) -> None:
        self.raw, self.text, self.source, self.catalog = raw, text, source, catalog
        self.locate = Locator(text)
        self.problems: list[Problem] = []
        self.names: set[str] = set()

    def problem(self, message: str, *, section: str | None = None, rule: str | None = None,
                index: int | None = None, field: str | None = None) -> None:
        if rule is not None:
            line = self.locate.rule(section or "", index or 0, rule, field)
        else:
            line = self.locate.key(section, field)
        self.problems.append(Problem(self.source, message, line, rule, section, field))

    def _head(self, sections: tuple[str, ...]) -> tuple[dict, dict, PropertyTypes, frozenset]:
        """What every section reads: [model], [lists], [properties] (types and placeholders)
        and the free-email domains; unknown top-level sections are problems."""
        for key in self.raw:
            if key not in sections:
                self.problem(f"unknown section{_hint(key, sections)}", section=key)
        head = self._table("model")
        lists = self._lists()
        missing = self._placeholders(head.get("missing_values"), "model", "missing_values")
        declared, property_missing = self._declared()
        types = PropertyTypes(declared, self.catalog, missing, property_missing)
        return head, lists, types, lists.get("free_email", FREE_EMAIL)

    def model(self) -> Model:
        head, lists, types, free = self._head(_TOP)
        fit = self._section("fit", types, lists, free)
        engagement = self._section("engagement", types, lists, free)
        grades = self._grades()
        stages = self._stages(types, lists, free)
        inactive = self._inactive()
        activity = self._activity(types)
        slas, recycles = self._followup(stages, types, lists, free)
        name = self._string(head, "model", "name", required=True)
        version = head.get("version")
        if version is not None and not isinstance(version, (str, bool)):
            head = {**head, "version": str(version)}  # e.g. an unquoted date 2026-11-01
        version = self._string(head, "model", "version", required=True)
        for key in head:
            if key not in _HEAD_KEYS:
                self.problem(f"unknown key{_hint(key, _HEAD_KEYS)}", section="model", field=key)
        low, high = self._bound(head, "model", "min"), self._bound(head, "model", "max")
        if low is not None and high is not None and low > high:
            self.problem("min must not be above max", section="model", field="min")
        if self.problems:
            raise ModelError(self.problems)
        return Model(name=name, version=version, source=self.source, text=self.text,
                     fit=fit, engagement=engagement, min=low, max=high, grades=grades,
                     stages=stages, inactive_after_days=inactive, activity=activity,
                     lists=lists, declared=types.declared, catalog=self.catalog,
                     properties_used={k: tuple(sorted(v)) for k, v in sorted(types.used.items())},
                     description=head.get("description"), missing_values=types.missing,
                     property_missing=types.property_missing, sla=slas, recycle=recycles)

    # --- small readers ------------------------------------------------------------------

    def _table(self, section: str) -> dict:
        value = self.raw.get(section, {})
        if not isinstance(value, dict):
            self.problem("must be a table", section=section)
            return {}
        return value

    def _string(self, table: dict, section: str, key: str, *, required: bool = False) -> str:
        value = table.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            self.problem("is required (non-empty text)" if value is None else "must be non-empty text",
                         section=section, field=key)
            return ""
        return value

    def _bound(self, table: dict, section: str, key: str, *, positive: bool = False,
               rule: str | None = None, index: int = 0) -> float | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (positive and value <= 0):
            what = "a positive number" if positive else "a number"
            self.problem(f"must be {what}, got {value!r}", section=section, rule=rule,
                         index=index, field=key)
            return None
        if key == "half_life_days" and value < 0:
            self.problem(f"must be 0 (no decay) or more, got {value!r}; a negative half-life "
                         f"makes scores grow with age", section=section, rule=rule, index=index,
                         field=key)
            return None
        limit = _LIMITS.get(key)
        if limit is not None and abs(value) > limit:
            unit = " days" if key.endswith("days") else ""
            self.problem(f"must be at most {limit:,}{unit}, got {value!r}", section=section,
                         rule=rule, index=index, field=key)
            return None
        return float(value)

    def _lists(self) -> dict[str, frozenset[str]]:
        lists = {"free_email": FREE_EMAIL}
        for name, values in self._table("lists").items():
            if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
                self.problem("must be a list of text values", section="lists", field=name)
                continue
            lists[name] = frozenset(v.strip().casefold() for v in values)
        return lists

    def _declared(self) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, frozenset[str]]]]:
        """[properties.<object>]: `name = "type"`, or `name = { type = "…", missing_values =
        […] }` (either key optional): declared types, and placeholders per object and property."""
        declared: dict[str, dict[str, str]] = {}
        missing: dict[str, dict[str, frozenset[str]]] = {}
        for object_type, names in self._table("properties").items():
            if object_type not in OBJECT_TYPES or not isinstance(names, dict):
                self.problem(f"must be a table [properties.<object>] with object one of "
                             f"{', '.join(OBJECT_TYPES)}", section="properties", field=object_type)
                continue
            for name, spec in names.items():
                path = f"{object_type}.{name}"
                if isinstance(spec, dict):
                    for key in spec:
                        if key not in ("type", "missing_values"):
                            self.problem(f"unknown key{_hint(key, ('type', 'missing_values'))}",
                                         section="properties", field=f"{path}.{key}")
                    if "missing_values" in spec:
                        missing.setdefault(object_type, {})[name] = self._placeholders(
                            spec["missing_values"], "properties", f"{path}.missing_values")
                    kind = spec.get("type")
                    if kind is None:
                        continue
                else:
                    kind = spec
                if kind not in TYPES:
                    self.problem(f"unknown type {kind!r}; use one of {', '.join(TYPES)}",
                                 section="properties", field=path)
                    continue
                declared.setdefault(object_type, {})[name] = kind
        return declared, missing

    def _placeholders(self, value: Any, section: str, field: str) -> frozenset[str]:
        """A missing_values list: the texts that count as missing, stripped and casefolded."""
        if value is None:
            return frozenset()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem('must be a list of texts that mean "no value", '
                         'e.g. ["N/A", "-", "Select"]', section=section, field=field)
            return frozenset()
        return frozenset(v.strip().casefold() for v in value)

    # --- sections and rules -------------------------------------------------------------

    def _section(self, name: str, types: PropertyTypes, lists: dict, free: frozenset[str]) -> Section:
        table = self._table(name)
        for key in table:
            if key not in _SECTION_KEYS[name]:
                self.problem(f"unknown key{_hint(key, _SECTION_KEYS[name])}", section=name, field=key)
        default_half_life = self._bound(table, name, "half_life_days")
        rules_raw = table.get("rules", [])
        if not isinstance(rules_raw, list) or not all(isinstance(r, dict) for r in rules_raw):
            self.problem(f"rules must be [[{name}.rules]] tables", section=name, field="rules")
            rules_raw = []
        rules = [self._rule(name, i, r, types, lists, free, default_half_life)
                 for i, r in enumerate(rules_raw)]
        low, high = self._bound(table, name, "min"), self._bound(table, name, "max")
        if low is not None and high is not None and low > high:
            self.problem("min must not be above max", section=name, field="min")
        return Section(name, tuple(r for r in rules if r is not None), low, high)

    def _rule(self, section: str, index: int, raw: dict, types: PropertyTypes, lists: dict,
              free: frozenset[str], default_half_life: float | None) -> Rule | None:
        name = raw.get("name")
        label = name if isinstance(name, str) and name.strip() else f"#{index + 1}"

        def bad(message: str, field: str | None = None) -> None:
            self.problem(message, section=section, rule=label, index=index, field=field)

        before = len(self.problems)
        if label != name:
            bad("is required (a short text naming the rule)", "name")
        elif name in self.names:
            bad("another rule already has this name; names must be unique", "name")
        self.names.add(label)
        case = raw.get("case_sensitive", False)
        if not isinstance(case, bool):
            bad("must be true or false", "case_sensitive")
            case = False
        ctx = Context(contact_resolver(types, free, outcomes=False), lists, 0.0, case)
        if any(key in raw for key in TABLE_KEYS):
            return self._table_rule(section, raw, ctx, bad, before)
        for key in raw:
            if key not in _RULE_KEYS[section]:
                bad(f"unknown key{_hint(key, _RULE_KEYS[section])}", key)
        points = raw.get("points")
        if isinstance(points, bool) or not isinstance(points, (int, float)):
            bad("is required (a number, may be negative)" if points is None
                else f"must be a number, got {points!r}", "points")
        elif abs(points) > MAX_POINTS:
            bad(f"must be between -{MAX_POINTS:,} and {MAX_POINTS:,}, got {points!r}", "points")
        cap = self._bound(raw, section, "cap", positive=True, rule=label, index=index)
        count = raw.get("count", "once")
        if count not in COUNTS:
            bad(f"must be one of {', '.join(COUNTS)}, got {count!r}", "count")
        elif section == "fit" and count == "daily":
            bad("daily needs events; a fit rule counts once, or each with per", "count")
        event = self._event_kind(raw, bad)
        if section == "fit" or "when" in raw or "event" not in raw:
            self._condition(raw, "when", ctx, bad, required="event" not in raw)
        if event is not None:
            if "when" in raw:
                bad("an event rule tests the event with `where`; use a separate rule for "
                    "contact properties", "when")
            if "where" in raw:
                where_ctx = Context(event_resolver(types, event), lists, 0.0, case)
                self._condition(raw, "where", where_ctx, bad, required=False)
        elif "where" in raw:
            bad("only event rules have `where`; add event = \"meeting\" (or call, email, "
                "note, task) or use `when`", "where")
        dated_by = self._dated_by(raw, types, bad)
        per = self._per(raw, ctx, bad, count)
        unit = self._bound(raw, section, "unit", positive=True, rule=label, index=index)
        if unit is not None and "per" not in raw:
            bad("unit goes with per: points for every `unit` of the per input", "unit")
        window = self._bound(raw, section, "window_days", positive=True, rule=label, index=index)
        half_life = self._bound(raw, section, "half_life_days", rule=label, index=index)
        if section == "engagement" and event is None and dated_by is None:
            for key in ("window_days", "half_life_days"):
                if key in raw:
                    bad("needs a date: add dated_by = \"<date property>\" or make it an event rule", key)
            if count == "daily":
                bad("daily needs events; use it on an event rule", "count")
        if event is None and count == "each" and per is None and "per" not in raw:
            bad("each on a property rule needs per = \"<number property>\" (points per unit)", "count")
        if len(self.problems) > before:
            return None
        effective = default_half_life if half_life is None else (half_life or None)
        return Rule(name=name, section=section, points=float(points), when=raw.get("when"),
                    event=event, where=raw.get("where"), dated_by=dated_by, per=per,
                    count=count, cap=cap, window_days=window,
                    half_life_days=effective if (event or dated_by) else None,
                    description=raw.get("description"), unit=unit or 1.0, case_sensitive=case)

    def _table_rule(self, section: str, raw: dict, ctx: Context, bad: Any,
                    before: int) -> Rule | None:
        for key in raw:
            if key in ("points", "cap", "count", "per"):
                bad("a table rule takes its points from its rows (points_by_value or bands)", key)
            elif key not in _TABLE_RULE_KEYS:
                bad(f"unknown key{_hint(key, _TABLE_RULE_KEYS)}", key)
        self._condition(raw, "when", ctx, bad, required=False)
        table = parse_table(raw, ctx, bad, case_sensitive=ctx.case_sensitive)
        if len(self.problems) > before or table is None:
            return None
        return Rule(name=raw["name"], section=section, points=0.0, when=raw.get("when"),
                    description=raw.get("description"), case_sensitive=ctx.case_sensitive,
                    table=table)

    def _event_kind(self, raw: dict, bad: Any) -> str | None:
        event = raw.get("event")
        if event is None:
            return None
        kind = event_kind(event)
        if kind is None:
            singulars = [SINGULAR[k] for k in ENGAGEMENT_KINDS]
            bad(f"unknown event{_hint(str(event), singulars)}", "event")
        return kind

    def _condition(self, raw: dict, key: str, ctx: Context, bad: Any, *, required: bool) -> None:
        spec = raw.get(key)
        if spec is None:
            if required:
                bad("is required: the condition that makes the rule fire", key)
            return
        try:
            compile_condition(spec, ctx, key)
        except Invalid as exc:
            bad(exc.message, exc.field)

    def _dated_by(self, raw: dict, types: PropertyTypes, bad: Any) -> str | None:
        name = raw.get("dated_by")
        if name is None:
            return None
        if raw.get("event") is not None:
            bad("event rules are dated by the event itself", "dated_by")
            return None
        try:
            kind = types.type_of("contacts", name, "dated_by") if isinstance(name, str) else None
        except Invalid as exc:
            bad(exc.message, "dated_by")
            return None
        if kind not in TIME_TYPES and kind != "string":
            bad(f"{name!r} is not a date property", "dated_by")
            return None
        return name

    def _per(self, raw: dict, ctx: Context, bad: Any, count: str) -> str | None:
        name = raw.get("per")
        if name is None:
            return None
        if raw.get("event") is not None or count != "each":
            bad("per goes with count = \"each\" on a property rule", "per")
            return None
        try:
            kind = ctx.resolve(name, "per").type if isinstance(name, str) else None
        except Invalid as exc:
            bad(exc.message, "per")
            return None
        if kind not in (NUMBER, "string"):
            bad(f"{name!r} is not a number property", "per")
            return None
        return name

    # --- grades, stages, inactive -------------------------------------------------------

    def _grades(self) -> Grades | None:
        table = self._table("grades")
        if not table:
            return None
        values = {}
        for part, keys in (("fit", ("A", "B")), ("engagement", ("1", "2"))):
            sub = table.get(part)
            if not isinstance(sub, dict) or sorted(sub) != list(keys) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in sub.values()):
                shape = "{ A = 40, B = 20 }" if part == "fit" else "{ 1 = 30, 2 = 10 }"
                self.problem(f"must be {shape} (the lowest grade takes the rest)",
                             section="grades", field=part)
                continue
            high, low = float(sub[keys[0]]), float(sub[keys[1]])
            if high <= low:
                self.problem(f"{keys[0]} must be above {keys[1]}", section="grades", field=part)
            elif max(abs(high), abs(low)) > MAX_SCORE:
                self.problem(f"thresholds must be at most {MAX_SCORE:,}", section="grades", field=part)
            values[part] = (high, low)
        for key in table:
            if key not in ("fit", "engagement"):
                self.problem(f"unknown key{_hint(key, ('fit', 'engagement'))}", section="grades", field=key)
        if len(values) < 2:
            return None
        return Grades(*values["fit"], *values["engagement"])

    def _stages(self, types: PropertyTypes, lists: dict, free: frozenset[str]) -> Stages:
        table = self._table("stages")
        order = self._stage_list(table, "order", STAGE_ORDER, STAGE_ORDER)
        managed = self._stage_list(table, "managed", DEFAULT_MANAGED, order)
        demote = table.get("allow_demotion", False)
        if not isinstance(demote, bool):
            self.problem("must be true or false", section="stages", field="allow_demotion")
        ctx = Context(contact_resolver(types, free, outcomes=True), lists, 0.0)
        rules = []
        for name, spec in table.items():
            if name in ("order", "managed", "allow_demotion"):
                continue
            rule = self._stage_rule(name, spec, managed, ctx)
            if rule is not None:
                rules.append(rule)
        rules.sort(key=lambda r: order.index(r.name))
        return Stages(order, managed, tuple(rules), demote is True)

    def _stage_list(self, table: dict, key: str, default: tuple[str, ...],
                    allowed: tuple[str, ...]) -> tuple[str, ...]:
        value = table.get(key, list(default))
        if key == "order" and isinstance(value, list):
            allowed = tuple(v for v in value if isinstance(v, str))  # a portal's own stages
        if (not isinstance(value, list) or not value or "other" in value
                or not all(isinstance(v, str) and v in allowed for v in value)
                or len(set(value)) != len(value)):
            self.problem(f"must be a list of distinct stages from {', '.join(allowed)} "
                         f"(\"other\" is never managed)", section="stages", field=key)
            return default if all(d in allowed for d in default) else ()
        return tuple(value)

    def _stage_rule(self, name: str, spec: Any, managed: tuple[str, ...],
                    ctx: Context) -> StageRule | None:
        field = name
        if name not in managed:
            self.problem(f"is not a managed stage; add it to stages.managed "
                         f"({', '.join(managed)}){_hint(name, managed, prefix='; did you mean')}",
                         section="stages", field=field)
            return None
        if not isinstance(spec, dict) or "when" not in spec or set(spec) - {"when", "allow_demotion"}:
            self.problem("must be { when = {...} } with optional allow_demotion = true",
                         section="stages", field=field)
            return None
        demote = spec.get("allow_demotion", False)
        if not isinstance(demote, bool):
            self.problem("must be true or false", section="stages", field=f"{name}.allow_demotion")
            return None
        try:
            compile_condition(spec["when"], ctx, f"{name}.when")
        except Invalid as exc:
            self.problem(exc.message, section="stages", field=exc.field)
            return None
        return StageRule(name, spec["when"], demote)

    def _followup(self, stages: Stages, types: PropertyTypes, lists: dict,
                  free: frozenset[str]) -> tuple[tuple[Sla, ...], tuple[Recycle, ...]]:
        """[sla] and [[recycle]] (scoring/sla.py), and the properties they read."""
        def complain(message: str, section: str, field: str | None) -> None:
            self.problem(message, section=section, field=field)

        allowed = frozenset(stages.order if stages.allow_demotion else
                            (r.name for r in stages.rules if r.allow_demotion))
        ctx = Context(contact_resolver(types, free, outcomes=True), lists, 0.0)

        def check_when(spec: Any, path: str) -> str | None:
            try:
                compile_condition(spec, ctx, path)
            except Invalid as exc:
                return exc.message
            return None

        slas = parse_slas(self.raw.get("sla"), stages.order, event_kind, complain)
        recycles = parse_recycles(self.raw.get("recycle"), stages.order, stages.managed,
                                  allowed.__contains__, event_kind, check_when, complain)
        types.used.setdefault("contacts", set()).update(contact_properties(slas, recycles))
        for item in (*slas, *recycles):
            for kind in item.touch:
                types.used.setdefault(kind, set()).add(OWNER)
                if kind == "emails":
                    types.used[kind].add("hs_email_direction")
        return slas, recycles

    def _inactive(self) -> float | None:
        table = self._table("inactive")
        for key in table:
            if key != "after_days":
                self.problem(f"unknown key{_hint(key, ('after_days',))}", section="inactive", field=key)
        if table and "after_days" not in table:
            self.problem("is required (days without engagement)", section="inactive", field="after_days")
        return self._bound(table, "inactive", "after_days", positive=True)

    def _activity(self, types: PropertyTypes, table: dict | None = None) -> tuple[str, ...]:
        """[engagement] activity (of `table`, else the model's [engagement]): event kinds and
        contact date properties, DEFAULT_ACTIVITY when absent."""
        value = (self._table("engagement") if table is None else table).get("activity")
        if value is None:
            return DEFAULT_ACTIVITY
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem("must be a list of event kinds and contact date properties",
                         section="engagement", field="activity")
            return DEFAULT_ACTIVITY
        activity = []
        for item in value:
            kind = event_kind(item)
            if kind is not None:
                activity.append(kind)
                continue
            try:
                prop_type = types.type_of("contacts", item, "activity")
            except Invalid as exc:
                self.problem(exc.message, section="engagement", field="activity")
                continue
            if prop_type not in TIME_TYPES:
                self.problem(f"{item!r} is neither an event kind nor a date property",
                             section="engagement", field="activity")
                continue
            activity.append(item)
        return tuple(activity)


def event_kind(name: Any) -> str | None:
    """The plural engagement kind for "meeting" or "meetings" (None if it is neither)."""
    if not isinstance(name, str):
        return None
    name = name.strip().lower()
    if name in ENGAGEMENT_KINDS:
        return name
    plural = name + "s"
    return plural if plural in ENGAGEMENT_KINDS else None


def _hint(word: str, choices: tuple[str, ...] | list[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if prefix:
        return f"{prefix} {close[0]!r}?" if close else ""
    return f" {word!r}; did you mean {close[0]!r}?" if close else \
        f" {word!r}; expected one of {', '.join(choices)}"

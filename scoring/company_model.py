"""The company model: one TOML file of account rules, loaded and validated into frozen values.

A company's score is fit (rules on the company's own properties, in the contact model's rule
language: conditions, `per`, value maps and bands) plus engagement rolled up from its
associated contacts: their engagement scores summed, the highest, or the top N (each contact
counted up to `contact_cap`, the roll-up up to `cap`), and buying-group rules that count the
contacts matching a condition (points per contact with a cap, or bands on the count).
docs/model.md ("Company models") is the reference; scoring/company.py computes the score.

Buying-group conditions test one contact: its properties, the derived inputs
(`days_since_last_engagement`, `email_domain`, `is_free_email`) and its `engagement` score.
Nothing else of the contact's score: the company score is computed from contacts' engagement
before contacts whose rules read the company score are scored (no cycle).
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from scoring.conditions import Context, Field, Invalid
from scoring.errors import ModelError, Problem
from scoring.inputs import OUTCOMES, PropertyTypes, contact_resolver
from scoring.model import (Grades, Rule, Section, _hint, _Loader)
from scoring.properties import NUMBER, Catalog
from scoring.tables import TABLE_KEYS, Band, parse_bands, parse_table

ROLLUPS = ("sum", "max", "top")
DEFAULT_ACTIVITY = ("calls", "emails", "meetings", "recent_conversion_date")
_TOP = ("model", "lists", "properties", "fit", "engagement", "grades")
_HEAD_KEYS = ("name", "version", "description", "min", "max", "missing_values")
_FIT_RULE_KEYS = ("name", "description", "when", "points", "count", "per", "unit", "cap",
                  "case_sensitive")
_TABLE_RULE_KEYS = ("name", "description", "when", "property", "points_by_value", "bands",
                    "else", "missing", "case_sensitive")
_ENGAGEMENT_KEYS = ("min", "max", "rollup", "top", "contact_cap", "cap", "label", "activity",
                    "buying_group")
_GROUP_KEYS = ("name", "description", "when", "points", "cap", "bands", "case_sensitive")
CONTACT_OUTCOME = "engagement"  # the one contact outcome buying-group conditions may read


@dataclass(frozen=True)
class Rollup:
    """How contacts' engagement scores become the company's: `how` of the (capped) scores."""

    how: str = "sum"
    top: int | None = None
    contact_cap: float | None = None
    cap: float | None = None
    label: str = "Contacts' engagement"

    @property
    def reason(self) -> str:
        """The reason's name: "Contacts' engagement (top 3)"."""
        what = {"sum": "sum", "max": "highest"}.get(self.how, f"top {self.top}")
        return f"{self.label} ({what})"


@dataclass(frozen=True)
class GroupRule:
    """A buying-group signal: contacts matching `when`, as points each (capped) or bands."""

    name: str
    when: Mapping[str, Any]
    points: float | None = None
    cap: float | None = None
    bands: tuple[Band, ...] = ()
    case_sensitive: bool = False
    description: str | None = None


@dataclass(frozen=True, eq=False)
class CompanyModel:
    """A validated company model (compares by identity, like Model)."""

    name: str
    version: str
    source: str
    text: str
    fit: Section
    rollup: Rollup | None = None
    groups: tuple[GroupRule, ...] = ()
    engagement_min: float | None = None
    engagement_max: float | None = None
    min: float | None = None
    max: float | None = None
    grades: Grades | None = None
    activity: tuple[str, ...] = DEFAULT_ACTIVITY
    lists: Mapping[str, frozenset[str]] = field(default_factory=dict)
    declared: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    catalog: Catalog | None = field(default=None, repr=False)
    properties_used: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    missing_values: frozenset[str] = frozenset()
    property_missing: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)
    description: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    @property
    def reads_recency(self) -> bool:
        """Whether a buying-group condition reads days_since_last_engagement."""
        return "days_since_last_engagement" in self.properties_used.get("derived", ())

    def types(self) -> PropertyTypes:
        return PropertyTypes(self.declared, self.catalog, self.missing_values,
                             self.property_missing)


def load_company_model(path: str | os.PathLike, *, catalog: Catalog | None = None) -> CompanyModel:
    """Read and validate the company model at `path`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError([Problem(str(path), "no such company model file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError([Problem(str(path), f"cannot read the company model "
                                             f"({exc.__class__.__name__})")]) from None
    return loads_company_model(text, source=str(path), catalog=catalog)


def loads_company_model(text: str, *, source: str = "<company model>",
                        catalog: Catalog | None = None) -> CompanyModel:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError([Problem(source, f"not valid TOML: {exc}")]) from None
    return _CompanyLoader(raw, text, source, catalog).company_model()


def company_resolver(types: PropertyTypes) -> Callable[[str, str], Field]:
    """Names in company fit rules: the company's own properties (the subject is its dict)."""

    def resolve(name: str, path: str) -> Field:
        kind = types.type_of("companies", name, path)
        return Field(name, kind, lambda company: company.get(name), "self", name,
                     types.placeholders("companies", name))
    return resolve


def member_resolver(types: PropertyTypes, free: frozenset[str]) -> Callable[[str, str], Field]:
    """Names in buying-group conditions: a contact as engine Facts, plus its `engagement`."""
    inner = contact_resolver(types, free, outcomes=True)

    def resolve(name: str, path: str) -> Field:
        if name in OUTCOMES and name != CONTACT_OUTCOME:
            raise Invalid(path, f"a buying-group condition may read a contact's engagement, "
                                f"not its {name} (the company score must not depend on it)")
        if name.startswith("company."):
            raise Invalid(path, "a buying-group condition tests the contact; put company "
                                "conditions in [fit]")
        if name in ("days_since_last_engagement",):
            types.used.setdefault("derived", set()).add(name)
        return inner(name, path)
    return resolve


class _CompanyLoader(_Loader):
    """The contact model's loader (lists, [properties], grades, rule checks), with company
    fit rules and an engagement section of roll-up and buying-group rules."""

    def company_model(self) -> CompanyModel:
        head, lists, types, free = self._head(_TOP)
        fit = self._fit(types, lists)
        rollup, groups, low, high, activity = self._engagement(types, lists, free)
        grades = self._grades()
        version = head.get("version")
        if version is not None and not isinstance(version, (str, bool)):
            head = {**head, "version": str(version)}
        name = self._string(head, "model", "name", required=True)
        version = self._string(head, "model", "version", required=True)
        for key in head:
            if key not in _HEAD_KEYS:
                self.problem(f"unknown key{_hint(key, _HEAD_KEYS)}", section="model", field=key)
        total_low, total_high = self._bound(head, "model", "min"), self._bound(head, "model", "max")
        if self.problems:
            raise ModelError(self.problems)
        return CompanyModel(
            name=name, version=version, source=self.source, text=self.text, fit=fit,
            rollup=rollup, groups=groups, engagement_min=low, engagement_max=high,
            min=total_low, max=total_high, grades=grades, activity=activity, lists=lists,
            declared=types.declared, catalog=self.catalog,
            properties_used={k: tuple(sorted(v)) for k, v in sorted(types.used.items())},
            missing_values=types.missing, property_missing=types.property_missing,
            description=head.get("description"))

    def _fit(self, types: PropertyTypes, lists: dict) -> Section:
        table = self._table("fit")
        for key in table:
            if key not in ("min", "max", "rules"):
                self.problem(f"unknown key{_hint(key, ('min', 'max', 'rules'))}", section="fit",
                             field=key)
        rules_raw = table.get("rules", [])
        if not isinstance(rules_raw, list) or not all(isinstance(r, dict) for r in rules_raw):
            self.problem("rules must be [[fit.rules]] tables", section="fit", field="rules")
            rules_raw = []
        rules = [self._company_rule(i, r, types, lists) for i, r in enumerate(rules_raw)]
        return Section("fit", tuple(r for r in rules if r is not None),
                       self._bound(table, "fit", "min"), self._bound(table, "fit", "max"))

    def _company_rule(self, index: int, raw: dict, types: PropertyTypes,
                      lists: dict) -> Rule | None:
        name = raw.get("name")
        label = name if isinstance(name, str) and name.strip() else f"#{index + 1}"

        def bad(message: str, where: str | None = None) -> None:
            self.problem(message, section="fit", rule=label, index=index, field=where)

        before = len(self.problems)
        self._unique(label, name, bad)
        case = self._case(raw, bad)
        ctx = Context(company_resolver(types), lists, 0.0, case)
        if any(key in raw for key in TABLE_KEYS):
            for key in raw:
                if key not in _TABLE_RULE_KEYS:
                    bad(f"unknown key{_hint(key, _TABLE_RULE_KEYS)}", key)
            self._condition(raw, "when", ctx, bad, required=False)
            table = parse_table(raw, ctx, bad, case_sensitive=case)
            if len(self.problems) > before or table is None:
                return None
            return Rule(name=name, section="fit", points=0.0, when=raw.get("when"),
                        description=raw.get("description"), case_sensitive=case, table=table)
        for key in raw:
            if key not in _FIT_RULE_KEYS:
                bad(f"unknown key{_hint(key, _FIT_RULE_KEYS)}", key)
        points = raw.get("points")
        if isinstance(points, bool) or not isinstance(points, (int, float)):
            bad("is required (a number, may be negative)" if points is None
                else f"must be a number, got {points!r}", "points")
        cap = self._bound(raw, "fit", "cap", positive=True, rule=label, index=index)
        unit = self._bound(raw, "fit", "unit", positive=True, rule=label, index=index)
        count = raw.get("count", "once")
        if count not in ("once", "each"):
            bad(f"must be once, or each with per, got {count!r}", "count")
        self._condition(raw, "when", ctx, bad, required=True)
        per = raw.get("per")
        if per is not None:
            if count != "each":
                bad("per goes with count = \"each\"", "per")
            else:
                try:
                    kind = ctx.resolve(per, "per").type if isinstance(per, str) else None
                except Invalid as exc:
                    bad(exc.message, "per")
                    kind = NUMBER
                if kind not in (NUMBER, "string"):
                    bad(f"{per!r} is not a number property", "per")
        elif count == "each":
            bad("each on a company rule needs per = \"<number property>\"", "count")
        if unit is not None and per is None:
            bad("unit goes with per: points for every `unit` of the per input", "unit")
        if len(self.problems) > before:
            return None
        return Rule(name=name, section="fit", points=float(points), when=raw.get("when"),
                    per=per, count=count, cap=cap, description=raw.get("description"),
                    unit=unit or 1.0, case_sensitive=case)

    def _unique(self, label: str, name: Any, bad: Callable) -> None:
        if label != name:
            bad("is required (a short text naming the rule)", "name")
        elif name in self.names:
            bad("another rule already has this name; names must be unique", "name")
        self.names.add(label)

    def _case(self, raw: dict, bad: Callable) -> bool:
        case = raw.get("case_sensitive", False)
        if not isinstance(case, bool):
            bad("must be true or false", "case_sensitive")
            return False
        return case

    def _engagement(self, types: PropertyTypes, lists: dict, free: frozenset[str]):
        table = self._table("engagement")
        for key in table:
            if key not in _ENGAGEMENT_KEYS:
                self.problem(f"unknown key{_hint(key, _ENGAGEMENT_KEYS)}", section="engagement",
                             field=key)
        rollup = None
        how = table.get("rollup")
        if how is not None:
            if how not in ROLLUPS:
                self.problem(f"must be one of {', '.join(ROLLUPS)}, got {how!r}",
                             section="engagement", field="rollup")
            top = table.get("top")
            if how == "top" and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
                self.problem("rollup = \"top\" needs top = <how many contacts> (1 or more)",
                             section="engagement", field="top")
            elif how != "top" and top is not None:
                self.problem("top goes with rollup = \"top\"", section="engagement", field="top")
            label = table.get("label", "Contacts' engagement")
            if not isinstance(label, str) or not label.strip():
                self.problem("must be non-empty text", section="engagement", field="label")
                label = "Contacts' engagement"
            rollup = Rollup(how if how in ROLLUPS else "sum", top if how == "top" else None,
                            self._bound(table, "engagement", "contact_cap", positive=True),
                            self._bound(table, "engagement", "cap", positive=True), label)
        else:
            for key in ("top", "contact_cap", "cap"):
                if key in table:
                    self.problem("goes with rollup = \"sum\", \"max\" or \"top\"",
                                 section="engagement", field=key)
        groups_raw = table.get("buying_group", [])
        if not isinstance(groups_raw, list) or not all(isinstance(g, dict) for g in groups_raw):
            self.problem("must be [[engagement.buying_group]] tables", section="engagement",
                         field="buying_group")
            groups_raw = []
        groups = [self._group(i, g, types, lists, free) for i, g in enumerate(groups_raw)]
        activity = self._activity(types, table)
        return (rollup, tuple(g for g in groups if g is not None),
                self._bound(table, "engagement", "min"), self._bound(table, "engagement", "max"),
                activity)

    def _group(self, index: int, raw: dict, types: PropertyTypes, lists: dict,
               free: frozenset[str]) -> GroupRule | None:
        name = raw.get("name")
        label = name if isinstance(name, str) and name.strip() else f"#{index + 1}"

        def bad(message: str, where: str | None = None) -> None:
            self.problem(message, section="engagement.buying_group", rule=label, index=index,
                         field=where)

        before = len(self.problems)
        self._unique(label, name, bad)
        for key in raw:
            if key not in _GROUP_KEYS:
                bad(f"unknown key{_hint(key, _GROUP_KEYS)}", key)
        case = self._case(raw, bad)
        ctx = Context(member_resolver(types, free), lists, 0.0, case)
        self._condition(raw, "when", ctx, bad, required=True)
        points, bands = raw.get("points"), ()
        if "bands" in raw:
            if points is not None or "cap" in raw:
                bad("a buying-group rule has points (with cap) or bands on the count, not both",
                    "bands")
            bands = parse_bands(raw["bands"], bad)
        elif isinstance(points, bool) or not isinstance(points, (int, float)):
            bad("is required: points per matching contact (or bands on their count)"
                if points is None else f"must be a number, got {points!r}", "points")
        cap = self._bound(raw, "engagement.buying_group", "cap", positive=True, rule=label,
                          index=index)
        if len(self.problems) > before:
            return None
        return GroupRule(name, raw["when"], None if points is None else float(points), cap,
                         bands, case, raw.get("description"))

"""From fitted coefficients to a model file a person can read: integer points on a stated
scale, and the TOML of the feature model and of the learned model. Pure.

The scale is the credit-scorecard one: `double_every` points double the odds of converting,
so a coefficient c (log-odds per unit) is worth c × double_every / ln 2 points, rounded to a
whole number. A table whose rows cover every contact exactly once (a value map with `else`
and `missing`, bands from minus to plus infinity with `missing`) is shifted so that its most
common row (a value map's `else` if it has one) is worth 0: every total moves by the same
number, so the ranking and the odds per point do not change, and rows worth 0 can be left
out. Rules (and rows) worth 0 points are dropped.

Totals are exact: every rule's points are whole numbers, the learned model has no decay,
no section or model bounds, so the engine adds the same integers the fit did.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Iterable, Mapping, Sequence

from scoring.features import Candidate, band_text
from scoring.tables import MISSING, OTHER_BAND, OTHER_VALUE, number_text

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True)
class Scale:
    """`double_every` points double the odds of converting."""

    double_every: float = 20.0

    @property
    def factor(self) -> float:
        """Points per unit of log-odds."""
        return self.double_every / math.log(2)

    def odds_ratio(self, points: float) -> float:
        return 2.0 ** (points / self.double_every)


def points_from(coefficients: Mapping[str, float], rules: Sequence[Candidate],
                touched: Mapping[str, int], scale: Scale) -> dict[str, int]:
    """Whole points per feature (a rule, or a table's row), shifted per complete table so
    its reference row is worth 0 (`touched`: contacts per feature, to find the most common).
    A row no training contact fell in is worth 0: nothing was learned about it."""
    points: dict[str, int] = {}
    for rule in rules:
        keys = rule.keys()
        raw = {k: coefficients.get(k, 0.0) * scale.factor for k in keys}
        if rule.complete:
            reference = keys[len(rule.values)] if rule.values and rule.other else max(
                keys, key=lambda k: (touched.get(k, 0), k))
            shift = raw[reference]
            raw = {k: v - shift if touched.get(k, 0) else 0.0 for k, v in raw.items()}
        for key, value in raw.items():
            points[key] = int(round(value)) or 0
    return points


# ---- TOML --------------------------------------------------------------------------------

def toml_key(key: str) -> str:
    return key if key and set(key) <= _BARE else json.dumps(key, ensure_ascii=False)


def toml_value(value: Any) -> str:
    """A TOML value as one line: text, numbers, booleans, dates, lists, inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return number_text(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}"
                                for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def rule_text(rule: Candidate, points: Mapping[str, float], *, comment: Iterable[str] = (),
              touched: Mapping[str, int] | None = None, every_row: bool = False) -> str | None:
    """The rule's [[section.rules]] block with these points; None when it is worth nothing.
    `every_row`: keep rows that add nothing beyond `else` (the feature model needs them all)."""
    head = [f"# {line}" for line in comment]
    head += [f"[[{rule.section}.rules]]", f"name = {toml_value(rule.name)}"]
    body = [f"{toml_key(k)} = {toml_value(v)}" for k, v in rule.spec.items()]
    count = (lambda key: f"  # {touched.get(key, 0):,} contacts") if touched is not None \
        else (lambda key: "")
    if not rule.is_table:
        value = points.get(rule.name, 0)
        if not value:
            return None
        body.append(f"points = {number_text(value)}")
        if rule.units is not None:
            body.append(f"cap = {number_text(abs(value) * rule.units)}"
                        f"  # {rule.units} at most")
        return "\n".join(head + body)
    keys = rule.keys()
    other = points.get(keys[-1 - rule.missing], 0) if rule.other else 0
    extra = []
    if rule.other and other:
        extra.append(f"else = {number_text(other)}{count(keys[-1 - rule.missing])}")
    if rule.missing and points.get(keys[-1], 0):
        extra.append(f"missing = {number_text(points[keys[-1]])}{count(keys[-1])}")
    if rule.values:
        rows = [(v, points.get(k, 0), k) for v, k in zip(rule.values, keys)]
        # A row worth what `else` gives may go (its contacts get `else`); keep one at least.
        kept = rows if every_row else [r for r in rows if r[1] != other] or rows[:1]
        if not extra and all(p == 0 for _, p, _ in kept):
            return None
        table = [f"{toml_key(v)} = {number_text(p)}{count(k)}" for v, p, k in kept]
        return "\n".join(head + body + extra +
                         [f"[{rule.section}.rules.points_by_value]"] + table)
    bands = [(b, points.get(k, 0), k) for b, k in zip(rule.bands, keys)]
    kept = [r for r in bands if r[1] != 0 or rule.other or every_row] or bands[:1]
    if not extra and all(p == 0 for _, p, _ in kept):
        return None
    lines = [f"  {{ {band_text(b)}{', ' if band_text(b) else ''}points = {number_text(p)} }},"
             f"{count(k)}" for b, p, k in kept]
    gaps = len(kept) < len(bands) and not rule.other
    note = ["# a value in no band gets nothing from this rule"] if gaps else []
    return "\n".join(head + body + note + ["bands = ["] + lines + ["]"] + extra)


def weight_comment(rule: Candidate, points: Mapping[str, float], touched: Mapping[str, int],
                   rows: int, scale: Scale) -> list[str]:
    """`# weight …; touches …` above a learned rule."""
    keys = rule.keys()
    values = [points.get(k, 0) for k in keys]
    hit = sum(touched.get(k, 0) for k, v in zip(keys, values) if v)
    share = f" ({hit / rows:.1%})" if rows else ""
    if rule.is_table:
        low, high = min(values), max(values)
        weight = f"rows from {low:+g} to {high:+g} points"
    else:
        each = "" if rule.units is None else " per unit"
        weight = (f"{values[0]:+g} points{each} (x{scale.odds_ratio(values[0]):.2f} the "
                  f"odds)")
    return [f"weight: {weight}; touches {hit:,} of {rows:,} contact-dates{share}; "
            f"{rule.origin}"]


def feature_model_text(rules: Sequence[Candidate], head: Mapping[str, Any],
                       activity: Sequence[str]) -> str:
    """The feature model: every candidate with 1 point per row and per unit, no decay.

    `head`: the current model's [model] placeholders, [lists] and [properties], as written."""
    ones = {k: 1 for rule in rules for k in rule.keys()}
    parts = [_preamble({"name": "learn-features", "version": "0"}, head),
             f"[engagement]\nactivity = {toml_value(list(activity))}"]
    parts += [rule_text(rule, ones, every_row=True) or "" for rule in rules]
    return "\n\n".join(parts) + "\n"


def _preamble(model: Mapping[str, Any], head: Mapping[str, Any]) -> str:
    table = dict(model)
    if head.get("missing_values"):
        table["missing_values"] = head["missing_values"]
    lines = ["[model]"] + [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items()]
    if head.get("lists"):
        lines += ["", "[lists]"] + [f"{toml_key(k)} = {toml_value(v)}"
                                    for k, v in head["lists"].items()]
    for object_type, names in (head.get("properties") or {}).items():
        if names:
            lines += ["", f"[properties.{object_type}]"] + [
                f"{toml_key(k)} = {toml_value(v)}" for k, v in names.items()]
    return "\n".join(lines)


def with_declared(head: Mapping[str, Any], declared: Mapping[str, Mapping[str, str]]
                  ) -> dict[str, Any]:
    """`head` with inferred property types added to its [properties] (its own win)."""
    properties = {k: dict(v) for k, v in (head.get("properties") or {}).items()}
    for object_type, names in declared.items():
        for name, kind in names.items():
            properties.setdefault(object_type, {}).setdefault(name, kind)
    return {**head, "properties": properties}


@dataclass(frozen=True)
class Thresholds:
    """Grades and the MQL score, suggested from the validation rows."""

    fit_a: int
    fit_b: int
    engagement_one: int
    engagement_two: int
    mql: int
    mql_basis: str  # how the MQL threshold was chosen


def suggest(fit: Sequence[float], engagement: Sequence[float], totals: Sequence[float],
            wanted: int | None) -> Thresholds:
    """A: the top 20% of fit, B: the next 30%; 1 and 2 the same on engagement; MQL: the score
    of the `wanted`-th best contact (None: the top tenth)."""
    def best(values: Sequence[float], rank: int) -> int:
        """The rank-th best value (1 = the highest)."""
        ordered = sorted(values, reverse=True)
        return int(ordered[min(len(ordered), max(1, rank)) - 1]) if ordered else 0

    def at(values: Sequence[float], share: float) -> int:
        return best(values, round(share * len(values) + 0.4999))  # ceil, without float noise

    fit_a, fit_b = at(fit, 0.2), at(fit, 0.5)
    one, two = at(engagement, 0.2), at(engagement, 0.5)
    if wanted:
        mql = best(totals, wanted)
        basis = f"the score of the {wanted:,}th best validation contact"
    else:
        mql = at(totals, 0.1)
        basis = "the top tenth of the validation contacts (no --capacity given)"
    return Thresholds(max(fit_a, fit_b + 1), fit_b, max(one, two + 1), two, mql, basis)


def learned_model_text(*, name: str, version: str, description: str, header: Sequence[str],
                       head: Mapping[str, Any], rules: Sequence[Candidate],
                       points: Mapping[str, int], touched: Mapping[str, int], rows: int,
                       scale: Scale, activity: Sequence[str], thresholds: Thresholds,
                       stages: Mapping[str, Any], inactive: Mapping[str, Any] | None) -> str:
    """The complete learned model file, commented."""
    parts = ["\n".join(f"# {line}" if line else "#" for line in header),
             _preamble({"name": name, "version": version, "description": description}, head)]
    for section, what in (("fit", "who they are"), ("engagement", "what they did, and when")):
        blocks = []
        for rule in rules:
            if rule.section != section:
                continue
            text = rule_text(rule, points, touched=touched,
                             comment=weight_comment(rule, points, touched, rows, scale))
            if text is not None:
                blocks.append(text)
        table = f"[{section}]  # {what}; no bounds, no decay: the points add up as fitted"
        if section == "engagement":
            table += f"\nactivity = {toml_value(list(activity))}"
        parts.append("\n\n".join([table, *blocks]))
    t = thresholds
    parts.append("# Suggested from the validation contacts: A = the top 20% of fit, B = the "
                 "next 30%;\n# 1 and 2 the same on engagement.\n[grades]\n"
                 f"fit = {{ A = {t.fit_a}, B = {t.fit_b} }}\n"
                 f"engagement = {{ 1 = {t.engagement_one}, 2 = {t.engagement_two} }}")
    parts.append(_stages_text(stages, t))
    if inactive:
        parts.append("[inactive]\n" + "\n".join(f"{toml_key(k)} = {toml_value(v)}"
                                                 for k, v in inactive.items()))
    return "\n\n".join(parts) + "\n"


def _stages_text(stages: Mapping[str, Any], t: Thresholds) -> str:
    lines = ["# Stage conditions other than MQL are the current model's: check any that "
             "read score,\n# fit or engagement, which were on that model's scale.",
             "[stages]"]
    tables = []
    for key, value in stages.items():
        if isinstance(value, Mapping):
            if key != "marketingqualifiedlead":
                tables.append(f"[stages.{toml_key(key)}]\n" + "\n".join(
                    f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()))
        else:
            lines.append(f"{toml_key(key)} = {toml_value(value)}")
    managed = stages.get("managed", ["subscriber", "lead", "marketingqualifiedlead"])
    if "marketingqualifiedlead" in managed:
        tables.append(f"# MQL threshold: {t.mql_basis}.\n[stages.marketingqualifiedlead]\n"
                      f"when = {{ score = {{ gte = {t.mql} }} }}")
    return "\n".join(lines) + "\n\n" + "\n\n".join(tables)


__all__ = ["MISSING", "OTHER_BAND", "OTHER_VALUE", "Scale", "Thresholds", "feature_model_text",
           "learned_model_text", "points_from", "rule_text", "suggest", "toml_value",
           "with_declared"]

"""Tables of points: value maps and numeric bands, one definition for every scorer.

A table rule reads one input and gives the points of the row its value falls in:

    property = "hs_analytics_source"
    points_by_value = { ORGANIC_SEARCH = 12, PAID_SEARCH = 6 }    # a value map
    else = 0                                                      # any other value
    missing = -2                                                  # unset, or a placeholder

    days_since = "createdate"                                     # or property = "<number>"
    bands = [{ below = 7, points = 10 }, { from = 7, below = 30, points = 4 }]

`parse_table` validates the TOML at load time; `compile_table` turns a `Table` into
`lookup(raw) -> (reason text, points) | None`: a pure function of the input's raw value (for
one as-of), which the per-contact engine calls once per contact and the batch scorer once per
distinct value of a column. Both paths share it, so they cannot disagree about a row.

Edges: a band is `[from, below)`: `from` is in it, `below` is not; a band without `from`
starts at minus infinity, one without `below` runs to plus infinity. A value in no band
(below the first, in a gap, above the last) takes `else`; a missing value, a placeholder, a
value that is not a number (or date), and for `days_since` a date after as-of, take
`missing`. Without `else` / `missing` such contacts get nothing from the rule (no reason).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from scoring.conditions import Context, Field, Invalid, placeholders_as_missing
from scoring.properties import (BOOL, DATE, DATETIME, ENUMERATION, NUMBER, STRING, to_bool,
                                to_epoch, to_number)

DAY = 86400.0
TABLE_KEYS = ("points_by_value", "bands")
BAND_KEYS = ("from", "below", "points")
OTHER_VALUE, OTHER_BAND, MISSING = "(any other value)", "(outside the bands)", "(missing)"
_MEMO_SIZE = 20_000

Row = tuple[str, float]  # (reason text, points)
Lookup = Callable[[Any], "Row | None"]
Complain = Callable[[str, str], None]  # (message, field)


@dataclass(frozen=True)
class Band:
    """`[low, high)` with its points; None is an open end."""

    low: float | None
    high: float | None
    points: float

    @property
    def label(self) -> str:
        """How explanations name the band: "under 7", "7 to under 30", "90 or more"."""
        if self.low is None and self.high is None:
            return "any value"
        if self.low is None:
            return f"under {number_text(self.high)}"
        if self.high is None:
            return f"{number_text(self.low)} or more"
        return f"{number_text(self.low)} to under {number_text(self.high)}"


@dataclass(frozen=True)
class Table:
    """A validated table: the input it reads and its rows."""

    input: str  # a property, `company.<property>` or a derived input
    age: bool = False  # days_since: the input is a date, looked up as days before as-of
    values: tuple[tuple[str, float], ...] = ()  # value map rows (value as written, points)
    bands: tuple[Band, ...] = ()
    other: float | None = None  # `else`
    missing: float | None = None
    case_sensitive: bool = False

    @property
    def reads(self) -> str:
        """The model key naming the input: "property" or "days_since"."""
        return "days_since" if self.age else "property"


def number_text(value: float) -> str:
    """12.0 -> "12", 0.5 -> "0.5", 1e6 -> "1000000": numbers as a person writes them."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


# --- validation ------------------------------------------------------------------------------

def parse_table(raw: dict, ctx: Context, bad: Complain, *, case_sensitive: bool) -> Table | None:
    """The Table of a rule holding points_by_value or bands; None after reporting problems."""
    problems = []

    def complain(message: str, field: str) -> None:
        problems.append(1)
        bad(message, field)

    if "points_by_value" in raw and "bands" in raw:
        complain("a rule has points_by_value or bands, not both", "bands")
        return None
    field = _input(raw, ctx, complain, bands="bands" in raw)
    other, missing = _points(raw, "else", complain), _points(raw, "missing", complain)
    if "bands" in raw:
        bands = _bands(raw["bands"], complain)
        values: tuple = ()
    else:
        bands = ()
        values = _values(raw["points_by_value"], field, complain, case_sensitive)
    if problems or field is None:
        return None
    return Table(field.name, "days_since" in raw, values, bands, other, missing, case_sensitive)


def _input(raw: dict, ctx: Context, bad: Complain, *, bands: bool) -> Field | None:
    if "property" in raw and "days_since" in raw:
        bad("use property or days_since, not both", "days_since")
        return None
    key = "days_since" if "days_since" in raw else "property"
    name = raw.get(key)
    if name is None:
        bad("is required: the input the table reads (property = \"<name>\", or for bands "
            "days_since = \"<date property>\")", key)
        return None
    if not isinstance(name, str) or not name:
        bad("must be the name of a property or a derived input", key)
        return None
    if key == "days_since" and not bands:
        bad("days_since goes with bands (the age in days is a number)", key)
        return None
    try:
        field = ctx.resolve(name, key)
    except Invalid as exc:
        bad(exc.message, exc.field)
        return None
    problem = _type_problem(field, key, bands)
    if problem:
        bad(problem, key)
        return None
    return field


def _type_problem(field: Field, key: str, bands: bool) -> str | None:
    name, kind = field.name, field.type
    if key == "days_since":
        return None if kind in (DATE, DATETIME, STRING) else f"{name!r} is not a date property"
    if bands:
        if kind in (NUMBER, STRING):
            return None
        if kind in (DATE, DATETIME):
            return f"{name} is a {kind}; use days_since = {name!r} for its age in days"
        return f"{name} is {_a(kind)}; bands need a number: use points_by_value"
    if kind in (STRING, ENUMERATION, BOOL):
        return None
    if kind == NUMBER:
        return f"{name} is a number; use bands"
    if kind in (DATE, DATETIME):
        return f"{name} is a {kind}; use bands with days_since = {name!r}"
    return (f"{name} is a multi-select: a contact may have several options, so give each "
            f"option a rule of its own")


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _points(raw: dict, key: str, bad: Complain) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if not _is_number(value):
        bad(f"must be a number (the points), got {value!r}", key)
        return None
    return float(value)


def _values(spec: Any, field: Field | None, bad: Complain, case_sensitive: bool
            ) -> tuple[tuple[str, float], ...]:
    if not isinstance(spec, dict) or not spec:
        bad("must be a table of value = points, e.g. { ORGANIC_SEARCH = 12, PAID_SEARCH = 6 }",
            "points_by_value")
        return ()
    rows, seen = [], {}
    for value, points in spec.items():
        path = f"points_by_value.{value}"
        if value.strip().casefold() in ("else", "missing") and isinstance(points, (int, float)):
            bad(f"a value named {value!r}: write the rule's {value.strip().lower()} = ... "
                f"above the points_by_value table (keys after its header belong to the map)", path)
            continue
        if not _is_number(points):
            bad(f"must be a number (the points), got {points!r}", path)
            continue
        if not value.strip():
            bad("an empty value is a missing one: give its points with missing = ...", path)
            continue
        if field is not None and field.type == BOOL:
            key: Any = to_bool(value)
            if key is None:
                bad(f"{field.name} is true/false: the values are true and false", path)
                continue
        else:
            key = value if case_sensitive else value.casefold()
        if key in seen:
            how = "" if case_sensitive or field is not None and field.type == BOOL else (
                " ignoring case (set case_sensitive = true to tell them apart)")
            bad(f"the same value as {seen[key]!r}{how}; keep one", path)
            continue
        seen[key] = value
        rows.append((value, float(points)))
    return tuple(rows)


def parse_bands(spec: Any, bad: Complain) -> tuple[Band, ...]:
    """A validated list of bands (ascending, not overlapping); problems go to `bad`."""
    return _bands(spec, bad)


def _bands(spec: Any, bad: Complain) -> tuple[Band, ...]:
    if not isinstance(spec, list) or not spec or not all(isinstance(b, dict) for b in spec):
        bad("must be a list of bands, e.g. [{ below = 7, points = 10 }, "
            "{ from = 7, below = 30, points = 4 }]", "bands")
        return ()
    bands: list[Band] = []
    for i, item in enumerate(spec):
        band = _band(item, f"bands[{i}]", bad)
        if band is None:
            continue
        if bands:
            problem = _overlap(bands[-1], band)
            if problem:
                bad(f"{problem}: bands go in ascending order and must not overlap",
                    f"bands[{i}]")
                continue
        bands.append(band)
    return tuple(bands)


def _band(item: dict, path: str, bad: Complain) -> Band | None:
    ok = True
    for key in item:
        if key not in BAND_KEYS:
            bad(f"unknown key {key!r} in a band; a band has from, below and points",
                f"{path}.{key}")
            ok = False
    edges = []
    for key in ("from", "below"):
        value = item.get(key)
        if value is not None and not _is_number(value):
            bad(f"must be a number, got {value!r}", f"{path}.{key}")
            ok = False
            value = None
        edges.append(None if value is None else float(value))
    points = item.get("points")
    if not _is_number(points):
        bad("is required (a number, may be negative)" if points is None
            else f"must be a number, got {points!r}", f"{path}.points")
        ok = False
    low, high = edges
    if ok and low is not None and high is not None and low >= high:
        bad(f"from = {number_text(low)} must be less than below = {number_text(high)}", path)
        ok = False
    return Band(low, high, float(points)) if ok else None


def _overlap(previous: Band, band: Band) -> str | None:
    if previous.high is None:
        return "the band before it has no below (it takes every higher value)"
    if band.low is None:
        return "it has no from (it takes every lower value), so it overlaps the band before it"
    if band.low < previous.high:
        return (f"from = {number_text(band.low)} is inside the band before it, which ends "
                f"at below = {number_text(previous.high)}")
    return None


# --- lookup ---------------------------------------------------------------------------------

def compile_table(rule: str, table: Table, field: Field, now: float) -> Lookup:
    """`lookup(raw) -> (reason text, points) | None` for one as-of (`now`, epoch seconds)."""
    clean = placeholders_as_missing(field)
    missing = None if table.missing is None else (f"{rule}: {MISSING}", table.missing)
    if table.bands:
        other = None if table.other is None else (f"{rule}: {OTHER_BAND}", table.other)
        find = _band_finder(rule, table, now, missing, other)
    else:
        other = None if table.other is None else (f"{rule}: {OTHER_VALUE}", table.other)
        find = _value_finder(rule, table, field, missing, other)
    memo: dict[Any, Row | None] = {}

    def lookup(raw: Any) -> Row | None:
        raw = clean(raw)
        if raw in memo:
            return memo[raw]
        row = find(raw)
        if len(memo) < _MEMO_SIZE:
            memo[raw] = row
        return row
    return lookup


def _band_finder(rule: str, table: Table, now: float, missing: Row | None, other: Row | None
                 ) -> Lookup:
    rows = [(b.low, b.high, (f"{rule}: {b.label}", b.points)) for b in table.bands]

    def age(raw: Any) -> float | None:
        at = to_epoch(raw)
        return None if at is None or at > now else (now - at) / DAY

    read = age if table.age else to_number

    def find(raw: Any) -> Row | None:
        value = read(raw)
        if value is None:
            return missing
        for low, high, row in rows:
            if (low is None or value >= low) and (high is None or value < high):
                return row
        return other
    return find


def _value_finder(rule: str, table: Table, field: Field, missing: Row | None,
                  other: Row | None) -> Lookup:
    if field.type == BOOL:
        flags = {to_bool(value): (f"{rule}: {value}", points) for value, points in table.values}

        def find_flag(raw: Any) -> Row | None:
            flag = to_bool(raw)
            return missing if flag is None else flags.get(flag, other)
        return find_flag
    fold = _same if table.case_sensitive else str.casefold
    index = {fold(value): (f"{rule}: {value}", points) for value, points in table.values}

    def find(raw: Any) -> Row | None:
        if raw is None or raw == "":
            return missing
        return index.get(fold(str(raw)), other)
    return find


def _same(text: str) -> str:
    return text

"""The condition language: TOML tables compiled once into plain closures (never `eval`).

A condition is a table whose keys are property names (tested with operators) or the
combinators `all`, `any`, `not`; several keys in one table must all hold:

    { jobtitle = { matches = "(?i)\\bvp\\b" }, company.industry = { in = ["COMPUTER_SOFTWARE"] } }

`compile_condition` turns such a table into `test(subject) -> bool`. What a subject is (the
contact's facts, or one engagement's properties) is the resolver's business: it maps a
property name to a `Field` (its type and how to read its raw value from the subject). Every
operator except `exists`/`missing` is false when the value is missing or unparseable.

Case: text comparisons (`equals`, `in`, `not_in`, `contains`) ignore case unless the rule says
`case_sensitive = true` (`Context.case_sensitive`) or the operator table does
(`{ jobtitle = { equals = "VP", case_sensitive = true } }`). `matches` is a regular
expression and means what it says: case-sensitive unless the pattern has `(?i)`.
`domain_in` always ignores case (domains have none).

Placeholders: a field may carry values that count as missing (`Field.missing`, e.g. "N/A",
"-"); `compile_leaf` turns them into None before any operator sees them, so they behave
exactly like an unset property everywhere, `exists` included.

One module at about the usual size limit: each operator's builder sits next to the others that
share its coercions, so what `equals` means for each property type reads in one place.
"""
from __future__ import annotations

import difflib
import operator
import re
from datetime import date, datetime, timezone
from typing import Any, Callable, Mapping, NamedTuple

from scoring.properties import (BOOL, DATE, DATETIME, ENUMERATION, MULTISELECT, NUMBER,
                                STRING, TIME_TYPES, to_bool, to_epoch, to_number, to_options)

CASE_SENSITIVE = "case_sensitive"  # an option in an operator table, not an operator
OPERATORS = ("equals", "in", "not_in", "gt", "gte", "lt", "lte", "between", "contains",
             "matches", "exists", "missing", "domain_in", "within_days")
COMBINATORS = ("all", "any", "not")
NAMESPACE = "company"  # company.<property> reads the contact's primary company
DAY = 86400.0

Test = Callable[[Any], bool]


class Invalid(Exception):
    """A condition does not compile: `field` is its dotted path inside the rule."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Field(NamedTuple):
    """A resolved input: its name as written, its type, and how to read its raw value.

    `source`/`key` say when the value is simply `subject.<source>.get(key)` (or
    `subject.get(key)` for source "self"), so the compiled test can read it inline.
    """

    name: str
    type: str
    get: Callable[[Any], Any]
    source: str | None = None
    key: str | None = None
    missing: frozenset[str] = frozenset()  # placeholder values (stripped, casefolded)


class Context(NamedTuple):
    """What compiling needs: name resolution, the model's named lists, and the as-of instant."""

    resolve: Callable[[str, str], Field]  # (name, path) -> Field, or raises Invalid
    lists: Mapping[str, frozenset[str]]
    now: float  # seconds since the epoch
    case_sensitive: bool = False  # the rule's default for text comparisons


def compile_condition(spec: Any, ctx: Context, path: str) -> Test:
    """Compile one condition table; raises Invalid naming the offending field."""
    if not isinstance(spec, dict) or not spec:
        raise Invalid(path, 'must be a table of conditions, e.g. { jobtitle = { contains = "vp" } }')
    return _all([_entry(key, value, ctx, f"{path}.{key}") for key, value in spec.items()])


def _entry(key: str, value: Any, ctx: Context, path: str) -> Test:
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise Invalid(path, f"{key} needs a non-empty list of conditions")
        tests = [compile_condition(item, ctx, f"{path}[{i}]") for i, item in enumerate(value)]
        return _all(tests) if key == "all" else _any(tests)
    if key == "not":
        inner = compile_condition(value, ctx, path)
        return lambda subject: not inner(subject)
    if is_namespace(key, value):
        # `company.industry = {...}` arrives from TOML as {"company": {"industry": {...}}};
        # `company = { contains = "x" }` is the contact's own company-name property.
        return _all([_entry(f"{key}.{sub}", inner, ctx, f"{path}.{sub}")
                     for sub, inner in value.items()])
    field, test = compile_leaf(key, value, ctx, path)
    if not all(op in _NUMERIC for op in _operators(value)) and field.source in _SOURCES:
        return _reading_memoized(field, test)
    return _reading(field, test)


def is_namespace(key: str, value: Any) -> bool:
    """`company = { industry = {...} }`: TOML's form of `company.industry = {...}`."""
    return (key == NAMESPACE and isinstance(value, dict) and bool(value)
            and not any(k in OPERATORS for k in value))


def compile_leaf(key: str, value: Any, ctx: Context, path: str) -> tuple[Field, Test]:
    """One property's operators as a test of its raw value: the field, and test(raw)."""
    field = ctx.resolve(key, path)
    ops = dict(_operators(value))
    if CASE_SENSITIVE in ops:
        flag = ops.pop(CASE_SENSITIVE)
        if not isinstance(flag, bool):
            raise Invalid(f"{path}.{CASE_SENSITIVE}", "needs true or false")
        ctx = ctx._replace(case_sensitive=flag)
    if not ops:
        raise Invalid(path, "needs at least one operator, e.g. { exists = true }")
    test = _all([_operator(op, operand, field, ctx, f"{path}.{op}") for op, operand in ops.items()])
    if field.missing:
        clean, inner = placeholders_as_missing(field), test
        return field, lambda raw: inner(clean(raw))
    return field, test


def placeholders_as_missing(field: Field) -> Callable[[Any], Any]:
    """raw -> raw, or None when raw is one of the field's placeholders ("N/A", "-" …)."""
    missing = field.missing
    if not missing:
        return _same
    return lambda raw: None if isinstance(raw, str) and raw.strip().casefold() in missing else raw


def _same(raw: Any) -> Any:
    return raw


def _operators(value: Any) -> dict:
    return value if isinstance(value, dict) else {"in" if isinstance(value, list) else "equals": value}


# Operators whose test is already as cheap as a dictionary lookup.
_NUMERIC = frozenset({"gt", "gte", "lt", "lte", "between", "exists", "missing"})
_MEMO_SIZE = 20_000


_SOURCES = ("contact", "company", "self")


def _reading_memoized(field: Field, test: Test) -> Test:
    """Read the value and remember the test's answer per raw value: job titles, enumerations
    and domains repeat across contacts, and a regex search costs ten dictionary lookups. Every
    test is a pure function of the raw value (the as-of is fixed at compile time). Bounded:
    once full, new values are tested but not remembered. One function per condition, with the
    read inlined, because this runs for every condition of every contact."""
    memo: dict[Any, bool] = {}
    remembered, key, source = memo.get, field.key, field.source

    def check(subject: Any) -> bool:
        if source == "contact":
            raw = subject.contact.get(key)
        elif source == "company":
            raw = subject.company.get(key)
        else:
            raw = subject.get(key)
        answer = remembered(raw)
        if answer is None:
            answer = test(raw)
            if len(memo) < _MEMO_SIZE:
                memo[raw] = answer
        return answer
    return check


def _reading(field: Field, test: Test) -> Test:
    """`test` applied to the field's value, reading plain properties inline (the hot path)."""
    key = field.key
    if field.source == "contact":
        return lambda facts: test(facts.contact.get(key))
    if field.source == "company":
        return lambda facts: test(facts.company.get(key))
    if field.source == "self":
        return lambda properties: test(properties.get(key))
    get = field.get
    return lambda subject: test(get(subject))


def _all(tests: list[Test]) -> Test:
    if len(tests) == 1:
        return tests[0]
    frozen = tuple(tests)

    def every(subject: Any) -> bool:
        for test in frozen:
            if not test(subject):
                return False
        return True
    return every


def _any(tests: list[Test]) -> Test:
    frozen = tuple(tests)

    def some(subject: Any) -> bool:
        for test in frozen:
            if test(subject):
                return True
        return False
    return some


def _operator(op: str, operand: Any, field: Field, ctx: Context, path: str) -> Test:
    build = _BUILDERS.get(op)
    if build is None:
        close = difflib.get_close_matches(op, OPERATORS, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; use one of {', '.join(OPERATORS)}"
        raise Invalid(path, f"unknown operator {op!r}{hint}")
    return build(operand, field, ctx, path)


# --- operand checks -------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _moment(value: Any) -> tuple[float, bool] | None:
    """(epoch seconds, date-only?) for a date operand: "2026-01-31", an ISO datetime or TOML's."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.timestamp(), False
    if isinstance(value, date):
        return datetime.combine(value, datetime.min.time(), timezone.utc).timestamp(), True
    if isinstance(value, str) and not value.isdigit():
        epoch = to_epoch(value)
        if epoch is not None:
            return epoch, len(value) == 10
    return None


def _strings(operand: Any, ctx: Context, path: str) -> list[Any]:
    """A list operand, or the named list it refers to (e.g. in = "target_countries")."""
    if isinstance(operand, str):
        if operand not in ctx.lists:
            known = ", ".join(sorted(ctx.lists)) or "none defined"
            raise Invalid(path, f"no list named {operand!r} in [lists] (known: {known})")
        return sorted(ctx.lists[operand])
    if not isinstance(operand, list) or not operand:
        raise Invalid(path, "needs a non-empty list, or the name of a list in [lists]")
    if any(isinstance(v, (dict, list)) for v in operand):
        raise Invalid(path, "list items must be plain values")
    return operand


def _text(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise Invalid(path, f"needs a text value, got {value!r}")
    return str(value)


def _present(raw: Any) -> bool:
    return raw is not None and raw != ""


def exact_options(raw: Any) -> frozenset[str] | None:
    """A multi-select value `a;b` as its set of options, case kept (to_options casefolds)."""
    if not raw:
        return None
    options = frozenset(part.strip() for part in str(raw).split(";") if part.strip())
    return options or None


# --- builders: (operand, field, ctx, path) -> test(raw value) ---------------------------------

def _equals(operand: Any, field: Field, ctx: Context, path: str) -> Test:
    kind = field.type
    if kind == BOOL:
        wanted = to_bool(operand if isinstance(operand, (bool, str)) else None)
        if wanted is None:
            raise Invalid(path, f"{field.name} is true/false; compare it with true or false")
        return lambda raw: to_bool(raw) is wanted
    if kind == NUMBER or (kind == STRING and _is_number(operand)):
        if not _is_number(operand):
            raise Invalid(path, f"{field.name} is a number; compare it with a number")
        number = float(operand)
        return lambda raw: to_number(raw) == number
    if kind in TIME_TYPES:
        return _compare(operator.eq, operand, field, path)
    if ctx.case_sensitive:
        exact = _text(operand, path)
        if kind == MULTISELECT:
            return lambda raw: (options := exact_options(raw)) is not None and exact in options
        return lambda raw: _present(raw) and str(raw) == exact
    wanted_text = _text(operand, path).casefold()
    if kind == MULTISELECT:
        return lambda raw: (options := to_options(raw)) is not None and wanted_text in options
    return lambda raw: _present(raw) and str(raw).casefold() == wanted_text


def _in(operand: Any, field: Field, ctx: Context, path: str) -> Test:
    values = _strings(operand, ctx, path)
    kind = field.type
    if kind in TIME_TYPES:
        raise Invalid(path, f"{field.name} is a {kind}; use between or within_days")
    if kind == BOOL:
        bools = {to_bool(v) for v in values if isinstance(v, (bool, str))} - {None}
        return lambda raw: to_bool(raw) in bools
    if kind == NUMBER or (kind == STRING and all(_is_number(v) for v in values)):
        if not all(_is_number(v) for v in values):
            raise Invalid(path, f"{field.name} is a number; list numbers")
        numbers = frozenset(float(v) for v in values)
        return lambda raw: to_number(raw) in numbers
    if ctx.case_sensitive:
        exact = frozenset(_text(v, path) for v in values)
        if kind == MULTISELECT:
            return lambda raw: ((options := exact_options(raw)) is not None
                                and not exact.isdisjoint(options))
        return lambda raw: _present(raw) and str(raw) in exact
    texts = frozenset(_text(v, path).casefold() for v in values)
    if kind == MULTISELECT:
        return lambda raw: (options := to_options(raw)) is not None and not texts.isdisjoint(options)
    return lambda raw: _present(raw) and str(raw).casefold() in texts


def _not_in(operand: Any, field: Field, ctx: Context, path: str) -> Test:
    inside = _in(operand, field, ctx, path)
    return lambda raw: _present(raw) and not inside(raw)


def _compare(cmp: Callable[[float, float], bool], operand: Any, field: Field, path: str) -> Test:
    kind = field.type
    if _is_number(operand):
        if kind not in (NUMBER, STRING):
            raise Invalid(path, _not_numeric(field))
        return _number_test(cmp, float(operand))
    moment = _moment(operand)
    if moment is None:
        raise Invalid(path, f"needs a number or a date such as \"2026-01-31\", got {operand!r}")
    if kind not in (DATE, DATETIME, STRING):
        raise Invalid(path, f"{field.name} is {_a(kind)}, not a date")
    epoch, date_only = moment
    if date_only:
        # A date operand compares calendar days (UTC): lte "2026-01-31" includes all of that day.
        day = epoch // DAY
        return lambda raw: (value := to_epoch(raw)) is not None and cmp(value // DAY, day)
    return lambda raw: (value := to_epoch(raw)) is not None and cmp(value, epoch)


def _number_test(cmp: Callable[[float, float], bool], bound: float) -> Test:
    return lambda raw: (value := to_number(raw)) is not None and cmp(value, bound)


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _not_numeric(field: Field) -> str:
    if field.type in TIME_TYPES:
        return (f"{field.name} is {_a(field.type)}; compare it with a date such as "
                f"\"2026-01-31\" or use within_days")
    return f"{field.name} is {_a(field.type)}; compare it with in = [...] or equals"


def _comparison(cmp: Callable[[float, float], bool]) -> Callable[..., Test]:
    return lambda operand, field, ctx, path: _compare(cmp, operand, field, path)


def _between(operand: Any, field: Field, ctx: Context, path: str) -> Test:
    if not isinstance(operand, list) or len(operand) != 2:
        raise Invalid(path, "needs [low, high]")
    low, high = operand
    keys = [float(v) if _is_number(v) else (_moment(v) or (None,))[0] for v in operand]
    if None in keys or _is_number(low) != _is_number(high) or keys[0] > keys[1]:
        raise Invalid(path, "needs [low, high]: two numbers or two dates, low first")
    above = _compare(operator.ge, low, field, path)
    below = _compare(operator.le, high, field, path)
    return lambda raw: above(raw) and below(raw)


def _contains(operand: Any, field: Field, ctx: Context, path: str) -> Test:
    if not isinstance(operand, str) or not operand:
        raise Invalid(path, "needs non-empty text")
    if field.type not in (STRING, ENUMERATION, MULTISELECT):
        raise Invalid(path, f"{field.name} is {_a(field.type)}; contains works on text")
    if ctx.case_sensitive:
        if field.type == MULTISELECT:
            return lambda raw: (options := exact_options(raw)) is not None and operand in options
        return lambda raw: _present(raw) and operand in str(raw)
    needle = operand.casefold()
    if field.type == MULTISELECT:
        return lambda raw: (options := to_options(raw)) is not None and needle in options
    return lambda raw: _present(raw) and needle in str(raw).casefold()


def _matches(operand: Any, field: Field, ctx: Context, path: str) -> Test:
    if not isinstance(operand, str) or not operand:
        raise Invalid(path, "needs a regular expression")
    try:
        pattern = re.compile(operand)
    except re.error as exc:
        raise Invalid(path, f"not a valid regular expression: {exc}") from None
    search = pattern.search
    return lambda raw: _present(raw) and search(str(raw)) is not None


def _exists(operand: Any, field: Field, ctx: Context, path: str) -> Test:
    if not isinstance(operand, bool):
        raise Invalid(path, "needs true or false")
    return (lambda raw: _present(raw)) if operand else (lambda raw: not _present(raw))


def _missing(operand: Any, field: Field, ctx: Context, path: str) -> Test:
    if not isinstance(operand, bool):
        raise Invalid(path, "needs true or false")
    return _exists(not operand, field, ctx, path)


def email_domain(raw: Any) -> str | None:
    """The lowercase domain of an email address, a domain, or a website URL."""
    if not _present(raw):
        return None
    text = str(raw).strip().casefold()
    at = text.rfind("@")
    if at >= 0:
        return text[at + 1:] or None
    text = text.split("//", 1)[-1].split("/", 1)[0]
    return text[4:] if text.startswith("www.") else text or None


def _domain_in(operand: Any, field: Field, ctx: Context, path: str) -> Test:
    if field.type not in (STRING, ENUMERATION):
        raise Invalid(path, f"{field.name} is {_a(field.type)}; domain_in works on emails and domains")
    domains = frozenset(_text(v, path).strip().casefold() for v in _strings(operand, ctx, path))
    return lambda raw: email_domain(raw) in domains


def _within_days(operand: Any, field: Field, ctx: Context, path: str) -> Test:
    if not _is_number(operand) or operand < 0:
        raise Invalid(path, "needs a number of days (0 or more)")
    if field.type not in (DATE, DATETIME, STRING):
        raise Invalid(path, f"{field.name} is {_a(field.type)}, not a date")
    now, limit = ctx.now, float(operand) * DAY
    return lambda raw: (value := to_epoch(raw)) is not None and 0.0 <= now - value <= limit


_BUILDERS: dict[str, Callable[..., Test]] = {
    "equals": _equals, "in": _in, "not_in": _not_in,
    "gt": _comparison(operator.gt), "gte": _comparison(operator.ge),
    "lt": _comparison(operator.lt), "lte": _comparison(operator.le),
    "between": _between, "contains": _contains, "matches": _matches,
    "exists": _exists, "missing": _missing, "domain_in": _domain_in,
    "within_days": _within_days,
}

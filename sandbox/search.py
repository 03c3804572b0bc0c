"""`POST /crm/v3/objects/{type}/search`: filter groups, one sort, offset paging, 10k cap."""
from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Any, Callable

from .catalog import Property, PropertyCatalog
from .clock import parse_ms
from .errors import invalid
from .records import Record
from .router import Route
from .shapes import record_json
from .values import as_text
from .wire import Request, Response, json_response

if TYPE_CHECKING:
    from .backend import Backend

MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
MAX_LIMIT = 200
Predicate = Callable[[Record], bool]
_TOKEN_SPLIT = re.compile(r"[^0-9a-z*]+")
_QUERY_PROPERTIES = {"contacts": ("firstname", "lastname", "email", "company"),
                     "companies": ("name", "domain")}


def search(b: Backend, req: Request, type: str) -> Response:
    if len(req.body) > b.portal.settings.max_search_body_chars:
        raise invalid(f"Search request body is {len(req.body)} characters; the limit is "
                      f"{b.portal.settings.max_search_body_chars}")
    body = req.json_object()
    limit, offset = _paging(body, b.portal.settings.search_result_cap)
    catalog = b.portal.catalogs[type]
    groups = _groups(body.get("filterGroups") or [], catalog)
    text = _query_predicate(type, body.get("query"))
    sort_key, descending = _sort(body.get("sorts") or [], catalog)
    with b.portal.lock:
        matched = [r for r in b.portal.live(type)
                   if (not groups or any(all(p(r) for p in g) for g in groups))
                   and (text is None or text(r))]
        if sort_key is not None:
            present = [r for r in matched if sort_key(r) is not None]
            absent = [r for r in matched if sort_key(r) is None]
            present.sort(key=sort_key, reverse=descending)  # stable: ties stay in id order
            matched = present + absent
        requested = body.get("properties") or []
        page = [record_json(r, requested) for r in matched[offset:offset + limit]]
    result: dict[str, Any] = {"total": len(matched), "results": page}
    if offset + limit < len(matched):
        result["paging"] = {"next": {"after": str(offset + limit),
                                     "link": f"?after={offset + limit}"}}
    return json_response(200, result)


def _paging(body: dict[str, Any], cap: int) -> tuple[int, int]:
    try:
        limit = int(body.get("limit") or 10)
        offset = int(body.get("after") or 0)
    except (TypeError, ValueError):
        raise invalid("limit must be an integer and after an integer string") from None
    if limit < 1 or limit > MAX_LIMIT:
        raise invalid(f"limit must be between 1 and {MAX_LIMIT}; got {limit}")
    if offset < 0:
        raise invalid(f"after must not be negative; got {offset}")
    if offset + limit > cap:
        raise invalid(f"Search results are capped at {cap}: after ({offset}) + limit "
                      f"({limit}) exceeds it. Narrow the filters to page further.")
    return limit, offset


def _groups(raw: list[Any], catalog: PropertyCatalog) -> list[list[Predicate]]:
    if len(raw) > MAX_GROUPS:
        raise invalid(f"Too many filter groups: {len(raw)} (max {MAX_GROUPS})")
    total = sum(len(g.get("filters") or []) for g in raw)
    if total > MAX_FILTERS:
        raise invalid(f"Too many filters: {total} (max {MAX_FILTERS} across all groups)")
    groups = []
    for group in raw:
        filters = group.get("filters") or []
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise invalid(f"Too many filters in one group: {len(filters)} "
                          f"(max {MAX_FILTERS_PER_GROUP})")
        groups.append([compile_filter(f, catalog) for f in filters])
    return groups


def compile_filter(spec: dict[str, Any], catalog: PropertyCatalog) -> Predicate:
    """One HubSpot filter → a predicate over records."""
    name = spec.get("propertyName") or ""
    prop = catalog.get(name)
    if prop is None:
        raise invalid(f'Filter property "{name}" does not exist on {catalog.object_type}')
    operator = (spec.get("operator") or "EQ").upper()
    key = _comparable(prop)

    def value(r: Record) -> Any:
        raw = r.properties.get(name)
        return None if raw is None or raw == "" else key(raw)

    if operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        wanted = operator == "HAS_PROPERTY"
        return lambda r: (value(r) is not None) == wanted
    if operator in ("IN", "NOT_IN"):
        options = {key(as_text(v)) for v in spec.get("values") or []}
        inside = (lambda r: _any_in(r.properties.get(name), options, key, prop))
        return inside if operator == "IN" else (lambda r: not inside(r))
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = as_text(spec.get("value")).lower()
        has = (lambda r: _has_token(r.properties.get(name), pattern))
        return has if operator == "CONTAINS_TOKEN" else (lambda r: not has(r))
    target = _operand(spec, "value", key, name)
    if operator == "EQ":
        return lambda r: value(r) == target
    if operator == "NEQ":
        return lambda r: value(r) != target
    if operator == "BETWEEN":
        high = _operand(spec, "highValue", key, name)
        return lambda r: (v := value(r)) is not None and target <= v <= high
    compare = {"LT": lambda v: v < target, "LTE": lambda v: v <= target,
               "GT": lambda v: v > target, "GTE": lambda v: v >= target}.get(operator)
    if compare is None:
        raise invalid(f"Unsupported filter operator: {operator}")
    return lambda r: (v := value(r)) is not None and compare(v)


def _comparable(prop: Property) -> Callable[[str], Any]:
    """Numbers and dates compare numerically (hs_object_id too); text case-insensitively."""
    if prop.type == "number":
        return _as_float
    if prop.type in ("datetime", "date"):
        return _as_moment
    return lambda text: text.strip().lower()


def _as_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise invalid(f'"{text}" is not a number') from None


def _as_moment(text: str) -> float:
    """Datetime filter values may be epoch-ms strings or ISO-8601."""
    ms = parse_ms(text)
    if ms is None:
        raise invalid(f'"{text}" is not a datetime (use epoch milliseconds or ISO-8601)')
    return float(ms)


def _operand(spec: dict[str, Any], field: str, key: Callable[[str], Any], name: str) -> Any:
    if field not in spec or spec[field] is None:
        raise invalid(f'Filter on "{name}" needs a {field}')
    return key(as_text(spec[field]))


def _any_in(raw: str | None, options: set[Any], key: Callable[[str], Any],
            prop: Property) -> bool:
    if raw is None or raw == "":
        return False
    parts = raw.split(";") if prop.field_type == "checkbox" else [raw]
    return any(key(part) in options for part in parts)


def _has_token(raw: str | None, pattern: str) -> bool:
    if not raw:
        return False
    lowered = raw.lower()
    tokens = [t for t in _TOKEN_SPLIT.split(lowered) if t] + [lowered]
    if "*" in pattern:
        return any(fnmatch.fnmatchcase(t, pattern) for t in tokens)
    return pattern in tokens


def _query_predicate(type: str, query: Any) -> Predicate | None:
    if not query:
        return None
    words = [w for w in str(query).lower().split() if w]
    names = _QUERY_PROPERTIES.get(type, ())

    def matches(r: Record) -> bool:
        text = " ".join(r.properties.get(n, "") for n in names).lower()
        tokens = [t for t in re.split(r"[^0-9a-z]+", text) if t]
        return all(any(t.startswith(w) for t in tokens) or w in text for w in words)
    return matches


def _sort(raw: list[Any], catalog: PropertyCatalog
          ) -> tuple[Callable[[Record], Any] | None, bool]:
    if not raw:
        return None, False
    if len(raw) > 1:
        raise invalid("Only one sort is supported")
    spec = raw[0]
    if isinstance(spec, str):  # "createdate" or "-createdate"
        name, descending = spec.lstrip("-"), spec.startswith("-")
    else:
        name = spec.get("propertyName") or ""
        descending = (spec.get("direction") or "ASCENDING").upper() == "DESCENDING"
    prop = catalog.get(name)
    if prop is None:
        raise invalid(f'Sort property "{name}" does not exist on {catalog.object_type}')
    key = _comparable(prop)

    def sort_key(r: Record) -> Any:
        raw_value = r.properties.get(name)
        return None if raw_value is None or raw_value == "" else key(raw_value)
    return sort_key, descending


ROUTES = [Route("POST", "/crm/v3/objects/{type}/search", search, search=True)]

"""`POST /crm/v3/objects/{type}/search`: filter groups, one sort, offset paging, 10k cap."""
from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Any, Callable

from .catalog import Property, PropertyCatalog
from .clock import iso_date, iso_ms, parse_ms
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
    raw_groups = _filter_groups(body)
    groups = _groups(raw_groups, catalog)
    text = _query_predicate(type, body.get("query"))
    sort_key, descending = _sort(body.get("sorts") or [], catalog)
    start = _lowest_id(raw_groups)
    match = _matcher(groups)
    with b.portal.lock:
        matched = [r for r in b.portal.live(type, start)
                   if (match is None or match(r)) and (text is None or text(r))]
        matched = _ordered(matched, sort_key, descending)
        requested = body.get("properties") or []
        page = [record_json(r, requested) for r in matched[offset:offset + limit]]
    result: dict[str, Any] = {"total": len(matched), "results": page}
    if offset + limit < len(matched):
        result["paging"] = {"next": {"after": str(offset + limit),
                                     "link": f"?after={offset + limit}"}}
    return json_response(200, result)


def _filter_groups(body: dict[str, Any]) -> list[Any]:
    """`filterGroups`, plus a top-level `filters` list as one more group: HubSpot accepts that
    older form, and airbyte-source-hubspot's incremental streams send only it."""
    groups = list(body.get("filterGroups") or [])
    if body.get("filters"):
        groups.append({"filters": body["filters"]})
    return groups


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


class _Field:
    """How one property reads off a record and how filter text compares with it."""

    def __init__(self, prop: Property) -> None:
        name = prop.name
        self.prop = prop
        if name == "hs_object_id":
            self.read: Callable[[Record], Any] = lambda r: r.id
            self.operand: Callable[[str], Any] = _as_float
        elif prop.type in ("datetime", "date"):
            # Every stored datetime is canonical ISO (all writes go through iso_ms), and
            # canonical ISO strings sort like the instants they name: compare them as text,
            # which is what keeps a search over 50,000 contacts fast.
            canonical = iso_ms if prop.type == "datetime" else iso_date
            self.read = lambda r: r.properties.get(name) or None
            self.operand = lambda text: canonical(int(_as_moment(text)))
        elif prop.type == "number":
            self.read = lambda r: float(v) if (v := r.properties.get(name)) else None
            self.operand = _as_float
        else:
            self.read = lambda r: v.strip().lower() if (v := r.properties.get(name)) else None
            self.operand = lambda text: text.strip().lower()

    def parts(self, r: Record) -> list[Any]:
        """The values of a (possibly multi-valued) property, as comparables."""
        raw = r.properties.get(self.prop.name)
        if not raw:
            return []
        if self.prop.field_type == "checkbox":
            return [self.operand(part) for part in raw.split(";")]
        return [self.read(r)]


def _matcher(groups: list[list[Predicate]]) -> Predicate | None:
    """One predicate for all groups (ORed) of filters (ANDed); a plain loop, not nested
    generators, because it runs once per record."""
    if not groups:
        return None
    if len(groups) > 1:
        alternatives = [_matcher([g]) for g in groups]
        return lambda r: any(m(r) for m in alternatives if m is not None)
    filters = groups[0]

    def match(r: Record) -> bool:
        for accept in filters:
            if not accept(r):
                return False
        return True
    return match


def compile_filter(spec: dict[str, Any], catalog: PropertyCatalog) -> Predicate:
    """One HubSpot filter → a predicate over records."""
    name = spec.get("propertyName") or ""
    prop = catalog.get(name)
    if prop is None:
        raise invalid(f'Filter property "{name}" does not exist on {catalog.object_type}')
    operator = (spec.get("operator") or "EQ").upper()
    field = _Field(prop)
    value = field.read
    if operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        wanted = operator == "HAS_PROPERTY"
        return lambda r: (value(r) is not None) == wanted
    if operator in ("IN", "NOT_IN"):
        options = {field.operand(as_text(v)) for v in spec.get("values") or []}
        inside: Predicate = lambda r: any(v in options for v in field.parts(r))  # noqa: E731
        return inside if operator == "IN" else (lambda r: not inside(r))
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = as_text(spec.get("value")).lower()
        has: Predicate = lambda r: _has_token(r.properties.get(name), pattern)  # noqa: E731
        return has if operator == "CONTAINS_TOKEN" else (lambda r: not has(r))
    target = _operand(spec, "value", field.operand, name)
    if operator == "EQ":
        return lambda r: value(r) == target
    if operator == "NEQ":
        return lambda r: value(r) != target
    if operator == "BETWEEN":
        high = _operand(spec, "highValue", field.operand, name)
        return lambda r: (v := value(r)) is not None and target <= v <= high
    if operator == "LT":
        return lambda r: (v := value(r)) is not None and v < target
    if operator == "LTE":
        return lambda r: (v := value(r)) is not None and v <= target
    if operator == "GT":
        return lambda r: (v := value(r)) is not None and v > target
    if operator == "GTE":
        return lambda r: (v := value(r)) is not None and v >= target
    raise invalid(f"Unsupported filter operator: {operator}")


def _lowest_id(raw_groups: list[Any]) -> int:
    """Where an id-ordered scan may start: each group's hs_object_id lower bound, the
    smallest over groups (0 when a group has none). Paging by `hs_object_id GT last` is the
    documented way past the 10k cap, so this is the hot case."""
    if not raw_groups:
        return 0
    bounds = []
    for group in raw_groups:
        bound = 0
        for spec in group.get("filters") or []:
            if spec.get("propertyName") == "hs_object_id" and \
                    (spec.get("operator") or "").upper() in ("GT", "GTE", "EQ", "BETWEEN"):
                try:
                    bound = max(bound, int(float(as_text(spec.get("value")))))
                except ValueError:
                    pass
        bounds.append(bound)
    return min(bounds)


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


def _operand(spec: dict[str, Any], name: str, key: Callable[[str], Any], prop: str) -> Any:
    if name not in spec or spec[name] is None:
        raise invalid(f'Filter on "{prop}" needs a {name}')
    return key(as_text(spec[name]))


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
    """(key, descending); no key means id order, which is also hs_object_id ascending."""
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
    if name == "hs_object_id":
        return None, descending
    return _Field(prop).read, descending


def _ordered(records: list[Record], key: Callable[[Record], Any] | None,
             descending: bool) -> list[Record]:
    """Sorted by key, unset values last, ties in id order."""
    if key is None:
        return records[::-1] if descending else records
    keyed = [(key(r), r) for r in records]
    present = [pair for pair in keyed if pair[0] is not None]
    present.sort(key=lambda pair: pair[0], reverse=descending)  # stable, so ties keep id order
    return [r for _, r in present] + [r for k, r in keyed if k is None]


ROUTES = [Route("POST", "/crm/v3/objects/{type}/search", search, search=True)]

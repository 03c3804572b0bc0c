"""Path templates → handlers. Templates double as the stats keys."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from .catalog import OBJECT_TYPES, UNSEEDED_TYPES
from .errors import ApiError, MissingScopesError

Handler = Callable[..., Any]

# HubSpot accepts object type ids and singular names where a type name is expected.
TYPE_ALIASES = {"0-1": "contacts", "0-2": "companies", "0-48": "calls", "0-49": "emails",
                "0-47": "meetings", "0-46": "notes", "0-27": "tasks", "contact": "contacts",
                "company": "companies", "call": "calls", "email": "emails",
                "meeting": "meetings", "note": "notes", "task": "tasks",
                "0-18": "communications", "communication": "communications",
                "0-116": "postal_mail"}
_TYPE_PARAMS = ("type", "from_type", "to_type")

# HubSpot object types the portal's private-app token holds no scope for: HubSpot answers
# 403 MISSING_SCOPES for them (a made-up type is a 400), and tools such as tap-hubspot skip a
# stream on a 403 but fail on a 400. Values: the scope a token would need.
UNSCOPED_TYPES = {"deals": "crm.objects.deals.read", "tickets": "tickets",
                  "products": "e-commerce", "line_items": "crm.objects.line_items.read",
                  "quotes": "crm.objects.quotes.read", "leads": "crm.objects.leads.read",
                  "goal_targets": "crm.objects.goals.read",
                  "deal_splits": "crm.objects.deals.read"}
UNSCOPED_ALIASES = {"0-3": "deals", "deal": "deals", "0-5": "tickets", "ticket": "tickets",
                    "0-7": "products", "product": "products", "0-8": "line_items",
                    "line_item": "line_items", "0-14": "quotes", "quote": "quotes",
                    "0-136": "leads", "lead": "leads", "0-74": "goal_targets",
                    "goal_target": "goal_targets", "goals": "goal_targets",
                    "deal_split": "deal_splits"}


def object_type(name: str) -> str:
    """Canonical plural type name; a 403 like HubSpot's for a type the token may not read,
    a 400 for a type HubSpot does not know."""
    canonical = TYPE_ALIASES.get(name.lower(), name.lower())
    if canonical in OBJECT_TYPES or canonical in UNSEEDED_TYPES:
        return canonical
    unscoped = UNSCOPED_ALIASES.get(canonical, canonical)
    if unscoped in UNSCOPED_TYPES:
        raise MissingScopesError(unscoped, UNSCOPED_TYPES[unscoped])
    raise ApiError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}")


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    admin: bool = False
    search: bool = False

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compile(self.template)


def _compile(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return re.compile(f"^{regex}/?$")


@dataclass(frozen=True)
class Match:
    route: Route
    params: dict[str, str]
    forbidden: ApiError | None = None   # answered after auth and rate limiting, as HubSpot does

    @property
    def stats_key(self) -> str:
        """`METHOD template` with object types filled in and ids left as placeholders."""
        path = self.route.template
        for name in _TYPE_PARAMS:
            if name in self.params:
                path = path.replace("{" + name + "}", self.params[name])
        return f"{self.route.method} {path}"


class Router:
    """First matching template wins; declare specific templates before generic ones."""

    def __init__(self, routes: list[Route]) -> None:
        self._routes = [(route, route.pattern) for route in routes]

    def match(self, method: str, path: str) -> Match | None:
        allowed = False
        for route, pattern in self._routes:
            found = pattern.match(path)
            if found:
                if route.method == method:
                    return _resolved(route, found.groupdict())
                allowed = True
        if allowed:
            raise ApiError(405, "VALIDATION_ERROR", f"HTTP method {method} is not supported "
                                                    f"for {path}")
        return None


def _resolved(route: Route, params: dict[str, str]) -> Match:
    forbidden = None
    for name in _TYPE_PARAMS:
        if name in params:
            try:
                params[name] = object_type(params[name])
            except MissingScopesError as exc:
                forbidden = forbidden or exc
                params[name] = exc.object_type
    return Match(route, params, forbidden)

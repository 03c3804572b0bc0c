"""Path templates → handlers. Templates double as the stats keys."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from .catalog import OBJECT_TYPES
from .errors import ApiError

Handler = Callable[..., Any]

# HubSpot accepts object type ids and singular names where a type name is expected.
TYPE_ALIASES = {"0-1": "contacts", "0-2": "companies", "0-48": "calls", "0-49": "emails",
                "0-47": "meetings", "0-46": "notes", "0-27": "tasks", "contact": "contacts",
                "company": "companies", "call": "calls", "email": "emails",
                "meeting": "meetings", "note": "notes", "task": "tasks"}
_TYPE_PARAMS = ("type", "from_type", "to_type")


def object_type(name: str) -> str:
    """Canonical plural type name, or a 400 like HubSpot's."""
    canonical = TYPE_ALIASES.get(name.lower(), name.lower())
    if canonical not in OBJECT_TYPES:
        raise ApiError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}")
    return canonical


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
                    params = found.groupdict()
                    for name in _TYPE_PARAMS:
                        if name in params:
                            params[name] = object_type(params[name])
                    return Match(route, params)
                allowed = True
        if allowed:
            raise ApiError(405, "VALIDATION_ERROR", f"HTTP method {method} is not supported "
                                                    f"for {path}")
        return None

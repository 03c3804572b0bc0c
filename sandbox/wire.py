"""Requests and responses as plain values, and HubSpot's error JSON."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

from .clock import iso_ms, system_clock
from .errors import ApiError, invalid

JSON_HEADERS = {"Content-Type": "application/json;charset=utf-8"}


@dataclass(frozen=True)
class Request:
    """One HTTP request, already parsed (header names lower-cased)."""

    method: str
    path: str
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    target: str = ""

    def json(self) -> Any:
        """The body as JSON; a 400 when it is not JSON."""
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise invalid(f"Invalid input JSON on line 1: {exc.msg}") from None

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise invalid("Invalid input JSON: expected an object")
        return body

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def params(self, name: str) -> list[str]:
        """Repeated keys and comma-separated values both (the SDK repeats, docs use commas)."""
        found: list[str] = []
        for value in self.query.get(name, []):
            found.extend(v.strip() for v in value.split(",") if v.strip())
        return found

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() == "true"

    def int_param(self, name: str, default: int) -> int:
        raw = self.param(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise invalid(f"Invalid value for query parameter {name}: {raw!r}") from None


@dataclass
class Response:
    """What the transport writes back; `drop` asks it to cut the connection instead."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: str | None = None          # None | "before" (no reply) | "mid" (cut the body short)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode()


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, body, {**JSON_HEADERS, **(headers or {})})


def correlation_id() -> str:
    return str(uuid.uuid4())


def error_body(error: ApiError) -> dict[str, Any]:
    """HubSpot's error JSON for a whole-request failure."""
    body: dict[str, Any] = {"status": "error", "message": error.message,
                            "correlationId": correlation_id(), "category": error.category}
    if error.errors:
        body["errors"] = error.errors
    if error.context is not None:
        body["context"] = error.context
    body.update(error.extra)
    return body


def error_response(error: ApiError, headers: Mapping[str, str] | None = None) -> Response:
    return json_response(error.status, error_body(error), headers)


def batch_error(category: str, message: str, context: dict[str, list[str]],
                sub_category: str | None = None) -> dict[str, Any]:
    """One entry of a 207's `errors[]` (every field the SDK's StandardError requires)."""
    entry: dict[str, Any] = {"status": "error", "category": category, "message": message,
                             "context": context, "errors": [], "links": {}}
    if sub_category:
        entry["subCategory"] = sub_category
    return entry


def batch_response(status: int, results: list[dict[str, Any]],
                   errors: list[dict[str, Any]]) -> Response:
    """HubSpot's batch envelope; any per-input error turns the status into 207."""
    now = iso_ms(system_clock())
    body: dict[str, Any] = {"status": "COMPLETE", "results": results,
                            "startedAt": now, "completedAt": now}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        status = 207
    return json_response(status, body)

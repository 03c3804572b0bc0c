"""Errors raised by the sandbox.

    SandboxError                  anything the sandbox raises on purpose
     ├── PortInUseError           the requested port is taken (also an OSError)
     ├── ApiError                 a HubSpot-shaped HTTP error reply (status, category,
     │    │                       message)
     │    └── MissingScopesError  403 MISSING_SCOPES: the token may not read an object type
     └── PropertyValueError       one property value failed validation (code, property name)
"""
from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    """Base class for sandbox errors."""


class PortInUseError(SandboxError, OSError):
    """The sandbox could not bind its port."""


class PropertyValueError(SandboxError):
    """A property write was rejected; `code` is HubSpot's error code for it."""

    def __init__(self, code: str, property_name: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.property_name = property_name
        self.message = message


class ApiError(SandboxError):
    """An error reply; the gateway renders it as HubSpot error JSON."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        context: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.errors = errors or []
        self.context = context
        self.extra = extra or {}


class MissingScopesError(ApiError):
    """403 for an object type the token holds no scope for; body as in HubSpot's
    error-handling docs."""

    MESSAGE = ("This app hasn't been granted all required scopes to make this call. Read more "
               "about required scopes here: https://developers.hubspot.com/scopes.")

    def __init__(self, object_type: str, scope: str) -> None:
        super().__init__(403, "MISSING_SCOPES", self.MESSAGE, errors=[
            {"message": "One or more of the following scopes are required.",
             "context": {"requiredGranularScopes": [scope]}}],
            extra={"links": {"scopes": "https://developers.hubspot.com/scopes"}})
        self.object_type = object_type


def not_found(message: str) -> ApiError:
    """404 OBJECT_NOT_FOUND."""
    return ApiError(404, "OBJECT_NOT_FOUND", message)


def invalid(message: str, **kwargs: Any) -> ApiError:
    """400 VALIDATION_ERROR."""
    return ApiError(400, "VALIDATION_ERROR", message, **kwargs)

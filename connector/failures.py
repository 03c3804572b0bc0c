"""Classify a failed HubSpot call as retriable or fatal, and say why in one line.

This is the one place HTTP statuses become leadsync errors (hubspot-api.md §4).
"""
from __future__ import annotations

import json
from typing import Mapping

from connector.ratelimit import DAILY, SECONDLY, TEN_SECONDLY
from foundation import errors

RETRIABLE_STATUSES = frozenset({423, 429, 477, 500, 502, 503, 504, 521, 523, 524})


def from_response(status: int, body: bytes | str | None, headers: Mapping[str, str] | None,
                  what: str) -> errors.HubSpotError:
    """The leadsync error for a non-2xx answer to `what` (e.g. "GET contacts page")."""
    doc = _json(body)
    message = str(doc.get("message") or "").strip() or "no message"
    category = doc.get("category") or doc.get("errorType")
    correlation = doc.get("correlationId")
    kind, text = _describe(status, doc, message, what)
    retry_after = _seconds((headers or {}).get("Retry-After"))
    if status == 423 and retry_after is None:
        retry_after = 2.0  # HubSpot: wait at least 2 s on a locked record
    policy = doc.get("policyName") or (TEN_SECONDLY if status == 429 else None)
    if status == 429 and policy != DAILY and message.startswith("You have reached your secondly"):
        policy = SECONDLY
    return kind(text, status=status, category=category, correlation_id=correlation, body=doc,
                retriable=status in RETRIABLE_STATUSES and policy != DAILY,
                retry_after=retry_after, policy=policy)


def connection_failure(exc: BaseException, what: str) -> errors.Unavailable:
    """A dropped connection, refused connection or timeout: always retriable."""
    return errors.Unavailable(f"{what}: connection to HubSpot failed ({type(exc).__name__}); "
                              f"check the network or --base-url", retriable=True)


def nothing_answers(base_url: str, exc: BaseException) -> errors.Unreachable:
    """The first call could not even connect: a wrong address is not worth retrying."""
    text = str(exc)
    if "resolve" in text or "Name or service" in text or "nodename" in text:
        reason = "no such host"
    elif "refused" in text.lower():
        reason = "connection refused"
    elif "timed out" in text.lower() or "timeout" in text.lower():
        reason = "no answer to connect"
    else:
        reason = type(exc).__name__
    return errors.Unreachable(f"nothing answers at {base_url} ({reason}); check --base-url "
                              f"(or LEADSYNC_BASE_URL) and the network")


def foreign_body(status: int, body: bytes | str | None, headers: Mapping[str, str] | None) -> bool:
    """An error answer whose body is not JSON: a web page or proxy, not HubSpot's API.

    Retriable statuses (429, 502, 503…) are left alone: HubSpot's own edge answers those in
    HTML at times, and they are retried as ever."""
    if status in RETRIABLE_STATUSES or not body:
        return False
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return True
    return False


def not_hubspot(base_url: str, what: str, status: int,
                headers: Mapping[str, str] | None) -> errors.NotHubSpot:
    """Something answered at `base_url`, but not HubSpot's API (an HTML page, another app)."""
    kind = _content_type(headers) or "no content type"
    return errors.NotHubSpot(f"{what}: the answer from {base_url} was not HubSpot's API "
                             f"(HTTP {status}, {kind}); check --base-url (or LEADSYNC_BASE_URL)")


def unreadable(base_url: str, what: str, status: int,
               headers: Mapping[str, str] | None) -> errors.LeadsyncError:
    """A 2xx answer that is not JSON: cut short if it says JSON (retriable), else foreign."""
    if "json" in _content_type(headers):
        return connection_failure(ValueError("truncated JSON"), what)
    return not_hubspot(base_url, what, status, headers)


def _content_type(headers: Mapping[str, str] | None) -> str:
    if not headers:
        return ""
    value = headers.get("Content-Type") or headers.get("content-type") or ""
    return value.split(";", 1)[0].strip().lower()


def is_retriable(exc: BaseException) -> bool:
    return isinstance(exc, errors.HubSpotError) and exc.retriable


def _describe(status: int, doc: dict, message: str, what: str) -> tuple[type, str]:
    if status == 401:
        return errors.AuthError, (f"{what}: HubSpot rejected the access token (401); set "
                                  f"HUBSPOT_ACCESS_TOKEN to a valid private app token")
    if status == 403:
        scopes = _scopes(doc)
        need = f"missing scopes: {', '.join(scopes)}" if scopes else message
        return errors.MissingScopes, (f"{what}: HubSpot denied access (403, {need}); add the "
                                      f"scopes to the private app and run again")
    if status == 404:
        return errors.NotFound, f"{what}: not found (404): {message}"
    if status == 409:
        return errors.Conflict, f"{what}: already exists (409): {message}"
    if status == 429:
        if doc.get("policyName") == DAILY:
            return errors.RateLimited, (f"{what}: the portal's daily API limit is spent (429 DAILY); "
                                        f"it resets at midnight in the portal's time zone")
        return errors.RateLimited, f"{what}: rate limited (429 {doc.get('policyName') or ''}): {message}"
    if status >= 500:
        return errors.Unavailable, f"{what}: HubSpot is unavailable ({status}): {message}"
    if status == 400:
        return errors.ValidationFailed, f"{what}: HubSpot rejected the request (400): {message}"
    return errors.HubSpotError, f"{what}: HubSpot answered {status}: {message}"


def _scopes(doc: dict) -> list[str]:
    found: list[str] = []
    for item in doc.get("errors") or []:
        context = item.get("context") or {} if isinstance(item, dict) else {}
        for key in ("requiredGranularScopes", "requiredScopes", "scopes"):
            found += [s for s in context.get(key) or [] if isinstance(s, str)]
    return sorted(set(found))


def _json(body: bytes | str | None) -> dict:
    if not body:
        return {}
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _seconds(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None

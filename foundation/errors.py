"""Errors raised by leadsync outside the pure packages (scoring and mappings have their own).

    LeadsyncError                 anything leadsync can explain in one line
    ├── ConfigError               leadsync.toml, CLI arguments or environment are wrong
    │   ├── NotSetUp              `leadsync setup` has not run (or the portal lacks what it made)
    │   ├── NoCache               a read-only command found no cache file to read
    │   ├── Unreachable           nothing answers at the base URL (refused, no such host)
    │   └── NotHubSpot            something answers at the base URL, but not HubSpot's API
    ├── TooManyChanges            a push would change more contacts (companies) than --max-changes
    │                             (--max-company-changes) allows
    ├── CacheError                the SQLite cache cannot be opened or used
    │   └── CacheBusy             another leadsync run holds the cache
    └── HubSpotError              HubSpot (or the sandbox) answered with an error
        ├── AuthError             401: the token is missing, wrong or expired
        ├── MissingScopes         403: the private app lacks scopes
        ├── NotFound              404
        ├── Conflict              409
        ├── ValidationFailed      400: HubSpot rejected the request body
        ├── RateLimited           429 that outlived every retry
        └── Unavailable           5xx, timeouts, dropped connections that outlived every retry

Only `cli.py` turns these into exit codes and messages; the message of every error here is
already a sentence a RevOps person can act on, and never contains the token or secret.
"""
from __future__ import annotations


class LeadsyncError(Exception):
    """Base class: an error with a one-line, actionable message."""


class ConfigError(LeadsyncError):
    """Configuration, arguments or environment are wrong."""


class NotSetUp(ConfigError):
    """The write-back properties are missing: `leadsync setup` must run first."""


class NoCache(ConfigError):
    """A read-only command was pointed at a cache file that does not exist."""


class Unreachable(ConfigError):
    """Nothing answers at the base URL: refused connection, unknown host, no route."""


class NotHubSpot(ConfigError):
    """The base URL answers, but not as HubSpot's API does (an HTML page, another service)."""


class TooManyChanges(LeadsyncError):
    """A push would change more contacts or companies than its guardrail allows; nothing was
    sent."""


class CacheError(LeadsyncError):
    """The SQLite cache cannot be opened or used."""


class CacheBusy(CacheError):
    """Another leadsync run is using the same cache."""


class HubSpotError(LeadsyncError):
    """HubSpot answered with an error."""

    def __init__(self, message: str, *, status: int | None = None, category: str | None = None,
                 correlation_id: str | None = None, body: dict | None = None,
                 retriable: bool = False, retry_after: float | None = None,
                 policy: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.correlation_id = correlation_id
        self.body = body or {}
        self.retriable = retriable  # worth another try (429 not DAILY, 5xx, 423, connection)
        self.retry_after = retry_after  # seconds the server asked us to wait, if it said
        self.policy = policy  # the rate-limit policy a 429 names


class AuthError(HubSpotError):
    """401: the access token is missing, wrong or expired."""


class MissingScopes(HubSpotError):
    """403: the private app lacks the scopes this call needs."""


class NotFound(HubSpotError):
    """404: the object or endpoint does not exist."""


class Conflict(HubSpotError):
    """409: the thing being created already exists."""


class ValidationFailed(HubSpotError):
    """400: HubSpot rejected the request body."""


class RateLimited(HubSpotError):
    """429 that outlived every retry."""


class Unavailable(HubSpotError):
    """5xx, timeout or dropped connection that outlived every retry."""

"""Moments as leadsync reads them from the command line and writes them into the cache."""
from __future__ import annotations

from datetime import datetime, timezone

from foundation.errors import ConfigError


def parse_moment(text: str | None, option: str = "--as-of") -> datetime:
    """A command-line date (midnight UTC) or ISO date-time (UTC unless it says otherwise)."""
    if text is None:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{option}: cannot read {text!r} as a date; use YYYY-MM-DD or an "
                          f"ISO date-time such as 2026-11-22T09:30:00Z") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def iso(moment: datetime) -> str:
    """The cache's time format for an aware datetime."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

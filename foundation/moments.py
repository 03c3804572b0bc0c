"""Moments as leadsync reads them from the command line and writes them into the cache."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from foundation.errors import ConfigError

# Clocks and time zones disagree a little: a moment up to a day ahead is still "now".
FUTURE_TOLERANCE = timedelta(days=1)


def parse_moment(text: str | None, option: str = "--as-of", *,
                 now: datetime | None = None, future: bool = False) -> datetime:
    """A command-line date (midnight UTC) or ISO date-time (UTC unless it says otherwise),
    no later than a day from `now` unless `future`: scores as of the future would decay
    engagement that has not happened and be stored as if it had."""
    current = now or datetime.now(timezone.utc)
    if text is None:
        return current
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{option}: cannot read {text!r} as a date; use YYYY-MM-DD or an "
                          f"ISO date-time such as 2026-11-22T09:30:00Z") from None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
    if not future and moment > current + FUTURE_TOLERANCE:
        raise ConfigError(f"{option} {text.strip()} is in the future (today is "
                          f"{current:%Y-%m-%d} UTC); use today or a past date")
    return moment


def iso(moment: datetime) -> str:
    """The cache's time format for an aware datetime."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

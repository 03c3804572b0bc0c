"""Time as HubSpot writes it: epoch milliseconds inside, ISO-8601 `…Z` strings on the wire."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from functools import lru_cache
from typing import Callable

Clock = Callable[[], int]
"""Returns "now" in epoch milliseconds; the portal's only source of time (tests inject one)."""

DAY_MS = 86_400_000


def system_clock() -> int:
    """Wall-clock now in epoch milliseconds."""
    return time.time_ns() // 1_000_000


@lru_cache(maxsize=8192)
def _day_prefix(day: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(day * 86_400))


_TWO_DIGITS = [f"{i:02d}" for i in range(60)]
_THREE_DIGITS = [f"{i:03d}" for i in range(1000)]


def iso_ms(ms: int) -> str:
    """Epoch ms → `2024-05-01T12:00:00.123Z`. Hot while seeding (hundreds of thousands of
    calls), hence the day cache and digit tables instead of strftime/f-strings."""
    day, rest = divmod(ms, DAY_MS)
    seconds, millis = divmod(rest, 1000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    two = _TWO_DIGITS
    return (_day_prefix(day) + two[hours] + ":" + two[minutes] + ":" + two[seconds] + "."
            + _THREE_DIGITS[millis] + "Z")


def iso_date(ms: int) -> str:
    """Epoch ms → `2024-05-01` (UTC)."""
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


@lru_cache(maxsize=1 << 18)
def parse_ms(value: str) -> int | None:
    """Epoch ms from an epoch-ms string, an ISO datetime or an ISO date; None if neither."""
    text = value.strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp() * 1000)


def to_ms(moment: datetime) -> int:
    """Epoch ms of an aware (or UTC-naive) datetime."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def day_floor_ms(ms: int) -> int:
    """Midnight UTC of the day containing `ms`."""
    return ms - ms % DAY_MS

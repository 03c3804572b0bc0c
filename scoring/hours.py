"""Working hours: a deadline counted in working time, exactly, across nights, weekends and DST.

`WorkingHours.add(start, hours)` is the moment `hours` of working time after `start` (POSIX
seconds): time outside the window (before `start`, after `end`, on days not listed) does not
count. Days are walked in the window's own time zone, so "09:00-17:00 Europe/Berlin" means
Berlin's office hours in winter and summer alike; each day's open time is measured on the
UTC clock, so a day on which the clocks change still counts its real length. Pure.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class HoursError(ValueError):
    """A working-hours value that cannot be read; the message says what is expected."""


@dataclass(frozen=True)
class WorkingHours:
    """Open from `start` to `end` (local wall-clock times) on `days` (0 = Monday) in `zone`."""

    start: time
    end: time
    days: frozenset[int]
    zone: str = "UTC"

    def add(self, start: float, hours: float) -> float:
        """The POSIX second at which `hours` of working time have passed since `start`."""
        tz = ZoneInfo(self.zone)
        left = timedelta(hours=hours)
        moment = datetime.fromtimestamp(start, timezone.utc)
        day = moment.astimezone(tz).date()
        for _ in range(366 * 8):  # a year of days with the window open at least once a week
            if day.weekday() in self.days:
                opens, closes = self._window(day, tz)
                begin = max(moment, opens)
                if begin < closes:
                    if closes - begin >= left:
                        return (begin + left).timestamp()
                    left -= closes - begin
            day += timedelta(days=1)
        raise HoursError("working hours never open")  # pragma: no cover - days is never empty

    def working_between(self, start: float, end: float) -> timedelta:
        """Working time from `start` to `end` (zero when end is not after start)."""
        tz = ZoneInfo(self.zone)
        first = datetime.fromtimestamp(start, timezone.utc)
        last = datetime.fromtimestamp(end, timezone.utc)
        total = timedelta(0)
        day = first.astimezone(tz).date()
        while first < last and day <= last.astimezone(tz).date():
            if day.weekday() in self.days:
                opens, closes = self._window(day, tz)
                begin, finish = max(first, opens), min(last, closes)
                if finish > begin:
                    total += finish - begin
            day += timedelta(days=1)
        return total

    def _window(self, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
        opens = datetime.combine(day, self.start, tz).astimezone(timezone.utc)
        closes = datetime.combine(day, self.end, tz).astimezone(timezone.utc)
        return opens, closes

    def describe(self) -> str:
        days = ",".join(WEEKDAYS[d].capitalize() for d in sorted(self.days))
        return f"{self.start:%H:%M}-{self.end:%H:%M} {days} {self.zone}"


def parse_hours(raw: object) -> WorkingHours:
    """`{ start = "09:00", end = "17:00", days = "Mon-Fri", timezone = "Europe/Berlin" }`
    (days and timezone optional: Mon-Fri, UTC). Raises HoursError naming the key."""
    if not isinstance(raw, dict):
        raise HoursError('must be { start = "09:00", end = "17:00", days = "Mon-Fri", '
                         'timezone = "Europe/Berlin" }')
    unknown = set(raw) - {"start", "end", "days", "timezone"}
    if unknown:
        raise HoursError(f"unknown key {sorted(unknown)[0]!r}; expected start, end, days, timezone")
    start, end = _clock(raw.get("start"), "start"), _clock(raw.get("end"), "end")
    if end <= start:
        raise HoursError(f"end ({end:%H:%M}) must be after start ({start:%H:%M})")
    zone = raw.get("timezone", "UTC")
    try:
        ZoneInfo(zone) if isinstance(zone, str) and zone else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if not isinstance(zone, str) or not zone:
        raise HoursError(f"timezone: unknown time zone {raw.get('timezone')!r}; use an IANA name "
                         f"such as \"Europe/Berlin\" or \"America/New_York\"")
    return WorkingHours(start, end, parse_days(raw.get("days", "Mon-Fri")), zone)


def parse_days(raw: object) -> frozenset[int]:
    """"Mon-Fri", "Mon,Wed,Fri", "Sun-Thu" or a list of day names → weekday numbers."""
    parts = raw if isinstance(raw, list) else str(raw).split(",") if isinstance(raw, str) else None
    days: set[int] = set()
    for part in parts or [None]:
        text = part.strip().lower()[:3] if isinstance(part, str) else ""
        low, _, high = (part.strip().lower().partition("-") if isinstance(part, str)
                        else ("", "", ""))
        if high:
            a, b = _day(low), _day(high)
            days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
        else:
            days.add(_day(text))
    return frozenset(days)


def _day(text: str) -> int:
    key = text.strip().lower()[:3]
    if key not in WEEKDAYS:
        raise HoursError(f'days: {text!r} is not a day; write e.g. "Mon-Fri" or "Mon,Wed,Fri"')
    return WEEKDAYS.index(key)


def _clock(raw: object, key: str) -> time:
    try:
        hours, minutes = str(raw).split(":")
        return time(int(hours), int(minutes))
    except (ValueError, TypeError):
        raise HoursError(f'{key}: must be a time "HH:MM", got {raw!r}') from None

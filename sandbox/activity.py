"""Engagement properties: what one call, email, meeting, note or task looks like, given how
keen the contact is (`p`, the hidden propensity). Also the fast sampling helpers the seeder
uses (seeding draws millions of random choices)."""
from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Callable, Iterable, Sequence, TypeVar

from . import vocabulary as words
from .catalog import CALL_DISPOSITIONS
from .clock import DAY_MS, iso_ms

T = TypeVar("T")


@dataclass(frozen=True)
class Subject:
    """Who an engagement is with."""

    first: str
    last: str
    company: str | None


def weighted(rng: random.Random, options: Sequence[T], weights: Iterable[float]) -> T:
    """`rng.choices(options, weights)[0]`, about five times faster (seeding is hot)."""
    cumulative = list(accumulate(weights))
    return options[bisect(cumulative, rng.random() * cumulative[-1])]


class Mix:
    """A fixed weighted distribution, sampled by bisection (cumulative weights built once)."""

    def __init__(self, options: Sequence[T], weights: Iterable[float]) -> None:
        self.options = options
        self.cumulative = list(accumulate(weights))
        self.total = self.cumulative[-1]

    def draw(self, rng: random.Random) -> Any:
        return self.options[bisect(self.cumulative, rng.random() * self.total)]


def one(rng: random.Random, options: Sequence[T]) -> T:
    return options[int(rng.random() * len(options))]


def between(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low))


def build(kind: str, rng: random.Random, who: Subject, at: int, p: float,
          anchor: int) -> dict[str, str]:
    """Type-specific properties of one engagement at `at` (epoch ms)."""
    return _BUILDERS[kind](rng, who, at, p, anchor)



def _calls(rng: random.Random, who: Subject, at: int, p: float,
           anchor: int) -> dict[str, str]:
    inbound = rng.random() < 0.08 + 0.4 * p
    completed = rng.random() < 0.55 + 0.3 * p
    if completed:
        outcome = weighted(rng, ("Connected", "Left voicemail", "Left live message"),
                           (0.4 + 0.5 * p, 0.4, 0.2))
    else:
        outcome = one(rng, ("No answer", "Busy", "Wrong number"))
    low, high = _CALL_SECONDS.get(outcome, (0, 30))
    seconds = between(rng, low, high)
    status = "COMPLETED" if completed else one(rng, ("NO_ANSWER", "BUSY", "FAILED"))
    return {"hs_call_direction": "INBOUND" if inbound else "OUTBOUND",
            "hs_call_status": status, "hs_call_disposition": _DISPOSITIONS[outcome],
            "hs_call_duration": str(seconds * 1000),
            "hs_call_title": f"Call with {who.first} {who.last}"}


def _emails(rng: random.Random, who: Subject, at: int, p: float,
            anchor: int) -> dict[str, str]:
    roll = rng.random()
    direction = ("FORWARDED_EMAIL" if roll < 0.02 else
                 "INCOMING_EMAIL" if roll < 0.12 + 0.45 * p else "EMAIL")
    company = who.company or "your team"
    subjects = words.INBOUND_SUBJECTS if direction == "INCOMING_EMAIL" else \
        words.OUTBOUND_SUBJECTS
    return {"hs_email_direction": direction,
            "hs_email_status": "BOUNCED" if rng.random() < 0.02 else "SENT",
            "hs_email_subject": one(rng, subjects).format(company=company)}


def _meetings(rng: random.Random, who: Subject, at: int, p: float,
              anchor: int) -> dict[str, str]:
    if at > anchor - 2 * DAY_MS and rng.random() < 0.7:
        outcome = "SCHEDULED"
    else:
        outcome = weighted(rng, ("COMPLETED", "NO_SHOW", "CANCELED", "RESCHEDULED"),
                           (0.5 + 0.4 * p, 0.2 - 0.15 * p, 0.15, 0.1))
    minutes = one(rng, (30, 30, 45, 60))
    return {"hs_meeting_title": one(rng, words.MEETING_TITLES),
            "hs_meeting_outcome": outcome, "hs_meeting_start_time": iso_ms(at),
            "hs_meeting_end_time": iso_ms(at + minutes * 60_000)}


def _notes(rng: random.Random, who: Subject, at: int, p: float,
           anchor: int) -> dict[str, str]:
    body = one(rng, words.NOTE_TEMPLATES).format(
        first=who.first, topic=one(rng, words.NOTE_TOPICS), weeks=between(rng, 2, 9))
    return {"hs_note_body": body}


def _tasks(rng: random.Random, who: Subject, at: int, p: float,
           anchor: int) -> dict[str, str]:
    old = at < anchor - 7 * DAY_MS
    status = ("COMPLETED" if old and rng.random() < 0.8 else
              one(rng, ("NOT_STARTED", "IN_PROGRESS", "WAITING", "DEFERRED")))
    subject = one(rng, words.TASK_SUBJECTS).format(
        first=who.first, last=who.last, company=who.company or "their company")
    return {"hs_task_subject": subject, "hs_task_status": status,
            "hs_task_type": one(rng, ("EMAIL", "CALL", "TODO", "LINKED_IN")),
            "hs_task_priority": one(rng, ("NONE", "LOW", "MEDIUM", "HIGH"))}


_DISPOSITIONS = {label: value for value, label in CALL_DISPOSITIONS}
_CALL_SECONDS = {"Connected": (60, 1800), "Left voicemail": (20, 60),
                 "Left live message": (30, 120)}
_BUILDERS: dict[str, Callable[..., dict[str, str]]] = {
    "calls": _calls, "emails": _emails, "meetings": _meetings, "notes": _notes,
    "tasks": _tasks}

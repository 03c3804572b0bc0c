"""Reasons as the cache stores them: a JSON array of `[rule, section, points, occurrences]`.

`scores.reasons` and `score_history.reasons` hold one such array per contact, in the order the
engine lists reasons. Arrays rather than objects: a rescore writes this text twice per changed
contact, and the keys would double its size. `parse` also reads the object form
(`{"rule", "section", "points", "occurrences"}`) that caches written before migration 0011 held.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from scoring.engine import Reason


def fragment(rule: str, section: str, points: float, occurrences: int) -> str:
    """One reason as stored: `["Meeting booked","engagement",15.0,1]`."""
    return f"[{json.dumps(rule)},{json.dumps(section)},{points!r},{occurrences}]"


def dumps(reasons: Iterable[Reason]) -> str:
    """Reasons as the stored JSON array."""
    return "[" + ",".join(fragment(*reason) for reason in reasons) + "]"


def parse(text: str | None) -> tuple[Reason, ...]:
    """The reasons of a stored JSON array (empty for NULL or '')."""
    return tuple(_reason(item) for item in json.loads(text or "[]"))


def as_dicts(text: str | None) -> list[dict]:
    """Stored reasons as `{"rule", "section", "points", "occurrences"}` objects (for output);
    objects already in that form pass as they are."""
    return [item if isinstance(item, dict) else dict(zip(Reason._fields, item))
            for item in json.loads(text or "[]")]


def is_bound(reason: Any) -> bool:
    """A section's or the total's bound cutting the score ("total floored at 0"), not a rule.

    Bounds are stored as reasons, with 0 occurrences, so `explain` can show the cut; they are
    not a reason a lead scores what it does, so the reasons written to HubSpot and the report's
    rules leave them out. Takes a Reason, a stored array or a `{"occurrences": …}` mapping."""
    occurrences = reason.get("occurrences") if isinstance(reason, Mapping) else reason[3]
    return occurrences == 0


def _reason(item: list | dict) -> Reason:
    if isinstance(item, dict):
        return Reason(item["rule"], item["section"], item["points"], item["occurrences"])
    rule, section, points, occurrences = item
    return Reason(rule, section, points, occurrences)

"""How well scores rank the contacts that converted: AUC, deciles, lift, precision/recall. Pure.

Every function takes parallel sequences (a score and a 0/1 outcome per contact) and treats
ties the way random tie-breaking would on average: AUC uses average ranks (Mann-Whitney),
and a run of equal scores that straddles a decile boundary shares its conversions among the
deciles pro rata. So a model that gives everyone the same score gets AUC 0.5 and lift 1.0
exactly, whatever order the contacts arrive in.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Hashable, Iterable, Sequence

DECILES = 10


@dataclass(frozen=True)
class Bucket:
    """One score band (decile 1 = the highest scores): contacts, conversions, rate, lift."""

    index: int
    contacts: int
    converted: float  # expected conversions: fractional only where tied scores straddle bands
    rate: float | None
    lift: float | None  # rate / overall rate
    min_score: float | None
    max_score: float | None
    captured: float | None  # cumulative share of all conversions in bands 1..index


@dataclass(frozen=True)
class Group:
    """Contacts sharing a label (a grade, a source channel) and how many of them converted."""

    name: str
    contacts: int
    converted: int
    rate: float | None


@dataclass(frozen=True)
class Confusion:
    """A yes/no prediction against outcomes: counts, precision and recall."""

    selected: int
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    precision: float | None  # tp / selected; None when nothing is selected
    recall: float | None     # tp / converted; None when nobody converted

    def as_dict(self) -> dict:
        return asdict(self)


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """ROC AUC: P(a converted contact outscores one that did not), ties counting half.

    Mann-Whitney U from average ranks; None when either class is empty.
    """
    _check(scores, labels)
    positives = sum(1 for y in labels if y)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    rank_sum = 0.0
    for rank, members in _tied_runs(scores):
        rank_sum += rank * sum(1 for i in members if labels[i])
    u = rank_sum - positives * (positives + 1) / 2
    return u / (positives * negatives)


def auc_standard_error(value: float, positives: int, negatives: int) -> float | None:
    """Hanley & McNeil's (1982) standard error of an AUC from `positives` converted and
    `negatives` not-converted contacts; None when either class is empty."""
    if positives < 1 or negatives < 1:
        return None
    q1, q2 = value / (2 - value), 2 * value * value / (1 + value)
    variance = (value * (1 - value) + (positives - 1) * (q1 - value * value)
                + (negatives - 1) * (q2 - value * value)) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


Z95 = 1.959964  # two-sided 95%


def aucs_separated(a: float, b: float, positives: int, negatives: int) -> bool:
    """Whether two AUCs measured on these contacts differ by more than chance would (95%).

    Treats the two as independent, which overstates the noise when both score the same
    contacts: a conservative test (it may call a real difference "too close", never the
    reverse)."""
    se_a = auc_standard_error(a, positives, negatives)
    se_b = auc_standard_error(b, positives, negatives)
    if se_a is None or se_b is None:
        return False
    return abs(a - b) > Z95 * math.hypot(se_a, se_b)


def conversions_to_separate(a: float, b: float, positives: int, negatives: int,
                            limit: int = 10_000_000) -> int | None:
    """About how many conversions (at today's conversion rate) would tell AUCs `a` and `b`
    apart at 95%; None when they are equal or it would take more than `limit`."""
    if a == b or positives < 1 or negatives < 1:
        return None
    ratio = negatives / positives

    def enough(k: int) -> bool:
        return aucs_separated(a, b, k, max(1, round(k * ratio)))

    high = max(positives, 1)
    while not enough(high):
        high *= 2
        if high > limit:
            return None
    low = high // 2
    while low + 1 < high:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high


def _tied_runs(scores: Sequence[float]) -> Iterable[tuple[float, list[int]]]:
    """(average 1-based rank, indices) of each run of equal scores, lowest scores first."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        yield (start + end + 2) / 2, order[start:end + 1]
        start = end + 1


def deciles(scores: Sequence[float], labels: Sequence[bool], bands: int = DECILES) -> list[Bucket]:
    """Contacts ranked by score (highest first) cut into `bands` equal-sized bands.

    Band i holds ranks [floor((i-1)·n/bands), floor(i·n/bands)): sizes differ by at most one.
    """
    _check(scores, labels)
    n = len(scores)
    total = sum(1 for y in labels if y)
    overall = total / n if n else None
    edges = [b * n // bands for b in range(bands + 1)]
    converted = [0.0] * bands
    lows: list[float | None] = [None] * bands
    highs: list[float | None] = [None] * bands
    position = 0
    for _, members in reversed(list(_tied_runs(scores))):  # highest scores first
        value = scores[members[0]]
        share = sum(1 for i in members if labels[i]) / len(members)
        start, end = position, position + len(members)
        for band in range(bands):
            overlap = min(end, edges[band + 1]) - max(start, edges[band])
            if overlap > 0:
                converted[band] += share * overlap
                highs[band] = value if highs[band] is None else highs[band]
                lows[band] = value
        position = end
    buckets, running = [], 0.0
    for band in range(bands):
        size = edges[band + 1] - edges[band]
        running += converted[band]
        rate = converted[band] / size if size else None
        buckets.append(Bucket(
            index=band + 1, contacts=size, converted=_tidy(converted[band]),
            rate=None if rate is None else _tidy(rate),
            lift=None if rate is None or not overall else _tidy(rate / overall),
            min_score=lows[band], max_score=highs[band],
            captured=_tidy(running / total) if total else None))
    return buckets


def top_decile_lift(buckets: Sequence[Bucket]) -> float | None:
    """Conversion rate of the best-scored tenth over the overall rate."""
    return buckets[0].lift if buckets else None


def rates_by(names: Sequence[Hashable], labels: Sequence[bool],
             order: Sequence[Hashable] | None = None) -> list[Group]:
    """Conversion per group, in `order` (groups not in it follow, sorted); None names '(none)'."""
    _check(names, labels)
    counts: dict[str, list[int]] = {}
    for name, label in zip(names, labels):
        key = "(none)" if name is None else str(name)
        tally = counts.setdefault(key, [0, 0])
        tally[0] += 1
        tally[1] += 1 if label else 0
    first = [str(o) for o in order or () if str(o) in counts]
    rest = sorted(k for k in counts if k not in first)
    return [Group(k, counts[k][0], counts[k][1], _tidy(counts[k][1] / counts[k][0]))
            for k in first + rest]


def confusion(predicted: Sequence[bool], labels: Sequence[bool]) -> Confusion:
    """How a yes/no selection (e.g. "is MQL") matches who converted."""
    _check(predicted, labels)
    tp = sum(1 for p, y in zip(predicted, labels) if p and y)
    fp = sum(1 for p, y in zip(predicted, labels) if p and not y)
    fn = sum(1 for p, y in zip(predicted, labels) if not p and y)
    tn = len(labels) - tp - fp - fn
    return Confusion(tp + fp, tp, fp, fn, tn,
                     _tidy(tp / (tp + fp)) if tp + fp else None,
                     _tidy(tp / (tp + fn)) if tp + fn else None)


@dataclass(frozen=True)
class CapacityCut:
    """The score threshold that hands sales about `wanted` contacts, and how it performs."""

    wanted: int
    threshold: float | None  # the wanted-th best score; None when there are no contacts
    selected: Confusion      # everyone scoring ≥ threshold (ties can push it past `wanted`)

    def as_dict(self) -> dict:
        return {"wanted": self.wanted, "threshold": self.threshold,
                "selected": self.selected.as_dict()}


def capacity_cut(scores: Sequence[float], labels: Sequence[bool], wanted: int) -> CapacityCut:
    """Threshold = the score of the `wanted`-th best contact (all of them when fewer)."""
    _check(scores, labels)
    if not scores or wanted < 1:
        return CapacityCut(wanted, None, confusion([False] * len(labels), labels))
    ranked = sorted(scores, reverse=True)
    threshold = ranked[min(wanted, len(ranked)) - 1]
    return CapacityCut(wanted, threshold, confusion([s >= threshold for s in scores], labels))


def _check(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        raise ValueError(f"{len(a)} scores but {len(b)} outcomes")


def _tidy(value: float) -> float:
    """Round away float noise (1e-12) so reports and JSON show 0.3, not 0.30000000000000004."""
    return round(value, 10)

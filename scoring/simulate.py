"""Simulation: what a candidate model would change, compared contact by contact. Pure.

A `Comparison` is fed one contact at a time (its score before and after) and keeps only
what the report needs: grade and stage transition matrices, both score distributions, the
contacts whose total moves most (with both sides' reasons), and the list of changes that
`leadsync score` would record (a history row wherever total, grade or stage differs; a
contact with no score before always gets one).
"""
from __future__ import annotations

import heapq
import math
from array import array
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from scoring.engine import Score
from scoring.reasons import parse as parse_reasons

NONE = "(none)"          # no grade / no stage
UNSCORED = "(unscored)"  # no score at all before
QUANTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
BIN = 10.0


@dataclass(frozen=True)
class Side:
    """One contact's score on one side of the comparison."""

    total: float
    fit: float
    engagement: float
    grade: str | None
    stage: str | None
    reasons: tuple[tuple[str, str, float], ...] = ()  # (rule, section, points)

    @classmethod
    def of(cls, score: Score) -> Side:
        return cls(score.total, score.fit, score.engagement, score.grade, score.stage,
                   tuple((r.rule, r.section, r.points) for r in score.reasons))

    @classmethod
    def stored(cls, row: Sequence[Any]) -> Side:
        """From a `scores` row: (model_name, model_version, fit, engagement, total, grade,
        stage, inactive, reasons JSON)."""
        return cls(row[4], row[2], row[3], row[5], row[6],
                   tuple((r.rule, r.section, r.points) for r in parse_reasons(row[8])))

    @property
    def key(self) -> tuple:
        """What a history row tracks: total, grade, stage."""
        return (self.total, self.grade, self.stage)


@dataclass(frozen=True)
class Change:
    """A history row `score` would append: old -> new total, grade and stage."""

    contact_id: str
    old_total: float | None
    new_total: float
    old_grade: str | None
    new_grade: str | None
    old_stage: str | None
    new_stage: str | None


@dataclass(frozen=True)
class Mover:
    """A contact whose total moves a lot, with both sides' rules."""

    contact_id: str
    email: str | None
    before: Side | None
    after: Side

    @property
    def delta(self) -> float:
        return round(self.after.total - (self.before.total if self.before else 0.0), 1)

    def as_dict(self) -> dict:
        return {"contact_id": self.contact_id, "email": self.email, "delta": self.delta,
                "before": None if self.before is None else side_dict(self.before),
                "after": side_dict(self.after)}


def side_dict(side: Any) -> dict:
    """A side (contact or company) as JSON: its fields, reasons as rule/section/points."""
    data = asdict(side)
    data["reasons"] = [{"rule": r, "section": s, "points": p} for r, s, p in side.reasons]
    return data


@dataclass(frozen=True)
class Distribution:
    """Scores on one side: count, mean, min/max, deciles (p10…p90) and a 10-point histogram."""

    count: int
    mean: float | None
    min: float | None
    max: float | None
    quantiles: dict[str, float]
    histogram: list[dict]  # {"from": 20.0, "to": 30.0, "contacts": 12}; the last bin includes `to`


@dataclass
class Simulation:
    """Everything `leadsync simulate` reports (the push plan is added by the caller)."""

    baseline: str
    candidate: str
    as_of: str
    contacts: int
    changed: int
    grades: dict[str, dict[str, int]]
    stages: dict[str, dict[str, int]]
    before: Distribution
    after: Distribution
    movers: list[Mover]
    changes: list[Change] = field(repr=False)
    notes: list[str] = field(default_factory=list)

    def as_dict(self, *, with_changes: bool = False) -> dict:
        data = {"baseline": self.baseline, "candidate": self.candidate, "as_of": self.as_of,
                "contacts": self.contacts, "changed": self.changed, "grades": self.grades,
                "stages": self.stages, "distribution": {"before": asdict(self.before),
                                                        "after": asdict(self.after)},
                "movers": [m.as_dict() for m in self.movers], "notes": list(self.notes)}
        if with_changes:
            data["changes"] = [asdict(c) for c in self.changes]
        return data


class Comparison:
    """Accumulates contacts; `result()` summarises them."""

    def __init__(self, baseline: str, candidate: str, as_of: str, *, movers: int = 10) -> None:
        self.baseline, self.candidate, self.as_of = baseline, candidate, as_of
        self.top = movers
        self.grades: Counter = Counter()
        self.stages: Counter = Counter()
        self.before_totals, self.after_totals = array("d"), array("d")
        self.changes: list[Change] = []
        self.heap: list[tuple] = []
        self.contacts = 0

    def add(self, contact_id: str, before: Side | None, after: Side,
            email: str | None = None) -> Change | None:
        """One contact; returns the history row `score` would write for it, if any."""
        self.contacts += 1
        self.after_totals.append(after.total)
        if before is None:
            self.grades[(UNSCORED, after.grade or NONE)] += 1
            self.stages[(UNSCORED, after.stage or NONE)] += 1
        else:
            self.before_totals.append(before.total)
            self.grades[(before.grade or NONE, after.grade or NONE)] += 1
            self.stages[(before.stage or NONE, after.stage or NONE)] += 1
        change = None
        if before is None or before.key != after.key:
            change = Change(contact_id, None if before is None else before.total, after.total,
                            None if before is None else before.grade, after.grade,
                            None if before is None else before.stage, after.stage)
            self.changes.append(change)
        self._track(Mover(contact_id, email, before, after))
        return change

    def _track(self, mover: Mover) -> None:
        if self.top <= 0 or mover.before is None:
            return
        # Biggest |delta| first; ties go to the higher contact id, so output is stable.
        key = (abs(mover.delta), id_order(mover.contact_id))
        item = (key, mover.contact_id, mover)
        if len(self.heap) < self.top:
            heapq.heappush(self.heap, item)
        elif key > self.heap[0][0]:
            heapq.heapreplace(self.heap, item)

    def result(self) -> Simulation:
        movers = [m for _, _, m in sorted(self.heap, key=lambda item: item[0], reverse=True)
                  if m.delta != 0]
        return Simulation(
            baseline=self.baseline, candidate=self.candidate, as_of=self.as_of,
            contacts=self.contacts, changed=len(self.changes),
            grades=transition_matrix(self.grades), stages=transition_matrix(self.stages),
            before=distribution(self.before_totals), after=distribution(self.after_totals),
            movers=movers, changes=self.changes)


def id_order(contact_id: str) -> tuple:
    return (0, int(contact_id), "") if contact_id.isdigit() else (1, 0, contact_id)


def transition_matrix(counts: Counter) -> dict[str, dict[str, int]]:
    rows: dict[str, dict[str, int]] = {}
    for (old, new), n in sorted(counts.items()):
        rows.setdefault(old, {})[new] = n
    return rows


def distribution(totals: Iterable[float]) -> Distribution:
    """Deciles by nearest rank (p = the ceil(p/100·n)-th smallest) and 10-point bins."""
    values = sorted(totals)
    n = len(values)
    if not n:
        return Distribution(0, None, None, None, {}, [])
    quantiles = {f"p{p}": values[max(1, math.ceil(p / 100 * n)) - 1] for p in QUANTILES}
    low = math.floor(values[0] / BIN) * BIN
    high = max(low + BIN, math.ceil(values[-1] / BIN) * BIN)
    edges = [low + i * BIN for i in range(int(round((high - low) / BIN)) + 1)]
    counts = [0] * (len(edges) - 1)
    for value in values:
        index = min(int((value - low) // BIN), len(counts) - 1)
        counts[index] += 1
    return Distribution(n, round(math.fsum(values) / n, 1), values[0], values[-1], quantiles,
                        [{"from": edges[i], "to": edges[i + 1], "contacts": c}
                         for i, c in enumerate(counts)])


# ---- text ---------------------------------------------------------------------------------------

def render(sim: Simulation, push_lines: Sequence[str] = ()) -> str:
    """The human report: matrices, distributions, movers side by side, then the push lines."""
    lines = [f"Candidate: {sim.candidate}", f"Before:    {sim.baseline}",
             f"As of {sim.as_of}: {sim.contacts:,} contacts, {sim.changed:,} would change "
             f"total, grade or stage (the history rows `leadsync score` would write)"]
    lines += [f"note: {note}" for note in sim.notes]
    lines += ["", "Grades (rows: before, columns: after)", *render_matrix(sim.grades)]
    lines += ["", "Stages (rows: before, columns: after)", *render_matrix(sim.stages)]
    lines += ["", "Score distribution", *render_distributions(sim.before, sim.after)]
    if sim.movers:
        lines += ["", f"Contacts that move most (top {len(sim.movers)})"]
        for mover in sim.movers:
            lines += _render_mover(mover)
    if push_lines:
        lines += ["", "What a push would send: now, and after `leadsync score` with the candidate",
                  *push_lines]
    return "\n".join(lines)


def render_matrix(matrix: Mapping[str, Mapping[str, int]]) -> list[str]:
    columns = sorted({c for row in matrix.values() for c in row})
    if not columns:
        return ["  (no contacts)"]
    widths = [max(6, len(c)) + 2 for c in columns]
    first = max(12, *(len(r) for r in matrix)) + 2
    lines = [" " * (first + 2) + "".join(f"{c:>{w}}" for c, w in zip(columns, widths))]
    for row, cells in matrix.items():
        lines.append(f"  {row:<{first}}" + "".join(
            f"{cells[c]:>{w},}" if cells.get(c) else f"{'.':>{w}}"
            for c, w in zip(columns, widths)))
    return lines


def render_distributions(before: Distribution, after: Distribution) -> list[str]:
    lines = [f"  {'':<12}{'before':>10}{'after':>10}"]
    for name in ("count", "mean", "min", *(f"p{p}" for p in QUANTILES), "max"):
        lines.append(f"  {name:<12}{_stat(before, name):>10}{_stat(after, name):>10}")
    old = {(b["from"], b["to"]): b["contacts"] for b in before.histogram}
    new = {(b["from"], b["to"]): b["contacts"] for b in after.histogram}
    for low, high in sorted(old.keys() | new.keys()):
        lines.append(f"  {f'{low:g} to {high:g}':<12}{old.get((low, high), 0):>10,}"
                     f"{new.get((low, high), 0):>10,}")
    return lines


def _stat(dist: Distribution, name: str) -> str:
    value = (dist.count if name == "count" else dist.quantiles.get(name) if name.startswith("p")
             else getattr(dist, name))
    return "-" if value is None else f"{value:g}"


def _render_mover(mover: Mover) -> list[str]:
    before, after = mover.before, mover.after
    who = f"contact {mover.contact_id}" + (f" <{mover.email}>" if mover.email else "")
    old = "-" if before is None else f"{before.total:g}"
    lines = [f"  {who}: {old} -> {after.total:g} ({mover.delta:+g})",
             f"    {'':<44}{'before':>22}{'after':>22}"]

    def row(label: str, left: Any, right: Any) -> str:
        return f"    {_clip(label, 44):<44}{_cell(left):>22}{_cell(right):>22}"

    lines.append(row("total = fit + engagement", None if before is None else _sum(before),
                     _sum(after)))
    lines.append(row("grade", None if before is None else before.grade or "-", after.grade or "-"))
    lines.append(row("stage", None if before is None else before.stage or "-", after.stage or "-"))
    left = {(r, s): p for r, s, p in (before.reasons if before else ())}
    right = {(r, s): p for r, s, p in after.reasons}
    for rule, section in dict.fromkeys([*left, *right]):
        lines.append(row(f"{section}: {rule}", _points(left.get((rule, section))),
                         _points(right.get((rule, section)))))
    return lines


def _sum(side: Side) -> str:
    return f"{side.total:g} = {side.fit:g} + {side.engagement:g}"


def _points(value: float | None) -> str | None:
    return None if value is None else f"{value:+g}"


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"

"""`leadsync compare`: the champion and a challenger on the same contacts, from the cache.

Both models are scored on every run (a shadow challenger too), so their stored scores are
compared as they stand: grade agreement (a champion grade × challenger grade table), who
would move (lifecycle stage per the challenger vs the champion: counts, and the contacts
whose scores differ most), and, unless asked not to, the existing backtest of both side by
side (ROC AUC, top-decile lift). Reads the cache only; writes nothing to HubSpot.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from analysis.backtests import backtest_cache
from analysis.rescore import load_models, model_named
from cache.database import Cache, open_cache
from foundation.errors import ConfigError
from foundation.settings import Settings
from mappings.writeback import GRADES, format_number
from scoring.models import ContactModel, ModelSet

NONE = "none"  # no grade (the model defines no grades, or the contact has none)


@dataclass
class Comparison:
    """Champion vs challenger on the contacts both scored."""

    champion: str
    challenger: str
    champion_label: str
    challenger_label: str
    contacts: int = 0                 # scored by both
    only_champion: int = 0
    only_challenger: int = 0
    grades: list[str] = field(default_factory=list)
    table: dict[str, dict[str, int]] = field(default_factory=dict)  # champion → challenger → n
    agree: int = 0
    moves: dict[str, int] = field(default_factory=dict)  # "lead → marketingqualifiedlead": n
    movers: list[dict[str, Any]] = field(default_factory=list)
    backtest: dict[str, Any] | None = None

    @property
    def agreement(self) -> float | None:
        return round(self.agree / self.contacts, 4) if self.contacts else None

    def as_dict(self) -> dict[str, Any]:
        return {"champion": self.champion, "challenger": self.challenger,
                "champion_label": self.champion_label,
                "challenger_label": self.challenger_label, "contacts": self.contacts,
                "only_champion": self.only_champion, "only_challenger": self.only_challenger,
                "grades": self.grades, "grade_table": self.table, "grade_agreement": self.agree,
                "agreement_share": self.agreement, "would_move": sum(self.moves.values()),
                "moves": self.moves, "movers": self.movers, "backtest": self.backtest}

    def render(self) -> str:
        lines = [f"Champion {self.champion} ({self.champion_label}) vs challenger "
                 f"{self.challenger} ({self.challenger_label}) on {self.contacts:,} contacts "
                 f"both scored"]
        if self.only_champion or self.only_challenger:
            lines.append(f"  (scored by one only: {self.only_champion:,} champion, "
                         f"{self.only_challenger:,} challenger)")
        if not self.contacts:
            lines.append("Nothing to compare yet: run `leadsync score` (or sync) first.")
            return "\n".join(lines)
        lines.append(f"Same grade: {self.agree:,} of {self.contacts:,} "
                     f"({100 * self.agree / self.contacts:.1f}%)")
        lines.append("Grades (rows: champion, columns: challenger)")
        lines.append("        " + "".join(f"{g:>7}" for g in self.grades))
        for row in self.grades:
            lines.append(f"  {row:<6}" + "".join(
                f"{self.table[row].get(col, 0) or '.':>7}" for col in self.grades))
        moving = sum(self.moves.values())
        lines.append(f"Who would move (lifecycle stage per the challenger): {moving:,} contacts")
        lines += [f"  {label:<50} {count:>8,}" for label, count in self.moves.items()]
        if self.movers:
            lines.append("Largest differences:")
            for m in self.movers:
                lines.append(
                    f"  contact {m['contact_id']}{' <' + m['email'] + '>' if m['email'] else ''}: "
                    f"{_side(m['champion'])} → {_side(m['challenger'])}")
        if self.backtest is not None:
            bt = self.backtest
            lines.append(f"Backtest as of {bt['as_of'][:10]}, conversions within "
                         f"{bt['horizon_days']} days ({bt['evaluated']:,} contacts):")
            lines.append(f"  {'':<18}{'champion':>12}{'challenger':>12}")
            for key, label, form in (("auc", "ROC AUC", "{:.3f}"),
                                     ("top_decile_lift", "top-decile lift", "{:.2f}x")):
                values = [bt[side][key] for side in ("champion", "challenger")]
                lines.append(f"  {label:<18}" + "".join(
                    f"{'n/a' if v is None else form.format(v):>12}" for v in values))
        return "\n".join(lines)


def _side(score: dict[str, Any]) -> str:
    return (f"{format_number(score['total'])} {score['grade'] or NONE} "
            f"{score['stage'] or '(no stage)'}")


def run_compare(db_path: str, settings: Settings, *, challenger: str | None = None,
                champion: str | None = None, movers: int = 10,
                backtest_as_of: datetime | None = None, horizon_days: int = 90) -> Comparison:
    """`leadsync compare`: no backtest when `backtest_as_of` is None."""
    if not Path(db_path).is_file():
        raise ConfigError(f"no cache at {db_path}; run `leadsync pull` and `leadsync score` "
                          f"first (or pass --db)")
    cache = open_cache(db_path)
    try:
        models = load_models(settings, cache)
        first, second = pick(models, champion, challenger)
        with cache.snapshot():
            result = compare(cache, first, second, movers=movers)
        if backtest_as_of is not None:
            run = backtest_cache(cache, [first.model, second.model], backtest_as_of,
                                 horizon_days)
            sides = dict(zip(("champion", "challenger"), run.evaluations))
            result.backtest = {"as_of": run.as_of, "horizon_days": run.horizon_days,
                               "evaluated": run.population.get("evaluated", 0),
                               **{side: {"model": e.model, "auc": e.auc,
                                         "top_decile_lift": e.top_decile_lift}
                                  for side, e in sides.items()}}
        return result
    finally:
        cache.close()


def pick(models: ModelSet, champion: str | None,
         challenger: str | None) -> tuple[ContactModel, ContactModel]:
    """The champion (default: the model in charge) and the challenger (default: the one
    shadow model), or ConfigError saying what to name."""
    def named(name: str) -> ContactModel:
        return model_named(models, name)

    first = named(champion) if champion else models.primary
    if challenger:
        second = named(challenger)
    else:
        shadows = [m for m in models.shadows if m.name != first.name]
        if len(shadows) != 1:
            raise ConfigError("name the challenger to compare: the config has "
                              + (f"{len(shadows)} shadow models ({', '.join(m.name for m in shadows)})"
                                 if shadows else "no shadow model (shadow = true in [[models]])"))
        second = shadows[0]
    if first.name == second.name:
        raise ConfigError(f"the champion and the challenger are both {first.name}; name another "
                          f"model")
    return first, second


def compare(cache: Cache, champion: ContactModel, challenger: ContactModel, *,
            movers: int = 10) -> Comparison:
    """The stored scores of the two models compared, on live contacts."""
    rows = cache.conn.execute(
        """SELECT c.id, c.email, a.total, a.grade, a.stage, b.total, b.grade, b.stage
           FROM contacts c
           LEFT JOIN scores a ON a.contact_id = c.id AND a.model = ?
           LEFT JOIN scores b ON b.contact_id = c.id AND b.model = ?
           WHERE c.archived = 0 AND c.merged_into IS NULL
             AND (a.contact_id IS NOT NULL OR b.contact_id IS NOT NULL)
           ORDER BY c.id""", (champion.name, challenger.name)).fetchall()
    result = Comparison(champion.name, challenger.name, champion.model.label,
                        challenger.model.label)
    table: Counter = Counter()
    moves: Counter = Counter()
    differing = []
    for contact_id, email, a_total, a_grade, a_stage, b_total, b_grade, b_stage in rows:
        if a_total is None:
            result.only_challenger += 1
            continue
        if b_total is None:
            result.only_champion += 1
            continue
        result.contacts += 1
        table[(a_grade or NONE, b_grade or NONE)] += 1
        if (a_stage or "") != (b_stage or ""):
            moves[f"{a_stage or '(none)'} → {b_stage or '(none)'}"] += 1
        if (a_grade, a_stage) != (b_grade, b_stage) or a_total != b_total:
            differing.append((-abs(b_total - a_total), contact_id, email, a_total, a_grade,
                              a_stage, b_total, b_grade, b_stage))
    used = {g for pair in table for g in pair}
    result.grades = [g for g in (*GRADES, NONE) if g in used] + sorted(
        used - set(GRADES) - {NONE})
    result.table = {row: {col: table[(row, col)] for col in result.grades if table[(row, col)]}
                    for row in result.grades}
    result.agree = sum(n for (a, b), n in table.items() if a == b)
    result.moves = dict(sorted(moves.items(), key=lambda item: (-item[1], item[0])))
    differing.sort(key=lambda d: (d[0], _numeric(d[1])))
    result.movers = [{"contact_id": d[1], "email": d[2] or "",
                      "champion": {"total": d[3], "grade": d[4], "stage": d[5]},
                      "challenger": {"total": d[6], "grade": d[7], "stage": d[8]}}
                     for d in differing[:movers]]
    return result


def _numeric(contact_id: str) -> tuple[int, str]:
    return (int(contact_id), "") if contact_id.isdigit() else (0, contact_id)

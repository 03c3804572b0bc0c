"""What `leadsync learn` prints: the comparison, calibration, weightiest rules, warnings."""
from __future__ import annotations

from analysis.learn import Learned
from scoring.calibration import BANDS


def render(result: Learned) -> str:
    """What `leadsync learn` prints."""
    lines = [f"Wrote {result.path}: model {result.model}, {result.rules} rules "
             f"(of {result.candidates} candidates), {result.double_every:g} points double "
             f"the odds" + (f"; even odds at {result.fifty_fifty:g}"
                            if result.fifty_fifty is not None else ""),
             f"Conversion: {result.conversion}"
             + (f" within {result.horizon_days} days" if result.horizon_days else ""),
             f"Training dates: {', '.join(t[:10] for t in result.training) or '-'}; "
             f"validation: {result.validation[:10]}"]
    for at, count in result.rows.items():
        lines.append(f"  {at[:10]}: {count['contacts']:,} contacts, {count['converted']:,} "
                     f"converted, {count['rows']:,} rows used")
    width = max(len(e.model) for e in result.evaluations) + 2
    lines.append(f"{'Validation':<{width}} {'ROC AUC':>8} {'top-10% lift':>13}")
    for e in result.evaluations:
        auc_text = "-" if e.auc is None else f"{e.auc:.3f}"
        lift = "-" if e.top_decile_lift is None else f"{e.top_decile_lift:.2f}x"
        lines.append(f"{e.model:<{width}} {auc_text:>8} {lift:>13}")
    if result.rounding_loss is not None:
        lines.append(f"Rounding to whole points costs {result.rounding_loss:+.4f} AUC")
    lines.append("Calibration by score tenth (1 = highest): predicted / observed conversion")
    lines.append("  tenth " + "".join(f"{e.model[:22]:>24}" for e in result.evaluations))
    for i in range(BANDS):
        cells = []
        for e in result.evaluations:
            b = e.calibration[i]
            cells.append("-" if b.predicted is None else
                         f"{b.predicted:.1%} / {b.observed:.1%}")
        lines.append(f"  {i + 1:>5} " + "".join(f"{c:>24}" for c in cells))
    lines.append("Rules that weigh most:")
    lines += [f"  {points:>12}  {rule}" for rule, points in result.top_rules]
    t = result.thresholds
    lines.append(f"Grades: fit A >= {t['fit']['A']}, B >= {t['fit']['B']}; engagement "
                 f"1 >= {t['engagement']['1']}, 2 >= {t['engagement']['2']}. MQL at "
                 f"score >= {t['mql']} ({t['mql_basis']})")
    if result.left_out:
        lines.append("Current rules left out:")
        lines += [f"  {rule}: {why}" for rule, why in result.left_out]
    lines += [f"Note: {n}" for n in result.notes]
    lines += [f"Warning: {w}" for w in result.warnings]
    lines.append(f"Review it: leadsync simulate --model {result.path}; "
                 f"leadsync backtest --compare {result.path}")
    return "\n".join(lines)

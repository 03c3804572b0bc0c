"""Explanations: a Score rendered as text a RevOps person can read (pure; `leadsync explain`)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from scoring.engine import DEMOTE, NO_CHANGE, Reason, Score
from scoring.model import Model


def explain(score: Score, model: Model, as_of: datetime, *,
            contact: Mapping[str, Any] | None = None) -> str:
    """The breakdown of `score`: every rule that fired, caps, grade, stage and activity."""
    contact = contact or {}
    who = " ".join(p for p in (str(contact.get("id") or ""), _bracket(contact.get("email"))) if p)
    when = as_of.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    lines = [f"Contact {who or '(unsaved)'} as of {when}, model {model.label}",
             f"Score {score.total:g} = fit {score.fit:g} + engagement {score.engagement:g}"
             f"{_total_cut(score.reasons)}",
             f"Grade {score.grade or '-'}",
             f"Stage {_stage_line(score, contact.get('lifecyclestage') or None, model)}"]
    for section, title in (("fit", "Fit"), ("engagement", "Engagement")):
        lines.append(f"{title}:")
        rows = [r for r in score.reasons if r.section == section]
        lines.extend(_reason_line(r) for r in rows)
        if not rows:
            lines.append("  (no rule fired)")
    lines.append(_activity_line(score, model))
    return "\n".join(lines)


def _bracket(email: Any) -> str:
    return f"<{email}>" if email else ""


def _total_cut(reasons: tuple[Reason, ...]) -> str:
    cuts = [r for r in reasons if r.section == "total"]
    return "".join(f", {r.rule} ({r.points:+g})" for r in cuts)


def _reason_line(reason: Reason) -> str:
    times = f"  x{reason.occurrences}" if reason.occurrences > 1 else ""
    return f"  {reason.points:+7.1f}  {reason.rule}{times}"


def _stage_line(score: Score, current: str | None, model: Model) -> str:
    if score.stage_change != NO_CHANGE:
        verb = "demoted" if score.stage_change == DEMOTE else "promoted"
        return f"{current or '(none)'} -> {score.stage} ({verb}: {score.stage} conditions hold)"
    stages = model.stages
    if current is not None and current in stages.order and current not in stages.managed and \
            stages.order.index(current) > max(stages.order.index(s) for s in stages.managed):
        return f"{current} (left alone: later than the stages leadsync manages)"
    if current is not None and current not in stages.order:
        return f"{current} (left alone: outside the stage order)"
    if score.matched_stage is not None and score.matched_stage != score.stage:
        return (f"{score.stage} (kept: {score.matched_stage} conditions hold, "
                f"but leadsync does not demote)")
    return f"{score.stage or '(none)'} (unchanged)"


def _activity_line(score: Score, model: Model) -> str:
    days = score.days_since_last_engagement
    last = "no engagement on record" if days is None else f"last engagement {days:g} days ago"
    if model.inactive_after_days is None:
        return f"Activity: {last}"
    state = "inactive" if score.inactive else "active"
    return f"Activity: {last}; {state} (inactive after {model.inactive_after_days:g} days)"

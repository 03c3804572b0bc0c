"""What counts as converting, for backtests and learning. Pure.

Three ways to say it (leadsync.toml `[conversion]`, docs/learn.md):

    stages = ["opportunity", "customer"]         # the default: entering any of these stages,
                                                 # dated by hs_v2_date_entered_<stage>
    when = { hs_lead_status = "OPEN_DEAL" }      # a condition on the contact's properties...
    dated_by = "hs_lead_status_changed_at"       # ...and the date property that dates it
    label = { converted = "yes" }                # a static label (imported history): no date

A dated conversion supports as-of replay: a contact converts when its conversion date falls
in (as_of, as_of + horizon], and one that converted on or before as_of is left out. A static
label has no date, so nothing can be replayed: the backtest measures today's label, and
`learn` validates on a held-out share of contacts instead of a later date.

The condition of `when` and `label` is read on today's values (HubSpot keeps no history of
most properties); only its date decides when.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from scoring.conditions import Context, Invalid, compile_condition
from scoring.errors import ModelError, Problem
from scoring.inputs import Facts, contact_resolver
from scoring.model import FREE_EMAIL, STAGE_ORDER, Model
from scoring.properties import TIME_TYPES, to_epoch

ENTERED = "hs_v2_date_entered_"
DEFAULT_STAGES = ("opportunity", "customer")
KEYS = ("stages", "when", "dated_by", "label")


@dataclass(frozen=True)
class Outcome:
    """A compiled conversion definition: when a contact converted, if it did."""

    description: str
    static: bool = False
    stages: tuple[str, ...] = ()
    dated_by: str | None = None
    properties: tuple[str, ...] = ()  # contact properties the definition reads
    test: Callable[[Mapping[str, Any]], bool] | None = field(default=None, repr=False,
                                                             compare=False)

    def converted_at(self, contact: Mapping[str, Any]) -> float | None:
        """When the contact converted (POSIX seconds); None if it has not (or static)."""
        if self.static:
            return None
        if self.stages:
            known = [at for s in self.stages if (at := to_epoch(contact.get(ENTERED + s)))
                     is not None]
            return min(known) if known else None
        if self.test is not None and not self.test(contact):
            return None
        return to_epoch(contact.get(self.dated_by))

    def converted(self, contact: Mapping[str, Any]) -> bool:
        """A static label's value (dated definitions: converted at any time)."""
        if self.static:
            return bool(self.test and self.test(contact))
        return self.converted_at(contact) is not None

    def already(self, contact: Mapping[str, Any], as_of: float, stage: str | None,
                order: Sequence[str] = STAGE_ORDER) -> bool:
        """Converted on or before `as_of` (`stage`: the stage at as_of): nothing to predict."""
        return self.already_at(self.converted_at(contact), as_of, stage, order)

    def already_at(self, converted: float | None, as_of: float, stage: str | None,
                   order: Sequence[str] = STAGE_ORDER) -> bool:
        """`already`, given the contact's `converted_at` (for callers asking at many dates)."""
        if self.static:
            return False
        if converted is not None and converted <= as_of:
            return True
        if not self.stages or stage not in order:
            return False
        first = min((order.index(s) for s in self.stages if s in order), default=len(order))
        return order.index(stage) >= first

    def within(self, contact: Mapping[str, Any], start: float, end: float) -> bool:
        """Converted in (start, end]; a static label ignores the window."""
        if self.static:
            return self.converted(contact)
        at = self.converted_at(contact)
        return at is not None and start < at <= end


DEFAULT = Outcome("entered opportunity or customer", stages=DEFAULT_STAGES,
                  properties=tuple(ENTERED + s for s in DEFAULT_STAGES))


def outcome(raw: Mapping[str, Any] | None, model: Model, *, source: str = "leadsync.toml"
            ) -> Outcome:
    """Compile a `[conversion]` table (None or empty: the default). Property names and types
    are checked as a model's are (`model` brings the catalog and declarations); raises
    ModelError naming `[conversion]` and the key."""
    if not raw:
        return DEFAULT
    problems: list[Problem] = []

    def bad(message: str, key: str) -> None:
        problems.append(Problem(source, message, None, None, "conversion", key))

    for key in raw:
        if key not in KEYS:
            bad("unknown key; use stages, when with dated_by, or label", key)
    forms = [k for k in ("stages", "when", "label") if k in raw]
    if len(forms) != 1:
        bad("say one of: stages = [...], when = {...} with dated_by, or label = {...}",
            forms[1] if len(forms) > 1 else "stages")
        raise ModelError(problems)
    if forms[0] == "stages":
        result = _stages(raw["stages"], model.stages.order, bad)
        if "dated_by" in raw:
            bad("stages are dated by their hs_v2_date_entered_<stage>; remove dated_by",
                "dated_by")
    else:
        result = _condition(forms[0], raw, model, bad)
    if problems or result is None:
        raise ModelError(problems)
    return result


def _stages(value: Any, order: Sequence[str], bad: Callable[[str, str], None]) -> Outcome | None:
    if (not isinstance(value, list) or not value
            or not all(isinstance(s, str) and s for s in value)):
        bad('must be a list of lifecycle stages, e.g. ["opportunity", "customer"]', "stages")
        return None
    unknown = [s for s in value if s not in order]
    if unknown:
        bad(f"{', '.join(map(repr, unknown))} not among the stages {', '.join(order)}",
            "stages")
        return None
    stages = tuple(dict.fromkeys(value))
    return Outcome(f"entered {' or '.join(stages)}", stages=stages,
                   properties=tuple(ENTERED + s for s in stages))


def _condition(form: str, raw: Mapping[str, Any], model: Model,
               bad: Callable[[str, str], None]) -> Outcome | None:
    types = model.types()
    ctx = Context(contact_resolver(types, model.lists.get("free_email", FREE_EMAIL),
                                   outcomes=False), model.lists, 0.0)
    try:
        test = compile_condition(raw[form], ctx, form)
    except Invalid as exc:
        bad(exc.message, exc.field)
        return None
    names = sorted(types.used.get("contacts", ()))
    spec = _inline(raw[form])

    def holds(contact: Mapping[str, Any]) -> bool:
        return test(Facts(contact, {}, None))

    if form == "label":
        if "dated_by" in raw:
            bad("a label has no date; for a dated conversion write when = {...} with dated_by",
                "dated_by")
            return None
        return Outcome(f"the static label {spec}", static=True, properties=tuple(names),
                       test=holds)
    dated = raw.get("dated_by")
    if not isinstance(dated, str) or not dated:
        bad("is required with when: the date property that says when the condition became "
            "true (without one, write label = {...}: a static label)", "dated_by")
        return None
    try:
        kind = types.type_of("contacts", dated, "dated_by")
    except Invalid as exc:
        bad(exc.message, "dated_by")
        return None
    if kind not in TIME_TYPES and kind != "string":
        bad(f"{dated!r} is not a date property", "dated_by")
        return None
    return Outcome(f"{spec}, dated by {dated}", dated_by=dated,
                   properties=tuple(sorted({*names, dated})), test=holds)


def _inline(spec: Any) -> str:
    """A condition as one short line for messages: {'a': {'gte': 1}} -> a gte 1."""
    if isinstance(spec, dict):
        return ", ".join(f"{k} {_inline(v)}" if isinstance(v, dict) else f"{k} = {v!r}"
                         for k, v in spec.items())
    return repr(spec)

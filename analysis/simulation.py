"""`leadsync simulate`: a candidate model against the current one on the cache, writing nothing.

"Before" is what `leadsync score` would compare against: the stored `scores` rows. Only when
nothing has been scored yet is the configured model scored as of the same instant instead.
"After" is the candidate scored exactly as `score` would score it (same reader, same as-of),
so the changes reported are the history rows `score` would write. What a push would then
send comes from the write-back plan (mappings/writeback.py) against HubSpot's last known values.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from analysis.rescore import load_model, load_models, model_named
from cache.catalog import write_policy
from cache.database import Cache, open_cache
from cache.model_inputs import read_contacts
from cache.write_plan import plan_for
from foundation.errors import ConfigError
from foundation.moments import iso
from foundation.settings import DEFAULT_MODEL, Settings, WriteBack
from mappings.writeback import (DesiredScore, LifecyclePolicy, Plan, current_values, names_of,
                                plan_contact)
from scoring import Model, scorer
from scoring.reasons import dumps as dumps_reasons
from scoring.simulate import Comparison, Side, Simulation, render

CHUNK = 2_000


@dataclass
class SimulationReport:
    """The comparison, and what a push would send now and after scoring with the candidate."""

    simulation: Simulation
    plan: Plan          # after `leadsync score` with the candidate
    plan_now: Plan      # with the scores stored now: `push --dry-run`'s plan, read the same way

    def as_dict(self, *, with_changes: bool = False) -> dict[str, Any]:
        data = self.simulation.as_dict(with_changes=with_changes)
        data["push"] = _plan_dict(self.plan)
        data["push_now"] = _plan_dict(self.plan_now)
        return data

    def render(self) -> str:
        after, now = self.plan, self.plan_now
        lines = [f"  {'':<44}{'now':>10}{'candidate':>12}",
                 f"  {'contacts to update':<44}{now.contacts:>10,}{after.contacts:>12,}"]
        for label, old, new in _side_by_side(now.by_property(), after.by_property()):
            lines.append(f"    {label:<42}{old:>10,}{new:>12,}")
        stages = _side_by_side(now.by_transition(), after.by_transition())
        if stages:
            lines.append("  lifecycle stage transitions")
            lines += [f"    {label:<42}{old:>10,}{new:>12,}" for label, old, new in stages]
        for reason, old, new in _side_by_side(dict(now.held), dict(after.held)):
            lines.append(f"  stage left alone ({reason}){'':<{max(0, 24 - len(reason))}}"
                         f"{old:>10,}{new:>12,}")
        return render(self.simulation, lines)


def _plan_dict(plan: Plan) -> dict[str, Any]:
    data = plan.as_dict(sample=0)
    data.pop("changes")
    return data


def _side_by_side(now: dict[str, int], after: dict[str, int]) -> list[tuple[str, int, int]]:
    return [(k, now.get(k, 0), after.get(k, 0)) for k in sorted(now.keys() | after.keys())]


def run_simulate(db_path: str, settings: Settings, model_path: str, as_of: datetime, *,
                 movers: int = 10, against: str | None = None) -> SimulationReport:
    """`leadsync simulate`: load both models, compare them on the cache at `db_path`. The
    candidate stands in for the config's model `against` (default: the one in charge)."""
    if db_path != ":memory:" and not Path(db_path).is_file():
        raise ConfigError(f"no cache at {db_path}; run `leadsync pull` first (or pass --db)")
    cache = open_cache(db_path)
    try:
        candidate = load_model(model_path, cache)
        models = load_models(settings, cache)
        target = model_named(models, against or None)
        write_back = (settings.model_named(target.name).write_back
                      if settings.configured_models else settings.write_back)
        driving = target.drives_stages
        return simulate(cache, candidate, target.model, as_of,
                        names=names_of(replace(write_back, followup=bool(target.model.sla))),
                        policy=write_policy(cache, settings, candidate) if driving else None,
                        policy_now=write_policy(cache, settings, target.model) if driving else None,
                        movers=movers, model_key=target.name)
    finally:
        cache.close()


def simulate(cache: Cache, candidate: Model, current: Model, as_of: datetime, *,
             names: dict[str, str], policy: LifecyclePolicy | None,
             policy_now: LifecyclePolicy | None = None, movers: int = 10,
             model_key: str = DEFAULT_MODEL) -> SimulationReport:
    """Compare `candidate` with the stored scores (or `current`, if nothing is stored).

    `policy` is how push may move stages under the candidate; `policy_now` under the current
    model (default: the same). `model_key`: the config's model whose stored scores and
    properties the candidate would take over."""
    policies = (policy, policy if policy_now is None else policy_now)
    stored = _stored_labels(cache, model_key)
    when = iso(as_of)
    baseline = (" + ".join(f"stored scores ({label})" for label in stored) if stored
                else f"{current.label} (scored now: nothing is stored yet)")
    comparison = Comparison(baseline, candidate.label, when, movers=movers)
    score_candidate = scorer(candidate, as_of)
    score_current = scorer(current, as_of) if not stored else None
    plan = Plan()
    batch: list[tuple] = []
    for contact_id, contact, events, company, row in read_contacts(cache, [candidate, current],
                                                                   stored=model_key):
        after = score_candidate(contact, events, company)
        if score_current is not None:
            before: Side | None = Side.of(score_current(contact, events, company))
        else:
            before = Side.stored(row) if row is not None else None
        change = comparison.add(contact_id, before, Side.of(after), contact.get("email"))
        batch.append((contact_id, after, change is not None))
        if len(batch) >= CHUNK:
            _plan_batch(cache, batch, when, names, policies[0], plan, model_key)
            batch = []
    if batch:
        _plan_batch(cache, batch, when, names, policies[0], plan, model_key)
    # What push would send today is push's own plan, not a copy of its reading.
    plan_now = plan_for(cache, [_write_back(names, model_key, policies[1] is not None)],
                        policies[1])[0]
    result = comparison.result()
    result.notes += _notes(cache, stored, when, model_key)
    return SimulationReport(result, plan, plan_now)


def _write_back(names: dict[str, str], model_key: str, stages: bool) -> WriteBack:
    """The WriteBack of the one model a simulation plans for (its cache key, its names)."""
    return WriteBack(**names, model=model_key, lifecycle_stage=stages,
                     followup="sla_status" in names)


def _stored_labels(cache: Cache, model_key: str) -> list[str]:
    rows = cache.conn.execute(
        "SELECT model_name, model_version, as_of, COUNT(*) FROM scores WHERE model = ? "
        "GROUP BY model_name, model_version, as_of ORDER BY COUNT(*) DESC, as_of DESC",
        (model_key,)).fetchall()
    shown = [f"{name} {version} as of {as_of}: {count:,}"
             for name, version, as_of, count in rows[:3]]
    if len(rows) > 3:
        shown.append(f"{len(rows) - 3} more model/as-of combinations")
    return shown


def _notes(cache: Cache, stored: list[str], when: str, model_key: str) -> list[str]:
    notes = []
    if stored:
        other = cache.conn.execute("SELECT COUNT(*) FROM scores WHERE as_of != ? AND model = ?",
                                   (when, model_key)).fetchone()[0]
        if other:
            notes.append(f"{other:,} stored scores are from another as-of date, so the changes "
                         f"include the passage of time (decay, windows), not only the model; "
                         f"run `leadsync score` first to isolate the model change")
    pending = cache.conn.execute(
        "SELECT COUNT(DISTINCT contact_id) FROM outbox "
        "WHERE status IN ('pending', 'sent', 'failed')").fetchone()[0]
    if pending:
        notes.append(f"{pending:,} contacts have unfinished outbox rows from an earlier push; "
                     f"both push plans below leave them out (`leadsync push` resends them first)")
    return notes


def _plan_batch(cache: Cache, batch: list[tuple], when: str, names: dict[str, str],
                policy: LifecyclePolicy | None, plan: Plan, model_key: str) -> None:
    """Write-back plans for a batch from the candidate's scores, as `push` would compute them
    after `leadsync score` stored those scores."""
    ids = [item[0] for item in batch]
    marks = ",".join("?" * len(ids))
    conn = cache.conn
    pulled = {row[0]: (row[1], row[2]) for row in conn.execute(
        f"SELECT id, properties, pulled_at FROM contacts WHERE id IN ({marks})", ids)}
    changed_at = dict(conn.execute(
        f"SELECT s.contact_id, COALESCE((SELECT MAX(h.changed_at) FROM score_history h "
        f"WHERE h.contact_id = s.contact_id AND h.model = s.model), s.scored_at) FROM scores s "
        f"WHERE s.model = ? AND s.contact_id IN ({marks})", [model_key, *ids]).fetchall())
    busy = {row[0] for row in conn.execute(
        f"SELECT DISTINCT contact_id FROM outbox WHERE status IN ('pending', 'sent', 'failed') "
        f"AND contact_id IN ({marks})", ids)}
    watched = set(names.values()) | {"lifecyclestage"}
    ledger: dict[str, dict[str, tuple[str | None, str]]] = {}
    for contact_id, name, value, pushed_at in conn.execute(
            f"SELECT contact_id, property, value, pushed_at FROM pushed "
            f"WHERE contact_id IN ({marks})", ids):
        if name in watched:
            ledger.setdefault(contact_id, {})[name] = (value, pushed_at)
    for contact_id, score, changes in batch:
        if contact_id in busy:
            continue
        properties, pulled_at = pulled[contact_id]
        current = current_values(json.loads(properties or "{}"), pulled_at,
                                 ledger.get(contact_id, {}))
        desired = DesiredScore(contact_id, score.total, score.fit, score.engagement, score.grade,
                               score.stage, score.inactive, dumps_reasons(score.reasons),
                               when if changes else changed_at.get(contact_id, when))
        plan.add(*plan_contact(desired, current, names, policy))

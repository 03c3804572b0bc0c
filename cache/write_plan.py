"""The push plan, read from the cache only (zero API calls): what `push` would send.

`push`, `push --dry-run` and `simulate` all read it here, so the plan a user is shown is
the plan that is sent: the backlog of unfinished outbox rows first, then the desired values
(mappings/writeback.py) of the contacts marked since their last push (cache/push_dirty.py;
every scored contact with `full_check`) diffed against what HubSpot has (the last pull, or
the pushed ledger where newer).
"""
from __future__ import annotations

import json
import sqlite3
from typing import Iterable, Iterator, Mapping, Sequence

from cache import push_dirty
from cache.database import Cache
from cache.outboxes import Backlog, read_backlog
from foundation.settings import DEFAULT_MODEL, WriteBack
from mappings.writeback import (LIFECYCLE, ContactChange, DesiredScore, LifecyclePolicy, Plan,
                                current_values, names_of, plan_models)

_CHUNK = 500


Targets = WriteBack | Sequence[WriteBack]


def targets_of(write_back: Targets) -> tuple[WriteBack, ...]:
    """The models a push writes: one WriteBack per model (its cache key, its properties)."""
    return (write_back,) if isinstance(write_back, WriteBack) else tuple(write_back)


def plan_names(write_back: Targets | Mapping[str, str]) -> dict[str, str]:
    """The property names every contact's plan shares (push_dirty's fingerprint): the one
    model's key → name, or with several models `model.key` → name and the model whose
    stage is written."""
    models = _plan_models(write_back)
    if len(models) == 1:
        return dict(models[0][1])
    shared = {f"{key}.{prop}": name for key, names, _ in models for prop, name in names.items()}
    # which model's stage is written changes every contact's plan too (`leadsync promote`)
    shared["stages from"] = next((key for key, _, drives in models if drives), "")
    return shared


def plan_push(cache: Cache, write_back: Targets, policy: LifecyclePolicy | None, *,
              retry_failed: bool = False, contact_ids: Iterable[str] | None = None,
              full_check: bool = False) -> tuple[Plan, Backlog]:
    """What a push would send: the backlog of unfinished rows, then the new plan. With
    several models (`write_back` a sequence) one write carries all their properties."""
    return plan_for(cache, write_back, policy, retry_failed=retry_failed,
                    contact_ids=contact_ids, full_check=full_check)


def plan_for(cache: Cache, names: Targets | Mapping[str, str], policy: LifecyclePolicy | None,
             *, retry_failed: bool = False, contact_ids: Iterable[str] | None = None,
             full_check: bool = False) -> tuple[Plan, Backlog]:
    """`plan_push` for the models' write-backs, or for write-back property `names` (key →
    HubSpot property) of the one default model.

    The plan covers `contact_ids` if given; else the contacts marked in `push_dirty`
    (cache/push_dirty.py), or every scored contact with `full_check` or when the property
    names or stage policy changed since the marks were last reset."""
    ids = None if contact_ids is None else sorted({str(i) for i in contact_ids})
    backlog = read_backlog(cache.conn, retry_failed=retry_failed, ids=ids)
    every = full_check or push_dirty.stored_plan_key(cache.conn) != push_dirty.plan_key(
        plan_names(names), policy)
    plan = build_plan(cache.conn, names, policy, contact_ids=ids,
                      dirty_only=ids is None and not every,
                      exclude=backlog.waiting)
    if backlog.held:
        plan.skipped["failed earlier"] += len(backlog.held)
    if backlog.in_flight:
        plan.skipped["in flight elsewhere"] += len(backlog.in_flight)
    return plan, backlog


def build_plan(conn: sqlite3.Connection, names: Targets | Mapping[str, str],
               policy: LifecyclePolicy | None, *, contact_ids: Sequence[str] | None = None,
               exclude: frozenset[str] = frozenset(), dirty_only: bool = False) -> Plan:
    """Desired values of scored contacts diffed against what HubSpot has: `contact_ids`, or
    those marked in `push_dirty` (`dirty_only`), or all. Each model's score goes to its
    properties, or "" where the contact left the model's segment; the lifecycle stage is the
    stage-driving model's (or the one model's)."""
    plan = Plan()
    for part in plan_parts(conn, names, policy, contact_ids=contact_ids, exclude=exclude,
                           dirty_only=dirty_only):
        absorb(plan, part)
    return plan


def plan_parts(conn: sqlite3.Connection, names: Targets | Mapping[str, str],
               policy: LifecyclePolicy | None, *, contact_ids: Sequence[str] | None = None,
               exclude: frozenset[str] = frozenset(), dirty_only: bool = False) -> Iterator[Plan]:
    """`build_plan` in parts of ≤ 500 contacts, in contact id order, so a push can send the
    first batches while it plans the rest. Each part is one complete query: a push may write
    between parts (the marked ids are read up front)."""
    models = _plan_models(names)
    watched = [name for _, model_names, _ in models for name in model_names.values()] + [
        LIFECYCLE]
    # Only the watched properties leave SQLite: one small JSON array per contact.
    extract = "json_extract(c.properties, " + ", ".join(
        f"'$.\"{name}\"'" for name in watched) + ")"
    marked_only = dirty_only and contact_ids is None
    if marked_only:
        contact_ids = [r[0] for r in conn.execute(
            "SELECT contact_id FROM push_dirty ORDER BY contact_id")]
    planned: set[str] = set()
    for chunk in _score_chunks(conn, contact_ids, _plan_sql(models, extract)):
        part = _plan_rows(chunk, watched, models, policy, exclude)
        planned.update(row[0] for row in chunk)
        yield part
    if marked_only:
        # (a contact with no score but a model's value to clear was planned above)
        tail = Plan()
        tail.dirty.update((c, seq) for c, seq in push_dirty.orphans(conn) if c not in planned)
        yield tail


def _plan_rows(rows: list, watched: list[str], models: list[tuple[str, dict, bool]],
               policy: LifecyclePolicy | None, exclude: frozenset[str]) -> Plan:
    plan = Plan()
    stage_at = next((i for i, (_, _, drives) in enumerate(models) if drives), 0)
    for row in rows:
        (contact_id, history_id, known, properties, archived, merged_into, pulled_at,
         ledger, mark) = row[:9]
        if contact_id in exclude:
            continue
        if mark is not None:
            plan.dirty[contact_id] = mark
        if not known:
            plan.skipped["unknown"] += 1
            continue
        if merged_into:
            plan.skipped["merged"] += 1
            continue
        if archived:
            plan.skipped["archived"] += 1
            continue
        scores = []
        for i, (_, names, _) in enumerate(models):
            (total, fit, engagement, grade, stage, inactive, reasons, changed_at,
             followup) = row[9 + 9 * i:18 + 9 * i]
            scores.append((None if total is None else DesiredScore(
                contact_id, total, fit, engagement, grade, stage, bool(inactive),
                reasons or "[]", changed_at, followup), names))
        driver = scores[stage_at][0]
        pulled = dict(zip(watched, json.loads(properties))) if properties else {}
        newer = {k: tuple(v) for k, v in json.loads(ledger).items()} if ledger != "{}" else {}
        current = current_values(pulled, pulled_at, newer)
        change, held = plan_models(contact_id, scores, current,
                                   driver.stage if driver is not None else None, policy)
        plan.add(change, held)
        if change is not None:
            plan.history_upto[contact_id] = history_id
            plan.history_models[contact_id] = written_models(change, models, stage_at)
    return plan


def written_models(change: ContactChange, models: list[tuple[str, dict, bool]],
                   stage_at: int) -> tuple[str, ...]:
    """The cache keys of the models whose values `change` writes: a property of theirs, or
    the lifecycle stage of the model it comes from. Shadow models with no properties (and
    models whose values HubSpot already holds) are not among them."""
    new = change.new
    keys = [key for key, names, _ in models if not new.keys().isdisjoint(names.values())]
    if change.stage is not None and models[stage_at][0] not in keys:
        keys.append(models[stage_at][0])
    return tuple(keys)


def absorb(plan: Plan, part: Plan) -> None:
    """Add a part of a plan (or another plan) to `plan`."""
    plan.changes += part.changes
    plan.held.update(part.held)
    plan.skipped.update(part.skipped)
    plan.unchanged += part.unchanged
    plan.history_upto.update(part.history_upto)
    plan.history_models.update(part.history_models)
    plan.dirty.update(part.dirty)


def _plan_models(write_back: Targets | Mapping[str, str]) -> list[tuple[str, dict, bool]]:
    """(cache key, property names, writes stages) of each model a plan covers."""
    if isinstance(write_back, Mapping):  # property names of the one default model
        return [(DEFAULT_MODEL, dict(write_back), True)]
    models = targets_of(write_back)
    single = len(models) == 1
    return [(wb.model, names_of(wb), single or wb.lifecycle_stage) for wb in models]


def _plan_sql(models: list[tuple[str, dict, bool]], extract: str) -> str:
    """Per contact: newest history id, its pulled row, ledger and push_dirty mark, then each
    model's score.

    The contacts: those with a score of any of the models, and those whose ledger still
    holds a value of a model's score property they have no score of (they left its segment:
    their values are cleared)."""
    keys = [key for key, _, _ in models]
    quoted = _sql_list(keys)
    scored = [f"SELECT contact_id FROM scores WHERE model IN ({quoted})"]
    for key, names, _ in models:
        scored.append(f"SELECT contact_id FROM pushed p WHERE property = {_sql_list([names['score']])} "
                      f"AND value != '' AND NOT EXISTS (SELECT 1 FROM scores s WHERE "
                      f"s.contact_id = p.contact_id AND s.model = {_sql_list([key])})")
    columns = []
    joins = []
    for i, key in enumerate(keys):
        columns.append(
            f"s{i}.total, s{i}.fit, s{i}.engagement, s{i}.grade, s{i}.stage, s{i}.inactive, "
            f"s{i}.reasons, COALESCE((SELECT MAX(h.changed_at) FROM score_history h "
            f"WHERE h.contact_id = s{i}.contact_id AND h.model = s{i}.model), s{i}.scored_at), "
            f"s{i}.followup")
        joins.append(f"LEFT JOIN scores s{i} ON s{i}.contact_id = ids.contact_id "
                     f"AND s{i}.model = {_sql_list([key])}")
    return f"""
    SELECT ids.contact_id,
           (SELECT MAX(h.id) FROM score_history h WHERE h.contact_id = ids.contact_id),
           c.id IS NOT NULL, {extract}, c.archived, c.merged_into, c.pulled_at,
           -- the pushed ledger where newer than the last pull (older rows are superseded)
           (SELECT json_group_object(p.property, json_array(p.value, p.pushed_at)) FROM pushed p
            WHERE p.contact_id = ids.contact_id AND (c.pulled_at IS NULL OR p.pushed_at > c.pulled_at)),
           (SELECT d.seq FROM push_dirty d WHERE d.contact_id = ids.contact_id),
           {", ".join(columns)}
    FROM ({" UNION ".join(scored)}) ids
    LEFT JOIN contacts c ON c.id = ids.contact_id {" ".join(joins)}"""


def _sql_list(values: Sequence[str]) -> str:
    return ",".join("'" + value.replace("'", "''") + "'" for value in values)


def _score_chunks(conn: sqlite3.Connection, contact_ids: Sequence[str] | None,
                  sql: str) -> Iterator[list]:
    if contact_ids is not None:
        for start in range(0, len(contact_ids), _CHUNK):
            part = contact_ids[start:start + _CHUNK]
            yield conn.execute(f"{sql} WHERE ids.contact_id IN ({','.join('?' * len(part))}) "
                               f"ORDER BY ids.contact_id", part).fetchall()
        return
    cursor = conn.execute(f"{sql} ORDER BY ids.contact_id")
    while chunk := cursor.fetchmany(_CHUNK):
        yield chunk

"""The push plan, read from the cache only (zero API calls): what `push` would send.

`push`, `push --dry-run` and `simulate` all read it here, so the plan a user is shown is
the plan that is sent: the backlog of unfinished outbox rows first, then every scored
contact's desired values (mappings/writeback.py) diffed against what HubSpot has (the last
pull, or the pushed ledger where newer).
"""
from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

from cache.database import Cache
from foundation.settings import WriteBack
from mappings.writeback import (DesiredScore, LifecyclePolicy, Plan, current_values, names_of,
                                plan_contact)

_CHUNK = 500


@dataclass(frozen=True)
class Backlog:
    """Outbox rows an earlier push left unfinished, and contacts held back by failures."""

    resend: tuple[int, ...] = ()         # row ids to send before planning anything new
    contacts: frozenset[str] = frozenset()  # the contacts of those rows
    held: frozenset[str] = frozenset()   # failed for a non-retriable reason: --retry-failed
    in_flight: frozenset[str] = frozenset()  # rows another live run has sent


def plan_push(cache: Cache, write_back: WriteBack, policy: LifecyclePolicy | None, *,
              retry_failed: bool = False,
              contact_ids: Iterable[str] | None = None) -> tuple[Plan, Backlog]:
    """What a push would send: the backlog of unfinished rows, then the new plan."""
    return plan_for(cache, names_of(write_back), policy, retry_failed=retry_failed,
                    contact_ids=contact_ids)


def plan_for(cache: Cache, names: Mapping[str, str], policy: LifecyclePolicy | None, *,
             retry_failed: bool = False,
             contact_ids: Iterable[str] | None = None) -> tuple[Plan, Backlog]:
    """`plan_push` for write-back property `names` (key → HubSpot property)."""
    ids = None if contact_ids is None else sorted({str(i) for i in contact_ids})
    backlog = read_backlog(cache.conn, retry_failed=retry_failed, contact_ids=ids)
    plan = build_plan(cache.conn, names, policy, contact_ids=ids,
                      exclude=backlog.contacts | backlog.held | backlog.in_flight)
    if backlog.held:
        plan.skipped["failed earlier"] += len(backlog.held)
    if backlog.in_flight:
        plan.skipped["in flight elsewhere"] += len(backlog.in_flight)
    return plan, backlog


def read_backlog(conn: sqlite3.Connection, *, retry_failed: bool = False,
                 contact_ids: Sequence[str] | None = None) -> Backlog:
    """Unfinished outbox rows: which to resend, which contacts wait for --retry-failed."""
    rows = conn.execute(
        "SELECT o.id, o.contact_id, o.status, o.retriable, r.outcome, r.pid FROM outbox o "
        "LEFT JOIN runs r ON r.id = o.run_id WHERE o.status IN ('pending', 'sent', 'failed') "
        "ORDER BY o.id").fetchall()
    wanted = None if contact_ids is None else set(contact_ids)
    resend, contacts, held, flying = [], set(), set(), set()
    for row_id, contact, status, retriable, outcome, pid in rows:
        if wanted is not None and contact not in wanted:
            continue
        if status == "sent" and outcome == "running" and pid != os.getpid() and _alive(pid):
            flying.add(contact)
        elif status == "failed" and not retriable and not retry_failed:
            held.add(contact)
        else:
            resend.append(row_id)
            contacts.add(contact)
    contacts -= held | flying
    by_row = {row[0]: row[1] for row in rows}
    resend = [r for r in resend if by_row[r] in contacts]
    return Backlog(tuple(resend), frozenset(contacts), frozenset(held), frozenset(flying))


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_plan(conn: sqlite3.Connection, names: Mapping[str, str],
               policy: LifecyclePolicy | None, *, contact_ids: Sequence[str] | None = None,
               exclude: frozenset[str] = frozenset()) -> Plan:
    """Desired values of every scored contact diffed against what HubSpot has."""
    plan = Plan()
    watched = list(names.values()) + ["lifecyclestage"]
    # Only the watched properties leave SQLite: one small JSON array per contact.
    extract = "json_extract(c.properties, " + ", ".join(
        f"'$.\"{name}\"'" for name in watched) + ")"
    for chunk in _score_chunks(conn, contact_ids, extract):
        for row in chunk:
            (contact_id, total, fit, engagement, grade, stage, inactive, reasons, changed_at,
             history_id, known, properties, archived, merged_into, pulled_at, ledger,
             followup) = row
            if contact_id in exclude:
                continue
            if not known:
                plan.skipped["unknown"] += 1
                continue
            if merged_into:
                plan.skipped["merged"] += 1
                continue
            if archived:
                plan.skipped["archived"] += 1
                continue
            score = DesiredScore(contact_id, total, fit, engagement, grade, stage, bool(inactive),
                                 reasons or "[]", changed_at, followup)
            pulled = dict(zip(watched, json.loads(properties))) if properties else {}
            newer = {k: tuple(v) for k, v in json.loads(ledger).items()} if ledger != "{}" else {}
            current = current_values(pulled, pulled_at, newer)
            change, held = plan_contact(score, current, names, policy)
            plan.add(change, held)
            if change is not None:
                plan.history_upto[contact_id] = history_id
    return plan


_SCORES = """
    SELECT s.contact_id, s.total, s.fit, s.engagement, s.grade, s.stage, s.inactive, s.reasons,
           COALESCE((SELECT MAX(h.changed_at) FROM score_history h
                     WHERE h.contact_id = s.contact_id), s.scored_at),
           (SELECT MAX(h.id) FROM score_history h WHERE h.contact_id = s.contact_id),
           c.id IS NOT NULL, {extract}, c.archived, c.merged_into, c.pulled_at,
           -- the pushed ledger where newer than the last pull (older rows are superseded)
           (SELECT json_group_object(p.property, json_array(p.value, p.pushed_at)) FROM pushed p
            WHERE p.contact_id = s.contact_id AND (c.pulled_at IS NULL OR p.pushed_at > c.pulled_at)),
           s.followup
    FROM scores s LEFT JOIN contacts c ON c.id = s.contact_id"""


def _score_chunks(conn: sqlite3.Connection, contact_ids: Sequence[str] | None,
                  extract: str) -> Iterator[list]:
    sql = _SCORES.format(extract=extract)
    if contact_ids is not None:
        for start in range(0, len(contact_ids), _CHUNK):
            part = contact_ids[start:start + _CHUNK]
            yield conn.execute(f"{sql} WHERE s.contact_id IN ({','.join('?' * len(part))}) "
                               f"ORDER BY s.contact_id", part).fetchall()
        return
    cursor = conn.execute(f"{sql} ORDER BY s.contact_id")
    while chunk := cursor.fetchmany(_CHUNK):
        yield chunk

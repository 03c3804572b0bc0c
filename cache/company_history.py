"""The company score audit trail: `company_score_history` read back, as lines or JSON."""
from __future__ import annotations

import json
from typing import Callable

from cache.company_reader import find_company
from cache.database import Cache
from scoring.reasons import as_dicts as reason_dicts


def company_changes(cache: Cache, reference: str | None = None, *,
                    limit: int | None = None) -> list[dict]:
    """Company score changes, oldest first (of one company, by id or domain, if given);
    `limit`: only the newest that many."""
    where, params = "", []
    if reference is not None:
        where, params = "WHERE h.company_id = ?", [find_company(cache, reference)]
    rows = cache.conn.execute(f"""
        SELECT h.id, h.company_id, json_extract(c.properties, '$.name'), h.changed_at, h.as_of,
               h.model_name, h.model_version, h.trigger, h.old_total, h.new_total,
               h.old_grade, h.new_grade, h.reasons, h.run_id, h.pushed_at
        FROM company_score_history h LEFT JOIN companies c ON c.id = h.company_id
        {where} ORDER BY h.id DESC {'LIMIT ' + str(int(limit)) if limit else ''}""",
        params).fetchall()
    keys = ("id", "company_id", "name", "changed_at", "as_of", "model_name", "model_version",
            "trigger", "old_total", "new_total", "old_grade", "new_grade", "reasons", "run_id",
            "pushed_at")
    found = [dict(zip(keys, row)) for row in reversed(rows)]
    for change in found:
        change["reasons"] = reason_dicts(change["reasons"])
    return found


def company_line(change: dict) -> str:
    """One readable line: when, which company, what moved, under which model, pushed or not."""
    moved = f"total {_value(change['old_total'])} -> {_value(change['new_total'])}"
    if change["old_grade"] != change["new_grade"]:
        moved += f", grade {change['old_grade'] or '-'} -> {change['new_grade'] or '-'}"
    who = f"company {change['company_id']}" + (f" ({change['name']})" if change["name"] else "")
    pushed = f"pushed {change['pushed_at']}" if change["pushed_at"] else "not pushed"
    return (f"{change['changed_at']}  {who}  {moved}  [{change['model_name']} "
            f"{change['model_version']}, {change['trigger']}, {pushed}]")


def print_company_changes(cache: Cache, reference: str | None, *, limit: int | None,
                          as_json: bool, echo: Callable[[str], None]) -> None:
    found = company_changes(cache, reference, limit=limit)
    if as_json:
        echo(json.dumps(found, indent=2))
        return
    for change in found:
        echo(company_line(change))
    if not found:
        echo("no company score changes recorded")


def _value(number: float | None) -> str:
    return "-" if number is None else f"{number:g}"

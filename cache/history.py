"""The score audit trail: reading `score_history` back, filtered, as rows, CSV or JSON."""
from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, fields
from typing import IO, Any, Callable, Iterator

from cache.contact_reader import find_contact
from cache.database import Cache
from foundation.errors import ConfigError
from foundation.moments import iso, parse_moment
from scoring.reasons import as_dicts as reason_dicts


@dataclass(frozen=True)
class Change:
    """One row of score_history: a contact's total, grade or stage moving, and why."""

    id: int
    contact_id: str
    email: str | None  # the contact's email in the cache now (None: unknown or deleted)
    changed_at: str
    as_of: str
    model_name: str
    model_version: str
    trigger: str
    old_total: float | None
    new_total: float | None
    old_grade: str | None
    new_grade: str | None
    old_stage: str | None
    new_stage: str | None
    reasons: list[dict[str, Any]]
    run_id: int | None
    pushed_at: str | None
    model: str = "default"  # the config's name for the model ([[models]]; "default" without)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One human-readable line: when, who, what moved, under which model, pushed or not."""
        moved = [f"total {_value(self.old_total)} -> {_value(self.new_total)}"]
        if self.old_grade != self.new_grade:
            moved.append(f"grade {self.old_grade or '-'} -> {self.new_grade or '-'}")
        if self.old_stage != self.new_stage:
            moved.append(f"stage {self.old_stage or '-'} -> {self.new_stage or '-'}")
        pushed = f"pushed {self.pushed_at}" if self.pushed_at else "not pushed"
        who = f"contact {self.contact_id}" + (f" <{self.email}>" if self.email else "")
        model = f"{self.model_name} {self.model_version}"
        if self.model != "default":
            model = f"{self.model}: {model}"
        if self.new_total is None and self.old_total is not None:
            moved.append("left the model's segment")
        return (f"{self.changed_at}  {who}  {', '.join(moved)}  "
                f"[{model}, {self.trigger}, {pushed}]")


COLUMNS = tuple(f.name for f in fields(Change))


def changes(cache: Cache, *, contact_id: str | None = None, since: str | None = None,
            model: str | None = None, limit: int | None = None) -> Iterator[Change]:
    """History rows, oldest first; `since` is an ISO date/time, `model` a model of the config
    ([[models]] name), or a model file's version or name;
    `limit`: only the newest that many (still oldest first)."""
    where, params = [], []
    if contact_id is not None:
        where.append("h.contact_id = ?")
        params.append(contact_id)
    if since is not None:
        where.append("h.changed_at >= ?")
        params.append(since)
    if model is not None:
        where.append("(h.model = ? OR h.model_version = ? OR h.model_name = ? "
                     "OR h.model_name || ' ' || h.model_version = ?)")
        params.extend([model, model, model, model])
    selected = ", ".join("c.email" if name == "email" else f"h.{name}" for name in COLUMNS)
    sql = f"SELECT {selected} FROM score_history h LEFT JOIN contacts c ON c.id = h.contact_id"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if limit is not None:
        sql = f"SELECT * FROM ({sql} ORDER BY h.id DESC LIMIT ?) ORDER BY id"
        params.append(limit)
    else:
        sql += " ORDER BY h.id"
    for row in cache.conn.execute(sql, params):
        values = dict(zip(COLUMNS, row))
        values["reasons"] = reason_dicts(values["reasons"])
        yield Change(**values)


def write_csv(rows: Iterator[Change], out: IO[str] | Any) -> int:
    """Write rows as CSV (reasons as a JSON cell); returns how many."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for change in rows:
        values = change.as_dict()
        values["reasons"] = json.dumps(values["reasons"], separators=(",", ":"))
        writer.writerow(["" if values[c] is None else values[c] for c in COLUMNS])
        count += 1
    return count


def _value(total: float | None) -> str:
    return "-" if total is None else f"{total:g}"


def print_changes(cache: Cache, reference: str | None, *, since: str | None, model: str | None,
                  form: str, echo: Callable[..., None], limit: int | None = None) -> int:
    """`leadsync history`: print matching changes as text, CSV or a JSON array; returns count."""
    contact_id = _contact_id(cache, reference) if reference else None
    since_iso = iso(parse_moment(since, "--since", future=True)) if since is not None else None
    rows = changes(cache, contact_id=contact_id, since=since_iso, model=model, limit=limit)
    if form == "csv":
        return write_csv(rows, _EchoStream(echo))
    if form == "json":
        count = 0
        for change in rows:
            echo(("[\n" if count == 0 else ",\n") + json.dumps(change.as_dict(), sort_keys=True),
                 nl=False)
            count += 1
        echo("\n]" if count else "[]")
        return count
    count = 0
    for change in rows:
        echo(change.line())
        count += 1
    if count == 0:
        echo("No score changes recorded" + (" for that selection." if reference or since or model
                                            else " yet; run `leadsync score`."))
    return count


def _contact_id(cache: Cache, reference: str) -> str:
    try:
        return find_contact(cache, reference)
    except ConfigError:
        # A contact deleted since keeps its history: accept a bare id that has some.
        known = cache.conn.execute("SELECT 1 FROM score_history WHERE contact_id = ? LIMIT 1",
                                   (reference,)).fetchone()
        if "@" in reference or known is None:
            raise
        return reference


class _EchoStream:
    """A write()-able that prints through click (so CliRunner and pipes both see it)."""

    def __init__(self, echo: Callable[..., None]) -> None:
        self.echo = echo

    def write(self, text: str) -> None:
        self.echo(text, nl=False)

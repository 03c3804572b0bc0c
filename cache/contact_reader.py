"""Cached contacts as scoring reads them: properties, engagements, primary company, stored score.

One ordered pass in chunks of contact ids: a contacts query (with each contact's primary
company and stored score, only the properties the model reads, extracted in SQLite) beside
one sequential read of `contact_events` (clustered by contact, times already seconds).
`column_chunks` hands each chunk to the batch scorer as columns (what a rescore uses);
`chunks` yields per-contact rows for the engine (explain, simulate, backtest). Companies are
read once for all their contacts; identical event property texts are parsed once.

Given the as-of moment, `column_chunks` reads only the engagements some rule can count (those
inside the widest window of a rule on their kind) and, per contact, the time of the latest
activity (in SQLite: one index range per contact), which is all `days_since` needs of the rest.

One module over the usual size on purpose: the contacts query, the events read and their
transposition into columns are one ordered pass whose chunk boundaries must agree.
"""
from __future__ import annotations

import json
import math
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from cache.contact_events import OMITTED
from cache.database import Cache
from foundation.errors import ConfigError
from scoring import Model
from scoring.batch import KIND_CODE, Chunk, Events, chunk_of
from scoring.models import DEFAULT as DEFAULT_MODEL
from scoring.engine import DAY
from scoring.properties import ENGAGEMENT_KINDS, to_epoch
from scoring.sla import touch_kinds

CHUNK = 5_000
ID_BATCH = 500  # ids per IN (...) list when reading chosen contacts
_EMPTY: Mapping[str, Any] = {}
_MEMO_LIMIT = 100_000
# Companies read once for all their contacts. Contacts of one company are scattered over the
# id range, so a memo smaller than the portal's companies would re-read them chunk after
# chunk; 500,000 small dicts of the properties a model reads stay well under 200 MB.
_COMPANY_MEMO_LIMIT = 500_000


# A contact as the reader yields it: (id, properties, events, company, stored score or None).
Row = tuple[str, dict, list, "dict | None", "tuple | None"]


class Columns(NamedTuple):
    """A chunk of contacts for the batch scorer: ids, the Chunk, stored scores (or None) of
    the reader's first stored model, and of each of its stored models by name."""

    ids: list[str]
    chunk: Chunk
    stored: list["tuple | None"]
    stored_by: Mapping[str, list["tuple | None"]] = {}
    # With `links`: each contact's associated company ids, comma-separated (None: none).
    links: "list[str | None] | None" = None


class ContactReader:
    """Reads contacts with their events, primary company and stored scores, in id order.

    Given several models it reads the union of what they read, once: each model's scorer
    then runs over the same columns. `stored` names the models (their cache keys) whose
    stored scores come along: `Columns.stored_by` has each; `Columns.stored` and a Row's
    stored score are the first one's."""

    def __init__(self, cache: Cache, model: Model | Sequence[Model], now: float | None = None,
                 *, stored: Sequence[str] = (DEFAULT_MODEL,), contacts: Sequence[str] = (),
                 companies: Sequence[str] = (),
                 company_scores: Mapping[str, str] | None = None,
                 links: bool = False) -> None:
        models = [model] if isinstance(model, Model) else list(model)
        self.conn = cache.conn
        self.stored_keys = tuple(stored)
        # `links`: column_chunks also reads every contact's associated companies (any label,
        # each once), for the company model's members (analysis/rescore.py).
        self.links = links
        self.links_at = 4 + max(1, _STORED * len(self.stored_keys))
        self.contact_names = tuple(sorted({n for m in models for n in contact_properties(m)}
                                          | set(contacts)))
        self.company_names = tuple(sorted({n for m in models
                                           for n in m.properties_used.get("companies", ())}
                                          | set(companies)))
        # Company properties read from `company_scores` (property -> column), not the pull:
        # the company score computed in this run, before HubSpot has it.
        self.company_source = _company_source(company_scores or {}, self.company_names)
        kinds = {k for m in models for k in _kinds_read(m)}
        self.event_names = {k: tuple(sorted({n for m in models
                                             for n in m.properties_used.get(k, ())}))
                            for k in sorted(kinds)}
        self.memo: dict[str, dict[str, Mapping[str, Any]]] = {k: {} for k in self.event_names}
        # contact_events holds every property but the OMITTED ones; a model testing one of
        # those reads engagements through associations instead (same events, slower).
        self.clustered = not any(OMITTED.intersection(n) for n in self.event_names.values())
        self.parsed = _Parsed()
        # Companies by id, read once for all their contacts: their values in company_names
        # order (None: archived or not cached).
        self.companies: dict[str, list | None] = {}
        # With `now`, column_chunks reads only events a rule can count, and latest activities;
        # models that count different activities need every event (days since differs).
        activities = {tuple(sorted(a for a in m.activity if a in ENGAGEMENT_KINDS))
                      for m in models}
        self.now = now if self.clustered and len(activities) == 1 else None
        self.activity = activities.pop() if len(activities) == 1 else ()
        self.horizons = _union_horizons(models, now) if self.now is not None else {}

    def chunks(self, contact_ids: Sequence[str] | None, size: int) -> Iterator[list[Row]]:
        """Lists of contacts: all live ones by id range, or the chosen ones in batches."""
        for contacts, events in self.fetched(contact_ids, size, windowed=False):
            yield list(self._merge(contacts, events))

    def column_chunks(self, contact_ids: Sequence[str] | None, size: int) -> Iterator[Columns]:
        """The same contacts as `chunks`, as columns for the batch scorer (with `now`: only the
        events a rule can count, and each contact's latest activity)."""
        for contacts, events in self.fetched(contact_ids, size, windowed=self.now is not None):
            if self.clustered:
                yield self._columns(contacts, events)
            else:
                rows = list(self._merge_extracted(contacts, events))
                yield Columns([r[0] for r in rows], chunk_of([r[1] for r in rows],
                              [r[2] for r in rows], [r[3] for r in rows]), [r[4] for r in rows],
                              {key: [_stored(row, i) for row in contacts]
                               for i, key in enumerate(self.stored_keys)})

    def fetched(self, contact_ids: Sequence[str] | None, size: int, *, windowed: bool
                 ) -> Iterator[tuple[list[tuple], list[tuple]]]:
        """(contact rows, their event rows) a chunk at a time, in contact id order: the raw
        query results `chunks` and `column_chunks` build from (bench/score.py times them)."""
        if contact_ids is None:
            yield from self._all(size, windowed)
            return
        wanted = sorted(set(contact_ids))
        for start in range(0, len(wanted), ID_BATCH):
            batch = wanted[start:start + ID_BATCH]
            marks = ",".join("?" * len(batch))
            contacts = self._contacts(f"c.id IN ({marks})", batch, windowed=windowed)
            yield contacts, self._events(f"IN ({marks})", batch, windowed)

    def _all(self, size: int, windowed: bool) -> Iterator[tuple[list[tuple], list[tuple]]]:
        """Every live contact, chunk by chunk, with the events of the chunk's id range.

        Every query finishes before the chunk is handed on: a statement left open across the
        chunks' commits would pin the WAL, which then grows by every row written (80 MB per
        100,000 new scores) and slows every page read, since a read looks through all of it.
        """
        self._preload_companies()
        after = ""
        while True:
            contacts = self._contacts("c.id > ?", [after], limit=size, windowed=windowed)
            if not contacts:
                return
            first, after = after, contacts[-1][0]
            # Events of archived or merged-away contacts in the range come too: they get no owner.
            yield contacts, self._events("> ? AND {id} <= ?", [first, after], windowed)

    def _contacts(self, where: str, params: list, *, limit: int | None = None,
                  windowed: bool = False) -> list[tuple]:
        """(id, extracted properties, primary company id, latest activity or None, stored
        score…) of live contacts; the latest activity only when `windowed`."""
        latest = [self.now] if windowed and self.activity else []
        rows = self.conn.execute(self._contacts_sql(where, limit, windowed), [
            *_paths(self.contact_names), *latest, *params]).fetchall()
        if self.company_names:
            self._read_companies({row[2] for row in rows if row[2] is not None})
        return rows

    def _preload_companies(self) -> None:
        """Read every live company in one sequential pass when they fit the memo (a full
        rescore then never looks companies up one by one, in scattered order)."""
        if not self.company_names:
            return
        count = self.conn.execute("SELECT count(*) FROM companies WHERE archived = 0").fetchone()[0]
        if count > _COMPANY_MEMO_LIMIT:
            return
        names = self.company_names
        self.companies.update(
            (company_id, json.loads(values)) for company_id, values in
            self.conn.execute(f"SELECT c.id, json_extract({self.company_source}, {_marks(names)}) "
                              f"FROM companies c LEFT JOIN company_scores cs "
                              f"ON cs.company_id = c.id WHERE c.archived = 0", _paths(names)))

    def _read_companies(self, ids: set[str]) -> None:
        """Make sure `self.companies` knows these companies (bounded: forgets all when full)."""
        known = self.companies
        if len(known) + len(ids) > _COMPANY_MEMO_LIMIT:
            known.clear()
        missing = sorted(ids.difference(known))
        known.update(dict.fromkeys(missing))
        names = self.company_names
        for start in range(0, len(missing), ID_BATCH):
            batch = missing[start:start + ID_BATCH]
            for company_id, values in self.conn.execute(
                    f"SELECT c.id, json_extract({self.company_source}, {_marks(names)}) "
                    f"FROM companies c LEFT JOIN company_scores cs ON cs.company_id = c.id "
                    f"WHERE c.archived = 0 AND c.id IN ({','.join('?' * len(batch))})",
                    [*_paths(names), *batch]):
                known[company_id] = json.loads(values)

    def _contacts_sql(self, where: str, limit: int | None, windowed: bool) -> str:
        latest = "NULL"
        if windowed and self.activity:
            # Newest first, stopping at the first activity: usually the newest event.
            latest = f"""(SELECT e.occurred_at FROM contact_events e
                WHERE e.contact_id = c.id AND e.kind IN ({_quoted(self.activity)})
                  AND e.occurred_at <= ? ORDER BY e.occurred_at DESC LIMIT 1)"""
        company = "NULL"
        if self.company_names:
            # The primary company (label 1), else the lowest id: two index lookups, no sort.
            company = """coalesce(
                (SELECT a.to_id FROM associations a WHERE a.from_type = 'contacts'
                   AND a.from_id = c.id AND a.to_type = 'companies' AND a.type_id = 1
                 ORDER BY a.to_id LIMIT 1),
                (SELECT min(a.to_id) FROM associations a WHERE a.from_type = 'contacts'
                   AND a.from_id = c.id AND a.to_type = 'companies'))"""
        stored = ", ".join(
            f"s{i}.model_name, s{i}.model_version, s{i}.fit, s{i}.engagement, s{i}.total, "
            f"s{i}.grade, s{i}.stage, s{i}.inactive, s{i}.reasons, s{i}.followup"
            for i in range(len(self.stored_keys))) or "NULL"
        joins = " ".join(f"LEFT JOIN scores s{i} ON s{i}.contact_id = c.id AND s{i}.model = "
                         f"{_quoted([key])}" for i, key in enumerate(self.stored_keys))
        links = ""
        if self.links:
            links = """, (SELECT group_concat(DISTINCT a.to_id) FROM associations a
                WHERE a.from_type = 'contacts' AND a.from_id = c.id
                  AND a.to_type = 'companies')"""
        return f"""
            SELECT c.id, json_extract(c.properties, {_marks(self.contact_names)}), {company},
                   {latest}, {stored}{links}
            FROM contacts c {joins}
            WHERE c.archived = 0 AND c.merged_into IS NULL AND {where}
            ORDER BY c.id {f'LIMIT {int(limit)}' if limit else ''}"""

    def _event_columns(self) -> str:
        """from_id, kind, id, occurred_at, and the needed properties as one JSON array text."""
        cases = " ".join(
            f"WHEN '{kind}' THEN json_extract(e.properties, {_literal_paths(names)})"
            for kind, names in self.event_names.items() if names)
        props = f"CASE e.type {cases} END" if cases else "NULL"
        return f"a.from_id, e.type, e.id, e.occurred_at, {props}"

    def _kinds(self) -> str:
        return _quoted(self.event_names)

    def _kind_filter(self, keyword: str, windowed: bool) -> tuple[str, list[float]]:
        """A contact_events filter on kind (and, `windowed`, on age): SQL and parameters."""
        if windowed:
            horizons = self.horizons
            if not horizons:
                return f"{keyword} 0", []
            ages = " OR ".join(f"(kind = {_quoted([k])} AND occurred_at >= ?)" for k in horizons)
            return f"{keyword} ({ages})", list(horizons.values())
        if len(self.event_names) == len(ENGAGEMENT_KINDS):
            return "", []
        return f"{keyword} kind IN ({self._kinds()})", []

    def _events(self, ids: str, params: list, windowed: bool) -> list[tuple]:
        """Event rows of the contacts whose id satisfies `<id column> <ids>`, in contact
        order (`{id}` in `ids` stands for the column where it recurs)."""
        if not self.event_names:
            return []
        if self.clustered:
            where, extra = self._kind_filter("AND", windowed)
            return self.conn.execute(f"""
                SELECT contact_id, kind, occurred_at, properties FROM contact_events
                WHERE contact_id {ids.format(id='contact_id')} {where}
                ORDER BY contact_id""", [*params, *extra]).fetchall()
        return self.conn.execute(f"""
            SELECT {self._event_columns()}
            FROM associations a JOIN engagements e ON e.type = a.to_type AND e.id = a.to_id
            WHERE a.from_type = 'contacts' AND a.from_id {ids.format(id='a.from_id')}
              AND a.to_type IN ({self._kinds()}) AND e.archived = 0
            ORDER BY a.from_id, e.type, e.id""", params).fetchall()

    def _merge(self, contacts: list[tuple], events: list[tuple]) -> Iterator[Row]:
        if self.clustered:
            return self._merge_clustered(contacts, events)
        return self._merge_extracted(contacts, events)

    def _merge_clustered(self, contacts: list[tuple], events: list[tuple]) -> Iterator[Row]:
        """Contacts with their contact_events rows (times already seconds, one row per event)."""
        parsed = self.parsed
        # Rows are in contact order: group them (in C) by contact, then look contacts up.
        by_contact = {contact_id: [(kind, at, parsed[text]) for _, kind, at, text in rows]
                      for contact_id, rows in groupby(events, _first)}
        no_events: list = []
        for row in contacts:
            contact_id, contact, company, stored = self._contact(row)
            yield contact_id, contact, by_contact.get(contact_id, no_events), company, stored

    def _contact(self, row: tuple) -> tuple[str, dict, "Mapping[str, Any] | None", "tuple | None"]:
        """A contacts-query row as (id, properties, primary company, stored score)."""
        contact = dict(zip(self.contact_names, json.loads(row[1])))
        contact["id"] = row[0]
        values = self.companies.get(row[2])
        company = dict(zip(self.company_names, values)) if values is not None else None
        return row[0], contact, company, _stored(row, 0)

    def _columns(self, contacts: list[tuple], events: list[tuple]) -> Columns:
        """Contacts and their contact_events rows as a batch-scorer Chunk (clustered path)."""
        ids = [row[0] for row in contacts]
        n = len(ids)
        values = json.loads("[" + ",".join([row[1] for row in contacts]) + "]")
        columns: dict[str, Sequence[Any]] = dict(zip(self.contact_names, zip(*values))) if n else {}
        columns["id"] = ids
        company_columns: dict[str, Sequence[Any]] = {}
        if self.company_names and n:
            nothing = [None] * len(self.company_names)
            known = self.companies.get
            company_columns = dict(zip(self.company_names, zip(*[
                known(row[2]) or nothing for row in contacts])))
        stored_by = {key: [_stored(row, i) for row in contacts]
                     for i, key in enumerate(self.stored_keys)}
        stored = stored_by[self.stored_keys[0]] if self.stored_keys else [None] * n
        latest = None
        if self.now is not None:
            latest = np.array([row[3] for row in contacts], np.float64)  # None -> NaN
        links = [row[self.links_at] for row in contacts] if self.links else None
        if not events:
            no_events = Events(np.empty(0, np.intp), np.empty(0, np.int8), np.empty(0), [])
            return Columns(ids, Chunk(n, columns, company_columns, no_events, latest), stored,
                           stored_by, links)
        contact_ids, kinds, ats, texts = (list(map(column, events)) for column in _COLUMNS)
        # Rows of archived or merged-away contacts are in the stream too: they get no owner.
        position = _Positions(zip(ids, range(n)))
        owner = np.fromiter(map(position.__getitem__, contact_ids), np.intp, len(events))
        kept = owner >= 0
        if not kept.all():
            texts = [text for text, keep in zip(texts, kept.tolist()) if keep]
        chunk_events = Events(
            owner[kept], np.fromiter(map(KIND_CODE.__getitem__, kinds), np.int8, len(kinds))[kept],
            np.array(ats, np.float64)[kept], texts,
            self.parsed.__getitem__)  # texts are parsed only if a `where` needs them
        return Columns(ids, Chunk(n, columns, company_columns, chunk_events, latest), stored,
                       stored_by, links)

    def _merge_extracted(self, contacts: list[tuple], events: list[tuple]) -> Iterator[Row]:
        loads, parse_time = json.loads, _seconds
        memo = self.memo
        property_names = self.event_names
        position, count = 0, len(events)
        for row in contacts:
            contact_id, contact, company, stored = self._contact(row)
            while position < count and events[position][0] < contact_id:
                position += 1  # events of archived or merged-away contacts
            mine, previous, previous_kind = [], None, None
            while position < count:
                _, kind, event_id, occurred_at, extracted = event = events[position]
                if event[0] != contact_id:
                    break
                position += 1
                # Several association labels link the same pair: count the event once.
                if event_id == previous and kind == previous_kind:
                    continue
                previous, previous_kind = event_id, kind
                at = parse_time(occurred_at)
                if at is None:
                    continue
                if extracted is None:
                    mine.append((kind, at, _EMPTY))
                    continue
                # Identical extracted values (enumerations, mostly) share one parsed dict.
                seen = memo[kind]
                properties = seen.get(extracted)
                if properties is None:
                    properties = dict(zip(property_names[kind], loads(extracted)))
                    if len(seen) < _MEMO_LIMIT:
                        seen[extracted] = properties
                mine.append((kind, at, properties))
            yield contact_id, contact, mine, company, stored

class _Positions(dict):
    """Contact id -> position in its chunk; -1 for ids not in the chunk."""

    def __missing__(self, contact_id: str) -> int:
        return -1


class _Parsed(dict):
    """Event property texts parsed once: identical texts (enumerations, mostly) share one
    dict, which nobody mutates. Bounded: once full, new texts are parsed but not kept."""

    def __missing__(self, text: str) -> Mapping[str, Any]:
        value = json.loads(text)
        if len(self) < _MEMO_LIMIT:
            self[text] = value
        return value


def _first(row: tuple) -> str:
    return row[0]


_COLUMNS = tuple(map(itemgetter, range(4)))  # of a contact_events row
_STORED = 10  # columns of one stored score in a contacts-query row


def _stored(row: tuple, i: int) -> tuple | None:
    """The i-th stored model's score in a contacts-query row (None: not scored by it)."""
    start = 4 + _STORED * i
    return row[start:start + _STORED] if len(row) > start and row[start] is not None else None


def _kinds_read(model: Model) -> set[str]:
    return {r.event for r in model.engagement.rules if r.event} | {
        a for a in model.activity if a in ENGAGEMENT_KINDS} | touch_kinds(model.sla, model.recycle)


def _union_horizons(models: Sequence[Model], now: float) -> dict[str, float]:
    """Per kind, the earliest event any of the models can count."""
    horizons: dict[str, float] = {}
    for model in models:
        for kind, since in _horizons(model, now).items():
            horizons[kind] = min(horizons.get(kind, math.inf), since)
    return dict(sorted(horizons.items()))

def _horizons(model: Model, now: float) -> dict[str, float]:
    """Per engagement kind a rule counts: the earliest occurred_at any such rule can count
    (-inf when one has no window). A day early: the scorer applies the exact window."""
    horizons: dict[str, float] = {}
    for rule in model.engagement.rules:
        if rule.event is not None:
            since = now - (rule.window_days + 1) * DAY if rule.window_days else -math.inf
            horizons[rule.event] = min(horizons.get(rule.event, math.inf), since)
    # An SLA or recycle rule looks for the owner's first touch since a stage was entered,
    # however long ago: every event of those kinds.
    for kind in touch_kinds(model.sla, model.recycle):
        horizons[kind] = -math.inf
    return dict(sorted(horizons.items()))


_SCORE_COLUMNS = ("total", "fit", "engagement", "grade")


def _company_source(company_scores: Mapping[str, str], names: Sequence[str]) -> str:
    """SQL for a company's properties with the model-read score properties replaced by the
    `company_scores` columns they mirror (NULL: the company has no score)."""
    pairs = [(name, column) for name, column in sorted(company_scores.items())
             if name in names and column in _SCORE_COLUMNS]
    if not pairs:
        return "c.properties"
    sets = ", ".join(f"'$.\"{name}\"', cs.{column}" for name, column in pairs)
    return f"json_set(c.properties, {sets})"


def _quoted(names: Sequence[str]) -> str:
    return ",".join("'" + name.replace("'", "''") + "'" for name in names)


def contact_properties(model: Model) -> tuple[str, ...]:
    """Every contact property the engine may read for `model` (at least two: see _marks)."""
    names = set(model.properties_used.get("contacts", ())) | {"lifecyclestage", "createdate", "email"}
    return tuple(sorted(names))


def _paths(names: Sequence[str]) -> list[str]:
    paths = [f'$."{n}"' for n in names]
    return paths if len(paths) != 1 else paths * 2


def _marks(names: Sequence[str]) -> str:
    # json_extract with one path returns the bare value; with two or more, a JSON array.
    return ", ".join("?" * max(2, len(names)))


def _literal_paths(names: Sequence[str]) -> str:
    quoted = [f"""'$."{n.replace("'", "''")}"'""" for n in names]
    return ", ".join(quoted if len(quoted) != 1 else quoted * 2)


_fromiso = datetime.fromisoformat


def _seconds(text: str | None) -> float | None:
    """POSIX seconds of an engagement's occurred_at (ISO text; epoch ms tolerated)."""
    if not text:
        return None
    try:
        return _fromiso(text).timestamp()
    except ValueError:
        return to_epoch(text)


def find_contact(cache: Cache, reference: str) -> str:
    """The id of the cached contact `reference` names (an id or an email address)."""
    reference = reference.strip()
    if "@" in reference:
        row = cache.conn.execute("SELECT id FROM contacts WHERE email = ? ORDER BY archived, id LIMIT 1",
                                 (reference.lower(),)).fetchone()
    else:
        row = cache.conn.execute("SELECT id FROM contacts WHERE id = ?", (reference,)).fetchone()
    if row is None:
        raise ConfigError(f"no contact {reference!r} in the cache; check the id or email, "
                          f"or run `leadsync pull` first")
    return row[0]


def read_contact(cache: Cache, model: Model, contact_id: str) -> Row:
    """One live contact as the engine sees it (for `explain`)."""
    for chunk in ContactReader(cache, model).chunks([contact_id], 1):
        for row in chunk:
            return row
    state = cache.conn.execute("SELECT archived, merged_into FROM contacts WHERE id = ?",
                               (contact_id,)).fetchone()
    why = "merged into " + state[1] if state and state[1] else "archived"
    raise ConfigError(f"contact {contact_id} is {why} and is not scored")

"""Rescoring: cached contacts (cache/contact_reader.py) through the engine, into `scores`.

Chunk by chunk in contact id order, the batch scorer (scoring/batch.py) scores the chunk's
contacts as columns. A chunk's writes are one transaction: `scores` rows that changed, and
`score_history` rows where total, grade or stage changed. Same data, same model, same
as-of: nothing is written.
"""
from __future__ import annotations

import gc
import json
import sqlite3
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

import scoring
from analysis.company_rescore import load_company
from cache.catalog import cached_catalog
from cache.contact_reader import CHUNK, ContactReader
from cache.database import Cache, utcnow
from cache.push_dirty import marks_deferred
from foundation.errors import ConfigError
from foundation.moments import iso
from scoring import Model, ScoringError
from foundation.settings import Settings
from scoring import models as scoring_models
from scoring.batch import BatchScorer, Chunk, Scores, batch_scorer
from scoring.members import MemberMarks
from scoring.models import ContactModel, ModelSet, subset
from scoring.reasons import fragment as reason_fragment
from scoring.sla import FollowUp, iso_state

_MEMO_LIMIT = 100_000
_CHECKPOINT_PAGES = 16_384  # 64 MB of WAL between checkpoints (4 KB pages)

_UPSERT = """
    INSERT INTO scores (contact_id, model, model_name, model_version, as_of, fit, engagement,
                        total, grade, stage, inactive, reasons, followup, scored_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (contact_id, model) DO UPDATE SET
        model_name = excluded.model_name, model_version = excluded.model_version,
        as_of = excluded.as_of, fit = excluded.fit, engagement = excluded.engagement,
        total = excluded.total, grade = excluded.grade, stage = excluded.stage,
        inactive = excluded.inactive, reasons = excluded.reasons, followup = excluded.followup,
        scored_at = excluded.scored_at"""
_HISTORY = """
    INSERT INTO score_history (contact_id, changed_at, model, as_of, model_name, model_version,
                               trigger, old_total, new_total, old_grade, new_grade, old_stage,
                               new_stage, reasons, run_id)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
_LEFT = "DELETE FROM scores WHERE contact_id = ? AND model = ?"


@dataclass(frozen=True)
class RescoreSummary:
    """What one rescore did. `changed` counts history rows (total, grade or stage moved);
    `promoted`/`demoted` count contacts whose stored stage this run moved forward/backward of
    HubSpot's (what the next push will write), not stages already decided before."""

    model: str
    as_of: str
    trigger: str
    run_id: int | None
    scored: int
    changed: int
    updated: int
    promoted: int
    demoted: int
    grades: dict[str, int] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    seconds: float = 0.0
    # per model of the config, in its order: name, label, role, in_segment, changed, updated,
    # left (contacts that left its segment: score removed, HubSpot's values cleared), grades
    models: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["missing"] = list(self.missing)
        return data

    def render(self) -> str:
        grades = ", ".join(f"{grade} {count:,}" for grade, count in self.grades.items()) or "none"
        lines = [f"Scored {self.scored:,} contacts with {self.model} as of {self.as_of} "
                 f"in {self.seconds:.1f} s",
                 f"  changed (total, grade or stage; history rows): {self.changed:,}",
                 f"  score rows written: {self.updated:,}",
                 f"  stages: {self.promoted:,} promoted, {self.demoted:,} demoted",
                 f"  grades: {grades}"]
        if len(self.models) > 1:
            lines.append("  models:")
            for m in self.models:
                lines.append(f"    {m['name']:<16} {m['role']:<14} {m['in_segment']:>9,} scored, "
                             f"{m['changed']:,} changed, {m['left']:,} left the segment")
        if self.missing:
            lines.append(f"  not scored (archived or merged): {', '.join(self.missing)}")
        return "\n".join(lines)


Progress = Callable[[int, "int | None"], None]  # (contacts scored so far, of how many)


def load_model(path: str | None, cache: Cache | None = None) -> Model:
    """The model at `path` (None: the starter), checked against the cached catalog if any."""
    try:
        return scoring.load(path, catalog=cached_catalog(cache) if cache is not None else None)
    except ScoringError as exc:
        raise ConfigError(str(exc)) from None


def load_models(settings: Settings, cache: Cache | None = None) -> ModelSet:
    """The config's contact models ([[models]], else the one model), validated, with their
    segments compiled, and its company model (`[scoring] company_model`) if any: ConfigError
    naming the file and key of the first problem."""
    catalog = cached_catalog(cache) if cache is not None else None
    entries = []
    for i, config in enumerate(settings.models):
        try:
            model = scoring.load(config.path, catalog=catalog)
            where = f"models[{i}] ({config.name}).applies_to"
            segment = scoring_models.segment(config.applies_to, model,
                                             source=settings.source or "leadsync.toml",
                                             where=where)
        except ScoringError as exc:
            raise ConfigError(str(exc)) from None
        entries.append(ContactModel(config.name, model, segment,
                                    drives_stages=config.drives_stages, shadow=config.shadow,
                                    written=config.written))
    company = load_company(settings.company_model_path, cache) \
        if settings.company_model_path else None
    return ModelSet(tuple(entries), company)


def model_named(models: ModelSet, name: str | None) -> ContactModel:
    """The config's contact model called `name` (None: the one in charge), or ConfigError
    listing the names there are."""
    if name is None:
        return models.primary
    try:
        return models.named(name)
    except KeyError:
        raise ConfigError(f"no model named {name!r} in the config; it has "
                          f"{', '.join(models.names)}") from None


def rescore(cache: Cache, model: Model | ModelSet, as_of: datetime, *,
            contact_ids: Sequence[str] | None = None, trigger: str = "score",
            run_id: int | None = None, chunk_size: int = CHUNK,
            progress: Progress | None = None,
            company_scores: Mapping[str, str] | None = None,
            members: MemberMarks | None = None) -> RescoreSummary:
    """Score every live cached contact (or just `contact_ids`) with every model and store
    what changed (a bare Model is the one default model).

    Without `run_id` the rescore is recorded as its own 'score' run; callers inside a run of
    their own (sync, the webhook worker) pass theirs. `company_scores` (company property ->
    `company_scores` column) makes rules reading those company properties see the stored
    company score (analysis/company_rescore.py) instead of the pulled value. `members`: a
    full pass also gathers the company model's members there (scoring/members.py), so the
    companies are scored without reading their contacts again (`members.complete` says
    whether it could).
    """
    if run_id is not None:
        return _rescore(cache, model, as_of, contact_ids, trigger, run_id, chunk_size, progress,
                        company_scores, members)
    with cache.run("score") as run:
        summary = _rescore(cache, model, as_of, contact_ids, trigger, run.id, chunk_size,
                           progress, company_scores, members)
        run.records = summary.scored
        run.details = summary.as_dict()
    return summary


@contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """A rescore allocates millions of short-lived tuples and dicts but creates no reference
    cycles; the cyclic collector traversing them costs ~15% of the run, so pause it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def _checkpoints_spaced(cache: Cache) -> Iterator[None]:
    """Checkpoint the WAL every _CHECKPOINT_PAGES pages instead of SQLite's 1,000: a rescore
    commits a chunk of some 5 MB at a time, and checkpointing after each one syncs the disk
    twice per chunk and copies the same index pages again and again."""
    conn = cache.conn
    before = conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    conn.execute(f"PRAGMA wal_autocheckpoint={int(_CHECKPOINT_PAGES)}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA wal_autocheckpoint={int(before)}")


def _rescore(cache: Cache, model: Model | ModelSet, as_of: datetime,
             contact_ids: Sequence[str] | None, trigger: str, run_id: int, chunk_size: int,
             progress: Progress | None,
             company_scores: Mapping[str, str] | None = None,
             members: MemberMarks | None = None) -> RescoreSummary:
    with _cycle_collection_paused(), _checkpoints_spaced(cache):
        return _rescore_all(cache, model, as_of, contact_ids, trigger, run_id, chunk_size,
                            progress, company_scores, members)


def _rescore_all(cache: Cache, model: Model | ModelSet, as_of: datetime,
                 contact_ids: Sequence[str] | None, trigger: str, run_id: int,
                 chunk_size: int, progress: Progress | None,
                 company_scores: Mapping[str, str] | None = None,
                 members: MemberMarks | None = None) -> RescoreSummary:
    started = time.perf_counter()
    total = None
    if progress is not None:
        total = len(set(contact_ids)) if contact_ids is not None else cache.conn.execute(
            "SELECT COUNT(*) FROM contacts WHERE archived = 0 AND merged_into IS NULL").fetchone()[0]
        progress(0, total)
    models = model if isinstance(model, ModelSet) else ModelSet.single(model)
    batches = [batch_scorer(m.model, as_of) for m in models.contacts]
    now = batches[0].now
    contacts, companies = models.segment_properties()
    if members is not None:
        contacts = (*contacts, *members.names)
    # One read of the cache for all models: the union of what they read, once per chunk.
    reader = ContactReader(cache, models.models(), now, stored=models.names, contacts=contacts,
                           companies=companies, company_scores=company_scores)
    segments = [m.segment.masker(now) if m.segment is not None else None
                for m in models.contacts]
    stores = [_Store(m, iso(as_of), trigger, run_id) for m in models.contacts]
    work = list(zip(models.contacts, batches, segments, stores))
    gather = members is not None and contact_ids is None and _can_gather(reader, members)
    reader.links = gather
    if members is not None:
        members.restart()
    source = models.names.index(models.engagement_source.name) if gather else -1
    seen: set[str] = set()
    for columns in reader.column_chunks(contact_ids, chunk_size):
        ids, chunk, stored_by = columns.ids, columns.chunk, columns.stored_by
        if contact_ids is not None:
            seen.update(ids)
        for index, (contact_model, batch, segment, store) in enumerate(work):
            inside = segment(chunk) if segment is not None else None
            if inside is None or inside.all():
                result = batch.score(chunk)
                store.add(ids, result, stored_by[contact_model.name])
                engagement = result.engagement
            else:
                engagement = store.add_segment(ids, chunk, inside, batch,
                                               stored_by[contact_model.name])
            if index == source:
                members.add(ids, chunk, engagement, columns.links)
        _flush(cache, stores)
        if progress is not None:
            progress(stores[0].read, total)
    if gather:
        members.complete = True
    missing = tuple(sorted(set(contact_ids) - seen)) if contact_ids is not None else ()
    return _summary(models, stores, missing, time.perf_counter() - started)


def _can_gather(reader: ContactReader, members: MemberMarks) -> bool:
    """Whether the contacts' pass can gather the company model's members: it reads them in
    columns (clustered events) and, when the company model reads recency, each contact's
    latest activity of the same kinds."""
    if not reader.clustered:
        return False
    return not members.recency or (reader.now is not None and reader.activity == members.kinds)


def _flush(cache: Cache, stores: list["_Store"]) -> None:
    """A chunk's writes of every model, in one transaction."""
    if not any(store.pending for store in stores):
        return
    now = utcnow()
    with cache.transaction() as conn, marks_deferred(conn) as touched:
        for store in stores:
            store.flush(conn, now, touched)


def _summary(models: ModelSet, stores: list["_Store"], missing: tuple[str, ...],
             seconds: float) -> RescoreSummary:
    """Totals over the models; stage moves and grades are the primary model's."""
    primary = stores[models.names.index(models.primary.name)]
    label = primary.label if len(stores) == 1 else ", ".join(
        f"{m.name} ({s.label})" for m, s in zip(models.contacts, stores))
    per_model = [{"name": m.name, "label": s.label, "role": _role(m),
                  "in_segment": s.scored, "changed": s.changed, "updated": s.updated,
                  "left": s.left, "promoted": s.promoted, "demoted": s.demoted,
                  "grades": dict(sorted(s.grades.items()))}
                 for m, s in zip(models.contacts, stores)]
    return RescoreSummary(model=label, as_of=primary.as_of, trigger=primary.trigger,
                          run_id=primary.run_id, scored=stores[0].read,
                          changed=sum(s.changed for s in stores),
                          updated=sum(s.updated for s in stores), promoted=primary.promoted,
                          demoted=primary.demoted, grades=dict(sorted(primary.grades.items())),
                          missing=missing, seconds=round(seconds, 3), models=per_model)


def _role(model: ContactModel) -> str:
    if model.shadow:
        return "shadow" + ("" if model.written else " (cache)")
    return "drives stages" if model.drives_stages else "score only"


class _Store:
    """Decides what changed for one model and writes it (a transaction per chunk: _flush)."""

    def __init__(self, model: ContactModel, as_of: str, trigger: str, run_id: int | None) -> None:
        self.key = model.name
        self.name, self.version = model.model.name, model.model.version
        self.as_of, self.trigger, self.run_id = as_of, trigger, run_id
        self.label = model.model.label
        self.scores: list[tuple] = []
        self.history: list[tuple] = []
        self.removed: list[tuple] = []
        self.grades: Counter = Counter()
        self.read = self.scored = self.changed = self.updated = self.left = 0
        self.promoted = self.demoted = 0
        self.fragments: dict[tuple, str] = {}

    @property
    def pending(self) -> bool:
        return bool(self.scores or self.removed)

    def add_segment(self, ids: list[str], chunk: Chunk, inside: np.ndarray, batch: BatchScorer,
                    stored: list[tuple | None]) -> list[float | None]:
        """A chunk where only `inside` contacts are in the model's segment: score those; the
        stored scores of the others are removed (their HubSpot values are then cleared).
        Returns the chunk's engagement column (None: outside the segment)."""
        self.read += len(ids) - int(inside.sum())
        where = np.flatnonzero(inside)
        engagement: list[float | None] = [None] * len(ids)
        if len(where):
            picked = where.tolist()
            result = batch.score(subset(chunk, where))
            self.add([ids[i] for i in picked], result, [stored[i] for i in picked])
            for i, value in zip(picked, result.engagement):
                engagement[i] = value
        key, as_of, trigger, run_id = self.key, self.as_of, self.trigger, self.run_id
        for i in np.flatnonzero(~inside).tolist():
            old = stored[i]
            if old is None:
                continue
            self.removed.append((ids[i], key))
            self.history.append((ids[i], key, as_of, old[0], old[1], trigger, old[4], None,
                                 old[5], None, old[6], None, "[]", run_id))
        return engagement

    def add(self, ids: list[str], result: Scores, stored: list[tuple | None]) -> None:
        """A chunk's scores: count them, and keep the rows that changed for `flush`."""
        self.read += len(ids)
        self.scored += len(ids)
        self.grades.update(grade or "none" for grade in result.grade)
        key, name, version, as_of = self.key, self.name, self.version, self.as_of
        followups = (map(followup_text, result.followup) if result.followup is not None
                     else [None] * len(ids))
        for (contact_id, fit, engagement, total, grade, stage, move, inactive, parts, followup,
             old) in zip(ids, result.fit, result.engagement, result.total, result.grade,
                         result.stage, result.stage_change, result.inactive,
                         result.reason_lists(self.fragment), followups, stored):
            new = (name, version, fit, engagement, total, grade, stage, 1 if inactive else 0,
                   "[" + ",".join(parts) + "]", followup)
            if old == new:
                continue
            # A promotion (or demotion) is counted by the run that decides it: the one whose
            # stored stage changes. A rerun stores the same stage and promotes no one again.
            if old is None or old[6] != stage:
                self.promoted += move == "promote"
                self.demoted += move == "demote"
            self.scores.append((contact_id, key, name, version, as_of, *new[2:]))
            old_total, old_grade, old_stage = old[4:7] if old is not None else (None, None, None)
            if old is None or (old_total, old_grade, old_stage) != new[4:7]:
                self.history.append((contact_id, key, as_of, name, version, self.trigger,
                                     old_total, total, old_grade, grade, old_stage, stage,
                                     new[8], self.run_id))

    def fragment(self, rule: str, section: str, points: float, occurrences: int) -> str:
        """One reason as stored (scoring/reasons.py), remembered: most repeat across contacts."""
        key = (rule, section, points, occurrences)
        text = self.fragments.get(key) if points else None  # 0.0 == -0.0: never share those
        if text is None:
            text = reason_fragment(rule, section, points, occurrences)
            if len(self.fragments) >= _MEMO_LIMIT:
                self.fragments.clear()
            self.fragments[key] = text
        return text

    def flush(self, conn: sqlite3.Connection, now: str, touched: set[str]) -> None:
        """Write the chunk's rows; `touched` gets every contact whose rows were written (the
        push marks them once: cache/push_dirty.py `marks_deferred`)."""
        touched.update(row[0] for row in self.scores)
        touched.update(row[0] for row in self.removed)
        touched.update(row[0] for row in self.history)
        if self.scores:
            conn.executemany(_UPSERT, [(*row, now) for row in self.scores])
        if self.removed:
            conn.executemany(_LEFT, self.removed)
        if self.history:
            conn.executemany(_HISTORY, [(row[0], now, *row[1:]) for row in self.history])
        self.updated += len(self.scores)
        self.changed += len(self.history)
        self.left += len(self.removed)
        self.scores, self.history, self.removed = [], [], []


def followup_text(state: FollowUp | None) -> str | None:
    """A contact's SLA state as `scores.followup` stores it (compact JSON; times as HubSpot
    writes them), or None."""
    data = iso_state(state, _iso_seconds)
    return None if data is None else json.dumps(data, separators=(",", ":"))


def _iso_seconds(seconds: float) -> str:
    return iso(datetime.fromtimestamp(seconds, timezone.utc))

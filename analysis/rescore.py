"""Rescoring: cached contacts (cache/contact_reader.py) through the engine, into `scores`.

Chunk by chunk in contact id order, the batch scorer (scoring/batch.py) scores the chunk's
contacts as columns. A chunk's writes are one transaction: `scores` rows that changed, and
`score_history` rows where total, grade or stage changed. Same data, same model, same
as-of: nothing is written.
"""
from __future__ import annotations

import gc
import json
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping, Sequence

import scoring
from cache.catalog import cached_catalog
from cache.contact_reader import CHUNK, ContactReader, find_contact, read_contact
from cache.database import Cache, open_cache, utcnow
from cache.lock import run_lock
from foundation.errors import ConfigError
from foundation.moments import iso
from scoring import Model, Score, ScoringError, scorer
from scoring.batch import Scores, batch_scorer
from scoring.reasons import fragment as reason_fragment
from scoring.sla import FollowUp, iso_state

_MEMO_LIMIT = 100_000
_CHECKPOINT_PAGES = 16_384  # 64 MB of WAL between checkpoints (4 KB pages)

_UPSERT = """
    INSERT INTO scores (contact_id, model_name, model_version, as_of, fit, engagement, total,
                        grade, stage, inactive, reasons, followup, scored_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (contact_id) DO UPDATE SET
        model_name = excluded.model_name, model_version = excluded.model_version,
        as_of = excluded.as_of, fit = excluded.fit, engagement = excluded.engagement,
        total = excluded.total, grade = excluded.grade, stage = excluded.stage,
        inactive = excluded.inactive, reasons = excluded.reasons, followup = excluded.followup,
        scored_at = excluded.scored_at"""
_HISTORY = """
    INSERT INTO score_history (contact_id, changed_at, as_of, model_name, model_version, trigger,
                               old_total, new_total, old_grade, new_grade, old_stage, new_stage,
                               reasons, run_id)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


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

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["missing"] = list(self.missing)
        return data

    def render(self) -> str:
        grades = ", ".join(f"{grade} {count:,}" for grade, count in self.grades.items()) or "none"
        lines = [f"Scored {self.scored:,} contacts with model {self.model} as of {self.as_of} "
                 f"in {self.seconds:.1f} s",
                 f"  changed (total, grade or stage; history rows): {self.changed:,}",
                 f"  score rows written: {self.updated:,}",
                 f"  stages: {self.promoted:,} promoted, {self.demoted:,} demoted",
                 f"  grades: {grades}"]
        if self.missing:
            lines.append(f"  not scored (archived or merged): {', '.join(self.missing)}")
        return "\n".join(lines)


Progress = Callable[[int, "int | None"], None]  # (contacts scored so far, of how many)


def run_score(db_path: str, model_path: str | None, as_of: datetime, *,
              contacts: Sequence[str] = (), wait: float = 0.0,
              progress: Progress | None = None) -> RescoreSummary:
    """`leadsync score`: one locked, recorded rescore of all (or the named) contacts."""
    with run_lock(db_path, "score", wait=wait):
        cache = open_cache(db_path)
        try:
            model = load_model(model_path, cache)
            ids = [find_contact(cache, reference) for reference in contacts] or None
            return rescore(cache, model, as_of, contact_ids=ids, progress=progress)
        finally:
            cache.close()


def load_model(path: str | None, cache: Cache | None = None) -> Model:
    """The model at `path` (None: the starter), checked against the cached catalog if any."""
    try:
        return scoring.load(path, catalog=cached_catalog(cache) if cache is not None else None)
    except ScoringError as exc:
        raise ConfigError(str(exc)) from None


def rescore(cache: Cache, model: Model, as_of: datetime, *,
            contact_ids: Sequence[str] | None = None, trigger: str = "score",
            run_id: int | None = None, chunk_size: int = CHUNK,
            progress: Progress | None = None,
            company_scores: Mapping[str, str] | None = None) -> RescoreSummary:
    """Score every live cached contact (or just `contact_ids`) and store what changed.

    Without `run_id` the rescore is recorded as its own 'score' run; callers inside a run of
    their own (sync, the webhook worker) pass theirs. `company_scores` (company property ->
    `company_scores` column) makes rules reading those company properties see the stored
    company score (analysis/company_rescore.py) instead of the pulled value.
    """
    if run_id is not None:
        return _rescore(cache, model, as_of, contact_ids, trigger, run_id, chunk_size, progress,
                        company_scores)
    with cache.run("score") as run:
        summary = _rescore(cache, model, as_of, contact_ids, trigger, run.id, chunk_size,
                           progress, company_scores)
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


def _rescore(cache: Cache, model: Model, as_of: datetime, contact_ids: Sequence[str] | None,
             trigger: str, run_id: int, chunk_size: int,
             progress: Progress | None,
             company_scores: Mapping[str, str] | None = None) -> RescoreSummary:
    with _cycle_collection_paused(), _checkpoints_spaced(cache):
        return _rescore_all(cache, model, as_of, contact_ids, trigger, run_id, chunk_size,
                            progress, company_scores)


def _rescore_all(cache: Cache, model: Model, as_of: datetime, contact_ids: Sequence[str] | None,
                 trigger: str, run_id: int, chunk_size: int,
                 progress: Progress | None,
                 company_scores: Mapping[str, str] | None = None) -> RescoreSummary:
    started = time.perf_counter()
    total = None
    if progress is not None:
        total = len(set(contact_ids)) if contact_ids is not None else cache.conn.execute(
            "SELECT COUNT(*) FROM contacts WHERE archived = 0 AND merged_into IS NULL").fetchone()[0]
        progress(0, total)
    batch = batch_scorer(model, as_of)
    reader = ContactReader(cache, model, batch.now, company_scores=company_scores)
    store = _Store(model, iso(as_of), trigger, run_id)
    score_chunk = batch.score
    seen: set[str] = set()
    for ids, chunk, stored in reader.column_chunks(contact_ids, chunk_size):
        if contact_ids is not None:
            seen.update(ids)
        store.add(ids, score_chunk(chunk), stored)
        store.flush(cache)
        if progress is not None:
            progress(store.scored, total)
    missing = tuple(sorted(set(contact_ids) - seen)) if contact_ids is not None else ()
    return store.summary(missing, time.perf_counter() - started)


class _Store:
    """Decides what changed and writes it, one transaction per chunk."""

    def __init__(self, model: Model, as_of: str, trigger: str, run_id: int | None) -> None:
        self.name, self.version = model.name, model.version
        self.as_of, self.trigger, self.run_id = as_of, trigger, run_id
        self.label = model.label
        self.scores: list[tuple] = []
        self.history: list[tuple] = []
        self.grades: Counter = Counter()
        self.scored = self.changed = self.updated = self.promoted = self.demoted = 0
        self.fragments: dict[tuple, str] = {}

    def add(self, ids: list[str], result: Scores, stored: list[tuple | None]) -> None:
        """A chunk's scores: count them, and keep the rows that changed for `flush`."""
        self.scored += len(ids)
        self.grades.update(grade or "none" for grade in result.grade)
        name, version, as_of = self.name, self.version, self.as_of
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
            self.scores.append((contact_id, name, version, as_of, *new[2:], None))
            old_total, old_grade, old_stage = old[4:7] if old is not None else (None, None, None)
            if old is None or (old_total, old_grade, old_stage) != new[4:7]:
                self.history.append((contact_id, None, as_of, name, version, self.trigger,
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

    def flush(self, cache: Cache) -> None:
        if not self.scores:
            return
        now = utcnow()
        scores = [(*row[:-1], now) for row in self.scores]
        history = [(row[0], now, *row[2:]) for row in self.history]
        with cache.transaction() as conn:
            conn.executemany(_UPSERT, scores)
            if history:
                conn.executemany(_HISTORY, history)
        self.updated += len(scores)
        self.changed += len(history)
        self.scores, self.history = [], []

    def summary(self, missing: tuple[str, ...], seconds: float) -> RescoreSummary:
        return RescoreSummary(model=self.label, as_of=self.as_of, trigger=self.trigger,
                              run_id=self.run_id, scored=self.scored, changed=self.changed,
                              updated=self.updated, promoted=self.promoted, demoted=self.demoted,
                              grades=dict(sorted(self.grades.items())), missing=missing,
                              seconds=round(seconds, 3))


def followup_text(state: FollowUp | None) -> str | None:
    """A contact's SLA state as `scores.followup` stores it (compact JSON; times as HubSpot
    writes them), or None."""
    data = iso_state(state, _iso_seconds)
    return None if data is None else json.dumps(data, separators=(",", ":"))


def _iso_seconds(seconds: float) -> str:
    return iso(datetime.fromtimestamp(seconds, timezone.utc))


def score_one(cache: Cache, model: Model, as_of: datetime,
              contact_id: str) -> tuple[dict, Score]:
    """The contact's properties and its score as of `as_of`, computed now, stored nowhere."""
    contact_id, contact, events, company, _ = read_contact(cache, model, contact_id)
    score_contact: Callable[..., Score] = scorer(model, as_of)
    return contact, score_contact(contact, events, company)


@dataclass(frozen=True)
class Explanation:
    """`leadsync explain`: a contact's score computed now from the cache, and its text."""

    contact_id: str
    model: str
    as_of: str
    score: Score
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"contact_id": self.contact_id, "model": self.model, "as_of": self.as_of,
                **self.score.to_dict()}


def explain_contact(cache: Cache, model_path: str | None, reference: str,
                    as_of: datetime) -> Explanation:
    """Score one cached contact (an id or email) as of `as_of` and explain it; writes nothing."""
    model = load_model(model_path, cache)
    contact_id = find_contact(cache, reference)
    contact, result = score_one(cache, model, as_of, contact_id)
    return Explanation(contact_id, model.label, iso(as_of), result,
                       scoring.explain(result, model, as_of, contact=contact))

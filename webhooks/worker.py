"""The webhook worker: drains the inbox, re-reads what changed, rescores, pushes what moved.

One batch (≤ `batch_size` events, collected for `window` seconds after the inbox stops being
empty) goes: claim (leased) → triage (webhooks/triage.py: echoes dropped) → privacy erasures
and merges → batch-read the contacts (absent ones tombstoned) with the pull's save functions
→ their associations and any company or engagement not cached yet → rescore those contacts
(trigger 'webhook') → push through the outbox → events `done`, or `failed` per contact
(retried with backoff, parked after `max_attempts`).

Re-reading the current record, never applying the event's value, is what makes duplicated,
reordered and stale events harmless: whatever order they come in, the cache ends up with
what HubSpot has now, and rescoring unchanged data writes no history row.

One worker per cache (a lock file beside it), so rows a killed worker had leased are released
at start instead of waiting out their lease. Each batch holds the run lock, so it never
interleaves with `leadsync sync`/`pull`/`push`; while one of those runs, events wait.

One piece because a batch is one protocol: the lease, the lock and the order of the steps
above are what make it safe, and splitting them would scatter that argument over files.
"""
from __future__ import annotations

import fcntl
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Sequence

from analysis.rescore import load_models, rescore
from cache import inbox
from cache.catalog import require_setup
from cache.database import Cache, open_cache, utcnow
from cache.inbox import Backoff, InboxEntry
from cache.lock import run_lock
from cache.records import Tally, apply_merge, queue_associations, save_records
from connector.associations import AssociationRefresher
from connector.client import BATCH_LIMIT, HubSpot
from connector.push import push
from cache.company_reader import companies_of, contacts_of
from flows.company_flow import CompanyStep
from flows.sync import stage_policy, write_back_extra, write_targets
from foundation.errors import CacheBusy, HubSpotError, LeadsyncError
from foundation.settings import Settings
from foundation.shutdown import Stopped, interrupted_by_signals
from mappings.records import merged_ids
from mappings.streams import ENGAGEMENT_TYPES, Stream, select
from mappings.writeback import names_of
from webhooks.metrics import WorkerMetrics
from webhooks.triage import EchoFilter, Triage, triage

log = logging.getLogger("leadsync.worker")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    """How the worker paces itself. `window`: seconds to let a burst of events gather."""

    batch_size: int = 100
    window: float = 0.3
    poll: float = 0.05
    max_attempts: int = 5
    backoff: Backoff = Backoff()
    lease: timedelta = timedelta(seconds=60)
    echo_window: timedelta = timedelta(hours=24)
    # Under sustained load the loop rests after each batch so that it works at most this share
    # of the time: the receiver in the same process acks first, the backlog is caught up later.
    busy_share: float = 0.5

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> WorkerConfig:
        return cls(window=settings.webhook_batch_window_ms / 1000,
                   max_attempts=settings.webhook_max_attempts, **overrides)


@dataclass
class BatchReport:
    """What one batch did: events by outcome, then contacts by what happened to them."""

    events: int = 0
    done: int = 0
    dropped: int = 0
    failed: int = 0
    read: int = 0
    tombstoned: int = 0
    erased: int = 0
    merged: int = 0
    scored: int = 0
    changed: int = 0
    written: int = 0
    write_calls: int = 0
    write_failures: int = 0
    companies_scored: int = 0
    companies_changed: int = 0
    companies_written: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def render(self) -> str:
        text = (f"{self.events} events: {self.done} done, {self.dropped} dropped, "
                f"{self.failed} failed; {self.read} contacts read, {self.tombstoned} tombstoned, "
                f"{self.erased} erased, {self.merged} merges, {self.scored} rescored "
                f"({self.changed} changed), {self.written} written; {self.companies_scored} "
                f"companies rescored ({self.companies_changed} changed), "
                f"{self.companies_written} written; {self.api_calls} API calls, "
                f"{self.seconds:.2f} s")
        return text + (f"; error: {self.error}" if self.error else "")


@dataclass
class _Outcome:
    live: set[str] = field(default_factory=set)
    alias: dict[str, str] = field(default_factory=dict)  # id read → id HubSpot answered with
    failed: dict[str, str] = field(default_factory=dict)  # contact → why its write failed


class Worker:
    """Processes inbox events for one cache. Use `open_worker`; `close()` when done."""

    def __init__(self, cache: Cache, client: HubSpot, settings: Settings, *,
                 config: WorkerConfig | None = None, clock: Clock = utc_now,
                 metrics: WorkerMetrics | None = None) -> None:
        self.cache, self.client, self.settings = cache, client, settings
        self.metrics = metrics
        if metrics is not None:
            metrics.budget = client.budget
        self.config = config or WorkerConfig.from_settings(settings)
        self.clock = clock
        self.models = load_models(settings, cache)
        self.targets = write_targets(settings, self.models)
        self.policy = stage_policy(cache, settings, self.models)
        self.streams = select(tuple(settings.streams), write_back_extra(settings))
        self.company = CompanyStep.of(settings, self.models)
        self.own = frozenset(name for target in self.targets
                             for name in names_of(target).values()) | frozenset(
            self.company.names.values() if self.company else ())
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="webhook-assoc")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_file = None

    # -- lifecycle ------------------------------------------------------------------------

    def claim_cache(self) -> int:
        """Become the cache's only worker (CacheBusy if another runs); release rows a dead
        worker had leased. Returns how many were released."""
        if self.cache.path != ":memory:":
            handle = open(f"{self.cache.path}.worker.lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                raise CacheBusy(f"{self.cache.path} already has a webhook worker running "
                                f"(`leadsync serve` or `leadsync worker`); stop it first") from None
            self._lock_file = handle
        now = inbox.iso(self.clock())
        # Only pending rows: a leased pending row can only be a dead worker's. A leased failed
        # row looks like one waiting out its backoff, so it keeps its lease.
        with self.cache.transaction() as conn:
            return conn.execute("UPDATE inbox SET next_attempt_at = ? WHERE status = 'pending' "
                                "AND next_attempt_at > ?", (now, now)).rowcount

    def start(self) -> None:
        """Run the loop in a background thread until `stop()`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="webhook-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the batch in hand, stop the loop, close the cache."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        self.cache.close()

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        """Poll the inbox; after a quiet spell, wait `window` so a burst becomes one batch;
        under sustained load, rest between batches (`busy_share`)."""
        idle = True
        while not self._stop.is_set():
            try:
                if not self._due():
                    idle = True
                    self._stop.wait(self.config.poll)
                    continue
                if idle and self._stop.wait(self.config.window):
                    return
                started = time.monotonic()
                idle = self.run_once() is None
                if not idle and self.config.busy_share < 1:
                    rest = (time.monotonic() - started) * (1 / self.config.busy_share - 1)
                    if self._stop.wait(rest):
                        return
            except CacheBusy:
                self._stop.wait(0.5)  # a sync or pull holds the cache: the events wait
            except Stopped:
                return  # a signal stops the process: claimed events are released on close
            except Exception:  # noqa: BLE001 - the loop must outlive any one batch
                log.exception("webhook worker: batch failed; retrying shortly")
                self._stop.wait(1.0)

    def drain(self, *, wait: float = 0.0) -> list[BatchReport]:
        """Process batches until nothing is due (`leadsync worker --once`, tests)."""
        reports = []
        while (report := self.run_once(wait=wait)) is not None:
            reports.append(report)
        return reports

    def _due(self) -> bool:
        return self.cache.conn.execute(
            "SELECT 1 FROM inbox WHERE status IN ('pending', 'failed') AND next_attempt_at <= ? "
            "LIMIT 1", (inbox.iso(self.clock()),)).fetchone() is not None

    # -- one batch ------------------------------------------------------------------------

    def run_once(self, *, wait: float = 0.0) -> BatchReport | None:
        """Claim and process one batch; None when nothing is due. CacheBusy if a run holds
        the cache for longer than `wait` seconds."""
        with run_lock(self.cache.path, "worker", wait=wait):
            now = self.clock()
            entries = inbox.claim(self.cache, self.config.batch_size, now, lease=self.config.lease)
            if not entries:
                return None
            return self.process(entries, now)

    def process(self, entries: Sequence[InboxEntry], now: datetime) -> BatchReport:
        """Handle claimed `entries`; every one ends done, dropped or failed."""
        started, calls = time.monotonic(), self.client.counters.calls
        report = BatchReport(events=len(entries))
        echo = EchoFilter(self.cache.conn, self.own, inbox.iso(now - self.config.echo_window))
        work = triage(entries, echo, self.streams, companies=self.company is not None)
        for reason, ids in work.dropped.items():
            report.dropped += inbox.mark_dropped(self.cache, ids, reason, now)
        if work.read or work.companies:
            try:
                with self.cache.run("webhook") as run:
                    outcome = self._apply(work, now, report, run.id)
                    run.api_calls = self.client.counters.calls - calls
                    run.records = report.written
                    run.details = {"events": len(entries), **report.as_dict()}
            except Exception as exc:  # noqa: BLE001 - any failure is retried, then parked
                report.error = _one_line(exc)
                report.failed += inbox.mark_failed(self.cache, work.work_ids, report.error, now,
                                                   max_attempts=self.config.max_attempts,
                                                   backoff=self.config.backoff)
                log.warning("webhook batch failed (%d events will be retried): %s",
                            report.failed, report.error)
            else:
                self._settle(work, outcome, now, report)
        report.api_calls = self.client.counters.calls - calls
        report.seconds = round(time.monotonic() - started, 3)
        log.info("webhook batch: %s", report.render())
        if self.metrics is not None:
            finished = self.clock()
            self.metrics.batch(
                ok=report.error is None, done=report.done, dropped=report.dropped,
                failed=report.failed, write_calls=report.write_calls,
                write_failures=report.write_failures, api_calls=report.api_calls,
                lags=[(finished - datetime.fromisoformat(e.received_at)).total_seconds()
                      for e in entries])
        return report

    def _settle(self, work: Triage, outcome: _Outcome, now: datetime, report: BatchReport) -> None:
        failed: dict[str, list[int]] = {}
        done: list[int] = []
        for contact_id, ids in work.read.items():
            why = outcome.failed.get(outcome.alias.get(contact_id, contact_id))
            (failed.setdefault(why, []) if why else done).extend(ids)
        for company_id, ids in work.companies.items():
            why = outcome.failed.get(f"company:{company_id}")
            (failed.setdefault(why, []) if why else done).extend(ids)
        report.done += inbox.mark_done(self.cache, done, now)
        for why, ids in failed.items():
            report.failed += inbox.mark_failed(self.cache, ids, why, now,
                                               max_attempts=self.config.max_attempts,
                                               backoff=self.config.backoff)

    def _apply(self, work: Triage, now: datetime, report: BatchReport, run_id: int) -> _Outcome:
        outcome = _Outcome()
        if work.erase:
            report.erased = erase_contacts(self.cache, sorted(work.erase))
        if work.merges:
            with self.cache.transaction() as conn:
                for survivor, merged in work.merges:
                    report.merged += apply_merge_event(conn, survivor, merged)
        wanted = sorted(set(work.read) - work.erase, key=_numeric)
        for start in range(0, len(wanted), BATCH_LIMIT):
            self._read_contacts(wanted[start:start + BATCH_LIMIT], work, outcome, report)
        linked = {outcome.alias.get(c, c): types for c, types in work.links.items() if types}
        self._refresh_links({c: t for c, t in linked.items() if c in outcome.live})
        companies = self._read_companies(sorted(work.companies, key=_numeric))
        live = sorted(outcome.live, key=_numeric)
        company = self.company
        if not live and not companies:
            return outcome
        overlay = company.overlay if company else None
        if live:
            scored = rescore(self.cache, self.models, now, contact_ids=live, trigger="webhook",
                             run_id=run_id, company_scores=overlay)
            report.scored, report.changed = scored.scored, scored.changed
        touched: list[str] = []
        if company is not None:
            touched = sorted(set(companies_of(self.cache, live)) | set(companies))
            run = company.rescore(self.cache, self.models, now, trigger="webhook",
                                  run_id=run_id, contact_ids=live, company_ids=companies)
            report.companies_scored, report.companies_changed = run.score.scored, run.score.changed
            if run.contacts_again is not None:
                live = sorted(set(live) | set(contacts_of(self.cache, run.score.changed_ids)),
                              key=_numeric)
        if live:
            pushed = push(self.cache, self.client, self.targets, self.policy,
                          contact_ids=live, concurrency=self.settings.concurrency,
                          run_id=run_id)
            report.written = pushed.contacts_written
            report.write_calls, report.write_failures = pushed.write_calls, len(pushed.failed)
        if company is not None and touched:
            company.push(self.cache, self.client, run, run_id=run_id, company_ids=touched,
                         concurrency=self.settings.concurrency)
            report.companies_written = run.push.companies_written
            outcome.failed.update({f"company:{f['company_id']}": f"write-back failed: {f['error']}"
                                   for f in run.push.failed})
        if not live:
            return outcome
        marks = ",".join("?" * len(live))
        outcome.failed.update({row[0]: f"write-back failed: {row[1]}" for row in self.cache.conn.execute(
            f"SELECT contact_id, error FROM outbox WHERE status = 'failed' "
            f"AND contact_id IN ({marks}) ORDER BY id", live)})
        return outcome

    def _read_contacts(self, ids: list[str], work: Triage, outcome: _Outcome,
                       report: BatchReport) -> None:
        """Batch-read `ids`; save the live ones, tombstone those HubSpot no longer has."""
        stream = self.streams["contacts"]
        result = self.client.batch_read("contacts", ids, properties=stream.properties)
        odd = [e for e in result.errors if str(e.get("category")) != "OBJECT_NOT_FOUND"]
        if odd:
            raise HubSpotError(f"batch read of contacts answered {odd[0].get('category')}: "
                               f"{odd[0].get('message')}")
        live = [r for r in result.results if not r.get("archived")]
        for record in live:
            answered = str(record["id"])
            for old in [answered, *merged_ids(record)]:
                outcome.alias[old] = answered
            outcome.live.add(answered)
        gone = [i for i in ids if i not in outcome.alias]
        with self.cache.transaction() as conn:
            known = _existing(conn, [str(r["id"]) for r in live])
            save_records(conn, stream, live, utcnow(), Tally())
            fresh = [str(r["id"]) for r in live if str(r["id"]) not in known]
            for contact_id in fresh:  # first sight of a contact: read all its associations
                work.links[contact_id].update(t for t in self.streams if t != "contacts")
            report.tombstoned += tombstone(conn, gone)
        report.read += len(ids)

    def _read_companies(self, ids: list[str]) -> list[str]:
        """Batch-read companies named by company events; save the live ones, mark those
        HubSpot no longer has archived. Returns the live ids."""
        if not ids or "companies" not in self.streams:
            return []
        stream = self.streams["companies"]
        live: list[str] = []
        for start in range(0, len(ids), BATCH_LIMIT):
            chunk = ids[start:start + BATCH_LIMIT]
            result = self.client.batch_read("companies", chunk, properties=stream.properties)
            records = [r for r in result.results if not r.get("archived")]
            live += [str(r["id"]) for r in records]
            gone = [i for i in chunk if i not in {str(r["id"]) for r in records}]
            with self.cache.transaction() as conn:
                save_records(conn, stream, records, utcnow(), Tally())
                conn.executemany("UPDATE companies SET archived = 1 WHERE id = ?",
                                 [(i,) for i in gone])
        return live

    def _refresh_links(self, links: dict[str, set[str]]) -> None:
        """Re-read the contacts' associations, then companies/engagements not cached yet."""
        types = sorted({t for wanted in links.values() for t in wanted if t in self.streams})
        if not types:
            return
        contacts = sorted(links, key=_numeric)
        with self.cache.transaction() as conn:
            queue_associations(conn, "contacts", contacts)
        # The pull's refresher (it drains the whole queue: a killed pull's leftovers too).
        refresher = AssociationRefresher(self.cache, self.client, self._pool, {"contacts": types})
        refresher.drain(final=True)
        refresher.wait()
        for to_type in types:
            self._read_missing(to_type, contacts)

    def _read_missing(self, to_type: str, contacts: list[str]) -> None:
        table = "engagements" if to_type in ENGAGEMENT_TYPES else "companies"
        match = ("t.type = a.to_type AND t.id = a.to_id" if table == "engagements"
                 else "t.id = a.to_id")
        marks = ",".join("?" * len(contacts))
        missing = [r[0] for r in self.cache.conn.execute(
            f"SELECT DISTINCT a.to_id FROM associations a LEFT JOIN {table} t ON {match} "
            f"WHERE a.from_type = 'contacts' AND a.to_type = ? AND a.from_id IN ({marks}) "
            f"AND t.id IS NULL ORDER BY a.to_id", [to_type, *contacts])]
        stream: Stream = self.streams[to_type]
        for start in range(0, len(missing), BATCH_LIMIT):
            chunk = missing[start:start + BATCH_LIMIT]
            result = self.client.batch_read(to_type, chunk, properties=stream.properties)
            with self.cache.transaction() as conn:
                save_records(conn, stream, result.results, utcnow(), Tally())


# ---- cache edits the events call for ---------------------------------------------------------

def tombstone(conn, contact_ids: Sequence[str]) -> int:
    """Mark cached live contacts archived (rows kept, as the pull's archive sweep does)."""
    return sum(conn.execute("UPDATE contacts SET archived = 1 WHERE id = ? AND archived = 0 "
                            "AND merged_into IS NULL", (i,)).rowcount for i in contact_ids)


def erase_contacts(cache: Cache, contact_ids: Sequence[str]) -> int:
    """GDPR deletion: drop every cached personal property of these contacts, and tombstone them.

    The row stays (so history and merges still resolve), emptied: properties, email, score,
    the ledger of values written to it and unsent writes."""
    with cache.transaction() as conn:
        erased = 0
        for contact_id in contact_ids:
            erased += conn.execute("UPDATE contacts SET properties = '{}', email = NULL, "
                                   "archived = 1 WHERE id = ?", (contact_id,)).rowcount
            conn.execute("DELETE FROM scores WHERE contact_id = ?", (contact_id,))
            conn.execute("DELETE FROM pushed WHERE contact_id = ?", (contact_id,))
            conn.execute("DELETE FROM outbox WHERE contact_id = ? AND status != 'done'",
                         (contact_id,))
            conn.execute("DELETE FROM association_queue WHERE object_type = 'contacts' AND id = ?",
                         (contact_id,))
        return erased


def apply_merge_event(conn, survivor: str, merged: Sequence[str]) -> int:
    """A merge event: the pull's `apply_merge` (pointer rows, history carried over)."""
    return apply_merge(conn, "contacts", survivor, merged)


def _existing(conn, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    marks = ",".join("?" * len(ids))
    return {r[0] for r in conn.execute(
        f"SELECT id FROM contacts WHERE pulled_at IS NOT NULL AND id IN ({marks})", ids)}


def _numeric(contact_id: str) -> tuple[int, str]:
    return (int(contact_id), "") if contact_id.isdigit() else (0, contact_id)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# ---- entry points for the commands ----------------------------------------------------------

def open_worker(db_path: str, settings: Settings, client_factory: Callable[[], HubSpot], *,
                config: WorkerConfig | None = None, clock: Clock = utc_now,
                metrics: WorkerMetrics | None = None) -> Worker:
    """A worker for the cache at `db_path`, the cache's only one. ConfigError if `leadsync
    setup` has not run or the token is missing; CacheBusy if another worker runs."""
    cache = open_cache(db_path)
    try:
        require_setup(cache.conn, write_targets(settings, load_models(settings, cache)))
        worker = Worker(cache, client_factory(), settings, config=config, clock=clock,
                        metrics=metrics)
    except BaseException:
        cache.close()
        raise
    try:
        released = worker.claim_cache()
    except BaseException:
        worker.close()
        raise
    if released:
        log.info("released %d events a stopped worker had claimed", released)
    return worker


def start_in_background(db_path: str, settings: Settings,
                        client_factory: Callable[[], HubSpot],
                        metrics: WorkerMetrics | None = None) -> Worker | None:
    """`leadsync serve`'s worker thread, or None (logged) when it cannot run: the receiver
    keeps filing events, which wait in the inbox for `leadsync worker`. Its batches count
    in `metrics` (the receiver's /metrics)."""
    try:
        worker = open_worker(db_path, settings, client_factory, metrics=metrics)
    except LeadsyncError as exc:
        log.error("webhook worker not started: %s. Events are kept in the inbox until a "
                  "worker runs (`leadsync worker`).", exc)
        return None
    worker.start()
    return worker


def run_worker(db_path: str, settings: Settings, client_factory: Callable[[], HubSpot], *,
               once: bool = False, wait: float = 0.0,
               echo: Callable[[str], None] = print) -> list[BatchReport]:
    """`leadsync worker`: drain what is due (`once`), or process events until Ctrl-C."""
    worker = open_worker(db_path, settings, client_factory)
    try:
        if once:
            reports = worker.drain(wait=wait)
            echo(f"processed {sum(r.events for r in reports)} events in {len(reports)} batches")
            for report in reports:
                echo(f"  {report.render()}")
            return reports
        try:
            with interrupted_by_signals():  # before the announcement: a stop may follow it at once
                echo(f"webhook worker on {db_path}: processing inbox events (Ctrl-C stops)")
                worker.run()
        except KeyboardInterrupt:
            pass
        return []
    finally:
        worker.close()

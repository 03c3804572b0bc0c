"""Pull HubSpot into the cache: full listings, windowed incremental search, archive sweeps.

Streams run side by side under the shared rate budget; associations are read 1,000 ids at
a time as records arrive. Every page commits with the cursor that covers it, so a killed
run resumes from its last committed page and nothing is skipped or fetched twice; a resumed
listing ends with a catch-up search from the first attempt's start, so it finishes exact.

What modified dates do not show is spread over incremental runs at a bounded cost: the
association audit re-reads the links of the contacts verified longest ago, and the archived
sweep reads a few `archived=true` pages per stream from where the last run stopped.
"""
from __future__ import annotations

import math
import time
from concurrent.futures import FIRST_EXCEPTION
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from cache.database import Cache, utcnow
from cache.records import (SweepState, SyncState, Tally, mark_archived, queue_associations,
                           read_state, read_sweep, requeue_verified, save_records, table_of,
                           tombstone_unseen, write_state, write_sweep)
from connector.associations import AssociationRefresher, AuditSlice, audit_size
from connector.client import BATCH_LIMIT, SEARCH_PAGE_LIMIT, HubSpot
from foundation.errors import HubSpotError
from foundation.shutdown import thread_pool
from mappings.streams import ENGAGEMENT_TYPES, Stream

Progress = Callable[[str, int, "int | None"], None]


@dataclass
class PullSummary:
    """What one pull did, per stream and in API calls."""

    streams: dict[str, Tally] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)
    api_calls: int = 0
    rate_limited: int = 0
    retries: int = 0
    association_calls: int = 0
    audit: AuditSlice = field(default_factory=AuditSlice)
    seconds: float = 0.0
    daily_remaining: int | None = None
    owners: int | None = None  # owners listed, when the flow refreshed them (connector/owners.py)

    @property
    def records(self) -> int:
        """Records new, changed or archived: what `pull`, `sync` and `status` call records."""
        return sum(t.new + t.changed + t.archived for t in self.streams.values())

    def as_dict(self) -> dict:
        return {"streams": {k: {"mode": self.modes.get(k), **v.as_dict()} for k, v in self.streams.items()},
                "owners": self.owners,
                "api_calls": self.api_calls, "rate_limited": self.rate_limited,
                "retries": self.retries, "association_calls": self.association_calls,
                "association_audit": {"contacts": self.audit.queued,
                                      "oldest_verified_at": self.audit.oldest},
                "seconds": round(self.seconds, 2), "daily_remaining": self.daily_remaining}

    def render(self) -> str:
        lines = [f"{'stream':<10} {'mode':<12} {'new':>8} {'changed':>8} {'archived':>8} {'merged':>7}"]
        for name, t in self.streams.items():
            lines.append(f"{name:<10} {self.modes.get(name, ''):<12} {t.new:>8,} {t.changed:>8,} "
                         f"{t.archived:>8,} {t.merged:>7,}")
        lines.append(f"{self.api_calls:,} API calls ({self.association_calls:,} for associations), "
                     f"{self.rate_limited:,} rate-limited, {self.retries:,} retried, "
                     f"{self.seconds:.1f} s")
        if self.audit.queued:
            since = (f"the oldest last verified {self.audit.oldest}" if self.audit.oldest
                     else "some never verified")
            lines.append(f"association audit: links of {self.audit.queued:,} contacts re-read "
                         f"({since})")
        return "\n".join(lines)


def pull(cache: Cache, client: HubSpot, streams: dict[str, Stream], *, full: bool = False,
         overlap: timedelta = timedelta(minutes=10), concurrency: int = 8,
         progress: Progress | None = None, now: Callable[[], str] = utcnow,
         audit_share: float = 0.05, sweep_pages: int = 1) -> PullSummary:
    """Bring the cache in step with HubSpot for `streams`; returns the summary.

    `audit_share`: the share of one 10-second window of the rate budget an incremental pull
    spends re-reading the links of the contacts verified longest ago (`audit_size`);
    `sweep_pages`: `archived=true` pages each stream reads per incremental pull."""
    started = time.monotonic()
    run_start = now()
    summary = PullSummary(streams={name: Tally() for name in streams})
    targets = {"contacts": [t for t in ("companies", *ENGAGEMENT_TYPES) if t in streams]}
    targets.update({t: ["contacts"] for t in ENGAGEMENT_TYPES if t in streams and "contacts" in streams})
    audit = audit_size(audit_share, client.budget.ten_secondly.capacity, len(targets["contacts"]))
    with thread_pool(concurrency, "assoc") as assoc_pool, \
            thread_pool(len(streams), "stream") as stream_pool:
        refresher = AssociationRefresher(cache, client, assoc_pool,
                                         targets if "contacts" in streams else {}, verifies=True)
        futures = {stream_pool.submit(_pull_stream, cache, client, stream, full, overlap,
                                      run_start, summary, progress, refresher, sweep_pages): name
                   for name, stream in streams.items()}
        audited = False
        while True:
            done, pending = wait_futures(futures, timeout=0.05, return_when=FIRST_EXCEPTION)
            finished = {futures[f] for f in done if not f.exception()}
            if not audited and "contacts" in finished:
                audited = True  # queued before the last partial batch is claimed, to fill it
                if summary.modes.get("contacts") == "incremental":
                    summary.audit = refresher.audit(audit)
            # A finished stream queues no more ids: read its last partial batch now, not last.
            refresher.drain(finished=finished)
            if not pending or any(f.exception() for f in done):
                break
        try:
            for future in futures:
                future.result()
            refresher.drain(final=True)
            refresher.wait()
        finally:
            client.budget.ten_secondly.clear_lanes()
    summary.api_calls = client.counters.calls
    summary.rate_limited = client.counters.rate_limited
    summary.retries = client.counters.retries
    summary.association_calls = refresher.batches
    summary.daily_remaining = client.budget.daily_remaining
    summary.seconds = time.monotonic() - started
    return summary


def _pull_stream(cache: Cache, client: HubSpot, stream: Stream, full: bool, overlap: timedelta,
                 run_start: str, summary: PullSummary, progress: Progress | None,
                 refresher: AssociationRefresher, sweep_pages: int) -> None:
    with cache.lock:
        state = read_state(cache.conn, stream.name)
    tally = summary.streams[stream.name]
    if state.phase == "full" or (full and state.phase is None) or state.watermark is None:
        summary.modes[stream.name] = "full"
        resumed = state.phase == "full"
        if resumed and stream.name == "contacts" and "contacts" in refresher.targets:
            # Links read before the kill may have changed during the outage, and changing a
            # link moves no modified date: read them again with this attempt's.
            with cache.transaction() as conn:
                requeue_verified(conn, state.cursor["started"], run_start)
        # The sweep needs nothing from the listing (they see disjoint records, and
        # tombstone_unseen leaves rows already archived alone), so it runs beside it rather
        # than as one more step at the end of the longest chain. A killed run sweeps again.
        with thread_pool(1, "sweep") as sweeper:
            sweep = sweeper.submit(_sweep_archived, cache, client, stream, tally, run_start)
            first_start = _full(cache, client, stream, state, run_start, tally, progress, refresher)
            sweep.result()
        if resumed:
            # Pages saved before the kill missed edits made since: search from the first
            # attempt's start, as an incremental pull would, so the run ends exact.
            _incremental(cache, client, stream, SyncState(stream.name, first_start), overlap,
                         run_start, tally, progress)
        # Tombstones neither listed live nor listed archived by this attempt were restored
        # (perhaps during an outage) or deleted for good.
        _recheck_tombstones(cache, client, stream, run_start, tally)
        return
    summary.modes[stream.name] = "incremental"
    if state.phase == "incremental":  # finish the window a killed run left half done
        state = _incremental(cache, client, stream, state, overlap, run_start, tally, progress)
    _incremental(cache, client, stream, state, overlap, run_start, tally, progress)
    _sweep_some(cache, client, stream, sweep_pages, tally)


def _full(cache: Cache, client: HubSpot, stream: Stream, state: SyncState, run_start: str,
          tally: Tally, progress: Progress | None, refresher: AssociationRefresher) -> str:
    """List every live record from the saved cursor on; returns when the listing started
    (the first attempt's start, for a resumed one), which becomes the watermark."""
    cursor = state.cursor if state.phase == "full" else {"started": run_start, "after": None}
    done = cursor.get("done", 0)
    total = _estimate_total(client, stream)
    if stream.name == "contacts" and total is not None:
        refresher.expect(total)
    lane = Lane(client, f"list {stream.name}")
    while True:
        if total is not None:
            lane.plan(math.ceil(max(total - done, 0) / BATCH_LIMIT))
        page = client.list_page(stream.name, properties=stream.properties, after=cursor["after"],
                                limit=BATCH_LIMIT, lane=lane.name if total is not None else None)
        lane.page_arrived()
        with cache.transaction() as conn:
            ids = save_records(conn, stream, page.results, utcnow(), tally)
            if stream.name == "contacts":
                queue_associations(conn, "contacts", ids)
            done += len(ids)
            cursor = {**cursor, "after": page.after, "done": done}
            write_state(conn, SyncState(stream.name, state.watermark, "full", cursor), utcnow())
        if progress:
            progress(stream.name, done, total)
        if page.after is None:
            break
    lane.plan(0)
    with cache.transaction() as conn:
        tally.archived += tombstone_unseen(conn, stream, cursor["started"])
        write_state(conn, SyncState(stream.name, cursor["started"]), utcnow())
    return cursor["started"]


def _incremental(cache: Cache, client: HubSpot, stream: Stream, state: SyncState,
                 overlap: timedelta, run_start: str, tally: Tally,
                 progress: Progress | None) -> SyncState:
    """Search one modified-date window, restarting on `hs_object_id > last` so the 10,000
    result cap never applies; the window and last id are committed with every page."""
    if state.phase == "incremental":
        window = state.cursor
    else:
        since = _shift(state.watermark, -overlap)
        window = {"since": since, "until": run_start, "last_id": 0}
    done = 0
    while True:
        page = client.search_page(stream.name, _search_body(stream, window))
        with cache.transaction() as conn:
            ids = save_records(conn, stream, page.results, utcnow(), tally)
            if stream.name == "contacts" or (stream.is_engagement and ids):
                queue_associations(conn, stream.name, ids)
            if ids:
                window = {**window, "last_id": max(int(i) for i in ids)}
            more = page.after is not None and bool(ids)
            next_state = (SyncState(stream.name, state.watermark, "incremental", window) if more
                          else SyncState(stream.name, window["until"]))
            write_state(conn, next_state, utcnow())
        done += len(ids)
        if progress:
            progress(stream.name, done, page.total)
        if not more:
            return next_state


class Lane:
    """A listing's pages as one lane of the rate budget: pages left, and its natural pace
    (a call's latency plus the time to save its page, never the time spent waiting for the
    budget: counting that would shrink a starved chain's share further)."""

    def __init__(self, client: HubSpot, name: str):
        self.client = client
        self.name = name
        self.saving = 0.0
        self._page_arrived: float | None = None

    def plan(self, pages_left: int) -> None:
        if self._page_arrived is not None:
            self.saving = 0.7 * self.saving + 0.3 * (time.monotonic() - self._page_arrived)
        step = self.client.counters.latency + self.saving
        self.client.budget.ten_secondly.plan(self.name, pages_left, step)

    def page_arrived(self) -> None:
        self._page_arrived = time.monotonic()


def _estimate_total(client: HubSpot, stream: Stream) -> int | None:
    """How many live records a listing will see (for the rate-budget lanes and progress):
    one search call, on the search budget, which the 10-second window does not count."""
    try:
        return client.search_page(stream.name, {"limit": 1, "properties": ["hs_object_id"]}).total
    except HubSpotError:
        return None  # only a display hint: the listing itself decides


def _search_body(stream: Stream, window: dict) -> dict:
    filters = [
        {"propertyName": stream.modified_property, "operator": "GTE", "value": _ms(window["since"])},
        {"propertyName": stream.modified_property, "operator": "LTE", "value": _ms(window["until"])},
        {"propertyName": "hs_object_id", "operator": "GT", "value": str(window["last_id"])},
    ]
    return {"filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": list(stream.properties), "limit": SEARCH_PAGE_LIMIT}


def _sweep_archived(cache: Cache, client: HubSpot, stream: Stream, tally: Tally,
                    run_start: str) -> None:
    """Archiving does not move modified dates: list every archived record and tombstone it
    (a full pull). A complete sweep is a complete cycle of the rolling one."""
    after = None
    pages = 0
    while True:
        page = client.list_page(stream.name, properties=stream.properties, after=after,
                                archived=True, limit=BATCH_LIMIT)
        pages += 1
        with cache.transaction() as conn:
            _save_archived(conn, stream, page.results, tally)
            if page.after is None:
                write_sweep(conn, SweepState(stream.name, last_pages=pages,
                                             last_completed=run_start), utcnow())
        after = page.after
        if after is None:
            return


def _sweep_some(cache: Cache, client: HubSpot, stream: Stream, pages: int, tally: Tally) -> None:
    """An incremental pull's share of the archived sweep: up to `pages` pages of the
    `archived=true` listing from where the last run stopped, the cursor committed with each.

    HubSpot offers no archived-since filter (docs/pull.md), so a cycle lists the whole
    archive; a deletion is seen within one cycle, ⌈archived pages / pages⌉ runs, after it.
    At the end of a cycle, tombstones it did not list are read back."""
    with cache.lock:
        state = read_sweep(cache.conn, stream.name)
    if state.after is None and state.cycle_started is not None:
        _end_cycle(cache, client, stream, state, tally)  # a run killed before its recheck
        return
    if state.after is None:
        state = SweepState(stream.name, None, utcnow(), 0, state.last_pages, state.last_completed)
    for _ in range(max(pages, 0)):
        page = client.list_page(stream.name, properties=stream.properties, after=state.after,
                                archived=True, limit=BATCH_LIMIT)
        state = SweepState(stream.name, page.after, state.cycle_started, state.pages + 1,
                           state.last_pages, state.last_completed)
        with cache.transaction() as conn:
            _save_archived(conn, stream, page.results, tally)
            write_sweep(conn, state, utcnow())
        if page.after is None:
            _end_cycle(cache, client, stream, state, tally)
            return


def _end_cycle(cache: Cache, client: HubSpot, stream: Stream, state: SweepState,
               tally: Tally) -> None:
    _recheck_tombstones(cache, client, stream, state.cycle_started, tally)
    with cache.transaction() as conn:
        write_sweep(conn, SweepState(stream.name, None, None, 0, state.pages, utcnow()), utcnow())


def _save_archived(conn, stream: Stream, records: list[dict], tally: Tally) -> None:
    mark_archived(conn, stream, records, utcnow(), tally)
    if stream.name == "contacts" and records:
        conn.executemany("DELETE FROM association_queue WHERE object_type = 'contacts' "
                         "AND id = ?", [(str(r["id"]),) for r in records])


def _recheck_tombstones(cache: Cache, client: HubSpot, stream: Stream, since: str,
                        tally: Tally) -> None:
    """Tombstones no sweep has listed as archived since `since` were restored or deleted for
    good: read them back; restored ones return to life, the rest become `archived = 2` (gone).

    Listing a tombstone as archived stamps its `pulled_at`, so these are the ones older."""
    table = table_of(stream)
    type_filter = " AND type = ?" if table == "engagements" else ""
    merged = "" if table == "engagements" else " AND merged_into IS NULL"
    params = (since, stream.name) if type_filter else (since,)
    with cache.lock:
        ids = [r[0] for r in cache.conn.execute(
            f"SELECT id FROM {table} WHERE archived = 1{merged} "
            f"AND (pulled_at IS NULL OR pulled_at < ?){type_filter}", params)]
    for start in range(0, len(ids), BATCH_LIMIT):
        chunk = ids[start:start + BATCH_LIMIT]
        result = client.batch_read(stream.name, chunk, properties=stream.properties)
        live = [r for r in result.results if not r.get("archived") and str(r["id"]) in chunk]
        gone = set(chunk) - {str(r["id"]) for r in live}
        with cache.transaction() as conn:
            restored = Tally()
            save_records(conn, stream, live, utcnow(), restored)
            tally.restored += len(live)
            if stream.name == "contacts" and live:
                queue_associations(conn, "contacts", [str(r["id"]) for r in live])
            conn.executemany(f"UPDATE {table} SET archived = 2 WHERE id = ?{type_filter}",
                             [(i, *params[1:]) for i in gone])


def _ms(iso: str) -> str:
    return str(int(_parse(iso).timestamp() * 1000))


def _shift(iso: str, delta: timedelta) -> str:
    return (_parse(iso) + delta).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(iso: str) -> datetime:
    value = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)

"""Pull HubSpot into the cache: full listings, windowed incremental search, archive sweeps.

Streams run side by side under the shared rate budget; associations are read 1,000 ids at
a time as records arrive. Every page commits with the cursor that covers it, so a killed
run resumes from its last committed page and nothing is skipped or fetched twice.
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
from cache.records import (SyncState, Tally, mark_archived, queue_associations, read_state,
                           save_records, table_of, tombstone_unseen, write_state)
from connector.associations import AssociationRefresher
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
    seconds: float = 0.0
    daily_remaining: int | None = None

    def as_dict(self) -> dict:
        return {"streams": {k: {"mode": self.modes.get(k), **v.as_dict()} for k, v in self.streams.items()},
                "api_calls": self.api_calls, "rate_limited": self.rate_limited,
                "retries": self.retries, "association_calls": self.association_calls,
                "seconds": round(self.seconds, 2), "daily_remaining": self.daily_remaining}

    def render(self) -> str:
        lines = [f"{'stream':<10} {'mode':<12} {'new':>8} {'changed':>8} {'archived':>8} {'merged':>7}"]
        for name, t in self.streams.items():
            lines.append(f"{name:<10} {self.modes.get(name, ''):<12} {t.new:>8,} {t.changed:>8,} "
                         f"{t.archived:>8,} {t.merged:>7,}")
        lines.append(f"{self.api_calls:,} API calls ({self.association_calls:,} for associations), "
                     f"{self.rate_limited:,} rate-limited, {self.retries:,} retried, "
                     f"{self.seconds:.1f} s")
        return "\n".join(lines)


def pull(cache: Cache, client: HubSpot, streams: dict[str, Stream], *, full: bool = False,
         overlap: timedelta = timedelta(minutes=10), concurrency: int = 8,
         progress: Progress | None = None, now: Callable[[], str] = utcnow) -> PullSummary:
    """Bring the cache in step with HubSpot for `streams`; returns the summary."""
    started = time.monotonic()
    run_start = now()
    summary = PullSummary(streams={name: Tally() for name in streams})
    targets = {"contacts": [t for t in ("companies", *ENGAGEMENT_TYPES) if t in streams]}
    targets.update({t: ["contacts"] for t in ENGAGEMENT_TYPES if t in streams and "contacts" in streams})
    with thread_pool(concurrency, "assoc") as assoc_pool, \
            thread_pool(len(streams), "stream") as stream_pool:
        refresher = AssociationRefresher(cache, client, assoc_pool,
                                         targets if "contacts" in streams else {})
        futures = {stream_pool.submit(_pull_stream, cache, client, stream, full, overlap,
                                      run_start, summary, progress, refresher): name
                   for name, stream in streams.items()}
        while True:
            done, pending = wait_futures(futures, timeout=0.05, return_when=FIRST_EXCEPTION)
            # A finished stream queues no more ids: read its last partial batch now, not last.
            refresher.drain(finished={futures[f] for f in done})
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
                 refresher: AssociationRefresher) -> None:
    with cache.lock:
        state = read_state(cache.conn, stream.name)
    tally = summary.streams[stream.name]
    if state.phase == "full" or (full and state.phase is None) or state.watermark is None:
        summary.modes[stream.name] = "full"
        # The sweep needs nothing from the listing (they see disjoint records, and
        # tombstone_unseen leaves rows already archived alone), so it runs beside it rather
        # than as one more step at the end of the longest chain. A killed run sweeps again.
        with thread_pool(1, "sweep") as sweeper:
            sweep = sweeper.submit(_sweep_archived, cache, client, stream, tally)
            _full(cache, client, stream, state, run_start, tally, progress, refresher)
            sweep.result()
        return
    summary.modes[stream.name] = "incremental"
    if state.phase == "incremental":  # finish the window a killed run left half done
        state = _incremental(cache, client, stream, state, overlap, run_start, tally, progress)
    _incremental(cache, client, stream, state, overlap, run_start, tally, progress)
    archived = _sweep_archived(cache, client, stream, tally)
    _recheck_tombstones(cache, client, stream, archived, tally)


def _full(cache: Cache, client: HubSpot, stream: Stream, state: SyncState, run_start: str,
          tally: Tally, progress: Progress | None, refresher: AssociationRefresher) -> None:
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


def _sweep_archived(cache: Cache, client: HubSpot, stream: Stream, tally: Tally) -> set[str]:
    """Archiving does not move modified dates: list archived records and tombstone them.

    Returns the ids HubSpot lists as archived."""
    after = None
    listed: set[str] = set()
    while True:
        page = client.list_page(stream.name, properties=stream.properties, after=after,
                                archived=True, limit=BATCH_LIMIT)
        listed.update(str(r["id"]) for r in page.results)
        with cache.transaction() as conn:
            mark_archived(conn, stream, page.results, utcnow(), tally)
            if stream.name == "contacts" and page.results:
                conn.executemany("DELETE FROM association_queue WHERE object_type = 'contacts' "
                                 "AND id = ?", [(str(r["id"]),) for r in page.results])
        after = page.after
        if after is None:
            return listed


def _recheck_tombstones(cache: Cache, client: HubSpot, stream: Stream, listed: set[str],
                        tally: Tally) -> None:
    """Tombstones HubSpot no longer lists as archived were restored or deleted for good:
    read them back; restored ones return to life, the rest become `archived = 2` (gone)."""
    table = table_of(stream)
    type_filter = " AND type = ?" if table == "engagements" else ""
    merged = "" if table == "engagements" else " AND merged_into IS NULL"
    params = (stream.name,) if type_filter else ()
    with cache.lock:
        ids = [r[0] for r in cache.conn.execute(
            f"SELECT id FROM {table} WHERE archived = 1{merged}{type_filter}", params)
            if r[0] not in listed]
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
                             [(i, *params) for i in gone])


def _ms(iso: str) -> str:
    return str(int(_parse(iso).timestamp() * 1000))


def _shift(iso: str, delta: timedelta) -> str:
    return (_parse(iso) + delta).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(iso: str) -> datetime:
    value = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)

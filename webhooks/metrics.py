"""Prometheus metrics of `leadsync serve`: `GET /metrics` in the text exposition format.

Two kinds of series, in one registry per receiver (never the global one, so tests and two
receivers in one process do not share counts):

- counted in this process as things happen: deliveries accepted and refused (by reason),
  events received, and, when the worker runs as `serve`'s thread, its batches, events by
  outcome, write-back calls and failures, API calls and the lag from receipt to processing;
- read from the cache at each scrape: inbox depth and states, the age of the oldest event
  waiting, and the API budget the worker's client has left. These hold whichever process
  drains the inbox (`leadsync worker` included), because the inbox is shared.

docs/webhooks.md lists every series and the alert rules that go with them.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from cache import inbox
from cache.database import Cache
from connector.ratelimit import Budget

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Refusal reasons, one label value each (docs/webhooks.md "What is verified").
REFUSAL_REASONS = ("not_found", "method_not_allowed", "bad_content_length", "too_large",
                   "signature_missing", "timestamp_invalid", "timestamp_stale",
                   "timestamp_future", "signature_mismatch", "not_json", "not_array",
                   "bad_event", "inbox_unavailable")
INBOX_STATES = ("pending", "failed", "done", "dropped", "parked")
_LAG_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)


class ServeMetrics:
    """The registry `/metrics` renders, and the counters the receiver and worker bump."""

    def __init__(self, read_inbox: Callable[[], Cache], clock: Callable[[], datetime]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.accepted = Counter("leadsync_webhook_deliveries_accepted",
                                "Deliveries verified and committed to the inbox (answered 204).",
                                registry=r)
        self.refused = Counter("leadsync_webhook_deliveries_refused",
                               "Requests refused, by reason; a refused delivery writes nothing.",
                               ["reason"], registry=r)
        for reason in REFUSAL_REASONS:
            self.refused.labels(reason)  # every reason exported from the start, at 0
        self.received = Counter("leadsync_webhook_events_received",
                                "Events in accepted deliveries, duplicates included.", registry=r)
        self.new = Counter("leadsync_webhook_events_new",
                           "Events accepted that were not already in the inbox.", registry=r)
        self.worker = WorkerMetrics(r)
        self._inbox = _InboxCollector(read_inbox, clock, self.worker)
        r.register(self._inbox)

    def accept(self, received: int, new: int) -> None:
        self.accepted.inc()
        self.received.inc(received)
        self.new.inc(new)

    def refuse(self, reason: str) -> None:
        self.refused.labels(reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class WorkerMetrics:
    """What `serve`'s worker thread reports after each batch (webhooks/worker.py)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.batches = Counter("leadsync_worker_batches", "Inbox batches processed, by outcome.",
                               ["outcome"], registry=registry)
        self.events = Counter("leadsync_worker_events", "Events the worker finished, by outcome.",
                              ["outcome"], registry=registry)
        self.write_calls = Counter("leadsync_writeback_calls",
                                   "Batch update calls the worker's pushes made.",
                                   registry=registry)
        self.write_failures = Counter("leadsync_writeback_failures",
                                      "Contacts whose write-back failed in the worker's pushes.",
                                      registry=registry)
        self.api_calls = Counter("leadsync_hubspot_api_calls",
                                 "HubSpot API calls the worker made (reads and writes).",
                                 registry=registry)
        self.lag = Histogram("leadsync_worker_event_lag_seconds",
                             "Seconds from an event's receipt to the worker finishing it.",
                             buckets=_LAG_BUCKETS, registry=registry)
        for outcome in ("ok", "failed"):
            self.batches.labels(outcome)
        for outcome in ("done", "dropped", "failed"):
            self.events.labels(outcome)
        self.budget: Budget | None = None  # the worker client's, once the worker runs

    def batch(self, *, ok: bool, done: int, dropped: int, failed: int, write_calls: int,
              write_failures: int, api_calls: int, lags: list[float]) -> None:
        self.batches.labels("ok" if ok else "failed").inc()
        self.events.labels("done").inc(done)
        self.events.labels("dropped").inc(dropped)
        self.events.labels("failed").inc(failed)
        self.write_calls.inc(write_calls)
        self.write_failures.inc(write_failures)
        self.api_calls.inc(api_calls)
        for seconds in lags:
            self.lag.observe(max(seconds, 0.0))


class _InboxCollector(Collector):
    """Series read from the cache (and the worker's budget) at each scrape."""

    def __init__(self, read_inbox: Callable[[], Cache], clock: Callable[[], datetime],
                 worker: WorkerMetrics) -> None:
        self.read_inbox, self.clock, self.worker = read_inbox, clock, worker

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # only known at scrape time (the budget only once the worker runs)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("leadsync_inbox_up", "1 when the inbox could be read.")
        try:
            cache = self.read_inbox()
            states = dict(cache.conn.execute("SELECT status, COUNT(*) FROM inbox GROUP BY status"))
            m = inbox.metrics(cache, self.clock())
        except sqlite3.Error:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("leadsync_inbox_depth",
                                  "Events waiting for the worker (pending + failed).")
        depth.add_metric([], m.depth)
        yield depth
        by_state = GaugeMetricFamily("leadsync_inbox_events", "Inbox rows by state.",
                                     labels=["status"])
        for state in INBOX_STATES:
            by_state.add_metric([state], states.get(state, 0))
        yield by_state
        lag = GaugeMetricFamily("leadsync_inbox_oldest_pending_age_seconds",
                                "Seconds since the oldest waiting event was received (0: none).")
        lag.add_metric([], m.oldest_pending_age_s or 0.0)
        yield lag
        yield from self._budget()

    def _budget(self) -> Iterator[GaugeMetricFamily]:
        budget = self.worker.budget
        if budget is None:
            return
        window = GaugeMetricFamily("leadsync_hubspot_budget_remaining",
                                   "Requests the worker's client may still start in HubSpot's "
                                   "rolling 10-second window.")
        window.add_metric([], budget.ten_secondly.remaining())
        yield window
        limit = GaugeMetricFamily("leadsync_hubspot_budget_limit",
                                  "HubSpot's limit per 10 seconds, as last seen.")
        limit.add_metric([], budget.ten_secondly.capacity)
        yield limit
        if budget.daily_remaining is not None:
            daily = GaugeMetricFamily("leadsync_hubspot_daily_remaining",
                                      "Requests left today (X-HubSpot-RateLimit-Daily-Remaining).")
            daily.add_metric([], budget.daily_remaining)
            yield daily

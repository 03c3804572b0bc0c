"""The HubSpot client: the only module that imports `hubspot`.

Calls go through the official SDK's typed APIs pointed at any base URL. Hot paths ask for
the raw urllib3 response (`_preload_content=False`) and parse JSON themselves: the SDK's
model deserialisation costs ~60x `json.loads`. Retries happen once, here (tenacity); the
SDK's own urllib3 retry is switched off so it cannot double them or sleep on Retry-After.
"""
from __future__ import annotations

import itertools
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

import hubspot
import urllib3
from hubspot.crm.associations.v4 import ApiException as AssociationsApiException
from hubspot.crm.objects import ApiException as ObjectsApiException
from hubspot.crm.properties import ApiException as PropertiesApiException
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from connector import failures
from connector.ratelimit import SECONDLY, TEN_SECONDLY, Budget
from foundation import shutdown
from foundation.errors import ConfigError, HubSpotError

_SDK_ERRORS = (ObjectsApiException, AssociationsApiException, PropertiesApiException)
_CONNECTION_ERRORS = (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError)
BATCH_LIMIT = 100
ASSOCIATION_BATCH_LIMIT = 1000
SEARCH_PAGE_LIMIT = 200


def backoff_wait(initial: float = 0.5, maximum: float = 30.0) -> Callable[[RetryCallState], float]:
    """Wait what the server asked for; else exponential backoff with full jitter.

    A 10-second-window 429 waits nothing here: the shared limiter has been told the window is
    spent, so every thread (this one included) queues there until it has room again.
    """
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, HubSpotError):
            if exc.retry_after is not None:
                return min(exc.retry_after, 60.0)
            if exc.status == 429 and exc.policy == TEN_SECONDLY:
                return 0.0
        return random.uniform(0, min(maximum, initial * 2 ** (state.attempt_number - 1)))
    return wait


def default_retrying(attempts: int = 8) -> Retrying:
    """The one retry policy: retriable failures only, backoff with jitter, then re-raise."""
    return Retrying(retry=retry_if_exception(failures.is_retriable), wait=backoff_wait(),
                    stop=stop_after_attempt(attempts), reraise=True)


OWNERS_LIMIT = 500  # HubSpot's largest owners page


@dataclass(frozen=True)
class Page:
    """One page of records and the cursor to the next (None on the last page)."""

    results: list[dict]
    after: str | None
    total: int | None = None


@dataclass(frozen=True)
class BatchResult:
    """A batch answer: HTTP status (200 or 207), per-record results and per-input errors."""

    status: int
    results: list[dict]
    errors: list[dict]


@dataclass
class Counters:
    """What a client did, for run summaries (thread-safe increments)."""

    calls: int = 0
    rate_limited: int = 0
    retries: int = 0
    latency: float = 0.25  # moving average of one successful call, in seconds
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe_latency(self, seconds: float) -> None:
        with self._lock:
            self.latency = 0.8 * self.latency + 0.2 * seconds

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)


class HubSpot:
    """Typed, rate-budgeted, retrying access to the HubSpot endpoints leadsync uses."""

    def __init__(self, *, base_url: str, token: str, budget: Budget, concurrency: int = 8,
                 retrying: Retrying | None = None, timeout: tuple[float, float] = (5.0, 30.0),
                 on_retry: Callable[[str], None] | None = None):
        self.base_url = check_base_url(base_url)
        sdk = hubspot.Client.create(access_token=token, host=self.base_url, retry=False,
                                    connection_pool_maxsize=max(concurrency, 1))
        # Each discovery attribute builds a new ApiClient (and pool): build each once.
        self._objects = sdk.crm.objects.basic_api
        self._search = sdk.crm.objects.search_api
        self._batch = sdk.crm.objects.batch_api
        self._associations = sdk.crm.associations.v4.batch_api
        self._properties = sdk.crm.properties.core_api
        self._groups = sdk.crm.properties.groups_api
        self._owners = sdk.crm.owners.owners_api
        self.budget = budget
        # Back-offs wait on the stop flag, so Ctrl-C ends them at once; each retry is announced.
        self.retrying = (retrying or default_retrying()).copy(
            sleep=shutdown.sleep, before_sleep=self._announce_retry)
        self.timeout = timeout
        self.counters = Counters()
        self.on_retry = on_retry
        self._answered = False  # has anything at base_url ever answered this client?

    # -- records -------------------------------------------------------------------------

    def list_page(self, object_type: str, *, properties: Sequence[str], after: str | None = None,
                  archived: bool = False, limit: int = BATCH_LIMIT, lane: str | None = None) -> Page:
        """One page of the list endpoint (`archived=True` lists only archived records)."""
        doc = self._call(f"list {object_type}", TEN_SECONDLY, lambda: self._objects.get_page(
            object_type, limit=limit, after=after, properties=list(properties),
            archived=archived, _preload_content=False, _request_timeout=self.timeout), lane=lane)
        return Page(doc.get("results") or [], _next_after(doc))

    def search_page(self, object_type: str, request: dict) -> Page:
        """One page of CRM search (`request` is the JSON body HubSpot documents)."""
        doc = self._call(f"search {object_type}", SECONDLY, lambda: self._search.do_search(
            object_type, request, _preload_content=False, _request_timeout=self.timeout))
        return Page(doc.get("results") or [], _next_after(doc), doc.get("total"))

    def batch_read(self, object_type: str, ids: Sequence[str], *, properties: Sequence[str],
                   archived: bool = False) -> BatchResult:
        """Read up to 100 records by id; unknown ids come back as per-input errors (207)."""
        _check_size(ids, BATCH_LIMIT)
        body = {"inputs": [{"id": str(i)} for i in ids], "properties": list(properties),
                "propertiesWithHistory": []}
        return self._batch_call(f"batch read {object_type}", lambda: self._batch.read(
            object_type, body, archived=archived, _preload_content=False,
            _request_timeout=self.timeout))

    def batch_update(self, object_type: str, inputs: Sequence[dict]) -> BatchResult:
        """Update up to 100 records: inputs are `{"id": …, "properties": {…}}`."""
        _check_size(inputs, BATCH_LIMIT)
        body = {"inputs": list(inputs)}
        return self._batch_call(f"batch update {object_type}", lambda: self._batch.update(
            object_type, body, _preload_content=False, _request_timeout=self.timeout))

    def associations(self, from_type: str, to_type: str, inputs: Sequence[dict],
                     lane: str | None = None) -> BatchResult:
        """Associations v4 batch read: inputs are `{"id": …}` or `{"id": …, "after": cursor}`."""
        _check_size(inputs, ASSOCIATION_BATCH_LIMIT)
        body = {"inputs": list(inputs)}
        return self._batch_call(f"read {from_type}→{to_type} associations",
                                lambda: self._associations.get_page(
                                    from_type, to_type, body, _preload_content=False,
                                    _request_timeout=self.timeout), lane)

    def owners_page(self, *, after: str | None = None, limit: int = OWNERS_LIMIT) -> Page:
        """One page of the portal's owners (`GET /crm/v3/owners`, active ones)."""
        doc = self._call("list owners", TEN_SECONDLY, lambda: self._owners.get_page(
            after=after, limit=limit, archived=False, _preload_content=False,
            _request_timeout=self.timeout))
        return Page(doc.get("results") or [], _next_after(doc))

    # -- properties ----------------------------------------------------------------------

    def properties(self, object_type: str) -> list[dict]:
        """Every property definition of `object_type` (one unpaged call)."""
        doc = self._call(f"read {object_type} properties", TEN_SECONDLY, lambda: self._properties.get_all(
            object_type, _preload_content=False, _request_timeout=self.timeout))
        return doc.get("results") or []

    def create_property(self, object_type: str, definition: dict) -> dict:
        """Create a property; raises Conflict (409) when it exists."""
        return self._call(f"create property {definition.get('name')}", TEN_SECONDLY,
                          lambda: self._properties.create(object_type, definition,
                                                          _preload_content=False,
                                                          _request_timeout=self.timeout))

    def create_property_group(self, object_type: str, group: dict) -> dict:
        """Create a property group; raises Conflict (409) when it exists."""
        return self._call(f"create property group {group.get('name')}", TEN_SECONDLY,
                          lambda: self._groups.create(object_type, group, _preload_content=False,
                                                      _request_timeout=self.timeout))

    # -- the one place a call is budgeted, retried, counted and translated ----------------

    def _batch_call(self, what: str, send: Callable[[], Any], lane: str | None = None) -> BatchResult:
        status_box: list[int] = []
        doc = self._call(what, TEN_SECONDLY, send, status_box, lane=lane)
        return BatchResult(status_box[-1], doc.get("results") or [], doc.get("errors") or [])

    def _call(self, what: str, policy: str, send: Callable[[], Any],
              status_box: list[int] | None = None, *, lane: str | None = None) -> dict:
        attempts = itertools.count()
        for attempt in self.retrying:
            with attempt:
                if next(attempts):
                    self.counters.add(retries=1)
                return self._once(what, policy, send, status_box, lane)
        raise AssertionError("unreachable: Retrying re-raises")  # pragma: no cover

    def _announce_retry(self, state: RetryCallState) -> None:
        if self.on_retry is None or state.outcome is None:
            return
        exc = state.outcome.exception()
        if isinstance(exc, HubSpotError) and exc.status == 429:
            return  # pacing: the shared limiter waits for the window; summaries count these
        attempts = getattr(self.retrying.stop, "max_attempt_number", None)
        of = f"/{attempts}" if attempts else ""
        wait = state.next_action.sleep if state.next_action else 0.0
        self.on_retry(f"retrying {state.attempt_number + 1}{of} in {wait:.1f} s after {exc}")

    def _once(self, what: str, policy: str, send: Callable[[], Any],
              status_box: list[int] | None, lane: str | None) -> dict:
        shutdown.check()
        limiter = self.budget.limiter(policy)
        limiter.acquire(lane)
        shutdown.check()
        self.counters.add(calls=1)
        started = time.monotonic()
        try:
            response = send()
            data = response.data
            self.counters.observe_latency(time.monotonic() - started)
        except _SDK_ERRORS as exc:
            shutdown.check()  # a stop came while we waited: write nothing more
            self._answered = self._answered or bool(exc.status)
            if exc.status and failures.foreign_body(exc.status, exc.body, exc.headers):
                raise failures.not_hubspot(self.base_url, what, exc.status, exc.headers) from None
            error = failures.from_response(exc.status or 0, exc.body, exc.headers, what)
            self.budget.observe(policy, exc.headers)
            if error.status == 429:
                self.counters.add(rate_limited=1)
                self.budget.limiter(error.policy or policy).exhausted()
            if not error.status:
                raise failures.connection_failure(exc, what) from None
            raise error from None
        except _CONNECTION_ERRORS as exc:
            shutdown.check()
            if not self._answered and isinstance(exc, _NOTHING_ANSWERS):
                raise failures.nothing_answers(self.base_url, exc) from None
            raise failures.connection_failure(exc, what) from None
        shutdown.check()
        self._answered = True
        self.budget.observe(policy, response.headers)
        if status_box is not None:
            status_box.append(response.status)
        try:
            doc = json.loads(data) if data else {}
        except ValueError:
            raise failures.unreadable(self.base_url, what, response.status, response.headers) from None
        if not isinstance(doc, dict):
            raise failures.not_hubspot(self.base_url, what, response.status, response.headers)
        return doc


# Connecting failed (refused, no such host, no route, connect timeout): nothing listens there.
_NOTHING_ANSWERS = (urllib3.exceptions.ConnectTimeoutError,)


def check_base_url(base_url: str) -> str:
    """`base_url` without its trailing slash, or ConfigError if it cannot be an API address."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--base-url {base_url!r} is not an http(s) address (expected e.g. "
                          f"https://api.hubapi.com or http://127.0.0.1:8080); check --base-url, "
                          f"LEADSYNC_BASE_URL or hubspot.base_url")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigError(f"--base-url {base_url!r} has a port that is not a number; "
                          f"check --base-url") from None
    return base_url.strip().rstrip("/")


def _next_after(doc: dict) -> str | None:
    after = ((doc.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None


def _check_size(items: Sequence, limit: int) -> None:
    if len(items) > limit:
        raise ValueError(f"a batch holds at most {limit} inputs, got {len(items)}")


def connect(*, base_url: str, token: str, tier: int, concurrency: int,
            retrying: Retrying | None = None,
            on_retry: Callable[[str], None] | None = None) -> HubSpot:
    """A client with a fresh budget for `tier` requests per 10 seconds; `on_retry` hears one
    line per retry (cli.py prints it on stderr)."""
    return HubSpot(base_url=base_url, token=token,
                   budget=Budget.for_tier(tier, sleep=shutdown.sleep),
                   concurrency=concurrency, retrying=retrying, on_retry=on_retry)

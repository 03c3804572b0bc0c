"""The webhook emitter: turns portal changes into HubSpot webhook deliveries — JSON arrays of
≤100 events, v3-signed, sent from a background thread, retried with attemptNumber + 1."""
from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import requests

from .associations import PLURAL, SINGULAR
from .clock import Clock, system_clock
from .records import ChangeEvent

DEFAULT_SUBSCRIPTIONS = ("contact.creation", "contact.propertyChange", "contact.deletion",
                         "contact.privacyDeletion", "contact.merge", "contact.restore",
                         "contact.associationChange")
MAX_EVENTS_PER_REQUEST = 100
# HubSpot will not announce these (§3 traps).
_UNWATCHABLE = {"hs_lastmodifieddate", "lastmodifieddate", "num_unique_conversion_events"}
# §8 sandbox choice: decode these escapes in the URL before signing.
_SIGNING_DECODES = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
                    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


@dataclass(frozen=True)
class Subscription:
    """`contact.propertyChange` (all properties) or one property of it."""

    id: int
    subscription_type: str
    property_name: str | None = None

    def matches(self, subscription_type: str, property_name: str | None) -> bool:
        if subscription_type != self.subscription_type:
            return False
        return self.property_name is None or self.property_name == property_name


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    client_secret: str
    app_id: int = 54321
    subscriptions: tuple[Subscription, ...] = ()
    batch_window_ms: int = 50
    duplicate_rate: float = 0.0
    timeout_s: float = 5.0
    max_attempts: int = 10
    retry_backoff_s: float = 0.05

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["client_secret"] = "***"
        return body


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST to the target: which events, which attempt, and how it ended."""

    event_ids: tuple[int, ...]
    attempt_number: int
    status: int | None          # None: connection failed or timed out
    error: str | None
    duplicate: bool = False


@dataclass(order=True)
class _Batch:
    due: float
    seq: int
    events: list[dict[str, Any]] = field(compare=False)
    config: WebhookConfig = field(compare=False)
    attempt: int = field(default=0, compare=False)
    duplicate: bool = field(default=False, compare=False)


def sign_v3(client_secret: str, method: str, url: str, body: str, timestamp_ms: str) -> str:
    """`X-HubSpot-Signature-v3`: base64 HMAC-SHA256 over method + URL + body + timestamp."""
    for escaped, plain in _SIGNING_DECODES.items():
        url = url.replace(escaped, plain).replace(escaped.lower(), plain)
    message = f"{method}{url}{body}{timestamp_ms}".encode()
    digest = hmac.new(client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def parse_subscriptions(raw: Iterable[Any] | None) -> tuple[Subscription, ...]:
    """Strings (`"contact.propertyChange"`, `"contact.propertyChange:email"`) or objects
    (`{"subscriptionType": ..., "propertyName": ...}`)."""
    parsed = []
    for index, item in enumerate(raw if raw is not None else DEFAULT_SUBSCRIPTIONS):
        if isinstance(item, str):
            kind, _, prop = item.partition(":")
        else:
            kind = item.get("subscriptionType") or item.get("eventType") or ""
            prop = item.get("propertyName") or ""
        singular = kind.split(".")[0]
        if singular not in PLURAL or "." not in kind:
            raise ValueError(f"Unknown webhook subscription type: {kind!r}")
        parsed.append(Subscription(1000 + index, kind, prop or None))
    return tuple(parsed)


def _kinds(change: ChangeEvent) -> list[str]:
    """Subscription types that hear this change. Association changes are announced once per
    side, and a subscriber to either object type hears both sides."""
    kinds = [f"{SINGULAR[change.object_type]}.{change.kind}"]
    if change.kind == "associationChange":
        other = str(change.extra.get("associationType", "")).partition("_TO_")[2].lower()
        kinds.append(f"{other}.{change.kind}")
    return kinds


class WebhookEmitter:
    """Listens to the portal; delivers when configured. Thread-safe."""

    def __init__(self, portal_id: int, clock: Clock = system_clock, seed: int = 0) -> None:
        self.portal_id = portal_id
        self._clock = clock
        self._rng = random.Random(seed)
        self._event_ids = itertools.count(1)
        self._seq = itertools.count()
        self._config: WebhookConfig | None = None
        self._buffer: list[dict[str, Any]] = []
        self._flush_at: float | None = None
        self._due: list[_Batch] = []
        self._in_flight = 0
        self._delivered: list[dict[str, Any]] = []
        self._failed: list[dict[str, Any]] = []
        self.attempts: list[DeliveryAttempt] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._session = requests.Session()

    # ---- configuration -----------------------------------------------------------------

    def configure(self, url: str, client_secret: str, app_id: int = 54321,
                  subscriptions: Iterable[Any] | None = None, batch_window_ms: int = 50,
                  duplicate_rate: float = 0.0, timeout_s: float = 5.0,
                  max_attempts: int = 10, retry_backoff_s: float = 0.05) -> WebhookConfig:
        """Start announcing changes to `url` (replaces any earlier configuration)."""
        config = WebhookConfig(url, client_secret, int(app_id),
                               parse_subscriptions(subscriptions), int(batch_window_ms),
                               float(duplicate_rate), float(timeout_s), int(max_attempts),
                               float(retry_backoff_s))
        with self._cond:
            self._config = config
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-webhooks",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return config

    def disable(self) -> None:
        """Stop announcing changes; events not yet batched are dropped, queued batches
        still go out."""
        with self._cond:
            self._config = None

    @property
    def config(self) -> WebhookConfig | None:
        return self._config

    # ---- what tests read ------------------------------------------------------------------

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """Events acknowledged with a 2xx, in delivery order (duplicates appear twice)."""
        with self._cond:
            return list(self._delivered)

    @property
    def pending(self) -> list[dict[str, Any]]:
        """Events waiting for their first delivery or for a retry."""
        with self._cond:
            return list(self._buffer) + [e for b in self._due for e in b.events]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Events given up on after `max_attempts`."""
        with self._cond:
            return list(self._failed)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is buffered, queued or in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._buffer or self._due or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    def clear(self) -> None:
        """Forget delivered/failed events and attempts (not the queue)."""
        with self._cond:
            self._delivered.clear()
            self._failed.clear()
            self.attempts.clear()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._session.close()

    # ---- from the portal ----------------------------------------------------------------

    def on_changes(self, changes: list[ChangeEvent]) -> None:
        """Portal listener: turn changes into events for every matching subscription."""
        config = self._config
        if config is None:
            return
        events = []
        for change in changes:
            if change.property_name in _UNWATCHABLE:
                continue
            for sub in config.subscriptions:
                if any(sub.matches(kind, change.property_name) for kind in _kinds(change)):
                    events.append(self._event(config, sub, change))
                    break
        if not events:
            return
        with self._cond:
            self._buffer.extend(events)
            if self._flush_at is None:
                self._flush_at = time.monotonic() + config.batch_window_ms / 1000
            self._cond.notify_all()

    def _event(self, config: WebhookConfig, sub: Subscription,
               change: ChangeEvent) -> dict[str, Any]:
        event: dict[str, Any] = {
            "eventId": next(self._event_ids), "subscriptionId": sub.id,
            "portalId": self.portal_id, "appId": config.app_id,
            "occurredAt": change.occurred_at, "subscriptionType": sub.subscription_type,
            "attemptNumber": 0, "objectId": change.object_id,
            "changeSource": change.change_source,
        }
        if change.change_source == "INTEGRATION":
            event["sourceId"] = str(config.app_id)
        if change.property_name is not None:
            event["propertyName"] = change.property_name
            event["propertyValue"] = change.property_value or ""
        event.update(change.extra)
        return event

    # ---- the delivery thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                batch = self._next_batch()
                if batch is None:
                    if self._stopping:
                        return
                    continue
                self._in_flight += 1
            try:
                self._deliver(batch)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _next_batch(self) -> _Batch | None:
        """Called with the lock held; waits a little and returns a due batch, if any."""
        now = time.monotonic()
        if self._flush_at is not None and now >= self._flush_at:
            for start in range(0, len(self._buffer), MAX_EVENTS_PER_REQUEST):
                if self._config is None:
                    break
                chunk = self._buffer[start:start + MAX_EVENTS_PER_REQUEST]
                heapq.heappush(self._due, _Batch(now, next(self._seq), chunk, self._config))
            self._buffer, self._flush_at = [], None
        if self._due and self._due[0].due <= now:
            return heapq.heappop(self._due)
        waits = [t - now for t in (self._flush_at, self._due[0].due if self._due else None)
                 if t is not None]
        if self._stopping:
            return None
        self._cond.wait(max(0.001, min(waits)) if waits else 0.5)
        return None

    def _deliver(self, batch: _Batch) -> None:
        target = batch.config
        events = [{**e, "attemptNumber": batch.attempt} for e in batch.events]
        body = json.dumps(events, separators=(",", ":"))
        status, error = self._post(target, body)
        ids = tuple(e["eventId"] for e in events)
        with self._cond:
            self.attempts.append(DeliveryAttempt(ids, batch.attempt, status, error,
                                                 batch.duplicate))
            if status is not None and 200 <= status < 300:
                self._delivered.extend(events)
                if not batch.duplicate and self._rng.random() < target.duplicate_rate:
                    heapq.heappush(self._due, _Batch(time.monotonic(), next(self._seq),
                                                     batch.events, target, batch.attempt,
                                                     True))
            elif batch.attempt + 1 >= target.max_attempts:
                self._failed.extend(events)
            else:
                delay = target.retry_backoff_s * (batch.attempt + 1)
                heapq.heappush(self._due, _Batch(time.monotonic() + delay, next(self._seq),
                                                 batch.events, target, batch.attempt + 1))

    def _post(self, config: WebhookConfig, body: str) -> tuple[int | None, str | None]:
        timestamp = str(self._clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) (sandbox)",
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature-v3": sign_v3(config.client_secret, "POST", config.url, body,
                                              timestamp),
            "X-HubSpot-Signature": hashlib.sha256(
                (config.client_secret + body).encode()).hexdigest(),
            "X-HubSpot-Signature-Version": "v1",
        }
        try:
            reply = self._session.post(config.url, data=body.encode(), headers=headers,
                                       timeout=config.timeout_s)
            reply.close()
            return reply.status_code, None
        except requests.RequestException as exc:
            return None, f"{type(exc).__name__}: {exc}"

"""`GET /metrics` scraped over real HTTP and parsed with prometheus-client's own parser."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from webhook_world import WebhookWorld

from webhooks.metrics import REFUSAL_REASONS
from webhooks.receiver import Receiver, ReceiverConfig, create_server
from webhooks.signature import sign_v3, timestamp_ms

SECRET = "metrics-test-secret-77aa"
NOW = datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)


def event(event_id: int, object_id: int) -> dict:
    return {"eventId": event_id, "subscriptionId": 7, "portalId": 62515, "appId": 54321,
            "occurredAt": 1_793_525_000_000 + event_id, "subscriptionType": "contact.creation",
            "attemptNumber": 0, "objectId": object_id, "changeSource": "CRM"}


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics: (name, sorted labels) → value."""
    response = requests.get(url + "/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


@pytest.fixture
def receiver(tmp_path):
    clock = [NOW]
    app = Receiver(str(tmp_path / "leadsync.db"),
                   ReceiverConfig(secret=SECRET, max_body_bytes=4096), clock=lambda: clock[0])
    app.prepare()
    server = create_server(app, host="127.0.0.1", port=0, threads=2, max_body_bytes=4096)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server.url, clock
    server.stop()
    thread.join(5)
    app.close()


def deliver(url: str, body: bytes, *, signed_at: datetime = NOW, secret: str = SECRET,
            method: str = "POST", path: str = "/webhooks/hubspot") -> int:
    stamp = timestamp_ms(signed_at)
    headers = {"Content-Type": "application/json", "X-HubSpot-Request-Timestamp": stamp,
               "X-HubSpot-Signature-v3": sign_v3(secret, method, url + path, body, stamp)}
    return requests.request(method, url + path, data=body, headers=headers, timeout=5).status_code


def test_counters_after_known_deliveries_and_refusals(receiver):
    url, clock = receiver
    first = json.dumps([event(1, 101), event(2, 102), event(3, 103)]).encode()
    second = json.dumps([event(3, 103), event(4, 104)]).encode()  # event 3 is a duplicate
    statuses = [
        deliver(url, first), deliver(url, second),
        deliver(url, first, secret="not-the-secret"), deliver(url, second, secret="wrong"),
        deliver(url, first, signed_at=NOW - timedelta(minutes=6)),
        deliver(url, b'{"not": "an array"}'),
        deliver(url, b"\xff\xfe"),
        deliver(url, json.dumps([{"eventId": 9}]).encode()),
        deliver(url, b"", method="GET"),
        deliver(url, b"[]", path="/nope"),
    ]
    assert statuses == [204, 204, 401, 401, 401, 400, 400, 400, 405, 404]
    clock[0] = NOW + timedelta(seconds=90)
    samples = scrape(url)
    assert samples[("leadsync_webhook_deliveries_accepted_total", ())] == 2
    assert samples[("leadsync_webhook_events_received_total", ())] == 5
    assert samples[("leadsync_webhook_events_new_total", ())] == 4
    refused = {reason: samples[("leadsync_webhook_deliveries_refused_total",
                                (("reason", reason),))] for reason in REFUSAL_REASONS}
    assert refused == {**dict.fromkeys(REFUSAL_REASONS, 0.0), "signature_mismatch": 2,
                       "timestamp_stale": 1, "not_array": 1, "not_json": 1, "bad_event": 1,
                       "method_not_allowed": 1, "not_found": 1}
    assert samples[("leadsync_inbox_up", ())] == 1
    assert samples[("leadsync_inbox_depth", ())] == 4
    assert {s: samples[("leadsync_inbox_events", (("status", s),))]
            for s in ("pending", "failed", "done", "dropped", "parked")} == {
        "pending": 4, "failed": 0, "done": 0, "dropped": 0, "parked": 0}
    assert samples[("leadsync_inbox_oldest_pending_age_seconds", ())] == 90.0
    # no worker in this process: no worker budget to report
    assert not any(name.startswith("leadsync_hubspot_budget") for name, _ in samples)
    assert requests.post(url + "/metrics", timeout=5).status_code == 405


@pytest.fixture
def world(tmp_path):
    w = WebhookWorld.primed(str(tmp_path / "leadsync.db"))
    yield w
    w.close()


def test_the_worker_thread_reports_batches_write_calls_and_budget(world):
    contact = world.candidates()[0]
    hook = world.serve()
    world.emit_to(hook)
    world.open_worker(metrics=world.app.metrics.worker).start()
    world.sb.reset_stats()
    world.sb.portal.demo_request(contact)
    world.wait_for(lambda: world.hubspot(contact).get("lifecyclestage") == "marketingqualifiedlead")
    world.wait_for(world.settled)
    world.wait_for(lambda: world.sb.webhooks.wait_idle(0))
    samples = scrape(world.server.url)
    states = dict(world.query("SELECT status, COUNT(*) FROM inbox GROUP BY status"))
    assert samples[("leadsync_worker_events_total", (("outcome", "done"),))] == states["done"]
    assert samples[("leadsync_worker_events_total", (("outcome", "dropped"),))] == states["dropped"]
    assert samples[("leadsync_worker_events_total", (("outcome", "failed"),))] == 0
    assert samples[("leadsync_writeback_calls_total", ())] == world.write_calls() == 1
    assert samples[("leadsync_writeback_failures_total", ())] == 0
    assert samples[("leadsync_hubspot_api_calls_total", ())] == world.sb.stats()["total"]
    assert samples[("leadsync_worker_batches_total", (("outcome", "ok"),))] >= 1
    assert samples[("leadsync_worker_batches_total", (("outcome", "failed"),))] == 0
    assert samples[("leadsync_worker_event_lag_seconds_count", ())] == sum(states.values())
    assert samples[("leadsync_inbox_depth", ())] == 0
    assert samples[("leadsync_hubspot_budget_limit", ())] == 190
    assert 0 <= samples[("leadsync_hubspot_budget_remaining", ())] <= 190

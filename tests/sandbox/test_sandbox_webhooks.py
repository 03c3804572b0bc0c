"""The signed webhook emitter: HubSpot's payloads, v3 signatures, batching, retries."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import hubspot
import pytest
import requests
import urllib3
from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInput
from hubspot.utils.signature import Signature

from sandbox import Sandbox
from sandbox.webhooks import sign_v3

ANCHOR = datetime(2026, 11, 1, tzinfo=timezone.utc)
SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"


class Receiver:
    """A webhook target that records every request and answers from a script."""

    def __init__(self, statuses: list[int] | None = None, delays: list[float] | None = None):
        self.requests: list[dict] = []
        self.statuses = list(statuses or [])
        self.delays = list(delays or [])
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    delay = receiver.delays.pop(0) if receiver.delays else 0
                    status = receiver.statuses.pop(0) if receiver.statuses else 204
                time.sleep(delay)
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                              "body": body.decode(), "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks?source=sandbox"

    def events(self) -> list[dict]:
        return [e for r in self.requests for e in json.loads(r["body"])]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sb():
    with Sandbox(contacts=300, seed=8, anchor=ANCHOR) as sandbox:
        yield sandbox


@pytest.fixture
def receiver():
    target = Receiver()
    yield target
    target.close()


def contact_ids(sb: Sandbox, n: int) -> list[str]:
    return [r["id"] for r in sb.portal.truth("contacts")
            if not r["archived"] and not r["mergedInto"]][:n]


def test_api_writes_are_announced_with_valid_v3_signatures(sb, receiver):
    sb.webhooks.configure(url=receiver.url, client_secret=SECRET, app_id=777,
                          batch_window_ms=20)
    ids = contact_ids(sb, 2)
    api = hubspot.Client.create(access_token=sb.token, host=sb.base_url,
                                retry=urllib3.Retry(0)).crm.contacts.batch_api
    api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        {"id": i, "properties": {"jobtitle": "Chief Scoring Officer"}} for i in ids]))
    assert sb.webhooks.wait_idle(5)
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert Signature.is_valid(
        request["headers"]["X-HubSpot-Signature-v3"], SECRET, request["body"],
        http_uri=receiver.url, signature_version="v3",
        timestamp=request["headers"]["X-HubSpot-Request-Timestamp"])
    events = json.loads(request["body"])
    assert [(e["objectId"], e["subscriptionType"], e["propertyName"], e["propertyValue"],
             e["changeSource"], e["appId"], e["attemptNumber"]) for e in events] == [
        (int(i), "contact.propertyChange", "jobtitle", "Chief Scoring Officer", "INTEGRATION",
         777, 0) for i in ids]
    assert events[0]["portalId"] == sb.portal.portal_id
    assert events[1]["eventId"] > events[0]["eventId"]
    assert sb.webhooks.delivered == events


def test_signature_matches_the_documented_vector():
    body = "{'example_field':'example_value'}"
    assert sign_v3(SECRET, "POST", "https://www.example.com/webhook_uri", body,
                   "1693657560000") == "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="


def test_events_are_batched_at_most_100_per_request(sb, receiver):
    sb.webhooks.configure(url=receiver.url, client_secret=SECRET, batch_window_ms=300,
                          subscriptions=["contact.propertyChange"])
    ids = contact_ids(sb, 250)
    for i in ids:
        sb.portal.update("contacts", i, {"jobtitle": "Bulk edit"})
    assert sb.webhooks.wait_idle(5)
    sizes = [len(json.loads(r["body"])) for r in receiver.requests]
    assert sizes == [100, 100, 50]
    event_ids = [e["eventId"] for e in receiver.events()]
    assert event_ids == sorted(event_ids) and len(set(event_ids)) == 250
    assert {e["changeSource"] for e in receiver.events()} == {"CRM"}


def test_failed_deliveries_are_retried_with_attempt_number_incremented(sb):
    receiver = Receiver(statuses=[500, 429, 200])
    try:
        sb.webhooks.configure(url=receiver.url, client_secret=SECRET, batch_window_ms=10,
                              retry_backoff_s=0.01)
        sb.portal.update("contacts", contact_ids(sb, 1)[0], {"jobtitle": "Retry me"})
        assert sb.webhooks.wait_idle(5)
        attempts = [(json.loads(r["body"])[0]["attemptNumber"], r["status"])
                    for r in receiver.requests]
        assert attempts == [(0, 500), (1, 429), (2, 200)]
        ids = {json.loads(r["body"])[0]["eventId"] for r in receiver.requests}
        assert len(ids) == 1
        assert [e["attemptNumber"] for e in sb.webhooks.delivered] == [2]
    finally:
        receiver.close()


def test_slow_receiver_counts_as_a_failure_and_is_retried(sb):
    receiver = Receiver(delays=[0.6])
    try:
        sb.webhooks.configure(url=receiver.url, client_secret=SECRET, batch_window_ms=10,
                              timeout_s=0.2, retry_backoff_s=0.01)
        sb.portal.update("contacts", contact_ids(sb, 1)[0], {"jobtitle": "Slow"})
        assert sb.webhooks.wait_idle(5)
        assert [(a.attempt_number, a.status) for a in sb.webhooks.attempts] == \
            [(0, None), (1, 204)]
    finally:
        receiver.close()


def test_unreachable_target_gives_up_after_max_attempts(sb):
    closed = Receiver()
    url = closed.url
    closed.close()
    sb.webhooks.configure(url=url, client_secret=SECRET, batch_window_ms=10,
                          max_attempts=3, retry_backoff_s=0.01)
    sb.portal.update("contacts", contact_ids(sb, 1)[0], {"jobtitle": "Nobody home"})
    assert sb.webhooks.wait_idle(5)
    assert [a.attempt_number for a in sb.webhooks.attempts] == [0, 1, 2]
    assert all(a.status is None and a.error for a in sb.webhooks.attempts)
    assert len(sb.webhooks.failed) == 1 and sb.webhooks.pending == []


def test_duplicates_can_be_injected(sb, receiver):
    sb.webhooks.configure(url=receiver.url, client_secret=SECRET, batch_window_ms=10,
                          duplicate_rate=1.0)
    sb.portal.update("contacts", contact_ids(sb, 1)[0], {"jobtitle": "Twice"})
    assert sb.webhooks.wait_idle(5)
    ids = [e["eventId"] for e in receiver.events()]
    assert len(ids) == 2 and ids[0] == ids[1]


def test_user_actions_are_announced(sb, receiver):
    sb.webhooks.configure(url=receiver.url, client_secret=SECRET, batch_window_ms=10)
    first, second = (int(i) for i in contact_ids(sb, 2))
    company = next(r for r in sb.portal.truth("companies") if not r["archived"])["id"]
    sb.portal.demo_request(first)
    sb.portal.merge("contacts", first, second)
    sb.portal.archive("contacts", first)
    sb.portal.restore("contacts", first)
    sb.portal.associate("contacts", first, "companies", company)
    assert sb.webhooks.wait_idle(5)
    events = receiver.events()
    demo = {e["propertyName"]: e for e in events if e["subscriptionType"] ==
            "contact.propertyChange"}
    assert demo["recent_conversion_event_name"]["propertyValue"] == "Demo request"
    assert demo["recent_conversion_event_name"]["changeSource"] == "FORM"
    assert "num_conversion_events" in demo and "recent_conversion_date" in demo
    merge = next(e for e in events if e["subscriptionType"] == "contact.merge")
    assert (merge["primaryObjectId"], merge["mergedObjectIds"], merge["newObjectId"]) == \
        (first, [second], first)
    assert isinstance(merge["numberOfPropertiesMoved"], int)
    kinds = [e["subscriptionType"] for e in events]
    assert kinds.index("contact.deletion") < kinds.index("contact.restore")
    links = [(e["associationType"], e["fromObjectId"], e["toObjectId"])
             for e in events if e["subscriptionType"] == "contact.associationChange"]
    assert links == [("CONTACT_TO_COMPANY", first, int(company)),
                     ("COMPANY_TO_CONTACT", int(company), first)]


def test_creation_and_property_subscription_filter(sb, receiver):
    sb.webhooks.configure(url=receiver.url, client_secret=SECRET, batch_window_ms=10,
                          subscriptions=["contact.creation",
                                         {"subscriptionType": "contact.propertyChange",
                                          "propertyName": "lifecyclestage"}])
    created = sb.portal.create("contacts", {"email": "new@example.com",
                                            "lifecyclestage": "lead"})
    sb.portal.update("contacts", created.id, {"jobtitle": "ignored"})
    assert sb.webhooks.wait_idle(5)
    assert [(e["subscriptionType"], e.get("propertyName"), e.get("changeFlag"))
            for e in receiver.events()] == [("contact.creation", None, "NEW"),
                                            ("contact.propertyChange", "lifecyclestage", None)]


def test_webhooks_can_be_configured_over_http(sb, receiver):
    reply = requests.post(sb.base_url + "/_sandbox/webhooks", json={
        "url": receiver.url, "client_secret": SECRET, "batch_window_ms": 10})
    assert reply.status_code == 200 and reply.json()["config"]["client_secret"] == "***"
    sb.portal.update("contacts", contact_ids(sb, 1)[0], {"jobtitle": "Via admin"})
    assert sb.webhooks.wait_idle(5)
    status = requests.get(sb.base_url + "/_sandbox/webhooks").json()
    assert (status["delivered"], status["pending"], status["failed"]) == (1, 0, 0)


def test_company_write_back_and_company_events_have_hubspot_shapes(sb, receiver):
    """Company property creation and batch update over HTTP, and the company.* events they
    and a user's actions cause, with the fields of HubSpot's company webhooks."""
    sb.webhooks.configure(url=receiver.url, client_secret=SECRET, batch_window_ms=20,
                          subscriptions=["company.creation", "company.propertyChange",
                                         "company.deletion", "company.associationChange"])
    base = f"{sb.base_url}/crm/v3"
    auth = {"Authorization": f"Bearer {sb.token}"}
    made = requests.post(f"{base}/properties/companies", headers=auth, timeout=10, json={
        "name": "leadsync_company_score", "label": "leadsync company score", "type": "number",
        "fieldType": "number", "groupName": "companyinformation"})
    assert made.status_code == 201 and made.json()["type"] == "number"
    company = next(r["id"] for r in sb.portal.truth("companies") if not r["archived"])
    answer = requests.post(f"{base}/objects/companies/batch/update", headers=auth, timeout=10,
                           json={"inputs": [{"id": company,
                                             "properties": {"leadsync_company_score": "42.5"}}]})
    assert answer.status_code == 200
    assert answer.json()["results"][0]["properties"]["leadsync_company_score"] == "42.5"
    created = sb.portal.create("companies", {"name": "Newco", "domain": "newco.example"})
    contact = contact_ids(sb, 1)[0]
    sb.portal.associate("contacts", contact, "companies", created.id)
    sb.portal.archive("companies", created.id)
    assert sb.webhooks.wait_idle(5)

    events = receiver.events()
    common = {"eventId", "subscriptionId", "portalId", "appId", "occurredAt", "subscriptionType",
              "attemptNumber", "objectId", "changeSource"}
    assert all(common <= set(e) for e in events)
    score = [e for e in events if e.get("propertyName") == "leadsync_company_score"]
    assert [(e["subscriptionType"], e["objectId"], e["propertyValue"], e["changeSource"])
            for e in score] == [("company.propertyChange", int(company), "42.5", "INTEGRATION")]
    mine = [e for e in events if e["objectId"] == created.id]
    kinds = [e["subscriptionType"] for e in mine]
    assert kinds[0] == "company.creation" and kinds[-1] == "company.deletion"
    assert {"name", "domain"} <= {e.get("propertyName") for e in mine
                                  if e["subscriptionType"] == "company.propertyChange"}
    [link] = [e for e in mine if e["subscriptionType"] == "company.associationChange"]
    assert {k: link[k] for k in ("associationType", "fromObjectId", "toObjectId",
                                 "associationRemoved", "isPrimaryAssociation")} == {
        "associationType": "COMPANY_TO_CONTACT", "fromObjectId": created.id,
        "toObjectId": int(contact), "associationRemoved": False, "isPrimaryAssociation": False}

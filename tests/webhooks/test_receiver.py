"""The webhook receiver over real HTTP: waitress on a loopback port, `requests` as HubSpot."""
from __future__ import annotations

import io
import json
import logging
import socket
import sqlite3
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import pytest
import requests

from cache import inbox
from cache.database import open_cache
from webhooks import receiver
from webhooks.receiver import Receiver, ReceiverConfig, create_server, signed_uri
from webhooks.signature import sign_v3, timestamp_ms

SECRET = "test-client-secret-1f2e3d"
NOW = datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)
PATH = "/webhooks/hubspot"


def creation(event_id: int = 1, object_id: int = 101, **extra) -> dict:
    return {"eventId": event_id, "subscriptionId": 7, "portalId": 62515, "appId": 54321,
            "occurredAt": 1_793_525_000_000 + event_id, "subscriptionType": "contact.creation",
            "attemptNumber": 0, "objectId": object_id, "changeSource": "CRM",
            "changeFlag": "NEW", **extra}


def property_change(event_id: int, object_id: int, value: str, **extra) -> dict:
    return {**creation(event_id, object_id), "subscriptionType": "contact.propertyChange",
            "propertyName": "jobtitle", "propertyValue": value, **extra}


@dataclass
class Served:
    """A running receiver and a HubSpot stand-in that signs what it sends."""

    url: str
    db_path: str
    app: Receiver
    session: requests.Session = field(default_factory=requests.Session)

    def post(self, body: bytes | str | list, *, path: str = PATH, query: str = "",
             signed_url: str | None = None, signed_at: datetime = NOW, secret: str = SECRET,
             signature: str | None = None, headers: dict | None = None,
             method: str = "POST") -> requests.Response:
        raw = json.dumps(body).encode() if isinstance(body, list) else body
        raw = raw.encode() if isinstance(raw, str) else raw
        url = self.url + path + (f"?{query}" if query else "")
        stamp = timestamp_ms(signed_at)
        sig = signature or sign_v3(secret, method, signed_url or url, raw, stamp)
        sent = {"Content-Type": "application/json", "X-HubSpot-Signature-v3": sig,
                "X-HubSpot-Request-Timestamp": stamp, **(headers or {})}
        sent = {k: v for k, v in sent.items() if v is not None}
        with self.session.request(method, url, data=raw, headers=sent, timeout=5) as response:
            response.content  # read it all before the connection goes back to the pool
            return response

    def get(self, path: str) -> requests.Response:
        with self.session.get(self.url + path, timeout=5) as response:
            response.content
            return response

    def rows(self) -> list[dict]:
        """The inbox as another process sees it: a fresh connection to the file."""
        conn = sqlite3.connect(self.db_path)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute("SELECT * FROM inbox ORDER BY id")]
        finally:
            conn.close()


@pytest.fixture
def serve(tmp_path):
    """Start receivers (several per test allowed); everything is stopped and closed after."""
    started = []

    def start(clock=lambda: NOW, max_body_bytes: int = 4096, **config) -> Served:
        db_path = str(tmp_path / f"leadsync{len(started)}.db")
        app = Receiver(db_path, ReceiverConfig(secret=SECRET, max_body_bytes=max_body_bytes,
                                               **config), clock=clock)
        app.prepare()
        server = create_server(app, host="127.0.0.1", port=0, threads=4,
                               max_body_bytes=max_body_bytes)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        served = Served(url=server.url, db_path=db_path, app=app)
        started.append((served, server, thread))
        return served

    yield start
    for served, server, thread in started:
        served.session.close()
        server.stop()
        thread.join(5)
        assert not thread.is_alive()
        served.app.close()


@pytest.fixture
def hook(serve) -> Served:
    return serve()


# --- accepted deliveries -------------------------------------------------------------------

def test_valid_delivery_is_acknowledged_with_204_and_filed_exactly(hook):
    events = [creation(1, 101), property_change(2, 101, "VP Sales")]
    response = hook.post(events)
    assert (response.status_code, response.content) == (204, b"")
    rows = hook.rows()
    assert [(r["id"], r["event_id"], r["subscription_type"], r["object_id"], r["occurred_at"],
             r["status"], r["attempts"], r["received_at"], r["next_attempt_at"], r["error"],
             r["processed_at"]) for r in rows] == [
        (1, 1, "contact.creation", "101", 1_793_525_000_001, "pending", 0,
         "2026-11-01T09:30:00.000Z", "2026-11-01T09:30:00.000Z", None, None),
        (2, 2, "contact.propertyChange", "101", 1_793_525_000_002, "pending", 0,
         "2026-11-01T09:30:00.000Z", "2026-11-01T09:30:00.000Z", None, None),
    ]
    assert [json.loads(r["payload"]) for r in rows] == events
    assert [r["event_key"] for r in rows] == [inbox.event_key(e) for e in events]


def test_row_is_committed_before_the_204(hook):
    # Each check reads through a brand-new connection: what a crash-and-restart would see.
    for n in range(1, 6):
        assert hook.post([creation(n, 100 + n)]).status_code == 204
        assert [r["event_id"] for r in hook.rows()] == list(range(1, n + 1))


def test_redeliveries_and_duplicates_give_one_row_per_real_event(hook):
    batch = [creation(1, 101), property_change(2, 101, "VP Sales")]
    assert hook.post(batch).status_code == 204
    assert hook.post(batch).status_code == 204  # a duplicate delivery
    retried = [dict(e, attemptNumber=e["attemptNumber"] + 1) for e in reversed(batch)]
    assert hook.post(retried).status_code == 204  # a retry, reordered
    assert hook.post([creation(3, 103), creation(3, 103)]).status_code == 204  # twice in one batch
    assert [(r["event_id"], json.loads(r["payload"])["attemptNumber"]) for r in hook.rows()] == [
        (1, 0), (2, 0), (3, 0)]


def test_reused_event_id_for_a_different_change_is_kept(hook):
    assert hook.post([property_change(7, 101, "Student")]).status_code == 204
    assert hook.post([property_change(7, 101, "VP Sales")]).status_code == 204
    assert [(r["event_id"], json.loads(r["payload"])["propertyValue"]) for r in hook.rows()] == [
        (7, "Student"), (7, "VP Sales")]


def test_empty_batch_is_acknowledged_and_files_nothing(hook):
    assert hook.post([]).status_code == 204
    assert hook.rows() == []


def test_more_than_100_events_are_kept_when_signed(serve):
    hook = serve(max_body_bytes=1024 * 1024)
    assert hook.post([creation(n, n) for n in range(1, 151)]).status_code == 204
    assert len(hook.rows()) == 150


def test_body_of_exactly_the_limit_is_accepted(serve):
    hook = serve(max_body_bytes=4096)
    body = json.dumps([creation()]).encode()
    body += b" " * (4096 - len(body))  # JSON allows trailing whitespace
    assert hook.post(body).status_code == 204
    assert len(hook.rows()) == 1


def test_content_type_is_not_what_decides(hook):
    response = hook.post([creation()], headers={"Content-Type": "text/plain"})
    assert response.status_code == 204
    assert len(hook.rows()) == 1


def test_query_string_is_part_of_the_signed_url(hook):
    assert hook.post([creation(1)], query="portal=62515&x=%3A").status_code == 204
    unsigned_query = hook.url + PATH
    response = hook.post([creation(2)], query="portal=62515", signed_url=unsigned_query)
    assert response.status_code == 401
    assert [r["event_id"] for r in hook.rows()] == [1]


def test_escapes_in_the_url_may_be_signed_decoded_as_hubspot_documents(hook):
    decoded = hook.url + PATH + "?next=/home:1"
    assert hook.post([creation()], query="next=%2Fhome%3A1", signed_url=decoded).status_code == 204


# --- refused deliveries: right status, nothing filed ---------------------------------------

def refused(hook: Served, response: requests.Response, status: int, error: str | None) -> None:
    assert response.status_code == status
    if error is not None:
        assert response.json() == {"error": error}
    assert hook.rows() == []


@pytest.mark.parametrize("kwargs, error", [
    ({"signature": "bm90IGEgc2lnbmF0dXJl"}, "signature does not match"),
    ({"secret": "someone-elses-secret"}, "signature does not match"),
    ({"headers": {"X-HubSpot-Signature-v3": None}},
     "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header"),
    ({"headers": {"X-HubSpot-Request-Timestamp": None}},
     "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header"),
    ({"headers": {"X-HubSpot-Request-Timestamp": "yesterday"}},
     "X-HubSpot-Request-Timestamp is not a whole number of milliseconds"),
    ({"signed_at": NOW - timedelta(minutes=5, seconds=1)},
     "request timestamp is more than 5 minutes old"),
    ({"signed_at": NOW + timedelta(minutes=5, seconds=1)},
     "request timestamp is more than 5 minutes in the future"),
    ({"signed_url": "http://attacker.example/webhooks/hubspot"}, "signature does not match"),
    ({"signed_url": "http://127.0.0.1:1/webhooks/hubspot"}, "signature does not match"),
])
def test_forged_stale_and_misdirected_signatures_are_refused_with_401(hook, kwargs, error):
    refused(hook, hook.post([creation()], **kwargs), 401, error)


def test_signature_from_another_path_is_refused(hook):
    response = hook.post([creation()], signed_url=hook.url + "/webhooks/other")
    refused(hook, response, 401, "signature does not match")


def test_signature_for_another_body_is_refused(hook):
    genuine = json.dumps([creation(1)]).encode()
    stamp = timestamp_ms(NOW)
    signature = sign_v3(SECRET, "POST", hook.url + PATH, genuine, stamp)
    tampered = json.dumps([creation(1, 999)]).encode()
    refused(hook, hook.post(tampered, signature=signature), 401, "signature does not match")


def test_edges_of_the_five_minute_window_are_accepted(hook):
    assert hook.post([creation(1)], signed_at=NOW - timedelta(minutes=5)).status_code == 204
    assert hook.post([creation(2)], signed_at=NOW + timedelta(minutes=5)).status_code == 204


@pytest.mark.parametrize("body, error", [
    (b"{not json", "body is not UTF-8 JSON"),
    (b"", "body is not UTF-8 JSON"),
    (b'\xff\xfe[{"eventId": 1}]', "body is not UTF-8 JSON"),
    ("[{'eventId': 1}]", "body is not UTF-8 JSON"),
    (b"<events><event id='1'/></events>", "body is not UTF-8 JSON"),
    (b'{"eventId": 1}', "body is not a JSON array of events"),
    (b'"contact.creation"', "body is not a JSON array of events"),
    (b"null", "body is not a JSON array of events"),
    (json.dumps([creation(1), 5]), "event 1 is not a JSON object"),
    (json.dumps([creation(1), {k: v for k, v in creation(2).items() if k != "objectId"}]),
     "event 1 has no numeric objectId"),
    (json.dumps([{k: v for k, v in creation(1).items() if k != "subscriptionType"}]),
     "event 0 has no subscriptionType"),
    (json.dumps([creation(1, eventId="1")]), "event 0 has no numeric eventId"),
])
def test_signed_but_malformed_bodies_are_refused_with_400(hook, body, error):
    refused(hook, hook.post(body), 400, error)


def test_signed_xml_is_refused_with_400(hook):
    response = hook.post(b"<event id='1'/>", headers={"Content-Type": "application/xml"})
    refused(hook, response, 400, "body is not UTF-8 JSON")


@pytest.mark.parametrize("size", [4097, 64 * 1024, 2 * 1024 * 1024])
def test_oversized_bodies_are_refused_with_413(hook, size):
    body = b"[" + b" " * (size - 2) + b"]"
    refused(hook, hook.post(body), 413, None)


def test_413_refusals_are_logged_like_the_others(hook, caplog):
    caplog.set_level(logging.INFO, logger="leadsync.receiver")
    body = b"[" + b" " * 8000 + b"]"
    assert hook.post(body).status_code == 413  # refused by waitress, before the app
    assert hook.post([creation()], signed_url="https://elsewhere/x").status_code == 401
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert refusals == [
        "refused POST /webhooks/hubspot from 127.0.0.1: body is larger than 4096 bytes",
        "refused POST /webhooks/hubspot from 127.0.0.1: signature does not match"]
    assert all(r.levelname == "WARNING" for r in caplog.records if r.getMessage().startswith("refused"))


def test_oversized_chunked_body_is_refused_with_413(hook):
    def chunks():
        for _ in range(10):
            yield b" " * 1000

    with hook.session.post(hook.url + PATH, data=chunks(), timeout=5) as response:
        assert response.status_code == 413
    assert hook.rows() == []


def test_huge_content_length_is_refused_before_the_body_is_sent(hook):
    host, port = hook.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /webhooks/hubspot HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 10000000000\r\n\r\n[")
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 413 ")
    assert hook.rows() == []


def test_app_refuses_a_large_content_length_without_reading_the_body():
    class Unreadable(io.RawIOBase):
        def read(self, size=-1):
            raise AssertionError("the body was read")

    app = Receiver("unused.db", ReceiverConfig(secret=SECRET, max_body_bytes=100))
    seen = []
    body = app({"REQUEST_METHOD": "POST", "PATH_INFO": PATH, "CONTENT_LENGTH": "101",
                "wsgi.input": Unreadable()}, lambda status, headers: seen.append(status))
    assert seen == ["413 Content Too Large"]
    assert json.loads(b"".join(body)) == {"error": "body is larger than 100 bytes"}


@pytest.mark.parametrize("method, path, status, allow", [
    ("GET", PATH, 405, "POST"),
    ("PUT", PATH, 405, "POST"),
    ("POST", "/healthz", 405, "GET, HEAD"),
    ("POST", "/webhooks/hubspot/extra", 404, None),
    ("POST", "/", 404, None),
])
def test_wrong_method_or_path(hook, method, path, status, allow):
    response = hook.post([creation()], method=method, path=path)
    assert response.status_code == status
    assert response.headers.get("Allow") == allow
    assert hook.rows() == []


# --- the signed URL behind proxies ---------------------------------------------------------

def test_public_url_replaces_the_request_url(serve):
    public = "https://leadsync.example.com/hooks/hubspot"
    hook = serve(public_url=public)
    assert hook.post([creation(1)], signed_url=public).status_code == 204
    assert hook.post([creation(2)], query="a=1", signed_url=public + "?a=1").status_code == 204
    refused_response = hook.post([creation(3)])  # signed for the internal URL
    assert refused_response.status_code == 401
    assert [r["event_id"] for r in hook.rows()] == [1, 2]


# The proxy appends its value to whatever the client sent: only the last one is trusted.
FORWARDED = {"X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "spoof.example, hooks.example.com"}


def test_forwarded_headers_count_only_when_trusted(serve):
    trusting, wary = serve(trust_forwarded=True), serve()
    public = "https://hooks.example.com" + PATH
    assert trusting.post([creation(1)], signed_url=public, headers=FORWARDED).status_code == 204
    assert wary.post([creation(1)], signed_url=public, headers=FORWARDED).status_code == 401
    assert wary.post([creation(2)], headers=FORWARDED).status_code == 204  # its own URL holds
    assert [r["event_id"] for r in trusting.rows()] == [1]
    assert [r["event_id"] for r in wary.rows()] == [2]


@pytest.mark.parametrize("environ, config, expected", [
    ({"HTTP_HOST": "h:8000", "REQUEST_URI": "/webhooks/hubspot?a=%3A"}, {},
     "http://h:8000/webhooks/hubspot?a=%3A"),
    ({"SERVER_NAME": "10.0.0.5", "SERVER_PORT": "8000", "PATH_INFO": "/webhooks/hubspot"}, {},
     "http://10.0.0.5:8000/webhooks/hubspot"),
    ({"HTTP_HOST": "h", "SCRIPT_NAME": "/app", "PATH_INFO": "/webhooks/hub spot",
      "QUERY_STRING": "b=2"}, {}, "http://h/app/webhooks/hub%20spot?b=2"),
    ({"HTTP_HOST": "h", "REQUEST_URI": "/x", "HTTP_X_FORWARDED_PROTO": "https"},
     {"trust_forwarded": True}, "https://h/x"),
    ({"HTTP_HOST": "h", "REQUEST_URI": "/x?q=1"}, {"public_url": "https://p/y?fixed=1"},
     "https://p/y?fixed=1"),
])
def test_signed_uri(environ, config, expected):
    base = {"wsgi.url_scheme": "http", **environ}
    assert signed_uri(base, ReceiverConfig(secret=SECRET, **config)) == expected


# --- the published v3 vector, end to end ---------------------------------------------------

V3_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
V3_URI = "https://www.example.com/webhook_uri"
V3_BODY = "{'example_field':'example_value'}"
V3_HEADERS = {"X-HubSpot-Signature-v3": "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=",
              "X-HubSpot-Request-Timestamp": "1693657560000"}
V3_SIGNED_AT = datetime(2023, 9, 2, 12, 26, tzinfo=timezone.utc)


def test_published_v3_vector_authenticates_over_http(tmp_path, serve):
    """HubSpot's own request passes the signature check; its body (not JSON) then fails."""
    hook = serve(public_url=V3_URI, clock=lambda: V3_SIGNED_AT + timedelta(minutes=4))
    hook.app.config = replace(hook.app.config, secret=V3_SECRET)
    response = hook.session.post(hook.url + PATH, data=V3_BODY, headers=V3_HEADERS, timeout=5)
    with response:
        refused(hook, response, 400, "body is not UTF-8 JSON")


def test_published_v3_vector_is_stale_after_five_minutes(serve):
    hook = serve(public_url=V3_URI, clock=lambda: V3_SIGNED_AT + timedelta(minutes=5, seconds=1))
    hook.app.config = replace(hook.app.config, secret=V3_SECRET)
    with hook.session.post(hook.url + PATH, data=V3_BODY, headers=V3_HEADERS, timeout=5) as response:
        refused(hook, response, 401, "request timestamp is more than 5 minutes old")


# --- health, failures, secrecy, concurrency ------------------------------------------------

def test_healthz_reports_inbox_numbers(serve):
    hook = serve(clock=lambda: NOW + timedelta(seconds=90))
    empty = hook.get("/healthz")
    assert (empty.status_code, empty.json()) == (200, {
        "ok": True, "inbox_depth": 0, "oldest_pending_age_s": None, "processed": 0, "failed": 0,
        "parked": 0, "dropped": 0})
    cache = open_cache(hook.db_path)
    try:
        inbox.append(cache, [inbox.event_from_json(creation(n, n)) for n in range(1, 7)], NOW)
        inbox.mark_done(cache, [1, 2], NOW)
        inbox.mark_failed(cache, [3], "boom", NOW, max_attempts=5)
        inbox.mark_failed(cache, [4], "boom", NOW, max_attempts=1)
        inbox.mark_dropped(cache, [5], "echo", NOW)
    finally:
        cache.close()
    health = hook.get("/healthz")
    assert health.headers["Content-Type"] == "application/json"
    assert health.json() == {"ok": True, "inbox_depth": 2, "oldest_pending_age_s": 90.0,
                             "processed": 2, "failed": 1, "parked": 1, "dropped": 1}


def test_locked_inbox_answers_503_and_files_nothing(hook, monkeypatch):
    monkeypatch.setattr(receiver, "BUSY_TIMEOUT_MS", 50)
    blocker = sqlite3.connect(hook.db_path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        response = hook.post([creation()])
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    refused(hook, response, 503, "inbox is busy or unavailable")
    assert hook.post([creation()]).status_code == 204  # HubSpot's retry lands


def test_secret_never_appears_in_logs_responses_or_reprs(hook, caplog):
    caplog.set_level(logging.DEBUG)
    responses = [hook.post([creation()]), hook.post([creation()], secret="wrong"),
                 hook.post(b"nope"), hook.post([creation()], signed_at=NOW - timedelta(hours=1)),
                 hook.get("/healthz")]
    assert [r.status_code for r in responses] == [204, 401, 400, 401, 200]
    shown = caplog.text + "".join(r.text + str(r.headers) for r in responses)
    shown += repr(hook.app) + repr(hook.app.config)
    assert "refused POST /webhooks/hubspot" in caplog.text
    assert SECRET not in shown


def test_concurrent_deliveries_all_land(serve):
    hook = serve(max_body_bytes=1024 * 1024)
    errors: list[BaseException] = []

    def deliver(worker: int) -> None:
        with requests.Session() as session:
            for batch in range(10):
                events = [creation(worker * 10_000 + batch * 100 + n, n) for n in range(20)]
                body = json.dumps(events).encode()
                stamp = timestamp_ms(NOW)
                url = hook.url + PATH
                try:
                    with session.post(url, data=body, timeout=5, headers={
                            "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", url, body, stamp),
                            "X-HubSpot-Request-Timestamp": stamp}) as response:
                        assert response.status_code == 204
                except BaseException as exc:  # surfaced in the main thread below
                    errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(hook.rows()) == 8 * 10 * 20


def test_client_paths_cannot_forge_log_lines(hook, caplog):
    caplog.set_level(logging.INFO)
    response = hook.post([creation()], path="/x%0A2026-11-01%20CRITICAL%20forged")
    assert response.status_code == 404
    assert "refused POST '/x\\n2026-11-01 CRITICAL forged' from 127.0.0.1: no such endpoint" \
        in caplog.text
    assert "\n2026-11-01 CRITICAL" not in caplog.text


def test_healthz_answers_head(hook):
    with hook.session.head(hook.url + "/healthz", timeout=5) as response:
        assert (response.status_code, response.content) == (200, b"")

"""The webhook receiver: a plain WSGI app that verifies HubSpot deliveries and files them.

    POST /webhooks/hubspot   verify the v3 signature, append the events to the inbox, 204
    GET  /healthz            inbox depth, oldest unprocessed age, processed/failed/parked
    GET  /metrics            Prometheus text format (webhooks/metrics.py)

It never calls HubSpot: the 204 means "committed to the inbox", and the worker does the rest.
Checks run cheapest-first and nothing is parsed before the signature holds. Every refusal
writes nothing. See docs/webhooks.md for the status codes and why.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable
from urllib.parse import quote

import sqlite_utils
import waitress
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

from cache import inbox
from cache.database import Cache, open_cache
from foundation.errors import ConfigError
from foundation.shutdown import interrupted_by_signals
from webhooks.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from webhooks.metrics import ServeMetrics
from webhooks.signature import Check, verify_v3

WEBHOOK_PATH = "/webhooks/hubspot"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
MAX_BODY_BYTES = 1024 * 1024
BUSY_TIMEOUT_MS = 3000  # well inside HubSpot's 5 s: past it a 503 (HubSpot retries) beats a hang

log = logging.getLogger("leadsync.receiver")
Clock = Callable[[], datetime]
StartResponse = Callable[..., Any]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, kw_only=True)
class ReceiverConfig:
    """How the receiver checks requests. `public_url` is the URL HubSpot calls, if proxied."""

    secret: str = field(repr=False)
    public_url: str | None = None
    trust_forwarded: bool = False
    max_body_bytes: int = MAX_BODY_BYTES


class Refused(Exception):
    """A request the receiver answers with an error status (message: the one-line reason;
    `code`: the reason's label in /metrics)."""

    def __init__(self, status: str, reason: str, headers: tuple[tuple[str, str], ...] = (),
                 *, code: str) -> None:
        super().__init__(reason)
        self.status = status
        self.headers = headers
        self.code = code


_SIGNATURE_CODES = {Check.MISSING: "signature_missing", Check.BAD_TIMESTAMP: "timestamp_invalid",
                    Check.STALE: "timestamp_stale", Check.FUTURE: "timestamp_future",
                    Check.MISMATCH: "signature_mismatch"}


class Receiver:
    """The WSGI app. Thread-safe: each server thread gets its own SQLite connection."""

    def __init__(self, db_path: str, config: ReceiverConfig, *, clock: Clock = utc_now) -> None:
        self.db_path = db_path
        self.config = config
        self.clock = clock
        self._local = threading.local()
        self._opened: list[Cache] = []
        self._lock = threading.Lock()
        self._checkpointer: Checkpointer | None = None
        self.metrics = ServeMetrics(self._cache, clock)

    def __repr__(self) -> str:
        return f"Receiver(db_path={self.db_path!r}, config={self.config!r})"

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        try:
            if path == WEBHOOK_PATH:
                _allow(method, "POST")
                return self._accept(environ, start_response)
            if path == HEALTH_PATH:
                _allow(method, "GET", "HEAD")
                return self._health(start_response)
            if path == METRICS_PATH:
                _allow(method, "GET")
                body = self.metrics.render()
                start_response("200 OK", [("Content-Type", METRICS_CONTENT_TYPE),
                                          ("Content-Length", str(len(body)))])
                return [body]
            raise Refused("404 Not Found", "no such endpoint", code="not_found")
        except Refused as exc:
            self.metrics.refuse(exc.code)
            # Scanners' 404/405s are noise; failed signatures and bad bodies are worth a look.
            level = logging.INFO if exc.status[:3] in ("404", "405") else logging.WARNING
            log.log(level, "refused %s %s from %s: %s", method, _printable(path),
                    environ.get("REMOTE_ADDR"), exc)
            return _json(start_response, exc.status, {"error": str(exc)}, list(exc.headers))

    def prepare(self) -> None:
        """Create or migrate the cache file (WAL, inbox table), and start moving the WAL into
        the database in the background; call once before serving."""
        open_cache(self.db_path).close()
        if self._checkpointer is None:
            self._checkpointer = Checkpointer(self.db_path)
            self._checkpointer.start()

    def close(self) -> None:
        """Close every connection the server threads opened."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        with self._lock:
            for cache in self._opened:
                cache.close()
            self._opened.clear()
        self._local = threading.local()

    def _accept(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = _read_body(environ, self.config.max_body_bytes)
        check = verify_v3(
            self.config.secret, environ.get("HTTP_X_HUBSPOT_SIGNATURE_V3"),
            method=environ["REQUEST_METHOD"], uri=signed_uri(environ, self.config), body=body,
            timestamp=environ.get("HTTP_X_HUBSPOT_REQUEST_TIMESTAMP"), now=self.clock())
        if check is not Check.VALID:
            raise Refused("401 Unauthorized", check.value, code=_SIGNATURE_CODES[check])
        events = _events(body)
        try:
            added = self._append(events)
        except sqlite3.Error as exc:
            # Nothing committed; HubSpot retries a 5xx, so the events come back.
            log.error("inbox write failed (%s): answering 503 so HubSpot retries", exc)
            raise Refused("503 Service Unavailable", "inbox is busy or unavailable",
                          code="inbox_unavailable") from None
        self.metrics.accept(len(events), added)
        log.debug("accepted %d events (%d new)", len(events), added)
        start_response("204 No Content", [])
        return []

    def _append(self, events: list[inbox.WebhookEvent]) -> int:
        """File the events, waiting for the write lock in steps of 0.5-5 ms up to
        BUSY_TIMEOUT_MS. SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 … ms, so a
        writer that holds the lock for 9 ms (the worker's transactions) cost an ack 18 ms."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        pause = 0.0005
        while True:
            try:
                return inbox.append(self._cache(), events, self.clock())
            except sqlite3.OperationalError as exc:
                if not _locked(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 1.5, 0.005)

    def _health(self, start_response: StartResponse) -> Iterable[bytes]:
        try:
            m = inbox.metrics(self._cache(), self.clock())
        except sqlite3.Error as exc:
            log.error("health check cannot read the inbox (%s)", exc)
            return _json(start_response, "503 Service Unavailable", {"ok": False})
        return _json(start_response, "200 OK", {
            "ok": True, "inbox_depth": m.depth, "oldest_pending_age_s": m.oldest_pending_age_s,
            "processed": m.processed, "failed": m.failed, "parked": m.parked,
            "dropped": m.dropped})

    def _cache(self) -> Cache:
        cache = getattr(self._local, "cache", None)
        if cache is None:
            # Not open_cache: its migrations take the write lock, and a request must never wait
            # on that longer than BUSY_TIMEOUT_MS. The caller prepared the cache (`prepare`).
            # timeout=0: a busy write lock raises at once and `_append` polls finely.
            conn = sqlite3.connect(self.db_path, timeout=0, isolation_level=None,
                                   check_same_thread=False)
            # FULL: the 204 promises the events survive a power cut, not only a crash.
            conn.execute("PRAGMA synchronous=FULL")
            if self._checkpointer is not None:
                # A commit that crosses the WAL's size limit would checkpoint before the 204;
                # the checkpointer thread does it instead, off the ack path.
                conn.execute("PRAGMA wal_autocheckpoint=0")
            cache = Cache(db=sqlite_utils.Database(conn), path=self.db_path)
            with self._lock:
                self._opened.append(cache)
            self._local.cache = cache
        return cache


class Checkpointer:
    """Copies the WAL into the database file once a second, in its own thread and connection."""

    def __init__(self, db_path: str, interval: float = 1.0):
        self.db_path = db_path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            while not self._stop.wait(self.interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    log.warning("WAL checkpoint skipped: the cache is busy; retrying in %.0f s",
                                   self.interval)
        finally:
            conn.close()


def _locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def signed_uri(environ: dict[str, Any], config: ReceiverConfig) -> str:
    """The URL HubSpot called, as it signed it: scheme, host, raw path and query.

    With `public_url` set it replaces scheme, host and path (a proxy may rewrite all three);
    the request's query is appended unless `public_url` has its own. Otherwise the URL is
    rebuilt from the request; X-Forwarded-Proto/-Host count only if `trust_forwarded`, and
    then only their last value, the one the proxy in front of leadsync added.
    """
    query = environ.get("QUERY_STRING", "")
    if config.public_url:
        if "?" in config.public_url or not query:
            return config.public_url
        return f"{config.public_url}?{query}"
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    if config.trust_forwarded:
        scheme = _nearest(environ.get("HTTP_X_FORWARDED_PROTO")) or scheme
        host = _nearest(environ.get("HTTP_X_FORWARDED_HOST")) or host
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI") or ""
    if not raw.startswith("/"):
        # No raw target from the server: re-quote the decoded path (WSGI strings are latin-1).
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        raw = quote(path.encode("latin-1"), safe="/:@!$&'()*+,;=-._~") + (f"?{query}" if query else "")
    return f"{scheme}://{host}{raw}"


def _read_body(environ: dict[str, Any], limit: int) -> bytes:
    length = environ.get("CONTENT_LENGTH") or ""
    if length:
        if not (length.isascii() and length.isdigit()):
            raise Refused("400 Bad Request", "Content-Length is not a number",
                          code="bad_content_length")
        if int(length) > limit:
            # Refused on the header alone: the body is never read.
            raise Refused("413 Content Too Large", f"body is larger than {limit} bytes",
                          code="too_large")
        return _read(environ["wsgi.input"], int(length))
    # Chunked (no length): read one byte past the limit to tell "at" from "over".
    body = _read(environ["wsgi.input"], limit + 1)
    if len(body) > limit:
        raise Refused("413 Content Too Large", f"body is larger than {limit} bytes",
                      code="too_large")
    return body


def _read(stream: Any, size: int) -> bytes:
    chunks, left = [], size
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _events(body: bytes) -> list[inbox.WebhookEvent]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refused("400 Bad Request", "body is not UTF-8 JSON", code="not_json") from None
    if not isinstance(payload, list):
        raise Refused("400 Bad Request", "body is not a JSON array of events", code="not_array")
    events = []
    for index, item in enumerate(payload):
        try:
            events.append(inbox.event_from_json(item))
        except ValueError as exc:
            raise Refused("400 Bad Request", f"event {index} {exc}", code="bad_event") from None
    if len(events) > 100:
        # HubSpot documents at most 100; the batch is signed, so keep it rather than refuse
        # (a refusal only makes HubSpot resend the same batch, then drop it). Size is capped.
        log.warning("delivery of %d events exceeds HubSpot's documented 100", len(events))
    return events


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise Refused("405 Method Not Allowed", f"use {' or '.join(allowed)}",
                      (("Allow", ", ".join(allowed)),), code="method_not_allowed")


def _nearest(header: str | None) -> str | None:
    """The value our own proxy added: the last one (earlier ones may come from the client)."""
    if not header:
        return None
    return header.split(",")[-1].strip() or None


def _printable(text: str) -> str:
    # The path is the client's: keep its newlines and escapes from forging log lines.
    return text if text.isprintable() else repr(text)


def _json(start_response: StartResponse, status: str, document: dict,
          headers: list[tuple[str, str]] | None = None) -> Iterable[bytes]:
    body = json.dumps(document).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body))), *(headers or [])])
    return [body]


class Server:
    """A waitress server, bound and listening; `run()` blocks until `stop()` from any thread."""

    def __init__(self, waitress_server: Any) -> None:
        self._server = waitress_server
        self._running = threading.Event()
        host, port = waitress_server.effective_host, waitress_server.effective_port
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def run(self) -> None:
        self._running.set()
        try:
            self._server.run()
        finally:
            self._running.clear()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish in-flight requests, then close the listener and every connection."""
        server = self._server
        server.task_dispatcher.shutdown(timeout=timeout)
        sockets = server._map  # the listener, its wake-up pipe and the open connections
        if self._running.is_set():
            # Sockets belong to the loop's thread: close them there, woken by its trigger,
            # so run() returns at once instead of at its next select() timeout.
            closed = threading.Event()
            server.trigger.pull_trigger(lambda: (wasyncore.close_all(sockets), closed.set()))
            if closed.wait(timeout):
                return
        wasyncore.close_all(sockets)


class _LoggedErrorTask(ErrorTask):
    """waitress's own refusals (a body over the limit: 413; a request it cannot parse: 400)
    never reach the app: log them as the app logs its refusals."""

    def execute(self) -> None:
        error, request = self.request.error, self.request
        limit = self.channel.server.adj.max_request_body_size - 1
        reason = (f"body is larger than {limit} bytes" if error.code == 413
                  else str(error.body).strip() or error.reason)
        log.warning("refused %s %s from %s: %s", request.command or "-",
                    _printable(request.path or "-"),
                    self.channel.addr[0] if self.channel.addr else None, reason)
        super().execute()


class _Channel(HTTPChannel):
    error_task_class = _LoggedErrorTask


def create_server(app: Callable, *, host: str = "127.0.0.1", port: int = 8000, threads: int = 8,
                  max_body_bytes: int = MAX_BODY_BYTES) -> Server:
    """Bind waitress to host:port (0: any free port); ConfigError if it cannot listen."""
    listener = _bind(host, port)
    # waitress refuses bodies >= its limit from the Content-Length header, before reading.
    # Proxy headers are kept: the app alone decides whether to trust them (trust_forwarded).
    server = waitress.create_server(app, sockets=[listener], threads=threads,
                                    max_request_body_size=max_body_bytes + 1,
                                    clear_untrusted_proxy_headers=False, ident="leadsync")
    server.channel_class = _Channel
    return Server(server)


ACK_SWITCH_INTERVAL_S = 0.0005


def serve(app: Callable, host: str, port: int, *, threads: int = 8,
          max_body_bytes: int = MAX_BODY_BYTES,
          announce: Callable[[str], None] = print) -> None:
    """Serve `app` until interrupted; `announce` gets the listening URL once bound."""
    # HubSpot gives 5 s but acks should take milliseconds: with the worker rescoring in this
    # process, a request thread can wait a whole switch interval (5 ms by default) for the
    # GIL at every hand-off. A shorter interval trades a little worker throughput for that.
    sys.setswitchinterval(ACK_SWITCH_INTERVAL_S)
    server = create_server(app, host=host, port=port, threads=threads,
                           max_body_bytes=max_body_bytes)
    try:
        with interrupted_by_signals():  # before the announcement: a stop may follow it at once
            announce(server.url)
            server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _bind(host: str, port: int) -> socket.socket:
    # Bound here, not by waitress: a failed bind inside waitress leaks its sockets and threads.
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        return socket.create_server(address, family=family)
    except OSError as exc:
        if isinstance(exc, socket.gaierror):
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); "
                              f"check --host") from None
        # os.strerror: create_server's own message appends the address a second time.
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(f"cannot listen on {host}:{port} ({reason}); "
                          f"choose another --port or stop what is using it") from None
